"""What users see on long runs and in messages: a progress bar on a terminal only (never
with --format json), discrete actions named by label, hints that name CLI flags."""

from __future__ import annotations

import ast
import io
import re
from pathlib import Path

import pytest

from saferl.cli import run

ROOT = Path(__file__).resolve().parents[2]
POL = ROOT / "policies" / "cartpole" / "near_optimal.pol"
WORST = ROOT / "policies" / "cartpole" / "worst.pol"
SPEC = ROOT / "specs" / "cartpole" / "pole_follow.yaml"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(argv: list[str], err: io.StringIO) -> tuple[int, str]:
    out = io.StringIO()
    code = run(argv, out, err)
    return code, out.getvalue()


def test_check_shows_progress_on_a_terminal_only_and_names_labels(tmp_path: Path) -> None:
    argv = ["check", str(POL), str(WORST), "--spec", str(SPEC), "--no-cache", "-j", "1"]
    tty = _Tty()
    code, out = _run(argv, tty)
    assert code == 1
    assert "2/2" in tty.getvalue() and "check" in tty.getvalue()
    assert "-> push=left" in out and "push=0" not in out  # the counterexample names the label
    plain = io.StringIO()
    assert _run(argv, plain)[0] == 1 and plain.getvalue() == ""
    tty = _Tty()
    code, out = _run([*argv, "-f", "json"], tty)
    assert code == 1 and tty.getvalue() == "" and out.lstrip().startswith("{")


def test_distill_shows_progress_on_a_terminal_only(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    argv = ["distill", str(POL), "--env", "CartPole-v1", "--hidden", "8", "--iters", "1", "--episodes", "1",
            "--eval-episodes", "1"]
    tty = _Tty()
    code, _ = _run([*argv, "-o", str(tmp_path / "a")], tty)
    assert code == 0, tty.getvalue()
    assert "distill CartPole-v1" in tty.getvalue() and "1/1" in tty.getvalue()
    tty = _Tty()
    code, out = _run([*argv, "-o", str(tmp_path / "b"), "-f", "json"], tty)
    assert code == 0 and tty.getvalue() == ""
    plain = io.StringIO()
    assert _run([*argv, "-o", str(tmp_path / "c")], plain)[0] == 0 and plain.getvalue() == ""


def test_finetune_progress_and_an_unverified_fallback_hint_name_the_cli(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    oracle = ROOT / "oracles" / "cartpole-ppo"
    tty = _Tty()
    code, _ = _run(["finetune", str(oracle), "--env", "CartPole-v1", "--timesteps", "256", "--eval-episodes", "1",
                    "-o", str(tmp_path / "ft")], tty)
    assert code == 0, tty.getvalue()
    assert "finetune CartPole-v1" in tty.getvalue()
    err = io.StringIO()
    code, out = _run(["finetune", str(oracle), "--env", "CartPole-v1", "--timesteps", "64", "--shield", str(SPEC),
                      "--fallback", str(WORST), "-o", str(tmp_path / "ft2")], err)
    assert code == 2 and out == ""
    line = err.getvalue().strip()
    assert len(line.splitlines()) == 1
    assert f"saferl repair {WORST} --spec {SPEC}" in line and "allow_unverified" not in line


def test_eval_with_json_shows_no_progress() -> None:
    tty = _Tty()
    code, out = _run(["eval", str(POL), "--env", "CartPole-v1", "-n", "2", "--max-steps", "10", "-f", "json"], tty)
    assert code == 0 and tty.getvalue() == "" and '"mean_return"' in out


def test_cli_messages_name_flags_not_python_keywords() -> None:
    """No string in the CLI modules tells a user to pass ``some_option=True`` (a Python
    keyword); the library may say so, the CLI says ``--some-option``."""
    keyword = re.compile(r"\b[a-z]+_[a-z_]+=(True|False|None)\b")
    found = []
    for path in sorted((ROOT / "saferl" / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and keyword.search(node.value):
                found.append(f"{path.name}:{node.lineno}: {node.value[:80]}")
    assert not found, found
