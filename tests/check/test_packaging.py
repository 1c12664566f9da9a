"""CI packaging: the composite action, the pre-commit hook, this repository's own gate."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from saferl.check.baseline import load_baseline
from saferl.check.config import load_config
from saferl.check.fleet import pairs_from_config

ROOT = Path(__file__).resolve().parents[2]
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _uses(doc: object) -> list[str]:
    if isinstance(doc, dict):
        return [v for k, v in doc.items() if k == "uses"] + [u for v in doc.values() for u in _uses(v)]
    if isinstance(doc, list):
        return [u for v in doc for u in _uses(v)]
    return []


@pytest.mark.parametrize("path", ["action.yml", ".github/workflows/saferl.yml"])
def test_every_inner_action_is_pinned_by_commit_sha(path: str) -> None:
    uses = _uses(yaml.safe_load((ROOT / path).read_text()))
    assert uses
    for ref in uses:
        assert ref == "./" or PINNED.match(ref), ref


def test_action_inputs_and_outputs() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert {"config", "paths", "version", "upload-sarif"} <= set(action["inputs"])
    assert set(action["outputs"]) == {"exit-code", "sarif-file"}
    assert any("upload-sarif@" in u for u in _uses(action))


def test_pre_commit_hook() -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "saferl-check" and hook["entry"] == "saferl check" and hook["pass_filenames"] is True
    files = re.compile(hook["files"])
    assert all(files.search(f) for f in ("policies/a.pol", "specs/b.yaml", "c.yml"))
    assert not any(files.search(f) for f in ("saferl/check/cache.py", "README.md"))


def test_this_repository_gates_its_shipped_policies() -> None:
    config = load_config(ROOT / "pyproject.toml")
    pairs = pairs_from_config(config)
    policies = {p.policy.relative_to(ROOT).as_posix() for p in pairs}
    assert "policies/cartpole/near_optimal.pol" in policies and len(pairs) >= 10
    baseline = load_baseline(ROOT / ".saferl/baseline.json")
    assert {k[0] for k in baseline.verdicts} <= policies  # a new policy is new to the baseline: it must be SAFE


def test_the_action_check_step_runs(project: Path, tmp_path: Path) -> None:
    saferl = Path(sys.executable).parent / "saferl"
    if not saferl.exists():
        pytest.skip("the saferl script is not installed next to this Python")
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    step = next(s for s in action["runs"]["steps"] if s.get("id") == "check")
    output, summary = tmp_path / "output", tmp_path / "summary.md"
    env = dict(
        os.environ,
        PATH=f"{saferl.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        INPUT_CONFIG="", INPUT_PATHS="policies/cartpole", INPUT_ARGS="--jobs 2", INPUT_CACHE_DIR=".saferl_cache",
        SARIF=str(tmp_path / "saferl.sarif"), GITHUB_OUTPUT=str(output), GITHUB_STEP_SUMMARY=str(summary),
    )
    done = subprocess.run(["bash", "-c", step["run"]], cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"exit-code=1\nsarif-file={tmp_path / 'saferl.sarif'}\nsarif-written=true\n" == output.read_text()
    sarif = json.loads((tmp_path / "saferl.sarif").read_text())
    assert len(sarif["runs"][0]["results"]) == 9  # three cartpole policies × three properties
    assert summary.read_text().startswith("## saferl check\n")
    annotations = [line for line in done.stdout.splitlines() if line.startswith("::error file=")]
    assert len(annotations) == 2 and all("(cached verdict)" in a for a in annotations)
