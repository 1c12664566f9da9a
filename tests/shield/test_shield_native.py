"""The native (C) shield step takes the Python generated step's decisions, bit for bit.

Two shields over the same spec and fallback, one running the step compiled to C
(:mod:`saferl.shield.native`, the default) and one the generated Python step
(``native=False``), see the same observations and proposals: every record, every array
the environment receives (values, dtype, identity of a passed-through proposal), the PID
state, the stored observations, the history and the counters must be equal on every step,
and an error must be the same error (a zero divisor cannot
occur: specs and programs divide by non-zero constants only).  Observations: random walks through the TORCS specs'
domain drawn by hypothesis, with NaN, infinities, signed zeros and subnormals thrown in;
and a lockstep real-TORCS race.  Without a compiler, or when the build fails, the Python
step runs and the shield says why.
"""

from __future__ import annotations

import math
import stat
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saferl.policy import load_policy
from saferl.shield import Shield
from saferl.shield.cast import caster
from saferl.shield.ctrans import NativeUnsupported, StepLayout, c_number, c_step_source
from saferl.shield.native import native_module
from saferl.spec import load_spec

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_shield_fastbox import PAIRS, ReplayEnv, proposals, random_walk  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SPECIAL = [0.0, -0.0, math.nan, math.inf, -math.inf, 1e-45, -1e-45, 0.8, -0.8, 0.5, -0.5, 0.1, -0.1, 0.005]


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Builds go to a cache of this test session (the first use of a step compiles it)."""
    monkeypatch.setenv("SAFERL_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "saferl-cache"))
    monkeypatch.delenv("SAFERL_NATIVE", raising=False)
    monkeypatch.delenv("CC", raising=False)


class KeepingEnv(ReplayEnv):
    """ReplayEnv that keeps what it received as (dtype, shape, bytes, contiguous, the proposal itself)."""

    def __init__(self, observations: np.ndarray, action_dtype: Any = np.float32):
        super().__init__(observations)
        self.action_space = gym.spaces.Box(np.array([-1.0, 0.0, 0.0], dtype=action_dtype),
                                           np.array([1.0, 1.0, 1.0], dtype=action_dtype), dtype=action_dtype)
        self.got: list[Any] = []

    def step(self, action: Any) -> Any:
        self.got.append(action)
        return super().step(action)


def seen(action: Any, proposal: Any) -> Any:
    if isinstance(action, np.ndarray):
        return (action.dtype, action.shape, action.tobytes(), action.flags.c_contiguous, action.flags.writeable,
                action is proposal)
    return repr(action)


def outcome(shield: Shield, action: Any) -> Any:
    try:
        return repr(shield.step(action)[4]["saferl"])
    except Exception as exc:  # the same error, raised by both
        return (type(exc).__name__, str(exc))


def lockstep(spec: Any, program: Any, obs: np.ndarray, acts: list[Any], action_dtype: Any = np.float32,
             projection: bool = True) -> Any:
    envs = [KeepingEnv(obs, action_dtype), KeepingEnv(obs, action_dtype)]
    native = Shield(envs[0], spec, fallback=program, allow_unverified=True, projection=projection)
    python = Shield(envs[1], spec, fallback=program, allow_unverified=True, native=False, projection=projection)
    assert native.step_kind == "native", native.native_note
    assert python.step_kind == "python"
    native.reset()
    python.reset()
    for t, a in enumerate(acts[: len(obs) - 1]):
        got = outcome(native, a), outcome(python, a)
        assert got[0] == got[1], (t, got)
        assert seen(envs[0].got[-1], a) == seen(envs[1].got[-1], a), t
        assert repr(native._ps) == repr(python._ps), t
        assert repr(native._o) == repr(python._o), t
        assert repr(list(native._h)) == repr(list(python._h)), t
        assert native.episode_stats == python.episode_stats, t
    assert native.totals == python.totals
    return native.totals


def walk_with_specials(seed: int, n: int, p_special: float) -> tuple[np.ndarray, list[Any]]:
    rng = np.random.default_rng(seed)
    obs = random_walk(rng, n)
    for t in range(n):
        if rng.random() < p_special:
            obs[t, rng.choice([0, 1, 2, 5, 18, 19, 20])] = SPECIAL[rng.integers(len(SPECIAL))]
    acts = proposals(rng, n)
    for t in range(0, n, 7):  # proposals on the float32 neighbours of the spec's thresholds
        edge = [float(np.nextafter(np.float32(x), np.float32(d))) for x, d in ((0.25, 1), (0.4, 2), (0.0, -1))]
        acts[t] = np.array([edge[0] if t % 2 else -0.0, edge[1], edge[2] if t % 3 else 0.0], dtype=np.float32)
    return obs, acts


@pytest.mark.parametrize("spec_path, fallback_path", PAIRS)
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), p_special=st.sampled_from([0.0, 0.02, 0.2]))
def test_native_step_equals_the_python_step_on_random_walks(spec_path: str, fallback_path: str, seed: int,
                                                           p_special: float) -> None:
    spec, program = load_spec(ROOT / spec_path), load_policy(ROOT / fallback_path)
    obs, acts = walk_with_specials(seed, 400, p_special)
    lockstep(spec, program, obs, acts)


def test_native_step_with_float64_actions_equals_the_python_step() -> None:
    spec, program = load_spec(ROOT / PAIRS[0][0]), load_policy(ROOT / PAIRS[0][1])
    obs, acts = walk_with_specials(7, 1500, 0.02)
    acts64 = [a.astype(np.float64) if isinstance(a, np.ndarray) else a for a in acts]
    totals = lockstep(spec, program, obs, acts64, np.float64)
    assert totals.by_source["projection"] > 100 and totals.by_source["fallback"] > 5


def test_native_step_without_projection_equals_the_python_step() -> None:
    """--no-projection: every violation goes to the fallback (through the general path)."""
    spec, program = load_spec(ROOT / PAIRS[0][0]), load_policy(ROOT / PAIRS[0][1])
    obs, acts = walk_with_specials(5, 800, 0.02)
    totals = lockstep(spec, program, obs, acts, projection=False)
    assert "projection" not in totals.by_source and totals.by_source["fallback"] > 100


def test_the_walks_visit_every_kind_of_step() -> None:
    """Projections, fallbacks, invalid actions, and the general path (no history yet) all occur."""
    spec, program = load_spec(ROOT / PAIRS[0][0]), load_policy(ROOT / PAIRS[0][1])
    obs, acts = walk_with_specials(16, 1500, 0.02)
    totals = lockstep(spec, program, obs, acts)
    assert totals.by_source["projection"] > 100 and totals.by_source["fallback"] > 5
    assert totals.by_reason["invalid-action"] > 10


@settings(max_examples=400, deadline=None)
@given(x=st.floats(), lo=st.floats(allow_nan=False), hi=st.floats(allow_nan=False))
def test_the_native_cast_equals_the_python_cast(x: float, lo: float, hi: float) -> None:
    for dtype, mod in ((np.float32, CAST_MODULES[0]), (np.float64, CAST_MODULES[1])):
        want, got = caster(np.dtype(dtype))(x, lo, hi), mod.cast_into(x, lo, hi)
        assert repr(want) == repr(got) and math.copysign(1, want) == math.copysign(1, got), (dtype, x, lo, hi, want, got)


def _modules() -> list[Any]:
    spec, program = load_spec(ROOT / PAIRS[1][0]), load_policy(ROOT / PAIRS[1][1])
    out = []
    for dtype in (np.float32, np.float64):
        shield = Shield(KeepingEnv(np.zeros((3, 29)), dtype), spec, fallback=program, allow_unverified=True, native=False)
        assert shield._fast is not None
        out.append(native_module(shield, shield._fast))
    return out


CAST_MODULES: list[Any] = []


@pytest.fixture(autouse=True, scope="module")
def cast_modules() -> None:
    if not CAST_MODULES:
        CAST_MODULES.extend(_modules())


# -- falling back, caching --------------------------------------------------------------

def _shield(native: bool = True) -> Shield:
    spec, program = load_spec(ROOT / PAIRS[1][0]), load_policy(ROOT / PAIRS[1][1])
    return Shield(KeepingEnv(random_walk(np.random.default_rng(0), 50)), spec, fallback=program, allow_unverified=True,
                  native=native)


def test_without_a_compiler_the_python_step_runs_and_says_why(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    shield = _shield()
    assert shield.step_kind == "python"
    assert shield.native_note == f"Python step (no native step: no C compiler ({tmp_path / 'no-such-cc'} not found))"
    shield.reset()
    for a in proposals(np.random.default_rng(0), 40):
        assert shield.step(a)[4]["saferl"] is not None


def test_a_failed_build_falls_back_to_the_python_step(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "fake-cc"
    fake.write_text("#!/bin/sh\necho 'fake-cc: error: no such thing' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CC", str(fake))
    monkeypatch.setenv("SAFERL_CACHE_DIR", str(tmp_path / "cache"))
    shield = _shield()
    assert shield.step_kind == "python"
    assert shield.native_note is not None and "the C build failed" in shield.native_note
    assert "fake-cc: error: no such thing" in shield.native_note
    assert not list((tmp_path / "cache" / "shield-native").glob("*.so"))  # nothing half-built is kept


def test_the_native_step_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _shield(native=False).step_kind == "python"
    monkeypatch.setenv("SAFERL_NATIVE", "0")
    shield = _shield()
    assert shield.step_kind == "python" and "SAFERL_NATIVE=0" in (shield.native_note or "")


def test_builds_are_cached_in_a_private_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SAFERL_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", "cc -g0")  # another compiler command: another key, built here
    first, second = _shield(), _shield()
    assert first.step_kind == second.step_kind == "native", first.native_note
    assert first.native_note == second.native_note
    folder = tmp_path / "shield-native"
    built = list(folder.glob("_saferl_shield_*.so"))
    assert len(built) == 1 and built[0].stem.split(".")[0] in (first.native_note or "")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not [p for p in folder.iterdir() if p.name.startswith(".build-")]


def test_a_cache_others_can_write_is_not_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A shared cache folder could hold another user's module: the build goes to a
    temporary folder of this process instead, removed once loaded."""
    folder = tmp_path / "shield-native"
    folder.mkdir()
    folder.chmod(0o777)
    monkeypatch.setenv("SAFERL_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", "cc -g0 -DSHARED_CACHE_TEST")  # a key of its own: built now
    shield = _shield()
    assert shield.step_kind == "native", shield.native_note
    assert list(folder.iterdir()) == []


