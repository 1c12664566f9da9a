"""The surrogate: same spaces as real TORCS, sane physics, sensors that match exact rays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from saferl.envs.torcs.protocol import DEFAULT_ANGLES
from saferl.envs.torcs.tracks import DEFAULT_DATADIR
from saferl.errors import InputError

gymnasium = pytest.importorskip("gymnasium")

pytestmark = pytest.mark.skipif(
    not (DEFAULT_DATADIR / "tracks" / "road" / "g-track-2" / "g-track-2.xml").is_file(),
    reason="torcs-data is not installed (bash torcs-robot/install.sh installs it)",
)


@pytest.fixture(scope="module")
def env() -> object:
    from saferl.envs import register_envs

    register_envs()
    made = gymnasium.make("saferl/TorcsSurrogate-v0", track="g-track-2", laps=1)
    yield made
    made.close()


def centre_driver(obs: np.ndarray) -> np.ndarray:
    """Steer to the centreline, hold about 80 km/h."""
    steer = 4.0 * float(obs[0]) - 0.6 * float(obs[1])
    accel = 0.6 if obs[2] * 300 < 80 else 0.0
    return np.array([steer, accel, 0.0], dtype=np.float32)


def test_spaces_match_the_real_environment(env: object) -> None:
    from saferl.envs.torcs.env import action_space, observation_space

    assert env.observation_space == observation_space()
    assert env.action_space == action_space()


def test_reset_puts_the_car_on_the_grid(env: object) -> None:
    obs, info = env.reset(seed=3)
    assert obs.dtype == np.float32 and obs.shape == (29,)
    assert env.observation_space.contains(obs)
    assert obs[1] == pytest.approx(-1 / 3)
    assert obs[0] == 0.0 and obs[2] == 0.0
    assert obs[5] == pytest.approx(0.0942, abs=1e-3)  # idle: 900 rpm = 94.2 rad/s, x10
    # Sideways rays on the grid slot: 10 m to the left edge, 5 m to the right one.
    assert obs[10] * 200 == pytest.approx(10.0, abs=0.05)
    assert obs[28] * 200 == pytest.approx(5.0, abs=0.05)
    assert info["lap_times"] == [] and info["crashed"] is False and info["dist_raced"] == -10.0


def test_a_lap_with_progress_as_reward(env: object) -> None:
    obs, _ = env.reset()
    total, steps = 0.0, 0
    while True:
        obs, reward, terminated, truncated, info = env.step(centre_driver(obs))
        total += reward
        steps += 1
        if terminated or truncated:
            break
    assert terminated and info["crashed"] is False
    (lap,) = info["lap_times"]
    assert lap == pytest.approx(steps * 0.02, abs=0.1)
    assert 120.0 < lap < 250.0
    assert total == pytest.approx(info["dist_raced"] + 10.0, abs=1e-6)


def test_full_lock_leaves_the_road(env: object) -> None:
    env.reset()
    for _ in range(2000):
        obs, _, terminated, truncated, info = env.step(np.array([1.0, 1.0, 0.0], dtype=np.float32))
        if terminated:
            break
    assert terminated and info["crashed"] is True
    assert abs(obs[1]) > 1.0
    assert np.all(obs[10:] == np.float32(-1 / 200))


def test_braking_stops_and_speed_never_goes_negative(env: object) -> None:
    obs, _ = env.reset()
    for _ in range(200):
        obs, *_ = env.step(np.array([0.0, 1.0, 0.0], dtype=np.float32))
    fast = float(obs[2])
    assert fast * 300 > 60.0
    for _ in range(400):
        obs, *_ = env.step(np.array([0.0, 0.0, 1.0], dtype=np.float32))
    assert obs[2] == 0.0


def test_episodes_are_deterministic() -> None:
    from saferl.envs.torcs.surrogate import TorcsSurrogateEnv

    traces = []
    for _ in range(2):
        sur = TorcsSurrogateEnv(track="aalborg", max_steps=300)
        obs, _ = sur.reset()
        trace = [obs]
        for _ in range(300):
            obs, _, terminated, truncated, _ = sur.step(centre_driver(obs))
            trace.append(obs)
            if terminated or truncated:
                break
        assert truncated
        traces.append(np.array(trace))
    np.testing.assert_array_equal(traces[0], traces[1])


def test_tabled_sensors_agree_with_exact_rays() -> None:
    from saferl.envs.torcs.geometry import load_track
    from saferl.envs.torcs.raycast import track_ranges
    from saferl.envs.torcs.surrogate import sensor_table

    track = load_track("aalborg")
    table = sensor_table(track)
    rng = np.random.default_rng(7)
    angles = np.radians(DEFAULT_ANGLES)
    errors = []
    for _ in range(200):
        s = rng.uniform(0, track.length)
        d = rng.uniform(-0.9, 0.9) * track.width / 2
        psi = rng.normal(0.0, 0.2)
        _, _, tangent = track.pose_at(s)
        exact = track_ranges(track, s, d, tangent + psi)
        errors.append(np.abs(table.lookup(s, d, psi - angles) - exact))
    errors_m = np.array(errors)
    assert float(np.median(errors_m)) < 0.05
    assert float(np.percentile(errors_m, 90)) < 1.0


def test_exact_sensor_mode_matches_the_table() -> None:
    from saferl.envs.torcs.surrogate import TorcsSurrogateEnv

    tabled = TorcsSurrogateEnv(track="aalborg", max_steps=200)
    exact = TorcsSurrogateEnv(track="aalborg", max_steps=200, exact_sensors=True)
    a, _ = tabled.reset()
    b, _ = exact.reset()
    for _ in range(200):
        np.testing.assert_allclose(a[:10], b[:10])
        assert float(np.median(np.abs(a[10:] - b[10:]) * 200)) < 0.1
        action = centre_driver(a)
        a, *_ = tabled.step(action)
        b, *_ = exact.step(action)


def test_bad_arguments_are_input_errors() -> None:
    from saferl.envs.torcs.surrogate import TorcsSurrogateEnv

    with pytest.raises(InputError, match="laps must be at least 1"):
        TorcsSurrogateEnv(laps=0)
    with pytest.raises(InputError, match="unknown track 'nowhere'"):
        TorcsSurrogateEnv(track="nowhere")
    sur = TorcsSurrogateEnv(track="aalborg")
    with pytest.raises(InputError, match=r"call reset\(\) before step\(\)"):
        sur.step([0.0, 0.0, 0.0])
    sur.reset()
    with pytest.raises(InputError, match="3 values"):
        sur.step([0.0])
    obs, *_ = sur.step([math.nan, 0.5, 0.0])  # NaN steering counts as straight ahead
    assert np.isfinite(obs).all()


def test_cli_race_on_the_surrogate(root: object) -> None:
    import io
    import json
    from pathlib import Path

    from saferl.cli import run as cli_run

    policy = Path(str(root)) / "policies" / "torcs" / "propel_prog.pol"
    if not policy.is_file():
        pytest.skip("policies/torcs/propel_prog.pol is not in this checkout")
    out, err = io.StringIO(), io.StringIO()
    code = cli_run(["torcs", "race", str(policy), "--surrogate", "--track", "aalborg",
                    "--max-steps", "500", "--format", "json"], out, err)
    assert code == 0, err.getvalue()
    record = json.loads(out.getvalue())
    assert record["env"] == "saferl/TorcsSurrogate-v0" and record["steps"] <= 500
    err = io.StringIO()
    assert cli_run(["torcs", "race", str(policy), "--laps", "0"], out, err) == 2
    assert err.getvalue() == "saferl torcs: error: --laps must be at least 1, got 0\n"


def test_car_step_is_the_white_box_model() -> None:
    from saferl.envs.torcs.surrogate import DT, car_step

    # Straight road, no steering: the car only speeds up and moves along.
    d, psi, v, progress = car_step(0.0, 0.0, 10.0, 0.0, 0.0, 1.0, 0.0)
    assert (d, psi) == (0.0, 0.0) and v > 10.0 and progress == pytest.approx(v * DT)
    # Full brake from standstill keeps it still; speed is never negative.
    assert car_step(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)[2] == 0.0
    # Left steering turns left; on a left-hand bend the track turns away under it.
    assert car_step(0.0, 0.0, 20.0, 0.0, 0.5, 0.5, 0.0)[1] > 0.0
    assert car_step(0.0, 0.0, 20.0, 0.01, 0.0, 0.5, 0.0)[1] < 0.0
    # Grip limits the yaw rate: lateral acceleration stays under MU_LAT (g + AERO_GRIP v^2).
    from saferl.envs.torcs.surrogate import CAR, G

    _, psi, v, _ = car_step(0.0, 0.0, 60.0, 0.0, 1.0, 0.0, 0.0)
    assert abs(psi) / DT * v == pytest.approx(CAR.MU_LAT * (G + CAR.AERO_GRIP * v * v))


def test_gymnasium_env_checker_passes() -> None:
    import warnings

    from gymnasium.utils.env_checker import check_env

    from saferl.envs.torcs.surrogate import TorcsSurrogateEnv

    env = TorcsSurrogateEnv(track="aalborg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unbounded Box dimensions are deliberate
        check_env(env, skip_render_check=True)
