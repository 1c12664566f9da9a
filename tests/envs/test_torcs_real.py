"""Real TORCS, headless, through the saferl_scr robot (integration: CI installs TORCS)."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from saferl.envs.torcs.errors import TorcsNotInstalledError
from saferl.envs.torcs.launcher import TorcsInstallation, TorcsRace, find_installation
from saferl.envs.torcs.protocol import ScrClient, ServerEvent
from saferl.errors import InputError

pytestmark = pytest.mark.integration


def _installation() -> TorcsInstallation | None:
    try:
        return find_installation()
    except TorcsNotInstalledError:
        return None


INSTALLATION = _installation()
needs_torcs = pytest.mark.skipif(
    INSTALLATION is None,
    reason="real TORCS is not installed for saferl; run: bash torcs-robot/install.sh",
)


class WindowPid:
    """PROPEL's PID form: the integral sums the errors of the last ``window`` steps."""

    def __init__(self, index: int, target: float, kp: float, ki: float, kd: float, window: int = 5):
        self.index, self.target, self.kp, self.ki, self.kd = index, target, kp, ki, kd
        self.errors: deque[float] = deque(maxlen=window)

    def __call__(self, obs: np.ndarray) -> float:
        error = self.target - float(obs[self.index])
        previous = self.errors[-1] if self.errors else error
        self.errors.append(error)
        return self.kp * error + self.ki * sum(self.errors) + self.kd * (error - previous)


def prior_driver() -> object:
    steer = WindowPid(1, 0.0, 0.97, 0.05, 49.98)
    accel = WindowPid(5, 0.30, 3.97, 0.01, 48.79)
    return lambda obs: np.array([steer(obs), accel(obs), 0.0], dtype=np.float32)


def _make(**kwargs: object) -> object:
    import gymnasium

    from saferl.envs import register_envs

    register_envs()
    return gymnasium.make("saferl/Torcs-v0", **kwargs)


