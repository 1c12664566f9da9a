"""VIPER: distil a neural oracle into a small decision tree by Q-DAgger.

Bastani, Pu and Solar-Lezama, "Verifiable Reinforcement Learning via Policy Extraction"
(NeurIPS 2018).  Each iteration rolls out the current student (the oracle at first),
labels every visited state with the oracle's action, and refits a scikit-learn tree on
everything gathered so far.  With discrete actions each state is weighted by the oracle
critic's Q-value gap max_a Q(s, a) - min_a Q(s, a), so that the tree spends its few leaves
where a wrong action costs most (or, with ``weighting="margin"``, by the actor's logit
margin).  Continuous actions use a regression tree on the oracle's action (as PROPEL-Tree
does), unweighted.  The iterates with the best returns are re-scored on fresh episodes and
the best wins; optionally a coordinate search then nudges its thresholds for return.
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
    """weigh states by the Q-value gap (discrete oracles with a Q critic); see ``weighting``"""
    weighting: str = "q"
    """``q``: the critic's gap max_a Q - min_a Q (VIPER); ``margin``: the actor's gap between
    its two best logits, for oracles whose Q gap is flat (a near-perfect CartPole oracle
    recovers from any single mistake, so its true Q gap is nearly constant)"""
    seed: int = 0
    """seed of the rollouts and the tree fitting"""
    finalists: int = 3
    """best iterates re-scored on ``final_episodes`` fresh episodes before choosing"""
    refine_evals: int = 0
    """return evaluations spent nudging the chosen tree's thresholds (0: none)"""
    refine_episodes: int = 20
    """episodes per such evaluation"""
    variants: int = 1
    """tree shapes fitted per iteration: 1 = best-first within the limits, 2 = also the
    entropy criterion (classifiers) or Friedman MSE (regressors), 3 = also a balanced tree
    of depth log2(max_leaves)"""

    @classmethod
    def for_env(cls, env_id: str, seed: int = 0) -> ViperConfig:
        """Defaults per environment: 8 leaves for CartPole, larger regression trees otherwise."""
        if env_id == "CartPole-v1":
            return cls(
                iters=15, episodes_per_iter=10, eval_episodes=20, max_leaves=8, variants=3, finalists=6,
                weighting="margin", refine_evals=30, refine_episodes=50, seed=seed,
            )
        if env_id == "Pendulum-v1":
            return cls(iters=12, episodes_per_iter=10, eval_episodes=10, max_leaves=64, seed=seed)
        if env_id == "MountainCarContinuous-v0":
            return cls(iters=10, episodes_per_iter=5, eval_episodes=10, max_leaves=4, seed=seed)
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


def _fit_tree(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, discrete: bool, cfg: ViperConfig, variant: int, header: PolHeader
) -> TreePolicy:
    """Fit one scikit-learn tree (shape ``variant``, see ViperConfig.variants) and convert it."""
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    depth, leaves = cfg.max_depth, cfg.max_leaves
    criterion = ("gini", "entropy") if discrete else ("squared_error", "friedman_mse")
    crit = criterion[1] if variant == 1 else criterion[0]
    if variant == 2 and leaves is not None:
        balanced = max(1, int(np.floor(np.log2(leaves))))
        depth = balanced if depth is None else min(depth, balanced)
    if discrete:
        model: Any = DecisionTreeClassifier(criterion=crit, max_depth=depth, max_leaf_nodes=leaves, random_state=cfg.seed)
        model.fit(x, y, sample_weight=w)
    else:
        model = DecisionTreeRegressor(criterion=crit, max_depth=depth, max_leaf_nodes=leaves, random_state=cfg.seed)
        model.fit(x, y.reshape(len(y), -1)[:, 0], sample_weight=w)
    return tree_from_sklearn(model, header)


def _splits(node: Split | Leaf) -> list[Split]:
    return [] if isinstance(node, Leaf) else [node, *_splits(node.left), *_splits(node.right)]


def _with_thresholds(node: Split | Leaf, values: list[float]) -> Split | Leaf:
    """The tree with its thresholds replaced, in preorder, by ``values`` (consumed)."""
    if isinstance(node, Leaf):
        return node
    threshold = values.pop(0)
    left = _with_thresholds(node.left, values)
    return Split(node.feature, threshold, left, _with_thresholds(node.right, values))


def refine_thresholds(
    tree: TreePolicy, env_id: str, scales: np.ndarray, max_evals: int, episodes: int, seed: int
) -> TreePolicy:
    """Coordinate search on the thresholds for mean return over fixed episodes.

    Each threshold moves by ±(0.3, 0.1, 0.03) x the spread of its feature in the DAgger
    data; a move is kept when it raises the mean return on the same ``episodes`` seeded
    episodes.  Stops after ``max_evals`` evaluations or a sweep at the finest step without
    gain.  Returns ``tree`` itself when nothing improved.
    """
    splits = _splits(tree.root)
    if not splits:
        return tree
    current = [sp.threshold for sp in splits]
    best_ret = collect(tree, env_id, episodes, seed).mean_return
    best_tree, evals = tree, 1
    for factor in (0.3, 0.1, 0.03):
        improved = True
        while improved and evals < max_evals:
            improved = False
            for i, sp in enumerate(splits):
                for sign in (1.0, -1.0):
                    if evals >= max_evals:
                        break
                    trial = list(current)
                    trial[i] = float(current[i] + sign * factor * max(float(scales[sp.feature]), 1e-6))
                    candidate = TreePolicy(tree.header, _with_thresholds(tree.root, list(trial)))
                    ret = collect(candidate, env_id, episodes, seed).mean_return
                    evals += 1
                    if ret > best_ret:
                        best_ret, best_tree, current, improved = ret, candidate, trial, True
                        break
    return best_tree


