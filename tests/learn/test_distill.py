"""saferl distill: DAgger from a .pol program into saferl's model format (tiny budgets)."""

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
from saferl.learn.model import load_model  # noqa: E402
from saferl.policy import load_policy  # noqa: E402
from saferl.policy.evaluate import ProgramPolicy  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NEAR_OPTIMAL = ROOT / "policies" / "cartpole" / "near_optimal.pol"
BANG_BANG = ROOT / "policies" / "mountaincar" / "bang_bang.pol"


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_cartpole_distilled_net_agrees_with_the_program() -> None:
    cfg = DistillConfig(hidden=(32, 32), iters=6, episodes_per_iter=2, epochs=30, eval_episodes=3)
    result = distill_program(load_policy(NEAR_OPTIMAL), "CartPole-v1", seed=0, config=cfg)
    assert result.agreement >= 0.95
    assert result.network_return >= 475.0
    assert result.program_return == 500.0
    assert [it.driver for it in result.iterations] == ["program"] + ["network"] * 6
    # the exported net reads raw observations: re-measure the agreement by hand
    from saferl.learn.model import policy_from_parts

    net = policy_from_parts(result.manifest, result.tensors)
    expert = ProgramPolicy(load_policy(NEAR_OPTIMAL))
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=5)
    same = steps = 0
    done = False
    while not done:
        a = net.act(obs)
        same += int(a == expert.act(obs))
        steps += 1
        obs, _, term, trunc, _ = env.step(a)
        done = term or trunc
    assert steps == 500 and same / steps >= 0.93