def _gone(pid: int, within_s: float = 3.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A zombie still answers kill(pid, 0); count it as gone once it is defunct.
        try:
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return True
        except OSError:
            return True
        time.sleep(0.02)
    return False


@needs_torcs
def test_a_headless_lap_of_g_track_2() -> None:
    env = _make(track="g-track-2", laps=1)
    try:
        obs, info = env.reset()
        assert obs.shape == (29,) and obs.dtype == np.float32
        assert env.observation_space.contains(obs)
        assert info["lap_times"] == [] and info["crashed"] is False
        assert obs[1] == pytest.approx(-1 / 3, abs=1e-3)  # the grid slot is 2.5 m right of centre
        drive = prior_driver()
        total, steps = 0.0, 0
        while True:
            obs, reward, terminated, truncated, info = env.step(drive(obs))
            total += reward
            steps += 1
            if terminated or truncated:
                break
        assert terminated and not truncated
        assert info["crashed"] is False
        assert len(info["lap_times"]) == 1
        lap = info["lap_times"][0]
        assert 250.0 < lap < 350.0  # PROPEL reports 312.92 s for this prior
        # One step per robot tick: 20 ms, sometimes 22 ms when TORCS's float clock rounds.
        assert lap / 0.022 <= steps <= lap / 0.020
        # Reward is progress: the car started 10 m behind the line and just crossed it.
        assert total == pytest.approx(info["dist_raced"] + 10.0, abs=0.5)
        assert info["dist_raced"] == pytest.approx(3185.83, abs=2.0)
    finally:
        env.close()


@needs_torcs
def test_leaving_the_track_terminates_as_a_crash() -> None:
    env = _make(track="g-track-2", laps=1)
    try:
        env.reset()
        steps = 0
        while steps < 1000:
            obs, _, terminated, truncated, info = env.step([1.0, 1.0, 0.0])
            steps += 1
            if terminated:
                break
        assert terminated and not truncated and info["crashed"] is True
        assert abs(float(obs[1])) > 1.0
        assert steps < 500
    finally:
        env.close()


@needs_torcs
def test_runs_are_deterministic_and_max_steps_truncates() -> None:
    env = _make(track="aalborg", laps=1, max_steps=200)
    try:
        runs = []
        for _ in range(2):
            obs, _ = env.reset()
            drive = prior_driver()
            trace = [obs]
            for _ in range(200):
                obs, _, terminated, truncated, info = env.step(drive(obs))
                trace.append(obs)
                if terminated or truncated:
                    break
            assert truncated and not terminated
            runs.append(np.array(trace))
        np.testing.assert_array_equal(runs[0], runs[1])
    finally:
        env.close()


@needs_torcs
def test_step_before_reset_and_bad_actions_are_clear_errors() -> None:
    from saferl.envs.torcs.env import TorcsEnv
    from saferl.envs.torcs.errors import TorcsError

    env = TorcsEnv(track="g-track-2")
    try:
        with pytest.raises(TorcsError, match=r"call reset\(\) before step\(\)"):
            env.step([0.0, 0.0, 0.0])
        env.reset()
        with pytest.raises(InputError, match="3 values"):
            env.step([0.0, 1.0])
    finally:
        env.close()
    with pytest.raises(InputError, match="unknown track 'nowhere'"):
        TorcsEnv(track="nowhere")


@needs_torcs
def test_close_and_reset_kill_the_running_torcs() -> None:
    from saferl.envs.torcs.env import TorcsEnv

    env = TorcsEnv(track="g-track-2")
    env.reset()
    first = env.torcs_pid
    assert first is not None
    env.reset()
    assert _gone(first)
    second = env.torcs_pid
    assert second is not None and second != first
    env.close()
    assert _gone(second)
    assert env.torcs_pid is None


@needs_torcs
def test_a_killed_episode_leaves_no_torcs_behind(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from saferl.envs.torcs.env import TorcsEnv\n"
        "env = TorcsEnv(track='g-track-2')\n"
        "env.reset()\n"
        "env.step([0.0, 1.0, 0.0])\n"
        "print(env.torcs_pid, env._race.workdir, flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    workdir = None
    try:
        line = child.stdout.readline() if child.stdout else ""
        pid_text, workdir = line.split()
        torcs_pid = int(pid_text)
        assert not _gone(torcs_pid, within_s=0.1)
        child.send_signal(signal.SIGKILL)  # no atexit, no finally: only the kernel can help
        child.wait(timeout=5)
        assert _gone(torcs_pid), "TORCS outlived a killed episode"
        # pgrep for live processes (a zombie that init has not reaped yet is dead).
        found = subprocess.run(["pgrep", "-r", "R,S,D,T", "-f", "torcs-bin"], capture_output=True, text=True)
        assert str(torcs_pid) not in found.stdout.split()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if workdir is not None:  # a killed process cannot tidy up after itself
            shutil.rmtree(workdir, ignore_errors=True)


@needs_torcs
def test_ctrl_c_in_the_client_cleans_up() -> None:
    script = (
        "from saferl.envs.torcs.env import TorcsEnv\n"
        "env = TorcsEnv(track='g-track-2')\n"
        "env.reset()\n"
        "print(env.torcs_pid, env._race.workdir, flush=True)\n"
        "while True:\n"
        "    env.step([0.0, 0.0, 1.0])\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    try:
        pid_text, workdir = (child.stdout.readline() if child.stdout else "").split()
        torcs_pid = int(pid_text)
        time.sleep(0.2)
        child.send_signal(signal.SIGINT)
        child.wait(timeout=10)
        assert _gone(torcs_pid)
        assert not Path(workdir).exists()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


@needs_torcs
def test_the_robot_ends_torcs_when_its_client_falls_silent() -> None:
    assert INSTALLATION is not None
    race = TorcsRace(INSTALLATION, track="g-track-2", robot_timeout_s=0.5)
    try:
        race.start()
        with ScrClient(race.ports[0], timeout_s=5.0, alive=race.alive) as client:
            client.identify()
            assert isinstance(client.receive(), dict)
            # ... and never answer.
            assert race.wait(5.0) == 3
        assert "the client fell silent" in race.log_tail()
    finally:
        race.close()


@needs_torcs
def test_the_robot_ends_torcs_when_no_client_comes() -> None:
    assert INSTALLATION is not None
    race = TorcsRace(INSTALLATION, track="g-track-2", robot_timeout_s=0.5)
    try:
        race.start()
        assert race.wait(5.0) == 3
        assert "no client identified itself in time" in race.log_tail()
    finally:
        race.close()


@needs_torcs
def test_meta_restart_and_race_end_messages() -> None:
    assert INSTALLATION is not None
    race = TorcsRace(INSTALLATION, track="g-track-2")
    try:
        race.start()
        with ScrClient(race.ports[0], timeout_s=5.0, alive=race.alive) as client:
            client.identify()
            assert isinstance(client.receive(), dict)
            client.send_action(meta=1)
            assert client.receive() == ServerEvent("restart")
        assert race.wait(5.0) == 0
    finally:
        race.close()


@needs_torcs
def test_torcs_range_finders_match_the_parsed_geometry() -> None:
    """The robot's 19 rays, at real poses, agree with rays cast on the parsed centreline."""
    from saferl.envs.torcs.geometry import load_track
    from saferl.envs.torcs.protocol import DEFAULT_ANGLES
    from saferl.envs.torcs.raycast import pose_from_sensors, track_ranges
    from saferl.envs.torcs.surrogate import sensor_table

    track = load_track("g-track-2")
    table = sensor_table(track)
    angles = np.radians(DEFAULT_ANGLES)
    env = _make(track="g-track-2", laps=1, max_steps=3000)
    try:
        obs, info = env.reset()
        drive = prior_driver()
        errors, surrogate_errors = [], []
        for step in range(3000):
            if step % 100 == 0:
                sensors = info["sensors"]
                real = np.asarray(sensors["track"])
                s, offset, heading = pose_from_sensors(track, sensors)
                predicted = track_ranges(track, s, offset, heading)
                errors.append(np.abs(predicted - real))
                # The surrogate's tabled sensors at the same pose.
                tabled = table.lookup(s, offset, -float(sensors["angle"]) - angles)
                surrogate_errors.append(np.abs(tabled - real))
            obs, _, terminated, truncated, info = env.step(drive(obs))
            if terminated or truncated:
                break
        errors_m = np.array(errors)
        assert errors_m.shape[0] >= 25
        # The car's pose is rebuilt from distFromStart, trackPos and angle (printed with
        # 9 digits); rays of up to 200 m then agree to a few centimetres.
        assert float(np.median(errors_m)) < 0.05
        assert float(np.percentile(errors_m, 99)) < 1.0
        surrogate_m = np.array(surrogate_errors)
        assert float(np.median(surrogate_m)) < 0.1
        assert float(np.percentile(surrogate_m, 90)) < 1.5
    finally:
        env.close()


def test_missing_installation_names_the_install_script(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import saferl.envs.torcs.launcher as launcher

    monkeypatch.setattr(launcher, "_candidate_homes", lambda: [tmp_path])
    with pytest.raises(TorcsNotInstalledError, match=r"torcs.env not found.*bash torcs-robot/install.sh"):
        launcher.find_installation()
    assert math.isfinite(1.0)


@needs_torcs
def test_a_taken_port_is_a_clear_error() -> None:
    import socket

    from saferl.envs.torcs.env import TorcsEnv
    from saferl.envs.torcs.errors import TorcsError

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        env = TorcsEnv(track="g-track-2", port=busy.getsockname()[1], timeout_s=5.0)
        try:
            with pytest.raises(TorcsError, match=r"exited before identifying.*cannot bind UDP port"):
                env.reset()
        finally:
            env.close()


@needs_torcs
def test_cli_race_reports_lap_times(root: Path) -> None:
    import io
    import json

    from saferl.cli import run as cli_run

    out, err = io.StringIO(), io.StringIO()
    code = cli_run(["torcs", "race", str(root / "policies" / "torcs" / "prior.pol"),
                    "--track", "aalborg", "--format", "json"], out, err)
    assert code == 0, err.getvalue()
    record = json.loads(out.getvalue())
    assert record["env"] == "saferl/Torcs-v0" and record["crashed"] is False
    assert len(record["lap_times"]) == 1 and 150.0 < record["lap_times"][0] < 400.0


def test_working_folders_of_dead_owners_are_swept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    import saferl.envs.torcs.launcher as launcher

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = tmp_path / "saferl-torcs-stale"
    stale.mkdir()
    (stale / "owner").write_text(dead.stdout.strip())
    alive = tmp_path / "saferl-torcs-alive"
    alive.mkdir()
    (alive / "owner").write_text(str(os.getpid()))
    fresh = tmp_path / "saferl-torcs-fresh"
    fresh.mkdir()
    old = time.time() - 3600
    for path in (stale, alive):
        os.utime(path, (old, old))
    launcher._sweep_stale_workdirs()
    assert not stale.exists() and alive.exists() and fresh.exists()


def speed_driver(target_kmh: float) -> object:
    def act(obs: np.ndarray) -> np.ndarray:
        speed = float(obs[2]) * 300.0
        accel = 1.0 if speed < target_kmh - 5 else (0.3 if speed < target_kmh else 0.0)
        brake = 0.3 if speed > target_kmh + 10 else 0.0
        return np.array([4.0 * float(obs[0]) - 0.6 * float(obs[1]), accel, brake], dtype=np.float32)

    return act


@needs_torcs
@pytest.mark.parametrize("target_kmh, completes", [(120.0, True), (150.0, False)])
def test_the_surrogate_drives_like_real_torcs(target_kmh: float, completes: bool) -> None:
    """Same driver, same track: same lap time (2 %) or a crash at the same place (2 %)."""
    import gymnasium

    from saferl.envs import register_envs

    register_envs()
    outcomes = []
    for env_id in ("saferl/Torcs-v0", "saferl/TorcsSurrogate-v0"):
        env = gymnasium.make(env_id, track="g-track-2", laps=1)
        try:
            obs, _ = env.reset()
            act = speed_driver(target_kmh)
            while True:
                obs, _, terminated, truncated, info = env.step(act(obs))
                if terminated or truncated:
                    break
            outcomes.append((info["crashed"], info["lap_times"], info["dist_raced"]))
        finally:
            env.close()
    (real_crash, real_laps, real_dist), (sur_crash, sur_laps, sur_dist) = outcomes
    assert real_crash is sur_crash is (not completes)
    if completes:
        assert sur_laps[0] == pytest.approx(real_laps[0], rel=0.02)
    else:
        assert sur_dist == pytest.approx(real_dist, rel=0.02)


@needs_torcs
def test_focus_and_opponent_sensors() -> None:
    assert INSTALLATION is not None
    race = TorcsRace(INSTALLATION, track="g-track-2")
    try:
        race.start()
        with ScrClient(race.ports[0], timeout_s=5.0, alive=race.alive) as client:
            client.identify()
            first = client.receive()
            assert isinstance(first, dict)
            assert first["opponents"] == (200.0,) * 36  # alone on the track
            client.send_action(focus=0.0)
            focused = client.receive()
            assert isinstance(focused, dict)
            # Five rays around straight ahead, the middle one equal to track9 (0 degrees).
            assert len(focused["focus"]) == 5
            assert focused["focus"][2] == pytest.approx(focused["track"][9], abs=1e-3)
            client.send_action(focus=360.0)
            unfocused = client.receive()
            assert isinstance(unfocused, dict) and unfocused["focus"] == (-1.0,) * 5
    finally:
        race.close()
