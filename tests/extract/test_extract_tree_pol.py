"""Extracted trees print as .pol that saferl's evaluator runs exactly like scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

from saferl.extract.programs import Leaf, PolHeader, Split, TreePolicy, num

sklearn_tree = pytest.importorskip("sklearn.tree")

from saferl.extract.viper import tree_from_sklearn  # noqa: E402

CARTPOLE = PolHeader(
    "t", ("cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity"), "push", labels=("left", "right")
)
PENDULUM = PolHeader("r", ("cos_theta", "sin_theta", "theta_dot"), "torque", low=-2.0, high=2.0)


def _inputs(model, n_features: int, rng: np.random.Generator) -> np.ndarray:
    """Random float32 points plus points exactly at and next to every threshold."""
    x = rng.normal(size=(2000, n_features)).astype(np.float32)
    t = model.tree_
    extra = []
    for f, thr in zip(t.feature, t.threshold, strict=True):
        if f < 0:
            continue
        at = np.float32(thr)
        for v in (at, np.nextafter(at, np.float32(np.inf)), np.nextafter(at, np.float32(-np.inf))):
            row = rng.normal(size=n_features).astype(np.float32)
            row[f] = v
            extra.append(row)
    return np.vstack([x, np.asarray(extra, np.float32)]) if extra else x


def _fit(kind: str, seed: int):
    rng = np.random.default_rng(seed)
    n_features = 4 if kind == "classifier" else 3
    x = rng.normal(size=(600, n_features)).astype(np.float32)
    if kind == "classifier":
        y = (x[:, 2] + 0.5 * x[:, 3] + 0.1 * rng.normal(size=600) > 0).astype(int)
        model = sklearn_tree.DecisionTreeClassifier(max_leaf_nodes=12, random_state=seed).fit(x, y)
    else:
        y = np.clip(-3 * x[:, 1] - x[:, 2], -2, 2)
        model = sklearn_tree.DecisionTreeRegressor(max_depth=5, random_state=seed).fit(x, y)
    return model, x, rng


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_own_tree_equals_sklearn(kind: str, seed: int) -> None:
    model, x, rng = _fit(kind, seed)
    header = CARTPOLE if kind == "classifier" else PENDULUM
    tree = tree_from_sklearn(model, header)
    points = _inputs(model, x.shape[1], rng)
    assert np.array_equal(tree.act_batch(points), model.predict(points))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_pol_evaluator_equals_sklearn_on_float32(kind: str, seed: int) -> None:
    policy_mod = pytest.importorskip("saferl.policy")
    from saferl.policy.evaluate import ProgramPolicy

    model, x, rng = _fit(kind, seed)
    header = CARTPOLE if kind == "classifier" else PENDULUM
    tree = tree_from_sklearn(model, header)
    program = ProgramPolicy(policy_mod.parse_policy(tree.to_pol()))
    points = _inputs(model, x.shape[1], rng)
    expected = model.predict(points)
    got = np.array([program.act(p) for p in points])
    assert np.array_equal(got, expected)


def test_pol_text_round_trips_numbers() -> None:
    policy_mod = pytest.importorskip("saferl.policy")
    thr = 0.1 + 0.2  # 0.30000000000000004: needs all 17 digits
    tree = TreePolicy(PENDULUM, Split(2, thr, Leaf(-1.9999999999999998), Leaf(1e-17)))
    text = tree.to_pol()
    assert num(thr) in text and "0.30000000000000004" in text
    program = policy_mod.parse_policy(text)
    again = tree.to_pol()
    assert text == again
    assert program.name == "r"


def test_redundant_splits_are_merged() -> None:
    sk = pytest.importorskip("sklearn.tree")
    x = np.array([[0.0], [1.0], [2.0], [3.0]], np.float32)
    y = np.array([0, 0, 0, 1])
    model = sk.DecisionTreeClassifier(random_state=0).fit(x, y)
    header = PolHeader("m", ("x",), "a", labels=("l", "r"))
    tree = tree_from_sklearn(model, header)
    assert tree.leaves == 2
    assert np.array_equal(tree.act_batch(x), y)


def test_pol_evaluator_equals_sklearn_property() -> None:
    """Hypothesis: any float32 observation (near the thresholds or not) gets sklearn's action."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    policy_mod = pytest.importorskip("saferl.policy")
    from saferl.policy.evaluate import ProgramPolicy

    model, _, _ = _fit("classifier", 3)
    tree = tree_from_sklearn(model, CARTPOLE)
    program = ProgramPolicy(policy_mod.parse_policy(tree.to_pol()))
    thresholds = [float(np.float32(t)) for f, t in zip(model.tree_.feature, model.tree_.threshold, strict=True) if f >= 0]
    value = st.one_of(
        st.floats(width=32, allow_nan=False, allow_infinity=False, min_value=-10, max_value=10),
        st.sampled_from(thresholds),
    )

    @hypothesis.settings(max_examples=300, deadline=None)
    @hypothesis.given(st.lists(value, min_size=4, max_size=4))
    def check(row: list[float]) -> None:
        x = np.asarray(row, dtype=np.float32)
        assert program.act(x) == int(model.predict(x.reshape(1, -1))[0]) == tree.act(x)

    check()
