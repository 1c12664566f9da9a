"""``saferl extract`` end to end with tiny budgets, and its one-line errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("gymnasium")

from saferl.cli import run  # noqa: E402
from saferl.learn.model import save_model  # noqa: E402


def _save(policy, path: Path) -> Path:
    save_model(path, policy.manifest, policy.tensors)
    return path


def _extract(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(["extract", *args], out, err)
    return code, out.getvalue(), err.getvalue()


def test_extract_tree_json(tmp_path: Path, cartpole_linear_oracle) -> None:
    oracle = _save(cartpole_linear_oracle, tmp_path / "oracle")
    pol = tmp_path / "out" / "tree.pol"
    pol.parent.mkdir()  # commands write into existing folders only
    code, out, err = _extract(
        "--oracle", str(oracle), "--env", "CartPole-v1", "--kind", "tree", "--max-leaves", "4",
        "--iters", "2", "--episodes", "3", "--format", "json", "-o", str(pol),
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["kind"] == "tree" and record["size"] <= 4 and record["episodes"] == 3
    assert pol.read_text().count("push = ") == record["size"]


def test_extract_program_table(tmp_path: Path, pendulum_pd_oracle) -> None:
    oracle = _save(pendulum_pd_oracle, tmp_path / "oracle")
    pol = tmp_path / "prog.pol"
    code, out, err = _extract(
        "--oracle", str(oracle), "--env", "Pendulum-v1", "--kind", "program", "--iters", "1",
        "--max-terms", "1", "--episodes", "2", "-o", str(pol),
    )
    assert code == 0, err
    assert "fidelity" in out and "return" in out
    assert "pid(" in pol.read_text()


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--kind", "program"), "PID programs need a continuous action"),
        (("--max-leaves", "1"), "--max-leaves must be at least 2"),
        (("--env", "Pendulum-v1"), "the oracle observes 4 values, Pendulum-v1 gives 3"),
    ],
)
def test_bad_extract_arguments_exit_2(tmp_path: Path, cartpole_linear_oracle, extra, message: str) -> None:
    oracle = _save(cartpole_linear_oracle, tmp_path / "oracle")
    args = ["--oracle", str(oracle), "--env", "CartPole-v1", "-o", str(tmp_path / "x.pol")]
    for i in range(0, len(extra), 2):
        if extra[i] in args:
            args[args.index(extra[i]) + 1] = extra[i + 1]
        else:
            args += [extra[i], extra[i + 1]]
    code, out, err = _extract(*args)
    assert code == 2
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "x.pol").exists()


def test_missing_oracle_exit_2(tmp_path: Path) -> None:
    code, _, err = _extract("--oracle", str(tmp_path / "none"), "--env", "CartPole-v1", "-o", str(tmp_path / "x.pol"))
    assert code == 2 and "policy file not found" in err


def test_malformed_manifest_exit_2(tmp_path: Path, cartpole_linear_oracle) -> None:
    oracle = _save(cartpole_linear_oracle, tmp_path / "oracle")
    (oracle / "manifest.json").write_text('{"format": "saferl-model", "version": 1}')
    code, _, err = _extract("--oracle", str(oracle), "--env", "CartPole-v1", "-o", str(tmp_path / "x.pol"))
    assert code == 2 and "manifest.json: manifest needs an 'observation' object" in err
