"""Fuzz the .pol parser, the spec loader and the model-manifest loader through the real CLI.

Mutated versions of the shipped files go through ``saferl.cli.run``: the exit code is one
of 0-3, stderr never holds a traceback, and an exit-2 message is one line.  Bounded:
a few dozen examples per kind, derandomized, well under 30 s.  (``bench/fuzz.py`` runs
hundreds more and reports the figures.)
"""

from __future__ import annotations

import io
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saferl.cli import run

ROOT = Path(__file__).resolve().parents[2]

POLICY_SPEC = {
    "policies/cartpole/near_optimal.pol": "specs/cartpole/pole_follow.yaml",
    "policies/extracted/cartpole-viper.pol": "specs/cartpole/pole_follow.yaml",
    "policies/mountaincar/bang_bang.pol": "specs/mountaincar/momentum.yaml",
    "policies/torcs/propel_prog.pol": "specs/torcs/smooth.yaml",
    "policies/pendulum/swing_up.pol": "specs/pendulum/upright.yaml",
    "policies/gridworld/gen-s8-c4-seed1.pol": "specs/cartpole/pole_follow.yaml",
}
SPEC_POLICY = {
    "specs/cartpole/pole_follow.yaml": "policies/cartpole/near_optimal.pol",
    "specs/mountaincar/momentum.yaml": "policies/mountaincar/bang_bang.pol",
    "specs/torcs/smooth.yaml": "policies/torcs/propel_prog.pol",
    "specs/pendulum/upright.yaml": "policies/pendulum/swing_up.pol",
}
ORACLE_ENV = {
    "oracles/cartpole-ppo": "CartPole-v1",
    "oracles/mountaincar-td3": "MountainCarContinuous-v0",
}

SNIPPETS = [
    "(", ")", "{", "}", "[", "]", ",", ":", "=", "..", "'", "#", '"', "-", "if x <= 0 {", "elif", "else",
    "not ", "abs(", "min(", "pid(", "sum(k = 0..5, ", "sum(k = 0..99999, ", "[t-", "1e309", "1e-30",
    "1" * 400, "²", "\x00", "\n", "\t", "é", "!!python/object:os.system ", "!custom ", "&a ", "*a ", "~",
    "null", "NaN", "Infinity", "9" * 5000, "(" * 300, "[" * 3000, "not " * 200, "- " * 200,
]

#: (operation, where as a fraction of the text, which snippet / how many characters)
EDITS = st.lists(
    st.tuples(st.sampled_from(["insert", "delete", "duplicate-line", "truncate", "char"]),
              st.floats(0, 1), st.integers(0, 10_000)),
    min_size=1, max_size=4,
)
FUZZ = settings(
    max_examples=60, deadline=timedelta(seconds=20), derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def mutate(text: str, edits: list[tuple[str, float, int]]) -> str:
    for op, where, k in edits:
        at = int(where * len(text))
        if op == "insert":
            text = text[:at] + SNIPPETS[k % len(SNIPPETS)] + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + 1 + k % 40 :]
        elif op == "duplicate-line":
            lines = text.split("\n")
            i = at * len(lines) // max(1, len(text) + 1)
            lines[i:i] = [lines[i]] * (1 + k % 50)
            text = "\n".join(lines)
        elif op == "truncate":
            text = text[:at]
        elif text:
            text = text[:at] + chr(32 + k % 0x2FD0) + text[at + 1 :]
    return text


def check(argv: list[str]) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = run(argv, out, err)
    text = err.getvalue()
    assert code in (0, 1, 2, 3), text
    assert "Traceback" not in text
    assert "internal error" not in text, text
    if code == 2:
        assert len([line for line in text.splitlines() if line.strip()]) == 1, text


@FUZZ
@given(src=st.sampled_from(sorted(POLICY_SPEC)), edits=EDITS)
def test_fuzzed_policies(src: str, edits: list[tuple[str, float, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.pol"
        path.write_text(mutate((ROOT / src).read_text(encoding="utf-8"), edits), encoding="utf-8", errors="surrogatepass")
        check(["verify", str(path), "--spec", str(ROOT / POLICY_SPEC[src]), "--timeout", "0.5"])


@FUZZ
@given(src=st.sampled_from(sorted(SPEC_POLICY)), edits=EDITS)
def test_fuzzed_specs(src: str, edits: list[tuple[str, float, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.yaml"
        path.write_text(mutate((ROOT / src).read_text(encoding="utf-8"), edits), encoding="utf-8", errors="surrogatepass")
        check(["verify", str(ROOT / SPEC_POLICY[src]), "--spec", str(path), "--timeout", "0.5"])


@FUZZ
@given(src=st.sampled_from(sorted(ORACLE_ENV)), edits=EDITS)
def test_fuzzed_model_manifests(src: str, edits: list[tuple[str, float, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "m"
        shutil.copytree(ROOT / src, model)
        manifest = model / "manifest.json"
        manifest.write_text(mutate(manifest.read_text(encoding="utf-8"), edits), encoding="utf-8", errors="surrogatepass")
        check(["eval", str(model), "--env", ORACLE_ENV[src], "-n", "1", "--max-steps", "3"])
