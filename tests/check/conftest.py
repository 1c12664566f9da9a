"""A small project on disk: shipped policies and specs under a [tool.saferl] configuration."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from saferl.cli import run

ROOT = Path(__file__).resolve().parents[2]

PYPROJECT = """\
[project]
name = "fleet"

[tool.saferl]
timeout = 20

[[tool.saferl.groups]]
name = "cartpole"
policies = ["policies/cartpole/*.pol"]
specs = ["specs/cartpole/pole_follow.yaml"]

[[tool.saferl.groups]]
name = "mountaincar"
policies = ["policies/mountaincar/bang_bang.pol"]
specs = ["specs/mountaincar/momentum.yaml"]
cross-check = true
"""

CliResult = tuple[int, str, str]


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the CartPole and MountainCar policies and specs, with a pyproject.toml; cwd is set to it."""
    proj = tmp_path / "proj"
    for rel in (
        "policies/cartpole/near_optimal.pol",
        "policies/cartpole/intermediate.pol",
        "policies/cartpole/worst.pol",
        "policies/mountaincar/bang_bang.pol",
        "specs/cartpole/pole_follow.yaml",
        "specs/mountaincar/momentum.yaml",
    ):
        (proj / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / rel, proj / rel)
    (proj / "pyproject.toml").write_text(PYPROJECT)
    monkeypatch.chdir(proj)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return proj


@pytest.fixture()
def cli() -> Callable[..., CliResult]:
    """Run ``saferl ARGV...`` in-process: (exit code, stdout, stderr)."""

    def call(*argv: str) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        code = run(list(argv), out, err)
        return code, out.getvalue(), err.getvalue()

    return call
