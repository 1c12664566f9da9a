"""One rule for every command that writes a file: the folder must exist (exit 2, one line);
nothing but the file itself (or a model directory) is ever created."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from saferl.cli import run

ROOT = Path(__file__).resolve().parents[2]
WORST = str(ROOT / "policies/cartpole/worst.pol")
FOLLOW = str(ROOT / "specs/cartpole/pole_follow.yaml")
POLICY = str(ROOT / "policies/cartpole/near_optimal.pol")


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return run(list(argv), out, err), out.getvalue(), err.getvalue()


def commands(missing: Path, grid: Path) -> list[tuple[str, list[str]]]:
    """Every command with -o/--output, with arguments that would otherwise run."""
    target = str(missing / "x.out")
    return [
        ("saferl verify", ["verify", POLICY, "--spec", FOLLOW, "-o", target]),
        ("saferl repair", ["repair", WORST, "--spec", FOLLOW, "-o", target]),
        ("saferl extract", ["extract", "--oracle", str(ROOT / "oracles/cartpole-ppo"), "--env", "CartPole-v1", "-o", target]),
        ("saferl train", ["train", "--env", "CartPole-v1", "--algo", "ppo", "-o", target]),
        ("saferl synth", ["synth", str(grid), "-o", target]),
        ("saferl grid", ["grid", "generate", "-o", target]),
        ("saferl grid", ["grid", "convert", str(grid), "-o", target]),
        ("saferl grid", ["grid", "render", str(grid), "-o", str(missing / "x.svg")]),
        ("saferl check", ["check", "--spec", FOLLOW, POLICY, "-o", target]),
        ("saferl check", ["check", "--spec", FOLLOW, POLICY, "--summary", target]),
    ]


@pytest.fixture
def grid(tmp_path: Path) -> Path:
    path = tmp_path / "g.json"
    code, out, err = cli("grid", "generate", "--size", "6", "--chords", "2", "-o", str(path))
    assert code == 0, err
    return path


@pytest.mark.parametrize("index", range(10))
def test_a_missing_folder_is_refused_and_never_created(index: int, tmp_path: Path, grid: Path) -> None:
    missing = tmp_path / "no" / "such"
    prog, argv = commands(missing, grid)[index]
    code, out, err = cli(*argv)
    shown = argv[-1]
    assert code == 2
    option = argv[-2] if argv[-2].startswith("--") else "--output"
    assert err == f"{prog}: error: {option} {shown}: directory {Path(shown).parent} does not exist (hint: create it first)\n"
    assert not (tmp_path / "no").exists()


def test_a_directory_as_output_file_is_refused(tmp_path: Path) -> None:
    code, _, err = cli("verify", POLICY, "--spec", FOLLOW, "-o", str(tmp_path))
    assert code == 2
    assert err == f"saferl verify: error: --output {tmp_path} is a directory (hint: give a file name)\n"


def test_an_existing_folder_is_fine(tmp_path: Path) -> None:
    code, _, err = cli("verify", POLICY, "--spec", FOLLOW, "-o", str(tmp_path / "report.txt"))
    assert code == 0, err
    assert "SAFE" in (tmp_path / "report.txt").read_text()


def test_a_too_long_output_name_is_one_line(tmp_path: Path) -> None:
    code, _, err = cli("verify", POLICY, "--spec", FOLLOW, "-o", str(tmp_path / ("r" * 5000)))
    assert code == 2
    assert err.count("\n") == 1 and err.rstrip().endswith("file name too long")