def header_for(oracle: Any, env_id: str, name: str, comment: str = "") -> PolHeader:
    """The .pol header of a policy extracted from ``oracle`` on ``env_id``.

    Names are the oracle's (which the user may have set on import), bounds and the action
    range the environment's.
    """
    sig = env_signature(env_id)
    manifest = getattr(oracle, "manifest", None)
    obs_names = tuple(oracle.obs_names) if manifest is not None else sig.obs_names
    action_name = str(manifest["action"]["name"]) if manifest is not None else sig.action_name
    if oracle.discrete:
        labels = tuple(manifest["action"]["labels"]) if manifest is not None else sig.action_labels
        return PolHeader(name, obs_names, action_name, labels=labels, comment=comment, obs_bounds=sig.obs_bounds)
    return PolHeader(
        name,
        obs_names,
        action_name,
        low=sig.action_low,
        high=sig.action_high,
        comment=comment,
        obs_bounds=sig.obs_bounds,
    )


def check_oracle(oracle: Any, env_id: str) -> None:
    """Refuse an oracle whose spaces do not fit the environment."""
    sig = env_signature(env_id)
    if sig.action_dim != 1:
        raise InputError(f"{env_id} takes {sig.action_dim} values per action; extracted programs have one action")
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
        import sklearn.tree  # noqa: F401
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
        if cfg.weighting == "margin" and discrete:
            logits = oracle.actor_output(visited.states)
            top2 = np.sort(logits, axis=1)[:, -2:]
            ws.append(np.maximum(top2[:, 1] - top2[:, 0], 1e-6))
        elif use_q:
            q = oracle.q_values(visited.states)
            ws.append(np.maximum(q.max(axis=1) - q.min(axis=1), 1e-6))
        else:
            ws.append(np.ones(len(visited.states)))
        x, y, w = np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)

        # 2. fit trees on everything gathered so far (one per shape variant)
        trees = [_fit_tree(x, y, w, discrete, cfg, variant, header) for variant in range(max(1, cfg.variants))]

        # 3. score the iterates; the best return (then fidelity, then size) wins
        best_here: tuple[float, float, int, TreePolicy] | None = None
        for tree in trees:
            scored = collect(tree, env_id, cfg.eval_episodes, 7_000_000 + cfg.seed * 1_000)
            fid = fidelity(tree.act_batch(scored.states), oracle.act_batch(scored.states), discrete, span)
            item = (scored.mean_return, fid, -tree.leaves, tree)
            scored_iterates.append(item)
            if best_here is None or item[:3] > best_here[:3]:
                best_here = item
        if best_here is None:  # pragma: no cover - trees is never empty
            raise InputError("no tree could be fitted")
        history.append({"iter": it, "samples": len(x), "return": best_here[0], "fidelity": best_here[1], "leaves": best_here[3].leaves})
        student = best_here[3]
        tree = student
        fid = best_here[1]
        scored_ret = best_here[0]
        if progress is not None:
            progress(it + 1, total_steps, f"return {scored_ret:.1f} fidelity {fid:.3f} leaves {tree.leaves}")
    # 4. re-score the finalists on fresh episodes, then report on yet other episodes
    scored_iterates.sort(key=lambda item: item[:3], reverse=True)
    best: tuple[float, float, int, TreePolicy] | None = None
    for _, _, _, candidate in scored_iterates[: max(1, cfg.finalists)]:
        rescored = collect(candidate, env_id, cfg.final_episodes, 8_000_000 + cfg.seed * 1_000)
        key = (rescored.mean_return, -rescored.std_return, -candidate.leaves)
        if best is None or key > best[:3]:
            best = (*key, candidate)
    tree = best[3]  # type: ignore[index]

    # 5. optionally nudge the thresholds for return (kept only if fresh episodes agree)
    if cfg.refine_evals > 0:
        scales = np.std(np.concatenate(xs), axis=0).astype(np.float64)
        refined = refine_thresholds(tree, env_id, scales, cfg.refine_evals, cfg.refine_episodes, 7_500_000 + cfg.seed * 1_000)
        if refined is not tree:
            rescored = collect(refined, env_id, cfg.final_episodes, 8_000_000 + cfg.seed * 1_000)
            if (rescored.mean_return, -rescored.std_return) > best[:2]:  # type: ignore[index]
                tree = refined
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
