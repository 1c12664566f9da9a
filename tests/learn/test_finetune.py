"""saferl finetune: PPO / TD3 from a saved model, shielded or near a program (tiny budgets)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gymnasium")

from saferl.cli import run  # noqa: E402
from saferl.learn.distill import DistillConfig, distill_program  # noqa: E402
from saferl.learn.finetune import finetune_model  # noqa: E402
from saferl.learn.model import NeuralPolicy, load_model, policy_from_parts, save_model  # noqa: E402
from saferl.learn.ppo import PPOConfig  # noqa: E402
from saferl.learn.td3 import TD3Config  # noqa: E402
from saferl.policy import load_policy  # noqa: E402
from saferl.policy.evaluate import ProgramPolicy  # noqa: E402
from saferl.spec import load_spec  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NEAR_OPTIMAL = ROOT / "policies" / "cartpole" / "near_optimal.pol"
WORST = ROOT / "policies" / "cartpole" / "worst.pol"
POLE_FOLLOW = ROOT / "specs" / "cartpole" / "pole_follow.yaml"
SWING_UP = ROOT / "policies" / "pendulum" / "swing_up.pol"


def _tiny_ppo() -> PPOConfig:
    return PPOConfig(q_eval_transitions=0, eval_every=2, eval_episodes=2)


@pytest.fixture(scope="module")
def worst_net() -> NeuralPolicy:
    """A near-deterministic network distilled from worst.pol: it breaks pole_follow all the time."""
    torch.set_num_threads(1)
    cfg = DistillConfig(hidden=(16,), iters=1, episodes_per_iter=2, epochs=10, eval_episodes=1, label_smoothing=0.0)
    result = distill_program(load_policy(WORST), "CartPole-v1", seed=0, config=cfg)
    return policy_from_parts(result.manifest, result.tensors)


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_shielded_training_never_violates_the_spec(worst_net: NeuralPolicy) -> None:
    torch.set_num_threads(1)
    spec, fallback = load_spec(POLE_FOLLOW), load_policy(NEAR_OPTIMAL)
    free = finetune_model(worst_net, "CartPole-v1", seed=0, timesteps=1024, fallback=fallback, monitor_spec=spec,
                          trainer_config=_tiny_ppo(), eval_episodes=1)
    calls: list[tuple[int, int, float]] = []
    shielded = finetune_model(worst_net, "CartPole-v1", seed=0, timesteps=1024, shield_spec=spec, fallback=fallback,
                              trainer_config=_tiny_ppo(), eval_episodes=1, progress=lambda *a: calls.append(a))
    assert free.monitored and not free.shielded
    assert free.violations > 50  # the unshielded run is reported, not hidden
    assert free.violations <= sum(free.violations_by_property.values())  # a step can break two properties
    assert shielded.shielded and shielded.violations == 0 and shielded.violations_by_property == {}
    assert shielded.interventions > 0
    # every environment step counts: the softening's greedy episode (the curve's first, run
    # behind the shield too) and the training steps; progress reports from the start's
    # evaluation (after that episode) to the end
    measured = shielded.curve[0].step
    assert 0 < measured < 500 and shielded.steps == measured + 1024
    assert free.steps == free.curve[0].step + 1024
    assert calls[0][0] == measured and calls[-1][:2] == (shielded.steps, shielded.steps)
    # the curve's step axis is increasing and its counters cumulative
    steps = [p.step for p in shielded.curve]
    assert steps == sorted(steps) and shielded.curve[-1].interventions <= shielded.interventions


def test_imitation_penalty_pulls_towards_the_program(worst_net: NeuralPolicy) -> None:
    torch.set_num_threads(1)
    program = load_policy(NEAR_OPTIMAL)
    expert = ProgramPolicy(program)
    rng = np.random.default_rng(0)
    states = (rng.uniform(-1, 1, (2000, 4)) * np.array([1.0, 1.0, 0.2, 1.0])).astype(np.float32)
    labels = np.array([expert.act(s) for s in states])

    def agreement(policy: NeuralPolicy) -> float:
        return float(np.mean(policy.act_batch(states) == labels))

    def tuned(lam: float) -> NeuralPolicy:
        # keep the last actor (eval_every 0), not the best-evaluated one; every update moves it
        cfg = PPOConfig(q_eval_transitions=0, eval_every=0, learning_rate=1e-3)
        result = finetune_model(worst_net, "CartPole-v1", seed=0, timesteps=4096, program=program if lam else None,
                                lam=lam, trainer_config=cfg, eval_episodes=1, critic_warmup=0)
        return policy_from_parts(result.manifest, result.tensors)

    with_penalty, without = agreement(tuned(5.0)), agreement(tuned(0.0))
    assert with_penalty > without + 0.1
    assert with_penalty > agreement(worst_net) + 0.1


def test_td3_finetunes_a_continuous_model() -> None:
    torch.set_num_threads(1)
    program = load_policy(SWING_UP)
    cfg = DistillConfig(hidden=(16,), iters=0, episodes_per_iter=1, epochs=5, eval_episodes=1)
    start = distill_program(program, "Pendulum-v1", seed=0, config=cfg)
    model = policy_from_parts(start.manifest, start.tensors)
    tcfg = TD3Config(batch_size=32, eval_every=0)
    result = finetune_model(model, "Pendulum-v1", seed=0, timesteps=300, program=program, lam=1.0,
                            trainer_config=tcfg, eval_episodes=1)
    assert result.manifest["training"]["algo"] == "td3"
    assert result.manifest["training"]["finetune"]["lambda"] == 1.0
    assert result.steps == 300 and len(result.curve) == 1
    assert result.manifest["critic"]["kind"] == "q"


def test_cli_writes_model_report_and_curves(tmp_path: Path, worst_net: NeuralPolicy) -> None:
    start = tmp_path / "start"
    save_model(start, worst_net.manifest, worst_net.tensors)
    out_dir = tmp_path / "tuned"
    code, out, err = _cli(
        "finetune", str(start), "--env", "CartPole-v1", "-o", str(out_dir), "--timesteps", "512",
        "--shield", str(POLE_FOLLOW), "--fallback", str(NEAR_OPTIMAL), "--eval-episodes", "1", "--format", "json",
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["shielded"] and record["violations"] == 0 and record["interventions"] > 0
    assert json.loads((out_dir / "finetune.json").read_text()) == record
    curve = json.loads((out_dir / "curve.json").read_text())
    assert curve and set(curve[0]) == {"step", "episode_return", "violations", "interventions"}
    assert (out_dir / "curve.png").read_bytes()[:4] == b"\x89PNG"
    assert load_model(out_dir).manifest["training"]["finetune"]["shield"] is True


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--env", "Pendulum-v1"], "the model reads 4 observations; Pendulum-v1 has 3"),
        (["--env", "CartPole-v1", "--shield", str(POLE_FOLLOW)], "--shield needs --fallback"),
        (["--env", "CartPole-v1", "--lambda", "2"], "--lambda needs --program"),
        (["--env", "CartPole-v1", "--program", str(SWING_UP)], "declares 3 observations; CartPole-v1 has 4"),
        (["--env", "CartPole-v1", "--start-confidence", "0.5"], "--start-confidence must be above 0.5 and at most 1"),
        (["--env", "CartPole-v1", "--critic-warmup", "-1"], "--critic-warmup must be between 0 and 1000"),
        (["--env", "CartPole-v1", "--intervention-penalty", "-1"], "--intervention-penalty must be between 0 and 1e6"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, worst_net: NeuralPolicy, extra: list[str], message: str) -> None:
    start = tmp_path / "start"
    save_model(start, worst_net.manifest, worst_net.tensors)
    code, out, err = _cli("finetune", str(start), "-o", str(tmp_path / "m"), "--timesteps", "64", *extra)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err


def test_missing_parent_folder_is_exit_2(tmp_path: Path, worst_net: NeuralPolicy) -> None:
    start = tmp_path / "start"
    save_model(start, worst_net.manifest, worst_net.tensors)
    code, _, err = _cli("finetune", str(start), "--env", "CartPole-v1", "-o", str(tmp_path / "no" / "m"))
    assert code == 2 and "does not exist" in err


def test_softened_start_keeps_every_greedy_action(worst_net: NeuralPolicy) -> None:
    from saferl.learn.finetune import soften_actor

    actor = {k: v for k, v in worst_net.tensors.items() if k.startswith("actor.")}
    soft = policy_from_parts(worst_net.manifest, soften_actor(worst_net, actor, "CartPole-v1", 0, 0.95))
    states = np.random.default_rng(1).normal(0, 0.5, (500, 4)).astype(np.float32)
    assert np.array_equal(soft.act_batch(states), worst_net.act_batch(states))
    logits = soft.actor_output(states)
    p_max = np.exp(logits.max(1)) / np.exp(logits).sum(1)
    assert np.median(p_max) <= 0.951


def test_critic_warmup_fits_the_critics_and_leaves_the_actor(worst_net: NeuralPolicy) -> None:
    from saferl.extract.rollout import collect
    from saferl.learn.ppo import train_ppo

    torch.set_num_threads(1)
    actor = {k: v for k, v in worst_net.tensors.items() if k.startswith("actor.")}
    states = collect(worst_net, "CartPole-v1", episodes=5, seed=3).states

    def q_mean(warmup: int) -> tuple[bool, float]:
        cfg = PPOConfig(total_timesteps=512, q_eval_transitions=0, eval_every=0, critic_warmup=warmup, hidden=(16,))
        _, t = train_ppo("CartPole-v1", 0, cfg, init_actor=actor)
        q = np.tanh(states @ t["critic.0.weight"].T + t["critic.0.bias"]) @ t["critic.1.weight"].T + t["critic.1.bias"]
        return all(np.array_equal(t[k], v) for k, v in actor.items()), float(q.mean())

    frozen, warm = q_mean(1)
    moved, fresh = q_mean(0)
    # one warm-up rollout: the actor is exactly the start, and Q reads the start's discounted
    # returns (episodes of about 10 steps), where one PPO update leaves a fresh Q near 0
    assert frozen and not moved
    assert 3.0 < warm < 20.0 and abs(fresh) < 1.0


def test_an_intervention_costs_the_trainer_not_the_reported_returns(worst_net: NeuralPolicy) -> None:
    torch.set_num_threads(1)
    spec, fallback = load_spec(POLE_FOLLOW), load_policy(NEAR_OPTIMAL)

    def run(penalty: float) -> tuple[list[float], float]:
        # 512 steps = the critic warm-up alone: the actor is frozen, so both runs act alike;
        # eval_every 0 keeps the last critic (not the start's checkpoint)
        r = finetune_model(worst_net, "CartPole-v1", seed=0, timesteps=512, shield_spec=spec, fallback=fallback,
                           trainer_config=PPOConfig(q_eval_transitions=0, eval_every=0), eval_episodes=1,
                           intervention_penalty=penalty)
        states = np.random.default_rng(0).normal(0, 0.1, (200, 4)).astype(np.float32)
        t = r.tensors
        q = np.tanh(states @ t["critic.0.weight"].T + t["critic.0.bias"]) @ t["critic.1.weight"].T + t["critic.1.bias"]
        return [p.episode_return for p in r.curve], float(q.mean())

    free_curve, free_q = run(0.0)
    taxed_curve, taxed_q = run(20.0)
    assert taxed_curve == free_curve  # the environment's returns, unshaped
    assert taxed_q < free_q - 1.0  # the critic learnt the penalised rewards


def test_observer_sees_the_actor_after_each_policy_update(worst_net: NeuralPolicy) -> None:
    torch.set_num_threads(1)
    seen: list[tuple[int, np.ndarray]] = []
    probe = np.zeros((1, 4), dtype=np.float32)

    def observe(step: int, actor: torch.nn.Module) -> None:
        with torch.no_grad():
            seen.append((step, actor(torch.as_tensor(probe)).numpy().copy()))

    result = finetune_model(worst_net, "CartPole-v1", seed=0, timesteps=1536, trainer_config=_tiny_ppo(),
                            eval_episodes=1, critic_warmup=1, observer=observe)
    # 3 rollouts of 512 steps: the critic warm-up (no policy update, not observed), then two
    # updates; each step counts the softening's greedy episode before training too
    before = result.steps - 1536
    assert before > 0
    assert [step for step, _ in seen] == [before + 1024, before + 1536]
    assert not np.array_equal(seen[0][1], seen[1][1])  # the live actor, moving
