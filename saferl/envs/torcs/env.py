"""``saferl/Torcs-v0``: real TORCS, headless, one car driven through the SCR protocol.

Every episode is a fresh ``torcs -r`` race (about 0.06 s to start) on a free loopback
port; the race is killed when the episode ends, when the env is closed, when Python
exits, and by the kernel if Python dies.

Observation: PROPEL's 29 normalised sensors (see :mod:`saferl.envs.torcs.observation`),
float32.  Action: ``[steer, accel, brake]``; the gear follows the speed.  Reward: metres
of progress along the track this step (``reward="progress"``, the default), or PROPEL's
driving reward (``reward="propel"``, :func:`propel_reward`).  The episode terminates when
the car leaves the track (``|trackPos| > 1``), takes damage, completes ``laps`` laps, or
(with ``stall_steps``) gains less than 1 m in a window of that many steps; it is truncated
after ``max_steps`` steps (50 steps = 1 s of simulated time).

``info`` holds ``lap_times`` (seconds, completed laps so far), ``crashed`` (bool),
``stalled`` (bool),
``dist_raced`` (m), ``laps_completed``, ``damage``, ``cur_lap_time`` and ``sensors``
(the raw SCR sensor dict).

Example:
    env = gymnasium.make("saferl/Torcs-v0", track="g-track-2", laps=1)
    obs, info = env.reset()
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from saferl.envs.torcs.errors import ScrProtocolError, TorcsError
from saferl.envs.torcs.launcher import TorcsRace, find_installation
from saferl.envs.torcs.observation import (
    ACTION_HIGH,
    ACTION_LOW,
    OBSERVATION_NAMES,
    auto_gear,
    normalise_sensors,
)
from saferl.envs.torcs.protocol import DEFAULT_ANGLES, ScrClient, ServerEvent
from saferl.errors import InputError

__all__ = ["TorcsEnv", "REWARDS", "STALL_MIN_PROGRESS_M", "observation_space", "action_space", "propel_reward"]

#: the reward functions the env offers (``reward=``)
REWARDS = ("progress", "propel")
#: a stall window (``stall_steps``) ends the episode unless the car gained this many metres
STALL_MIN_PROGRESS_M = 1.0
#: seconds of simulated time per step
STEP_S = 0.02


def propel_reward(sensors: dict[str, Any]) -> float:
    """PROPEL's (gym_torcs's) driving reward for one step, in metres.

    ``V * (cos(angle) - |sin(angle)| - |trackPos|) * 0.02 s`` with ``V = speedX`` in m/s:
    the speed along the track axis, less the transverse speed and a penalty for the
    distance from the centre line.  gym_torcs writes the same sum in km/h per step; the
    factor ``0.02 / 3.6`` only rescales it to metres, the progress reward's unit.
    """
    v = float(sensors["speedX"]) / 3.6
    angle = float(sensors["angle"])
    return v * (math.cos(angle) - abs(math.sin(angle)) - abs(float(sensors["trackPos"]))) * STEP_S


def observation_space() -> gym.spaces.Box:
    """The 29-dimensional float32 observation space shared by real TORCS and the surrogate."""
    low = np.full(len(OBSERVATION_NAMES), -np.inf, dtype=np.float32)
    high = np.full(len(OBSERVATION_NAMES), np.inf, dtype=np.float32)
    low[0], high[0] = -1.0, 1.0  # angle / pi
    low[5] = 0.0  # rpm
    low[10:], high[10:] = -1.0 / 200.0, 1.0  # track: -1 m (off the track) .. 200 m
    return gym.spaces.Box(low, high, dtype=np.float32)


def action_space() -> gym.spaces.Box:
    """``[steer, accel, brake]`` in ``[-1, 1] x [0, 1] x [0, 1]``, float32."""
    return gym.spaces.Box(
        np.array(ACTION_LOW, dtype=np.float32), np.array(ACTION_HIGH, dtype=np.float32)
    )


def _check_action(action: Any) -> tuple[float, float, float]:
    values = np.asarray(action, dtype=np.float64).reshape(-1)
    if values.shape != (3,):
        raise InputError(
            f"a TORCS action has 3 values [steer, accel, brake], got shape {np.shape(action)}"
        )
    steer, accel, brake = (0.0 if math.isnan(v) else float(v) for v in values)
    return (min(max(steer, -1.0), 1.0), min(max(accel, 0.0), 1.0), min(max(brake, 0.0), 1.0))


class TorcsEnv(gym.Env[np.ndarray, np.ndarray]):
    """Real TORCS as a Gymnasium environment (see the module docstring).

    Args:
        track: an installed track name (``saferl torcs tracks`` lists them).
        laps: laps of the race; the episode terminates when they are done.
        port: the UDP port of the robot (default: a free one per episode).
        max_steps: truncate after this many steps (default: none).
        timeout_s: how long the client waits for TORCS before failing.
        reward: ``progress`` (metres along the centre line this step) or ``propel``
            (:func:`propel_reward`, PROPEL's driving reward).
        stall_steps: end the episode (terminated, ``info["stalled"]``) when the car gains
            less than 1 m in this many steps (checked every ``stall_steps`` steps); None: never.
        robot_timeout_s: TORCS ends itself after this long without a client message (a
            trainer that pauses an episode for longer, e.g. to evaluate, raises it).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        track: str = "g-track-2",
        laps: int = 1,
        port: int | None = None,
        max_steps: int | None = None,
        timeout_s: float = 10.0,
        render_mode: str | None = None,
        reward: str = "progress",
        stall_steps: int | None = None,
        robot_timeout_s: float = 30.0,
    ) -> None:
        if render_mode is not None:
            raise InputError(f"saferl/Torcs-v0 renders nothing (render_mode={render_mode!r})")
        if int(laps) < 1:
            raise InputError(f"laps must be at least 1, got {laps}")
        if max_steps is not None and int(max_steps) < 1:
            raise InputError(f"max_steps must be at least 1, got {max_steps}")
        self.track = track
        self.laps = int(laps)
        if reward not in REWARDS:
            raise InputError(f"reward must be one of {', '.join(REWARDS)}, got {reward!r}")
        if stall_steps is not None and int(stall_steps) < 1:
            raise InputError(f"stall_steps must be at least 1, got {stall_steps}")
        self.reward = reward
        self.stall_steps = None if stall_steps is None else int(stall_steps)
        self.max_steps = None if max_steps is None else int(max_steps)
        self.timeout_s = float(timeout_s)
        self.observation_space = observation_space()
        self.action_space = action_space()
        if not float(robot_timeout_s) > 0:
            raise InputError(f"robot_timeout_s must be positive, got {robot_timeout_s}")
        # TORCS races one lap more than the episode: were it to end the race itself when the
        # car crosses the line for the last time, that step would carry no observation and
        # the last lap's time would be lost; the episode ends on the lap time instead
        self._race = TorcsRace(
            find_installation(), track=track, laps=self.laps + 1, port=port, robot_timeout_s=float(robot_timeout_s)
        )
        self._client: ScrClient | None = None
        self._sensors: dict[str, Any] = {}
        self._obs = np.zeros(len(OBSERVATION_NAMES), dtype=np.float32)
        self._lap_times: list[float] = []
        self._steps = 0
        self._damage0 = 0.0
        self._crashed = False
        self._stalled = False
        self._stall_mark = 0.0

    # -- episode control ---------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new race and return the first observation (at simulated time 0)."""
        super().reset(seed=seed)
        for attempt in range(3):
            self._end_race()
            self._race.start()
            client = ScrClient(self._race.ports[0], timeout_s=self.timeout_s, alive=self._race.alive)
            self._client = client
            try:
                client.identify(DEFAULT_ANGLES)
                message = client.receive()
                break
            except TorcsError as exc:
                said = self._race.log_tail()
                self._end_race()
                # A free port can be taken between choosing it and TORCS binding it.
                if "cannot bind" in said and self._race.requested_port is None and attempt < 2:
                    continue
                raise TorcsError(f"{exc} (TORCS said: {said or 'nothing'})") from None
        if isinstance(message, ServerEvent):
            self._end_race()
            raise ScrProtocolError(f"TORCS sent ***{message.kind}*** before the first step")
        self._accept(message)
        self._lap_times = []
        self._steps = 0
        damage = message["damage"]
        self._damage0 = float(damage) if isinstance(damage, float) else 0.0
        self._crashed = False
        self._stalled = False
        self._stall_mark = float(self._sensors["distRaced"])
        return self._obs.copy(), self._info()

    def step(
        self, action: Any
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply ``[steer, accel, brake]`` for 20 ms of simulated time."""
        client = self._client
        if client is None:
            raise TorcsError("call reset() before step() (the episode is over or never began)")
        steer, accel, brake = _check_action(action)
        previous = self._sensors
        gear = auto_gear(float(previous["speedX"]))
        try:
            client.send_text(
                f"(accel {accel:.9g})(brake {brake:.9g})(gear {gear:d})(steer {steer:.9g})"
                "(clutch 0)(focus 360)(meta 0)"
            )
            message = client.receive()
        except TorcsError as exc:
            self._end_race()
            raise TorcsError(f"{exc} (TORCS said: {self._race.log_tail() or 'nothing'})") from None
        self._steps += 1
        if isinstance(message, ServerEvent):
            # The race is over (TORCS ended it): nothing moved in this step.
            self._end_race()
            return self._obs.copy(), 0.0, True, False, self._info()
        self._accept(message)
        sensors = self._sensors
        if self.reward == "propel":
            reward = propel_reward(sensors)
        else:
            reward = float(sensors["distRaced"]) - float(previous["distRaced"])
        if float(sensors["curLapTime"]) < float(previous["curLapTime"]):
            self._lap_times.append(float(sensors["lastLapTime"]))
        terminated = False
        if abs(float(sensors["trackPos"])) > 1.0 or float(sensors["damage"]) > self._damage0:
            self._crashed = True
            terminated = True
        elif len(self._lap_times) >= self.laps:
            terminated = True
        elif self.stall_steps is not None and self._steps % self.stall_steps == 0:
            # no-progress check: less than STALL_MIN_PROGRESS_M metres in the last window
            dist = float(sensors["distRaced"])
            if dist - self._stall_mark < STALL_MIN_PROGRESS_M:
                self._stalled = True
                terminated = True
            self._stall_mark = dist
        truncated = not terminated and self.max_steps is not None and self._steps >= self.max_steps
        info = self._info()
        if terminated or truncated:
            self._end_race()
        return self._obs.copy(), reward, terminated, truncated, info

    def close(self) -> None:
        """Stop TORCS and remove its working folder."""
        self._end_race()
        self._race.close()

    # -- internals --------------------------------------------------------------------------
    def _accept(self, sensors: dict[str, Any]) -> None:
        self._sensors = sensors
        self._obs[:] = normalise_sensors(sensors)

    def _info(self) -> dict[str, Any]:
        s = self._sensors
        return {
            "lap_times": list(self._lap_times),
            "crashed": self._crashed,
            "stalled": self._stalled,
            "dist_raced": float(s.get("distRaced", 0.0)),
            "laps_completed": len(self._lap_times),
            "damage": float(s.get("damage", 0.0)),
            "cur_lap_time": float(s.get("curLapTime", 0.0)),
            "sensors": s,
        }

    def _end_race(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self._race.stop()

    @property
    def torcs_pid(self) -> int | None:
        """The process id of the running TORCS (None between episodes)."""
        return self._race.pid
