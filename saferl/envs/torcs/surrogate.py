"""``saferl/TorcsSurrogate-v0``: a pure-Python car on the parsed TORCS tracks.

Same observation and action spaces, reward, termination and ``info`` keys as
``saferl/Torcs-v0``; thousands of times cheaper, deterministic, and written as explicit
equations so that it can serve as a white-box dynamics model.

The car (parameters of TORCS's car1-trb1, the SCR car) is a kinematic bicycle in track
(Frenet) coordinates: ``s`` along the centreline, ``d`` to its left, ``psi`` the heading
relative to the track, ``v`` the speed.  With ``kappa(s)`` the centreline curvature and
``dt = 0.02 s``::

    delta = steer * STEER_LOCK                         front wheel angle (+ = left)
    omega = v * tan(delta) / WHEELBASE, |v * omega| <= MU_LAT * (G + AERO_GRIP * v^2)
    a     = accel * drive_force(v, gear) / MASS - brake * BRAKE_DECEL - DRAG * v^2 - ROLL
            - (1 - accel) * engine_brake(v, gear) / MASS
    s'    = v cos(psi) / (1 - kappa d)      d' = v sin(psi)      psi' = omega - kappa s'

The gear follows the speed as in the real env; the engine speed is ``v / WHEEL_RADIUS *
ratio[gear] * FINAL_DRIVE`` (idle at 94.2 rad/s), reported like SCR (rad/s x 10).  The 19
range finders are read from a table of exact ray casts (see :mod:`raycast`) over the
track, interpolated in ``s``, ``d`` and the ray's angle to the track; it is built once per
track (a few seconds) and cached under ``~/.cache/saferl/torcs``.  ``exact_sensors=True``
casts the rays at every step instead (slower).

Calibrated against real TORCS: a PD driver holding 80, 120 or 150 km/h gets the same lap
time (within 1 %) or crashes at the same place (within 1 %) on g-track-2 and aalborg.
Clutch and engine inertia are not modelled, so rpm-regulating controllers differ.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from saferl.envs.torcs.env import _check_action, action_space, observation_space
from saferl.envs.torcs.geometry import Track, load_track
from saferl.envs.torcs.observation import OBSERVATION_NAMES, auto_gear
from saferl.envs.torcs.protocol import DEFAULT_ANGLES
from saferl.envs.torcs.raycast import MAX_RANGE, cast_rays, pieces_of
from saferl.errors import InputError

__all__ = ["CAR", "SensorTable", "TorcsSurrogateEnv", "car_step", "sensor_table"]

DT = 0.02
G = 9.81


class CAR:
    """car1-trb1 (torcs-data) in round numbers: SI units, angles in radians."""

    MASS = 1150.0 + 70.0  # body + 94 l of fuel
    DRAG = 0.5 * 1.23 * 0.35 * 1.92 / MASS  # 1/2 rho Cx A / m, per (m/s)^2
    ROLL = 0.15  # rolling resistance, m/s^2
    GEAR_RATIOS = (3.0, 1.9, 1.4, 1.1, 0.9, 0.77)
    FINAL_DRIVE = 4.5
    EFFICIENCY = 0.95 * 0.9625
    WHEEL_RADIUS = 0.2286 + 0.330 * 0.30  # 18 in rim + tyre, rear
    TORQUE_RPM = (0.0, 1000.0, 2000.0, 3000.0, 4000.0, 5000.0, 6000.0, 7000.0, 8000.0, 9000.0, 10000.0)
    TORQUE_NM = (100.0, 160.0, 190.0, 280.0, 350.0, 405.0, 443.0, 465.0, 483.0, 415.0, 360.0)
    REV_LIMIT = 9152.0 * math.pi / 30.0  # rad/s
    IDLE = 900.0 * math.pi / 30.0
    STEER_LOCK = math.radians(21.0)
    WHEELBASE = 1.22 + 1.42
    MU_LAT = 1.6  # tyre friction coefficient
    AERO_GRIP = 0.004  # downforce of the wings: extra normal acceleration per (m/s)^2, 1/m
    MU_DRIVE = 0.5 * 1.6  # rear-wheel drive: half the weight on the driven wheels
    BRAKE_DECEL = 12.0
    ENGINE_BRAKE = 0.09  # N.m per rad/s of engine speed, off the throttle


def _engine_torque(rads: float) -> float:
    rpm = rads * 30.0 / math.pi
    table_rpm, table_nm = CAR.TORQUE_RPM, CAR.TORQUE_NM
    if rpm <= 0.0:
        return table_nm[0]
    if rpm >= table_rpm[-1]:
        return table_nm[-1]
    k = int(rpm // 1000.0)
    frac = (rpm - table_rpm[k]) / 1000.0
    return table_nm[k] + frac * (table_nm[k + 1] - table_nm[k])


def car_step(d: float, psi: float, v: float, kappa: float, steer: float, accel: float,
             brake: float) -> tuple[float, float, float, float]:
    """One 20 ms step of the car: ``(d, psi, v, progress)`` after it.

    ``d`` (m, + left of the centreline), ``psi`` (rad, heading minus the track's), ``v``
    (m/s) describe the car; ``kappa`` is the centreline curvature where it is (1/m, + left);
    the controls are already clipped.  ``progress`` is the distance gained along the
    centreline.  Pure and deterministic: the white-box form of the surrogate.
    """
    gear = auto_gear(v * 3.6)
    ratio = CAR.GEAR_RATIOS[gear - 1] * CAR.FINAL_DRIVE
    engine = max(v / CAR.WHEEL_RADIUS * ratio, CAR.IDLE)
    torque = _engine_torque(engine) if engine < CAR.REV_LIMIT else 0.0
    drive = min(torque * ratio * CAR.EFFICIENCY / CAR.WHEEL_RADIUS / CAR.MASS, CAR.MU_DRIVE * G)
    engine_brake = (1.0 - accel) * CAR.ENGINE_BRAKE * engine * ratio / CAR.WHEEL_RADIUS / CAR.MASS
    a = accel * drive - brake * CAR.BRAKE_DECEL - CAR.DRAG * v * v
    if v > 0.0:
        a -= CAR.ROLL + engine_brake
    v_new = max(v + a * DT, 0.0)
    omega = v_new * math.tan(steer * CAR.STEER_LOCK) / CAR.WHEELBASE
    limit = CAR.MU_LAT * (G + CAR.AERO_GRIP * v_new * v_new) / max(v_new, 1e-3)
    omega = min(max(omega, -limit), limit)
    s_dot = v_new * math.cos(psi) / max(1.0 - kappa * d, 0.05)
    d_new = d + v_new * math.sin(psi) * DT
    psi_new = psi + (omega - kappa * s_dot) * DT
    psi_new = (psi_new + math.pi) % (2.0 * math.pi) - math.pi
    return d_new, psi_new, v_new, s_dot * DT


class SensorTable:
    """Exact track ranges on a grid of (s, d, ray angle to the track), interpolated."""

    def __init__(self, track: Track, ranges: np.ndarray, ds: float, n_d: int, n_theta: int) -> None:
        self.track = track
        self.ranges = ranges
        self.ds = ds
        self.n_s = ranges.shape[0]
        self.n_d = n_d
        self.n_theta = n_theta
        self.half = track.width / 2.0
        self.dd = track.width / (n_d - 1)
        self.dtheta = 2.0 * math.pi / n_theta

    def lookup(self, s: float, d: float, ray_angles: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Ranges (m, times ``scale``) of rays at ``ray_angles`` (rad, to the track
        tangent, + = left)."""
        fs = (s % self.track.length) / self.ds
        k0 = int(fs)
        if k0 >= self.n_s:
            k0 = self.n_s - 1
        a = fs - k0
        fd = min(max((d + self.half) / self.dd, 0.0), self.n_d - 1 - 1e-9)
        j0 = int(fd)
        b = fd - j0
        # Blend the four (s, d) neighbours' rows, then interpolate along the angle.
        weights = np.array(((1 - a) * (1 - b) * scale, (1 - a) * b * scale,
                            a * (1 - b) * scale, a * b * scale))
        row = weights @ self._padded[k0:k0 + 2, j0:j0 + 2].reshape(4, -1)
        ft = (ray_angles + math.pi) * (1.0 / self.dtheta)
        ft %= self.n_theta
        m0 = ft.astype(np.intp)
        lo = row[m0]
        return lo + (ft - m0) * (row[m0 + 1] - lo)

    @property
    def _padded(self) -> np.ndarray:
        # The table with its first s-row and first angle repeated at the end, so that
        # neighbours never wrap.
        padded = self.__dict__.get("_padded_cache")
        if padded is None:
            r = np.concatenate([self.ranges, self.ranges[:1]], axis=0)
            padded = np.concatenate([r, r[:, :, :1]], axis=2).astype(np.float64)
            self.__dict__["_padded_cache"] = padded
        return padded


_TABLES: dict[tuple[str, float, int, int], SensorTable] = {}


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "saferl" / "torcs"


def sensor_table(track: Track, ds: float = 1.0, n_d: int = 9, n_theta: int = 180) -> SensorTable:
    """The range table of ``track`` (memory cache, then disk cache, else built)."""
    key = (str(track.path), ds, n_d, n_theta)
    if key in _TABLES:
        return _TABLES[key]
    digest = hashlib.sha256(track.path.read_bytes() + repr((ds, n_d, n_theta, 1)).encode()).hexdigest()[:16]
    path = _cache_dir() / f"surrogate-{track.name}-{digest}.npy"
    ranges: np.ndarray | None = None
    try:
        loaded = np.load(path, allow_pickle=False)
        if loaded.ndim == 3 and loaded.shape[1:] == (n_d, n_theta):
            ranges = loaded
    except (OSError, ValueError):
        ranges = None
    if ranges is None:
        ranges = _build_ranges(track, ds, n_d, n_theta)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npy")
            np.save(tmp, ranges)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only home only costs the rebuild next time
    table = SensorTable(track, ranges, ds, n_d, n_theta)
    _TABLES[key] = table
    return table


def _build_ranges(track: Track, ds: float, n_d: int, n_theta: int) -> np.ndarray:
    n_s = int(math.ceil(track.length / ds))
    s = np.arange(n_s) * ds
    d = np.linspace(-track.width / 2.0, track.width / 2.0, n_d)
    theta = -math.pi + np.arange(n_theta) * (2.0 * math.pi / n_theta)
    pieces = pieces_of(track)
    out = np.empty((n_s, n_d, n_theta), dtype=np.float32)
    chunk = max(1, 200_000 // (n_d * n_theta))
    for start in range(0, n_s, chunk):
        ss = s[start:start + chunk]
        sg, dg, tg = np.meshgrid(ss, d, theta, indexing="ij")
        x, y, heading = track.poses(sg.ravel(), dg.ravel())
        direction = heading + tg.ravel()
        piece = pieces.piece_at(sg.ravel(), track.length)
        ranges = cast_rays(track, x, y, piece, np.cos(direction), np.sin(direction), MAX_RANGE)
        out[start:start + len(ss)] = ranges.reshape(len(ss), n_d, n_theta)
    return out


class TorcsSurrogateEnv(gym.Env[np.ndarray, np.ndarray]):
    """A fast kinematic stand-in for ``saferl/Torcs-v0`` (see the module docstring).

    Args mirror :class:`saferl.envs.torcs.env.TorcsEnv` (``port`` is accepted and
    ignored); ``exact_sensors`` casts rays every step instead of reading the table.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        track: str = "g-track-2",
        laps: int = 1,
        port: int | None = None,
        max_steps: int | None = None,
        exact_sensors: bool = False,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None:
            raise InputError(f"saferl/TorcsSurrogate-v0 renders nothing (render_mode={render_mode!r})")
        if int(laps) < 1:
            raise InputError(f"laps must be at least 1, got {laps}")
        if max_steps is not None and int(max_steps) < 1:
            raise InputError(f"max_steps must be at least 1, got {max_steps}")
        self.track = load_track(track)
        self.laps = int(laps)
        self.max_steps = None if max_steps is None else int(max_steps)
        self.exact_sensors = exact_sensors
        self.observation_space = observation_space()
        self.action_space = action_space()
        self._table = None if exact_sensors else sensor_table(self.track)
        self._pieces = pieces_of(self.track)
        self._angles = np.radians(np.asarray(DEFAULT_ANGLES))
        self._curv = self.track.curvature().tolist()
        self._seg_start = self.track.start_s.tolist()
        self._seg_end = (self.track.start_s + self.track.seg_length).tolist()
        self._obs = np.zeros(len(OBSERVATION_NAMES), dtype=np.float32)
        self._ready = False

    # -- episode control ---------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start on the grid: 10 m behind the start line, a third of the way to the right."""
        super().reset(seed=seed)
        self._s = -10.0  # unwrapped distance from the start line
        self._d = -self.track.width / 6.0
        self._psi = 0.0
        self._v = 0.0
        self._time = 0.0
        self._lap_start = 0.0
        self._laps_done = 0
        self._lap_times: list[float] = []
        self._steps = 0
        self._crashed = False
        self._seg = self.track.segment_at(self._s)
        self._ready = True
        self._observe()
        return self._obs.copy(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Advance 20 ms under ``[steer, accel, brake]``."""
        if not self._ready:
            raise InputError("call reset() before step() (the episode is over or never began)")
        if type(action) is np.ndarray and action.shape == (3,):
            steer, accel, brake = action.tolist()
            if steer != steer or accel != accel or brake != brake:  # NaN
                steer, accel, brake = _check_action(action)
            steer = -1.0 if steer < -1.0 else (1.0 if steer > 1.0 else steer)
            accel = 0.0 if accel < 0.0 else (1.0 if accel > 1.0 else accel)
            brake = 0.0 if brake < 0.0 else (1.0 if brake > 1.0 else brake)
        else:
            steer, accel, brake = _check_action(action)
        kappa = self._curvature(self._s)
        d_new, psi_new, v_new, progress = car_step(self._d, self._psi, self._v, kappa, steer, accel, brake)
        self._s += progress
        self._d, self._psi, self._v = d_new, psi_new, v_new
        self._time += DT
        self._steps += 1
        if self._s >= (self._laps_done + 1) * self.track.length:
            self._laps_done += 1
            self._lap_times.append(round(self._time - self._lap_start, 3))
            self._lap_start = self._time
        self._observe()
        terminated = False
        if abs(self._d) > self.track.width / 2.0:
            self._crashed = True
            terminated = True
        elif self._laps_done >= self.laps:
            terminated = True
        truncated = not terminated and self.max_steps is not None and self._steps >= self.max_steps
        if terminated or truncated:
            self._ready = False
        return self._obs.copy(), float(progress), terminated, truncated, self._info()

    # -- internals --------------------------------------------------------------------------
    def _curvature(self, s: float) -> float:
        s = s % self.track.length
        i = self._seg
        if not (self._seg_start[i] <= s < self._seg_end[i]):
            i = self.track.segment_at(s)
            self._seg = i
        return float(self._curv[i])

    def _observe(self) -> None:
        obs = self._obs
        v = self._v
        gear = auto_gear(v * 3.6)
        engine = max(v / CAR.WHEEL_RADIUS * CAR.GEAR_RATIOS[gear - 1] * CAR.FINAL_DRIVE, CAR.IDLE)
        obs[0] = -self._psi / math.pi
        obs[1] = self._d / (self.track.width / 2.0)
        obs[2] = v * 3.6 / 300.0
        obs[5] = min(engine, CAR.REV_LIMIT) * 10.0 / 10000.0
        obs[6:10] = v / CAR.WHEEL_RADIUS / 100.0
        if abs(self._d) > self.track.width / 2.0:
            obs[10:] = -1.0 / 200.0  # off the road, as TORCS reports
        elif self._table is not None:
            obs[10:] = self._table.lookup(self._s, self._d, self._psi - self._angles, 1.0 / 200.0)
        else:
            obs[10:] = self._exact_ranges() / 200.0

    def _exact_ranges(self) -> np.ndarray:
        x, y, tangent = self.track.pose_at(self._s, self._d)
        directions = tangent + self._psi - self._angles
        piece = int(self._pieces.piece_at(self._s, self.track.length))
        return cast_rays(self.track, np.full(19, x), np.full(19, y), np.full(19, piece),
                         np.cos(directions), np.sin(directions), MAX_RANGE)

    def _info(self) -> dict[str, Any]:
        return {
            "lap_times": list(self._lap_times),
            "crashed": self._crashed,
            "dist_raced": self._s,
            "laps_completed": self._laps_done,
            "damage": 0.0,
            "cur_lap_time": self._time - self._lap_start,
            "state": {"s": self._s, "d": self._d, "psi": self._psi, "v": self._v},
        }
