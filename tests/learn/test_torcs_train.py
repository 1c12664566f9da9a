"""TD3 on real TORCS with tiny budgets: the warm start, the log, the lap report, the CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("gymnasium")

import sys

from saferl.cli import run  # noqa: E402
from saferl.learn.model import load_model  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from torcs_support import needs_torcs  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "policies/torcs/propel_prog.pol"


pytestmark = pytest.mark.integration


@needs_torcs
def test_warm_started_td3_logs_and_keeps_the_best_lap_checkpoint() -> None:
    from saferl.learn.model import policy_from_parts
    from saferl.learn.torcs import TorcsTrainConfig, td3_defaults, train_torcs_td3
    from saferl.policy import load_policy

    cfg = td3_defaults()
    cfg.total_timesteps, cfg.learning_starts, cfg.actor_starts, cfg.eval_every = 600, 200, 400, 300
    tcfg = TorcsTrainConfig(episode_steps=250, bc_iters=1, bc_steps_per_iter=300, bc_epochs=3, eval_max_steps=400,
                            bc_tracks=("g-track-2", "aalborg"))
    records: list[dict[str, object]] = []
    manifest, tensors = train_torcs_td3("g-track-2", 0, cfg, tcfg, load_policy(PROGRAM), log=records.append)
    kinds = [r["kind"] for r in records]
    assert kinds[:3] == ["bc", "bc", "eval"] and "episode" in kinds
    assert [r["states"] for r in records[:2]] == [600, 1200]  # 300 states per track and iteration
    assert manifest["env_id"] == "saferl/Torcs-v0" and manifest["actor"]["layers"] == [29, 64, 64, 3]
    assert manifest["training"]["torcs"]["warm_start"] == "torcs_propel_prog"
    assert manifest["training"]["episodes"] == sum(k == "episode" for k in kinds) >= 2
    scores = [float(r["score"]) for r in records if r["kind"] == "eval"]  # type: ignore[arg-type]
    assert len(scores) == 3 and all(0.0 <= x <= 1.0 for x in scores)  # a fraction of a lap in 400 steps
    assert manifest["training"]["best_eval_return"] == max(scores)
    action = policy_from_parts(manifest, tensors).act(np.zeros(29, np.float32))
    assert action.shape == (3,) and -1.0 <= action[0] <= 1.0 and 0.0 <= action[1] <= 1.0


@needs_torcs
def test_cli_trains_on_torcs_and_reports_the_lap(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    log = tmp_path / "train.jsonl"
    args = ["train", "--env", "saferl/Torcs-v0", "--algo", "td3", "--track", "g-track-2", "--timesteps", "300",
            "--log", str(log), "--format", "json", "-o", str(tmp_path / "m")]
    code = run(args, out, err)
    assert code == 0, err.getvalue()
    record = json.loads(out.getvalue())
    assert record["track"] == "g-track-2" and record["episodes"] >= 0
    assert record["lap_time"] is None or record["lap_time"] > 0  # an untrained net rarely laps
    policy = load_model(tmp_path / "m")
    assert policy.act(np.zeros(29, np.float32)).shape == (3,)
    assert policy.manifest["training"]["final_eval"]["laps"][0]["track"] == "g-track-2"
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert all(x["kind"] == "episode" for x in lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--env", "Pendulum-v1", "--track", "g-track-2"), "--track and --warm-start apply to saferl/Torcs-v0 only"),
        (("--env", "saferl/Torcs-v0", "--warm-start", str(ROOT / "policies/cartpole/near_optimal.pol")), "cannot warm-start a TORCS driver"),
        (("--env", "saferl/Torcs-v0", "--warm-start-tracks", "aalborg"), "--warm-start-tracks needs --warm-start"),
    ],
)
@needs_torcs
def test_bad_torcs_train_arguments_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = run(["train", *args, "--algo", "td3", "--timesteps", "10", "-o", str(tmp_path / "m")], out, err)
    assert code == 2
    assert message in err.getvalue()
    assert "Traceback" not in err.getvalue()
