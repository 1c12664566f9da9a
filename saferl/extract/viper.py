"""VIPER: distil a neural oracle into a small decision tree by Q-DAgger.

Bastani, Pu and Solar-Lezama, "Verifiable Reinforcement Learning via Policy Extraction"
(NeurIPS 2018).  Each iteration rolls out the current student (the oracle at first),
labels every visited state with the oracle's action, and refits a scikit-learn tree on
everything gathered so far.  With discrete actions each state is weighted by the oracle
critic's Q-value gap max_a Q(s, a) - min_a Q(s, a), so that the tree spends its few leaves
where a wrong action costs most.  Continuous actions use a regression tree on the oracle's
action (as PROPEL-Tree does), unweighted.  The iterate with the best return wins.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from saferl.errors import InputError, MissingDependencyError
from saferl.extract.programs import Leaf, PolHeader, Split, TreePolicy
from saferl.extract.rollout import collect, fidelity
from saferl.learn.envs import env_signature

__all__ = ["ViperConfig", "ExtractResult", "extract_tree", "tree_from_sklearn"]


@dataclass
class ViperConfig:
    """Settings of :func:`extract_tree`."""

    iters: int = 10
    """DAgger iterations (the first rolls out the oracle)"""
    episodes_per_iter: int = 10
    """student rollouts gathered per iteration"""
    max_depth: int | None = None
    """tree depth limit (None: only max_leaves limits)"""
    max_leaves: int | None = 8
    """leaf limit (None: only max_depth limits)"""
    eval_episodes: int = 10
    """episodes scoring each iterate"""
    final_episodes: int = 100
    """episodes scoring the chosen tree"""
    q_weighting: bool = True
    """weigh states by the Q-value gap (discrete oracles with a Q critic)"""
    seed: int = 0
    """seed of the rollouts and the tree fitting"""
    finalists: int = 3
    """best iterates re-scored on ``final_episodes`` fresh episodes before choosing"""

    @classmethod
    def for_env(cls, env_id: str, seed: int = 0) -> ViperConfig:
        """Defaults per environment: 8 leaves for CartPole, larger regression trees otherwise."""
        if env_id == "CartPole-v1":
            return cls(iters=20, episodes_per_iter=10, eval_episodes=30, max_leaves=8, seed=seed)
        if env_id == "Pendulum-v1":
            return cls(iters=12, episodes_per_iter=10, eval_episodes=10, max_leaves=64, seed=seed)
        if env_id == "MountainCarContinuous-v0":
            return cls(iters=10, episodes_per_iter=5, eval_episodes=10, max_leaves=16, seed=seed)
        return cls(seed=seed)


@dataclass
class ExtractResult:
    """What an extractor returns: the policy, its .pol text and how good it is."""

    policy: Any
    pol_text: str
    kind: str
    mean_return: float
    std_return: float
    episodes: int
    fidelity: float
    size: int
    size_unit: str
    wall_seconds: float
    history: list[dict[str, float]] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "kind": self.kind,
            "mean_return": self.mean_return,
            "std_return": self.std_return,
            "episodes": self.episodes,
            "fidelity": self.fidelity,
            "size": self.size,
            "size_unit": self.size_unit,
            "wall_seconds": self.wall_seconds,
            "history": self.history,
        }


def _merge(node: Split | Leaf) -> Split | Leaf:
    """Collapse splits whose two sides are the same leaf (they change nothing)."""
    if isinstance(node, Leaf):
        return node
    left, right = _merge(node.left), _merge(node.right)
    if isinstance(left, Leaf) and isinstance(right, Leaf) and left.value == right.value:
        return left
    return Split(node.feature, node.threshold, left, right)


def tree_from_sklearn(model: Any, header: PolHeader) -> TreePolicy:
    """Turn a fitted scikit-learn DecisionTreeClassifier/Regressor into a TreePolicy.

    Thresholds are kept as scikit-learn's float64 values; scikit-learn compares float32
    inputs with them exactly as the .pol evaluator does, so predictions agree.
    """
    t = model.tree_
    classes = getattr(model, "classes_", None)

    def build(i: int) -> Split | Leaf:
        if t.children_left[i] == -1:
            if classes is not None:
                return Leaf(float(classes[int(np.argmax(t.value[i][0]))]))
            return Leaf(float(t.value[i][0][0]))
        return Split(int(t.feature[i]), float(t.threshold[i]), build(int(t.children_left[i])), build(int(t.children_right[i])))

    return TreePolicy(header, _merge(build(0)))


def header_for(oracle: Any, env_id: str, name: str, comment: str = "") -> PolHeader:
    """The .pol header of a policy extracted from ``oracle`` on ``env_id``."""
    sig = env_signature(env_id)
    if oracle.discrete:
        return PolHeader(
            name, sig.obs_names, sig.action_name, labels=sig.action_labels, comment=comment, obs_bounds=sig.obs_bounds
        )
    return PolHeader(
        name,
        sig.obs_names,
        sig.action_name,
        low=sig.action_low,
        high=sig.action_high,
        comment=comment,
        obs_bounds=sig.obs_bounds,
    )


def check_oracle(oracle: Any, env_id: str) -> None:
    """Refuse an oracle whose spaces do not fit the environment."""
    sig = env_signature(env_id)
    if len(oracle.obs_names) != len(sig.obs_names):
        raise InputError(f"the oracle observes {len(oracle.obs_names)} values, {env_id} gives {len(sig.obs_names)}")
    if oracle.discrete != sig.discrete:
        raise InputError(f"the oracle's action kind does not match {env_id}")
    if oracle.discrete and oracle.n_actions != len(sig.action_labels or ()):
        raise InputError(f"the oracle has {oracle.n_actions} actions, {env_id} has {len(sig.action_labels or ())}")


def extract_tree(
    oracle: Any,
    env_id: str,
    config: ViperConfig | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> ExtractResult:
    """Run VIPER Q-DAgger; return the best tree by return, scored on ``final_episodes``.

    ``progress(done, total, message)`` is called after each iteration.
    """
    cfg = config or ViperConfig()
    if cfg.iters < 1 or cfg.episodes_per_iter < 1 or cfg.eval_episodes < 1 or cfg.final_episodes < 1:
        raise InputError("iterations and episode counts must be at least 1")
    check_oracle(oracle, env_id)
    try:
        from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
    except ImportError:
        raise MissingDependencyError("scikit-learn", "learn") from None
    start = time.perf_counter()
    sig = env_signature(env_id)
    discrete = oracle.discrete
    use_q = discrete and cfg.q_weighting and oracle.critic is not None and oracle.manifest["critic"]["kind"] == "q"
    span = 1.0 if discrete else float(sig.action_high or 1.0) - float(sig.action_low or 0.0)
    header = header_for(oracle, env_id, f"{env_id.split('-')[0].lower()}_viper")

    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    ws: list[np.ndarray] = []
    student: Any = oracle
    scored_iterates: list[tuple[float, float, int, TreePolicy]] = []
    history: list[dict[str, float]] = []
    total_steps = cfg.iters
    for it in range(cfg.iters):
        # 1. visit states with the current student and label them with the oracle
        visited = collect(student, env_id, cfg.episodes_per_iter, cfg.seed * 100_000 + it * 1_000)
        xs.append(visited.states)
        ys.append(oracle.act_batch(visited.states))
        if use_q:
            q = oracle.q_values(visited.states)
            ws.append(np.maximum(q.max(axis=1) - q.min(axis=1), 1e-6))
        else:
            ws.append(np.ones(len(visited.states)))
        x, y, w = np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)

        # 2. fit a tree on everything gathered so far
        if discrete:
            model: Any = DecisionTreeClassifier(max_depth=cfg.max_depth, max_leaf_nodes=cfg.max_leaves, random_state=cfg.seed)
            model.fit(x, y, sample_weight=w)
        else:
            model = DecisionTreeRegressor(max_depth=cfg.max_depth, max_leaf_nodes=cfg.max_leaves, random_state=cfg.seed)
            model.fit(x, y.reshape(len(y), -1)[:, 0], sample_weight=w)
        tree = tree_from_sklearn(model, header)

        # 3. score the iterate; the best return (then fidelity, then size) wins
        scored = collect(tree, env_id, cfg.eval_episodes, 7_000_000 + cfg.seed * 1_000)
        fid = fidelity(tree.act_batch(scored.states), oracle.act_batch(scored.states), discrete, span)
        history.append({"iter": it, "samples": len(x), "return": scored.mean_return, "fidelity": fid, "leaves": tree.leaves})
        scored_iterates.append((scored.mean_return, fid, -tree.leaves, tree))
        student = tree
        if progress is not None:
            progress(it + 1, total_steps, f"return {scored.mean_return:.1f} fidelity {fid:.3f} leaves {tree.leaves}")
    # 4. re-score the finalists on fresh episodes, then report on yet other episodes
    scored_iterates.sort(key=lambda item: item[:3], reverse=True)
    best: tuple[float, float, int, TreePolicy] | None = None
    for _, _, _, candidate in scored_iterates[: max(1, cfg.finalists)]:
        rescored = collect(candidate, env_id, cfg.final_episodes, 8_000_000 + cfg.seed * 1_000)
        key = (rescored.mean_return, -rescored.std_return, -candidate.leaves)
        if best is None or key > best[:3]:
            best = (*key, candidate)
    tree = best[3]  # type: ignore[index]
    final = collect(tree, env_id, cfg.final_episodes, 9_000_000 + cfg.seed * 1_000)
    fid = fidelity(tree.act_batch(final.states), oracle.act_batch(final.states), discrete, span)
    comment = (
        f"VIPER tree for {env_id}: {tree.leaves} leaves, fidelity {fid:.3f}, "
        f"return {final.mean_return:.2f} +- {final.std_return:.2f} over {cfg.final_episodes} episodes"
    )
    tree = TreePolicy(PolHeader(**{**header.__dict__, "comment": comment}), tree.root)
    return ExtractResult(
        policy=tree,
        pol_text=tree.to_pol(),
        kind="tree",
        mean_return=final.mean_return,
        std_return=final.std_return,
        episodes=cfg.final_episodes,
        fidelity=fid,
        size=tree.leaves,
        size_unit="leaves",
        wall_seconds=time.perf_counter() - start,
        history=history,
    )