def test_cli_writes_a_reloadable_model(tmp_path: Path) -> None:
    out_dir = tmp_path / "net"
    code, out, err = _cli(
        "distill", str(NEAR_OPTIMAL), "--env", "CartPole-v1", "-o", str(out_dir),
        "--hidden", "16", "--iters", "1", "--episodes", "1", "--eval-episodes", "1", "--format", "json",
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["env"] == "CartPole-v1" and 0.0 <= record["agreement"] <= 1.0
    assert json.loads((out_dir / "distill.json").read_text())["agreement"] == record["agreement"]
    policy = load_model(out_dir)
    assert policy.discrete and policy.manifest["training"]["algo"] == "distill"
    assert policy.act(np.zeros(4, dtype=np.float32)) in (0, 1)


def test_continuous_program_distils_with_mse(tmp_path: Path) -> None:
    cfg = DistillConfig(hidden=(16,), iters=1, episodes_per_iter=1, epochs=5, eval_episodes=1, max_steps_per_iter=400)
    result = distill_program(load_policy(BANG_BANG), "MountainCarContinuous-v0", seed=0, config=cfg)
    assert result.manifest["actor"]["output"] == "tanh"
    assert result.manifest["action"]["kind"] == "continuous"
    assert 0.0 <= result.agreement <= 1.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--env", "MountainCarContinuous-v0"], "declares 4 observations; MountainCarContinuous-v0 has 2"),
        (["--env", "CartPole-v1", "--hidden", "a,b"], "--hidden must be comma-separated"),
        (["--env", "NoSuchEnv-v9"], "unsupported environment 'NoSuchEnv-v9'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, argv: list[str], message: str) -> None:
    code, out, err = _cli("distill", str(NEAR_OPTIMAL), "-o", str(tmp_path / "m"), *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err


def test_missing_parent_folder_is_exit_2(tmp_path: Path) -> None:
    code, _, err = _cli("distill", str(NEAR_OPTIMAL), "--env", "CartPole-v1", "-o", str(tmp_path / "no" / "m"))
    assert code == 2 and "does not exist" in err


# -- distillation from the observation domain (no environment for the training data) -------------

POLE_FOLLOW = ROOT / "specs" / "cartpole" / "pole_follow.yaml"
INTERMEDIATE = ROOT / "policies" / "cartpole" / "intermediate.pol"


def test_domain_distillation_agrees_on_visited_states_with_no_training_env_steps() -> None:
    from saferl.spec import load_spec

    # CI-sized (5 s): a fifth of the default sample, two refinement rounds, larger steps
    cfg = DistillConfig(states="domain", iters=0, domain_samples=20_000, refine_rounds=2, batch_size=1024,
                        learning_rate=0.01, eval_episodes=5)
    result = distill_program(load_policy(INTERMEDIATE), "CartPole-v1", seed=0, config=cfg, spec=load_spec(POLE_FOLLOW))
    assert result.train_env_steps == 0 and all(it.env_steps == 0 for it in result.iterations)
    assert [it.driver for it in result.iterations] == ["domain", "domain", "domain"]
    # the evaluation episodes are counted apart: the network's and the program's
    assert result.eval_env_steps == result.visited_states + round(5 * result.program_return)
    assert result.agreement >= 0.99
    assert abs(result.network_return - result.program_return) <= 0.05 * result.program_return
    assert result.box is not None and result.box.sources == ("spec",) * 4
    assert result.box.low[2] == -0.2095 and result.box.high[3] == 5


def test_domain_then_dagger_counts_the_rollouts_as_training_steps() -> None:
    cfg = DistillConfig(hidden=(16,), states="domain", iters=1, episodes_per_iter=1, domain_samples=500,
                        refine_rounds=0, epochs=2, eval_episodes=1)
    # no spec: CartPole's velocities have no finite range anywhere else
    from saferl.errors import InputError

    with pytest.raises(InputError, match="'cart_velocity' .* has no finite range"):
        distill_program(load_policy(INTERMEDIATE), "CartPole-v1", seed=0, config=cfg)
    result = distill_program(load_policy(BANG_BANG), "MountainCarContinuous-v0", seed=0, config=cfg)
    assert [it.driver for it in result.iterations] == ["domain", "network"]
    assert result.train_env_steps == result.iterations[1].env_steps == result.iterations[1].new_states > 0
    assert result.box is not None and result.box.sources == ("program", "program")  # its declared ranges


def test_cli_domain_reports_steps_and_the_box(tmp_path: Path) -> None:
    out_dir = tmp_path / "net"
    code, out, err = _cli(
        "distill", str(INTERMEDIATE), "--env", "CartPole-v1", "-o", str(out_dir), "--states", "domain",
        "--spec", str(POLE_FOLLOW), "--hidden", "16", "--domain-samples", "2000", "--refine", "1",
        "--eval-episodes", "1",
    )
    assert code == 0, err
    assert "box: cart_position [-2.4, 2.4] (spec), cart_velocity [-5, 5] (spec)" in out
    assert "env steps: training 0, evaluation " in out
    record = json.loads((out_dir / "distill.json").read_text())
    assert record["states"] == "domain" and record["train_env_steps"] == 0
    assert record["domain"]["pole_angle"] == {"range": [-0.2095, 0.2095], "from": "spec"}
    assert load_model(out_dir).manifest["training"]["distill"]["train_env_steps"] == 0


def _spec(tmp_path: Path, observations: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text("spec: s\nobservations:\n" + observations + "properties:\n"
                    "  - id: p\n    kind: bounds\n    action: push\n    allowed: [left, right]\n")
    return path


@pytest.mark.parametrize(
    ("observations", "extra", "message"),
    [
        # a spec for another program: its observation is not the policy's, at its YAML line
        ("  cart_position: [-2.4, 2.4]\n  position: [-1.2, 0.6]\n", [], "s.yaml:4:3: 'position' is not an observation"),
        # a range left open: nothing to sample
        ("  cart_position: [-2.4, 2.4]\n", [], "'cart_velocity' of policy 'cartpole_intermediate' has no finite range"),
        ("  cart_velocity: [-5, 5]\n", ["--states", "rollouts"], "--spec applies to --states domain only"),
    ],
)
def test_domain_bad_spec_is_one_line_and_exit_2(tmp_path: Path, observations: str, extra: list[str],
                                                message: str) -> None:
    spec = _spec(tmp_path, observations)
    code, out, err = _cli("distill", str(INTERMEDIATE), "--env", "CartPole-v1", "-o", str(tmp_path / "m"),
                          "--states", "domain", "--spec", str(spec), *extra)
    assert code == 2 and out == "", err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "m").exists()


def test_domain_refuses_a_pid_program(tmp_path: Path) -> None:
    code, _, err = _cli("distill", str(ROOT / "policies" / "extracted" / "mountaincar-pid.pol"),
                        "--env", "MountainCarContinuous-v0",
                        "-o", str(tmp_path / "m"), "--states", "domain")
    assert code == 2 and err.count("\n") == 1 and "keeps pid state" in err, err


# worst.pol repaired against pole_follow.yaml (what bench/loop.py's morl experiment fine-tunes)
REPAIRED_WORST = """policy cartpole_worst_repaired
obs cart_position: float32 in [-4.8, 4.8]
obs cart_velocity: float32
obs pole_angle: float32 in [-0.418, 0.418]
obs pole_angular_velocity: float32
act push: discrete {left = 0, right = 1}

if pole_angle <= 0 {
  push = left
} else {
  if cart_velocity <= 0.5 {
    if pole_angular_velocity <= -0.0781 {
      push = left
    } else {
      push = right
    }
  } else {
    push = right
  }
}
"""


def test_soft_labels_keep_the_programs_action_and_fall_off_towards_its_boundary() -> None:
    from saferl.learn.domain import label_states, observation_box, soft_labels
    from saferl.learn.envs import env_signature
    from saferl.policy import parse_policy
    from saferl.spec import load_spec

    program = parse_policy(REPAIRED_WORST)
    box = observation_box(program, env_signature("CartPole-v1"), load_spec(POLE_FOLLOW))
    # pole_angle 0.2095 (box edge) down to just above its threshold 0; every other value fixed
    angles = np.array([0.2, 0.1, 0.05, 0.02, 0.01, 0.003, 0.0005], dtype=np.float32)
    states = np.zeros((len(angles), 4), dtype=np.float32)
    states[:, 1], states[:, 2], states[:, 3] = 1.0, angles, 1.0  # cart_velocity > 0.5: right on this side
    labels = label_states(program, states, True)
    assert labels[:, 0].tolist() == [1] * len(angles)
    rng = np.random.default_rng(0)
    soft = soft_labels(program, states, labels, box, 2, noise=0.03, floor=0.6, rng=rng, draws=400)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0)
    right = soft[:, 1]
    assert right[0] == pytest.approx(1.0) and right[1] == pytest.approx(1.0)  # 8 and 4 standard deviations (0.0126) from the boundary
    assert np.all(np.diff(right) <= 0.03)  # falls off towards the boundary (up to sampling noise) ...
    assert 0.6 <= right[-1] < 0.7 and right[-1] == right.min()  # ... to the floor, never past it
    assert np.all(soft.argmax(axis=1) == labels[:, 0])
    # noise 0: the program's action alone
    hard = soft_labels(program, states, labels, box, 2, noise=0.0, floor=0.6, rng=rng)
    assert np.array_equal(hard, np.tile([0.0, 1.0], (len(angles), 1)))


def test_soft_label_domain_distillation_keeps_fidelity_and_softens_the_boundary() -> None:
    from saferl.learn.domain import label_states
    from saferl.learn.model import policy_from_parts
    from saferl.policy import parse_policy
    from saferl.spec import load_spec

    program = parse_policy(REPAIRED_WORST)
    # CI-sized (like the test above): a fifth of the default sample, two refinement rounds, larger steps
    base = dict(states="domain", iters=0, domain_samples=20_000, refine_rounds=2, batch_size=1024,
                learning_rate=0.01, eval_episodes=5)
    hard = distill_program(program, "CartPole-v1", seed=0, config=DistillConfig(**base), spec=load_spec(POLE_FOLLOW))
    soft = distill_program(program, "CartPole-v1", seed=0, config=DistillConfig(**base, soft_label_noise=0.03),
                           spec=load_spec(POLE_FOLLOW))
    assert soft.train_env_steps == 0
    assert soft.manifest["training"]["config"]["soft_label_noise"] == 0.03
    assert soft.agreement >= 0.98  # at this CI size; bench/loop.py measures the full size (>= 99 %)
    assert abs(soft.network_return - soft.program_return) <= 0.15 * soft.program_return  # full size: within 1 %
    # the repair's decision (leaning right, cart_velocity <= 0.5: push left when
    # pole_angular_velocity <= -0.0781), on the program's own states of that branch with the
    # angular velocity moved: the hard-label network is about as sure at -0.6 as at -0.15 (a
    # plateau, then a step at the threshold), the soft-label one grows surer away from it
    states = np.stack(_program_states(program))
    branch = states[(states[:, 2] > 0) & (states[:, 1] <= 0.5)]
    ratios = []
    for result in (hard, soft):
        net = policy_from_parts(result.manifest, result.tensors)
        assert np.mean(net.actor_output(states).argmax(axis=1) == label_states(program, states, True)[:, 0]) >= 0.95
        margins = []
        for omega in (-0.6, -0.15):
            moved = branch.copy()
            moved[:, 3] = omega
            logits = net.actor_output(moved)
            margins.append(float(np.median(logits[:, 0] - logits[:, 1])))  # push left: logit 0 above
        assert min(margins) > 0
        ratios.append(margins[0] / margins[1])
    assert ratios[1] > 1.5 and ratios[1] > ratios[0] + 0.3, ratios


def _program_states(program: object) -> list[np.ndarray]:
    import gymnasium as gym

    policy, env, states = ProgramPolicy(program), gym.make("CartPole-v1"), []  # type: ignore[arg-type]
    for seed in range(3):
        obs, _ = env.reset(seed=4242 + seed)
        done = False
        while not done:
            states.append(obs)
            obs, _, term, trunc, _ = env.step(policy.act(obs))
            done = term or trunc
    return states


def test_cli_soft_labels_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    cases = [
        (["--states", "rollouts", "--soft-labels", "0.03"], "--soft-labels applies to --states domain only"),
        (["--states", "domain", "--spec", str(POLE_FOLLOW), "--soft-labels", "0.9"], "--soft-labels must be between"),
        (["--states", "domain", "--spec", str(POLE_FOLLOW), "--soft-labels", "nan"], "--soft-labels must be between"),
    ]
    for extra, message in cases:
        code, out, err = _cli("distill", str(INTERMEDIATE), "--env", "CartPole-v1", "-o", str(tmp_path / "m"), *extra)
        assert code == 2 and out == "" and err.count("\n") == 1 and message in err, (extra, err)
    code, _, err = _cli("distill", str(BANG_BANG), "--env", "MountainCarContinuous-v0", "-o", str(tmp_path / "m"),
                        "--states", "domain", "--soft-labels", "0.03")
    assert code == 2 and err.count("\n") == 1 and "--soft-labels applies to discrete actions" in err, err
    assert not (tmp_path / "m").exists()


def test_augmented_dagger_agrees_from_a_few_hundred_env_steps() -> None:
    """Labelled neighbours of the visited states stand in for most of DAgger's rollouts: one
    iteration of two episodes agrees >= 99 % on the network's own states, and only the
    rollouts count as training env steps (the neighbours take none)."""
    from saferl.policy import parse_policy

    program = parse_policy(REPAIRED_WORST)
    cfg = DistillConfig(iters=1, episodes_per_iter=2, augment_copies=40, augment_scale=0.2, eval_episodes=5)
    r = distill_program(program, "CartPole-v1", seed=3, config=cfg)
    assert r.agreement >= 0.99, r.agreement
    assert abs(r.network_return - r.program_return) <= 0.05 * r.program_return
    driven = [it.env_steps for it in r.iterations]
    assert r.train_env_steps == sum(driven) < 1_500
    # every rollout state came with 40 neighbours
    assert r.iterations[0].new_states == 41 * r.iterations[0].env_steps
    assert r.iterations[-1].total_states == 41 * r.train_env_steps


def test_cli_augment_reports_rollout_steps_only(tmp_path: Path) -> None:
    code, out, err = _cli("distill", str(NEAR_OPTIMAL), "--env", "CartPole-v1", "-o", str(tmp_path / "m"),
                          "--iters", "1", "--episodes", "1", "--augment", "5", "--eval-episodes", "2", "-f", "json")
    assert code == 0, err
    rec = json.loads(out)
    steps = [it["env_steps"] for it in rec["iterations"]]
    assert rec["train_env_steps"] == sum(steps) > 0
    assert rec["iterations"][-1]["total_states"] == 6 * sum(steps)
    assert load_model(tmp_path / "m").manifest["training"]["config"]["augment_copies"] == 5


def test_cli_augment_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    cases = [
        (["--states", "domain", "--spec", str(POLE_FOLLOW), "--augment", "10"], "--augment applies to --states rollouts only"),
        (["--augment-scale", "0.1"], "--augment-scale needs --augment"),
        (["--augment", "-1"], "--augment must be between 0 and 1000"),
        (["--augment", "4", "--augment-scale", "0"], "--augment-scale must be above 0"),
        (["--augment", "4", "--augment-scale", "nan"], "--augment-scale must be above 0"),
    ]
    for extra, message in cases:
        code, out, err = _cli("distill", str(INTERMEDIATE), "--env", "CartPole-v1", "-o", str(tmp_path / "m"), *extra)
        assert code == 2 and out == "" and err.count("\n") == 1 and message in err, (extra, err)
    code, _, err = _cli("distill", str(ROOT / "policies" / "extracted" / "mountaincar-pid.pol"),
                        "--env", "MountainCarContinuous-v0", "-o", str(tmp_path / "m"), "--augment", "4")
    assert code == 2 and err.count("\n") == 1 and "keeps pid state" in err, err
    assert not (tmp_path / "m").exists()