class ShortEnv(KeepingEnv):
    """Answers with four values instead of five (a broken environment)."""

    def step(self, action: Any) -> Any:
        return super().step(action)[:4]


def test_a_broken_environment_raises_the_same_error() -> None:
    spec, program = load_spec(ROOT / PAIRS[1][0]), load_policy(ROOT / PAIRS[1][1])
    obs = random_walk(np.random.default_rng(0), 10)
    shields = [Shield(ShortEnv(obs), spec, fallback=program, allow_unverified=True, native=n) for n in (True, False)]
    assert shields[0].step_kind == "native", shields[0].native_note
    for s in shields:
        s.reset()
        s._h.append((s._o, (0.0, 0.2, 0.0), ()))  # a full history: the generated step handles the step
    a = np.array([0.0, 0.2, 0.0], dtype=np.float32)
    got = [outcome(s, a) for s in shields]
    assert got[0] == got[1] == ("ValueError", "not enough values to unpack (expected 5, got 4)")


# -- the translation ----------------------------------------------------------------------

@settings(max_examples=500, deadline=None)
@given(x=st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_reach_c_exactly(x: float) -> None:
    text = c_number(x)
    assert text.startswith("(") and text.endswith(")")
    back = float.fromhex(text[1:-1])
    assert back == x and math.copysign(1, back) == math.copysign(1, x)


LAYOUT = StepLayout(n_obs=1, n_act=1, n_state=0, action_f32=True, obs_f32=True, projection=True)


@pytest.mark.parametrize("body", [
    "x = a0 ** 2",
    "x = system(a0)",
    "x = a0 % 2.0",
    "import os",
    "x = 'text'",
    "x = 2 ** 60 * 1.0 + 36028797018963969",
])
def test_what_the_translation_does_not_know_is_refused(body: str) -> None:
    src = f"def step(action):\n    {body}\n    return general(action, False)\n"
    with pytest.raises(NativeUnsupported):
        c_step_source(src, LAYOUT, 0, "m")


def test_module_names_are_identifiers() -> None:
    with pytest.raises(NativeUnsupported):
        c_step_source("def step(action):\n    return general(action, False)\n", LAYOUT, 0, 'm"); system("x')


# -- real TORCS ----------------------------------------------------------------------------

# (the lockstep race on real TORCS, native vs Python vs general: test_shield_fastbox.py)


def test_the_cli_summary_says_which_step_ran(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``saferl shield run`` names the step in its summary; without a compiler it still runs."""
    import io
    import json

    from saferl.cli import run

    args = ["shield", "run", "--policy", "random", "--spec", str(ROOT / "specs/pendulum/upright.yaml"),
            "--fallback", str(ROOT / "policies/pendulum/swing_up.pol"), "--env", "Pendulum-v1", "--episodes", "1",
            "--max-steps", "20", "--quiet", "--format", "json", "--allow-unverified"]
    for cc, kind in (("cc", "native"), (str(tmp_path / "no-cc"), "python")):
        monkeypatch.setenv("CC", cc)
        out, err = io.StringIO(), io.StringIO()
        assert run(args, out, err) == 0, err.getvalue()
        step = json.loads(out.getvalue())["step"]
        assert step["kind"] == kind, step
        assert err.getvalue() == ""
    assert "no C compiler" in step["note"]


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_native_step_equals_the_python_step_on_pendulum(seed: int) -> None:
    """One action, no history, no fallback state: real Pendulum-v1 episodes in lockstep."""
    spec, program = load_spec(ROOT / "specs/pendulum/upright.yaml"), load_policy(ROOT / "policies/pendulum/swing_up.pol")
    shields = [Shield(gym.make("Pendulum-v1", max_episode_steps=300), spec, fallback=program, allow_unverified=True,
                      native=n) for n in (True, False)]
    assert [s.step_kind for s in shields] == ["native", "python"], shields[0].native_note
    rng = np.random.default_rng(seed)
    obs = [s.reset(seed=seed)[0] for s in shields]
    for t in range(300):
        assert obs[0].tobytes() == obs[1].tobytes(), t
        r = rng.random()
        a: Any = np.array([rng.uniform(-2, 2)], dtype=np.float32)
        if r < 0.05:
            a = np.array([np.nan], dtype=np.float32)
        elif r < 0.1:
            a = np.array([-0.0 if r < 0.07 else 2.0], dtype=np.float32)
        outs = [s.step(a) for s in shields]
        assert repr(outs[0][4]["saferl"]) == repr(outs[1][4]["saferl"]), t
        obs = [o[0] for o in outs]
        if outs[0][2] or outs[0][3]:
            break
    assert shields[0].totals == shields[1].totals and shields[0].totals.interventions > 0
