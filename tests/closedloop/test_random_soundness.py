"""Random trees, random properties: dense sampling never contradicts a SAFE verdict, and an
UNSAFE one always carries a replayed trajectory."""

from __future__ import annotations

import numpy as np
import pytest

from saferl.closedloop import ClosedLoopOptions, check_closed_loop
from saferl.closedloop.condition import cond_points
from saferl.closedloop.falsify import initial_samples
from saferl.closedloop.policybox import act_points
from saferl.dynamics import make_model
from saferl.policy import parse_policy
from saferl.results import Verdict
from saferl.spec import parse_spec

pytest.importorskip("gymnasium")

OPTS = ClosedLoopOptions(samples=256, max_simulated_steps=100_000, cells=20_000, timeout_s=4)


def _cartpole_tree(rng: np.random.Generator) -> str:
    a, w1, w2 = rng.normal(0, 0.03), rng.uniform(-0.4, 0.1), rng.uniform(-0.1, 0.4)
    return f"""policy r
obs cart_position: float32
obs cart_velocity: float32
obs pole_angle: float32
obs pole_angular_velocity: float32
act push: discrete {{left = 0, right = 1}}
if pole_angle <= {a!r} {{
  if pole_angular_velocity <= {w2!r} {{ push = left }} else {{ push = right }}
}} else {{
  if pole_angular_velocity <= {w1!r} {{ push = left }} else {{ push = right }}
}}
"""


def _pendulum_program(rng: np.random.Generator) -> str:
    kp, kd, c = rng.uniform(5, 30), rng.uniform(0.5, 6), rng.uniform(0.5, 0.99)
    return f"""policy r
obs cos_theta: float32
obs sin_theta: float32
obs theta_dot: float32
act torque: continuous [-2, 2]
if cos_theta > {c!r} {{ torque = clip(-{kp!r} * sin_theta - {kd!r} * theta_dot, -2, 2) }} else {{ torque = 0 }}
"""


CASES = [
    ("CartPole-v1", _cartpole_tree, "theta", 0.2, "{theta: [-0.02, 0.02], theta_dot: [-0.02, 0.02]}", ("forever", 40)),
    ("Pendulum-v1", _pendulum_program, "theta", 0.3, "{theta: [-0.1, 0.1], theta_dot: [-0.2, 0.2]}", ("forever", 40)),
]


@pytest.mark.parametrize("env_id, make, var, bound, initial, horizons", CASES)
@pytest.mark.parametrize("seed", range(4))
def test_random_policies_verdicts_agree_with_sampling(env_id, make, var, bound, initial, horizons, seed):
    rng = np.random.default_rng(seed)
    program = parse_policy(make(rng))
    model = make_model(env_id)
    for horizon in horizons:
        spec = parse_spec(f"""properties:
  - id: p
    kind: safety
    dynamics: {env_id}
    initial: {initial}
    always: abs({var}) <= {bound}
    horizon: {horizon}
""")
        (out,) = check_closed_loop(program, spec, OPTS)
        verdict = out.result.verdict
        if verdict is Verdict.UNSAFE:
            assert out.result.counterexample is not None and out.result.counterexample.replayed
            continue
        if verdict is not Verdict.SAFE:
            continue
        prop = spec.closed_loop[0]
        steps = 400 if horizon == "forever" else horizon
        s = initial_samples(prop, 3000, seed=seed + 100)
        for t in range(steps + 1):
            cols = {n: s[:, i] for i, n in enumerate(model.state_names)}
            assert cond_points(prop.always, cols).all(), f"SAFE contradicted at step {t}"
            if out.invariant is not None:
                g = out.invariant
                first, _, leaves = g.index_ranges(s[:, g.dims], s[:, g.dims])
                assert not leaves.any()
                assert g.alive.reshape(g.shape)[tuple(first[:, j] for j in range(first.shape[1]))].all()
            s = model.concrete_step(s, act_points(program, model.concrete_observe(s)), fresh=(t == 0))
