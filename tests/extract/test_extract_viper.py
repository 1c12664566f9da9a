"""VIPER and PID synthesis with tiny budgets on hand-made oracles."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("gymnasium")

from saferl.extract.rollout import collect  # noqa: E402
from saferl.extract.synth import ProgramConfig, extract_program  # noqa: E402
from saferl.extract.viper import ViperConfig, extract_tree  # noqa: E402


def test_viper_tiny_cartpole(cartpole_linear_oracle) -> None:
    cfg = ViperConfig(iters=3, episodes_per_iter=2, eval_episodes=2, final_episodes=3, max_leaves=8)
    result = extract_tree(cartpole_linear_oracle, "CartPole-v1", cfg)
    assert result.size <= 8
    assert result.policy.leaves == result.size
    assert 0.0 <= result.fidelity <= 1.0
    assert len(result.history) == 3
    assert result.pol_text.startswith("# VIPER tree for CartPole-v1")
    assert result.mean_return > 100
    # the .pol text acts exactly like the tree it was printed from
    policy_mod = pytest.importorskip("saferl.policy")
    from saferl.policy.evaluate import ProgramPolicy

    program = ProgramPolicy(policy_mod.parse_policy(result.pol_text))
    states = collect(result.policy, "CartPole-v1", 2, 123).states
    assert [program.act(s) for s in states] == [result.policy.act(s) for s in states]


def test_viper_is_deterministic(cartpole_linear_oracle) -> None:
    cfg = ViperConfig(iters=2, episodes_per_iter=1, eval_episodes=1, final_episodes=2, max_leaves=4, seed=5)
    a = extract_tree(cartpole_linear_oracle, "CartPole-v1", cfg)
    b = extract_tree(cartpole_linear_oracle, "CartPole-v1", cfg)
    assert a.pol_text == b.pol_text


def test_regression_tree_tiny_pendulum(pendulum_pd_oracle) -> None:
    cfg = ViperConfig(iters=2, episodes_per_iter=2, eval_episodes=1, final_episodes=2, max_leaves=16)
    result = extract_tree(pendulum_pd_oracle, "Pendulum-v1", cfg)
    assert result.size <= 16
    assert "act torque: continuous [-2.0, 2.0]" in result.pol_text
    actions = result.policy.act_batch(np.zeros((1, 3), np.float32))
    assert -2.0 <= actions[0] <= 2.0
    assert result.fidelity > 0.7


def test_pid_synthesis_tiny_pendulum(pendulum_pd_oracle) -> None:
    cfg = ProgramConfig(iters=1, episodes_per_iter=2, thresholds=2, top_k=2, eval_episodes=1, final_episodes=2)
    result = extract_program(pendulum_pd_oracle, "Pendulum-v1", cfg)
    assert result.kind == "program"
    assert "pid(" in result.pol_text and "clip(" in result.pol_text
    # the oracle is a saturating PD law, which a clipped PD program imitates closely
    assert result.fidelity > 0.9
    policy_mod = pytest.importorskip("saferl.policy")
    from saferl.policy.evaluate import ProgramPolicy

    program = ProgramPolicy(policy_mod.parse_policy(result.pol_text))
    states = collect(pendulum_pd_oracle, "Pendulum-v1", 1, 42).states
    result.policy.reset()
    ours = [float(result.policy.act(s)[0]) for s in states]
    theirs = [float(program.act(s)) for s in states]
    assert ours == theirs


def test_program_rejects_discrete(cartpole_linear_oracle) -> None:
    from saferl.errors import InputError

    with pytest.raises(InputError, match="continuous action"):
        extract_program(cartpole_linear_oracle, "CartPole-v1", ProgramConfig(iters=1))


def test_oracle_env_mismatch(pendulum_pd_oracle) -> None:
    from saferl.errors import InputError

    with pytest.raises(InputError, match="observes 3 values"):
        extract_tree(pendulum_pd_oracle, "CartPole-v1", ViperConfig(iters=1))


def test_decision_list_program_matches_pol_evaluator() -> None:
    policy_mod = pytest.importorskip("saferl.policy")
    from saferl.extract.programs import Condition, PidBranch, PidProgram, PidTerm, PolHeader
    from saferl.policy.evaluate import ProgramPolicy

    header = PolHeader("p", ("cos_theta", "sin_theta", "theta_dot"), "torque", low=-2.0, high=2.0)
    program = PidProgram(
        header,
        (
            PidBranch((PidTerm(1, 0.0, 20.0, 0.0, 0.0), PidTerm(2, 0.0, 4.0, 0.5, -0.25))),
            PidBranch(()),
            PidBranch((PidTerm(2, 0.0, -10.0, 0.01, 0.1),), 0.125),
        ),
        (Condition(0, 0.9, ">"), Condition(2, 4.0, "<=", absolute=True)),
    )
    text = program.to_pol()
    assert "} elif abs(theta_dot) <= 4.0 {" in text
    runtime = ProgramPolicy(policy_mod.parse_policy(text))
    states = collect(program, "Pendulum-v1", 2, 7).states
    program.reset()
    runtime.reset()
    assert [float(program.act(s)[0]) for s in states] == [float(runtime.act(s)) for s in states]


def test_threshold_refinement_never_lowers_the_objective(cartpole_linear_oracle) -> None:
    from saferl.extract.programs import Leaf, PolHeader, Split, TreePolicy
    from saferl.extract.viper import refine_thresholds

    header = PolHeader("t", ("cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity"), "push", labels=("left", "right"))
    # a deliberately off-centre split on the pole angle only
    tree = TreePolicy(header, Split(2, 0.05, Leaf(0), Leaf(1)))
    before = collect(tree, "CartPole-v1", 3, 99).mean_return
    refined = refine_thresholds(tree, "CartPole-v1", np.array([1.0, 1.0, 0.1, 1.0]), 8, 3, 99)
    after = collect(refined, "CartPole-v1", 3, 99).mean_return
    assert after >= before
    assert refined.leaves == tree.leaves


def test_margin_weighting_runs(cartpole_linear_oracle) -> None:
    cfg = ViperConfig(iters=2, episodes_per_iter=1, eval_episodes=1, final_episodes=2, weighting="margin", variants=3)
    result = extract_tree(cartpole_linear_oracle, "CartPole-v1", cfg)
    assert result.size <= 8
