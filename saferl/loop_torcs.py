"""The TORCS stages of ``saferl loop`` (``--env saferl/Torcs-v0``): PROPEL-Prog on real TORCS.

:func:`saferl.loop.run_loop` calls these where a gymnasium env uses its generic stages:

* **finetune** (:func:`finetune_driver`): TD3 (:func:`saferl.learn.td3.train_td3`, the
  code of ``saferl train --env saferl/Torcs-v0``) from the current network on one track,
  with PROPEL's reward, short episodes, an imitation penalty ``lam * mse(actor, program)``
  towards the last program (labels with the program's PID state reset, as
  :mod:`saferl.learn.finetune` does) and one greedy lap as the checkpoint score;
* **project** (:func:`project_program`): the network drives, and the constants of the
  current program (its structure kept: PROPEL-Prog's projection) are fitted to the
  network's ``[steer, accel, brake]`` on the visited states — the cross-entropy engine of
  :mod:`saferl.learn.tune` with the imitation error (per action, scaled by its range) as
  the score and the spec as its gate (elites must be proved SAFE), so the projection lands
  in the verified set when it starts there; the program runs along each trajectory, so
  its PID state is the one it would have driving there.  The loop verifies the result
  again and repairs it when it is not proved (an UNSAFE starting program);
* **tune** (:func:`tune_laps`): ``saferl torcs search``'s gate-first search
  (:func:`saferl.learn.program_search.search_parameters`): every candidate proved SAFE
  against the spec before it races; the score is the lap time (a race not finished costs
  1000 s less half the share covered, so a cut race ranks by progress);
* **score** (:func:`race_score`): one race from the grid; the loop's "return" of a TORCS
  program is minus that cost, so the best verified program is the fastest lap.

With ``--kind tree`` (PROPEL-Tree) the program is a tree of such laws: :func:`grow_tree`
turns a flat PID program into one whose split (``if feature <= threshold``, on ``speedX``,
the free distance ahead ``max(track8, track9, track10)``, ``trackPos`` or ``angle``) and
threshold are those of a regression tree (scikit-learn's ``DecisionTreeRegressor``, depth
``tree_depth``) fitted to a driver's ``[accel, brake]`` on the states it visits; the
steering law stays one law outside the split (the steering smoothness of
``specs/torcs/track.yaml`` holds across a split); the leaf the driver visits most keeps
the program's throttle and brake laws and its ``pid`` controllers (the tree's state is the
program's, which the specs declare), every other leaf the same laws with each ``pid``
replaced by its proportional term, all with constants of their own.  From then on the
tree's structure is kept as a program's is, and its thresholds too: the projection and
the lap search move the other constants that the spec leaves free
(:func:`tree_parameters`).

Distillation is :func:`saferl.learn.distill.distill_program` with all three actions and
the track's env settings (:func:`env_settings`).  Imports torch (through td3) only in
:func:`finetune_driver`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from saferl.errors import InputError
from saferl.policy.ast import Program

__all__ = ["TORCS_ENV_ID", "TREE_FEATURES", "TorcsLoopConfig", "check_torcs_oracle", "check_torcs_program", "env_settings",
           "finetune_driver", "free_parameters", "grow_tree", "grow_tree_from", "is_tree", "project_program", "race_score", "scored_tracks",
           "tree_parameters", "tune_laps"]

TORCS_ENV_ID = "saferl/Torcs-v0"


@dataclass
class TorcsLoopConfig:
    """The TORCS settings of the loop (one track)."""

    track: str = "g-track-2"
    """the track every stage drives"""
    episode_steps: int = 5_000
    """frame limit of a training / distillation / projection episode (100 s)"""
    race_steps: int | None = None
    """frame limit of a scoring race (None: a whole lap, at most 15,000 steps)"""
    project_states: int = 3_000
    """states the network visits for the projection"""
    project_generations: int = 25
    """cross-entropy generations of the projection"""
    tune_iterations: int = 4
    """rounds of the lap-time search (0: no tuning)"""
    tune_population: int = 6
    """candidates per round of the lap-time search"""
    score_tracks: tuple[str, ...] = ()
    """tracks the lap-time search and the scoring race drive, hardest first (a crash skips
    the rest; empty: ``track`` alone); the cost is the sum over them"""
    score_seeds: int = 0
    """0: each track raced from the grid; N: from N perturbed starts (seeds 0..N-1, as
    ``saferl torcs search --seeds``), the cost their mean"""
    tree_depth: int = 1
    """``--kind tree``: depth of the split grown from a flat program (1: two leaves)"""


def _seeds(tc: TorcsLoopConfig) -> list[int | None]:
    return list(range(tc.score_seeds)) if tc.score_seeds > 0 else [None]


def scored_tracks(tc: TorcsLoopConfig) -> list[str]:
    """The tracks a program's lap cost is summed over."""
    return list(tc.score_tracks) or [tc.track]


def env_settings(tc: TorcsLoopConfig) -> dict[str, Any]:
    """``gymnasium.make`` keywords of the loop's TORCS episodes (stall after 5 s)."""
    return {"track": tc.track, "laps": 1, "max_steps": tc.episode_steps, "stall_steps": 250}


def check_torcs_program(program: Program) -> None:
    """InputError unless the program reads the 29 sensors and writes steer, accel, brake."""
    from saferl.learn.torcs import check_warm_start

    check_warm_start(program)


def check_torcs_oracle(network: Any) -> None:
    """InputError unless the model reads 29 observations and writes 3 continuous values."""
    if network.discrete or len(network.obs_names) != 29 or len(np.asarray(network.action_low).reshape(-1)) != 3:
        raise InputError("the oracle is not a TORCS driver", hint="it must read the 29 TORCS sensors and write steer, "
                         "accel, brake (as oracles/torcs-td3)")


def race_score(program: Program, tc: TorcsLoopConfig) -> dict[str, Any]:
    """One race per scored track and start (:class:`TorcsLoopConfig`): ``{"cost", "lap_time",
    "crashed", "dist_raced"}`` (cost in s, summed over the tracks; the rest are the first
    track's first race) and, with several tracks, ``"laps"``: each track's first lap time
    (None: not finished or skipped)."""
    from saferl.learn.program_search import torcs_lap_cost

    tracks = scored_tracks(tc)
    cost, detail = torcs_lap_cost(tracks, seeds=_seeds(tc), max_steps=tc.race_steps)(program)
    race = detail[tracks[0]][0]
    laps = race["lap_times"]
    out = {"cost": cost, "lap_time": laps[0] if laps else None, "crashed": race["crashed"],
           "dist_raced": race["dist_raced"]}
    if len(tracks) > 1:
        out["laps"] = {t: (d[0]["lap_times"][0] if d and d[0]["lap_times"] else None) for t, d in detail.items()}
    return out


def finetune_driver(network: Any, program: Program | None, lam: float, seed: int, timesteps: int,
                    tc: TorcsLoopConfig) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """TD3 from ``network`` on the track, near ``program``; the best greedy-lap checkpoint."""
    import torch
    import torch.nn.functional as F

    from saferl.learn.td3 import train_td3
    from saferl.learn.torcs import lap_score, td3_defaults
    from saferl.policy.evaluate import ProgramPolicy

    cfg = td3_defaults()
    cfg.total_timesteps = timesteps
    cfg.hidden = tuple(network.manifest["actor"]["layers"][1:-1])
    cfg.activation = network.manifest["actor"]["activation"]
    cfg.learning_starts = min(cfg.learning_starts, max(1, timesteps // 10))
    cfg.actor_starts = cfg.learning_starts + max(1, timesteps // 4)  # fresh critics learn the start's values first
    cfg.buffer_size = max(timesteps, 1_000)
    cfg.eval_every = max(1, timesteps // 2)
    imitation = None
    if program is not None and lam > 0:
        expert = ProgramPolicy(program)
        low, high = np.asarray(network.action_low, np.float32), np.asarray(network.action_high, np.float32)

        def imitation(obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
            rows = []
            for x in obs.detach().numpy():
                expert.reset()
                rows.append(np.asarray(expert.act(x), dtype=np.float32).reshape(-1))
            target = torch.as_tensor(np.clip(np.asarray(rows), low, high))
            return lam * F.mse_loss(actions, target)

    torch.set_num_threads(1)
    actor = {k: v for k, v in network.tensors.items() if k.startswith("actor.")}
    kwargs = {**env_settings(tc), "laps": 1000, "reward": "propel", "robot_timeout_s": 3600.0}
    return train_td3(TORCS_ENV_ID, seed, cfg, init_actor=actor, imitation=imitation, env_kwargs=kwargs,
                     score=lap_score(tc.track, tc.race_steps or 15_000))


def _drive(network: Any, tc: TorcsLoopConfig) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """States the network (or a program policy, reset at each episode) visits (episodes of
    the track), its actions, episode starts."""
    from saferl.learn.envs import make_env

    states: list[np.ndarray] = []
    actions: list[np.ndarray] = []
    starts: list[int] = []
    env = make_env(TORCS_ENV_ID, **{**env_settings(tc), "laps": 100})
    try:
        while len(states) < tc.project_states:
            obs, _ = env.reset()
            if hasattr(network, "reset"):
                network.reset()
            starts.append(len(states))
            done = False
            while not done and len(states) < tc.project_states:
                act = np.asarray(network.act(obs), dtype=np.float32).reshape(-1)
                states.append(np.asarray(obs, dtype=np.float32))
                actions.append(act)
                obs, _, term, trunc, _ = env.step(act)
                done = bool(term or trunc)
    finally:
        env.close()
    return np.asarray(states), np.asarray(actions), starts


def project_program(program: Program, network: Any, spec: Any, tc: TorcsLoopConfig, seed: int,
                    policy_path: str = "<projected>") -> tuple[Program, dict[str, Any]]:
    """Fit ``program``'s constants to ``network``'s actions on the states it visits, inside
    the set of programs ``spec`` proves SAFE (``program`` itself is taken as proved)."""
    from saferl.learn.program_search import tunable_parameters
    from saferl.learn.tune import SearchHooks, TuneConfig, cross_entropy_search, parameter_scale
    from saferl.policy.evaluate import ProgramPolicy
    from saferl.results import Verdict
    from saferl.verify import verify_policy

    check_torcs_program(program)
    states, targets, starts = _drive(network, tc)
    low, high = np.asarray(network.action_low, np.float64), np.asarray(network.action_high, np.float64)
    targets = np.clip(targets.astype(np.float64), low, high)
    span = high - low
    first = set(starts)

    def error(prog: Program) -> float:
        policy = ProgramPolicy(prog)
        out = np.empty_like(targets)
        for k, x in enumerate(states):
            if k in first:
                policy.reset()
            out[k] = np.asarray(policy.act(x), dtype=np.float64).reshape(-1)
        diff = (np.clip(out, low, high) - targets) / span
        return float(np.mean(diff**2))

    by_id = {p.id: p for p in program.parameters()}
    ids = tree_parameters(program, spec) if is_tree(program) else tunable_parameters(program)
    params = [by_id[i] for i in ids]
    if not params:
        raise InputError(f"policy {program.name!r} has no constants to fit")
    cfg = TuneConfig(generations=tc.project_generations, population=12, elites=4, init_std=0.3, sweep_points=0,
                     final_checks=4, seed=seed)
    result = cross_entropy_search(
        program, params, SearchHooks(
            score=lambda prog: -error(prog),
            is_safe=lambda prog: verify_policy(prog, spec, policy_path=policy_path).verdict is Verdict.SAFE), cfg,
        scales=[parameter_scale(program, p, None) for p in params], policy_path=policy_path)
    return result.program, {"states": int(len(states)), "parameters": len(params), "start_error": -result.start_score,
                            "error": -result.score, "evaluations": result.evaluations,
                            "verifications": result.verifications, "rejected": result.rejected}


def tune_laps(program: Program, spec: Any, tc: TorcsLoopConfig, seed: int) -> tuple[Program, dict[str, Any]]:
    """The gate-first lap-time search from a SAFE ``program`` (the start when nothing beats it)."""
    from saferl.learn.program_search import (
        SearchOptions,
        search_parameters,
        torcs_lap_cost,
        tunable_parameters,
        verify_gate,
    )

    ids = tree_parameters(program, spec) if is_tree(program) else tunable_parameters(program)
    result = search_parameters(program, ids, torcs_lap_cost(scored_tracks(tc), seeds=_seeds(tc), max_steps=tc.race_steps), verify_gate([spec]),
                               SearchOptions(iterations=tc.tune_iterations, population=tc.tune_population, elite=3,
                                             sigma=0.1, seed=seed))
    start = result.candidates[0]
    return result.best.program, {
        "start_score": -start.cost, "score": -result.best.cost, "evaluations": len(result.candidates),
        "verifications": len(result.candidates), "rejected": sum(1 for c in result.candidates if not c.verified),
        "wall_s": result.wall_s, "cpu_s": result.cpu_s, "parameters": len(ids),
    }


def tree_parameters(program: Program, spec: Any) -> list[int]:
    """What a tree's projection and lap search move: its tunable constants but the split
    thresholds (the regression tree's, kept: fitted to imitation, a threshold drifts out of
    the states' range and a leaf goes dead), screened by :func:`free_parameters`."""
    from saferl.learn.program_search import tunable_parameters

    kinds = {p.id: p.kind for p in program.parameters()}
    ids = [i for i in tunable_parameters(program) if kinds[i] != "threshold"]
    return free_parameters(program, spec, ids) or ids


def free_parameters(program: Program, spec: Any, ids: list[int], step: float = 0.05) -> list[int]:
    """Of the parameters ``ids`` of a SAFE ``program``, those each of which alone can move by
    ``step`` of its value either way (4 significant digits) with the program still proved
    SAFE against ``spec``.  A tree's leaves repeat constants a spec pins (a cap written with
    the spec's own numbers), and a search that moves every constant at once would leave the
    verified set at almost every candidate; the trees' projection and lap search move the
    free ones.  One proof per parameter and direction."""
    from saferl.policy import format_policy, parse_policy
    from saferl.results import Verdict
    from saferl.verify import verify_policy

    values = {p.id: p.value for p in program.parameters()}
    free = []
    for i in ids:
        for sign in (1.0, -1.0):
            moved = program.with_values({i: float(f"{values[i] * (1.0 + sign * step):.4g}")})
            if verify_policy(parse_policy(format_policy(moved), "<screened>"), spec).verdict is not Verdict.SAFE:
                break
        else:
            free.append(i)
    return free


#: what a grown tree may split on: a name and its .pol expression
TREE_FEATURES: tuple[tuple[str, str], ...] = (
    ("speedX", "speedX"), ("front", "max(track8, track9, track10)"), ("trackPos", "trackPos"), ("angle", "angle"))


def is_tree(program: Program) -> bool:
    """Whether the program splits (its body has an ``if``): a PROPEL-Tree program."""
    from saferl.policy.ast import If

    return any(isinstance(stmt, If) for stmt in program.body)


def _feature_matrix(states: np.ndarray, obs_names: tuple[str, ...]) -> np.ndarray:
    col = {name: k for k, name in enumerate(obs_names)}
    front = np.max(states[:, [col["track8"], col["track9"], col["track10"]]], axis=1)
    return np.stack([states[:, col["speedX"]], front, states[:, col["trackPos"]], states[:, col["angle"]]],
                    axis=1).astype(np.float64)


def _proportional(expr: Any) -> Any:
    """``expr`` with every ``pid(signal, target, kp, ki, kd)`` replaced by its proportional
    term ``kp * (target - signal)``: the same law without state."""
    from dataclasses import replace

    from saferl.policy.ast import BinOp, Call, Neg, Num, Pid

    if isinstance(expr, Pid):
        return BinOp("*", Num(expr.kp.value), BinOp("-", Num(expr.target.value), _proportional(expr.signal)))
    if isinstance(expr, Call):
        return replace(expr, args=tuple(_proportional(a) for a in expr.args))
    if isinstance(expr, BinOp):
        return replace(expr, left=_proportional(expr.left), right=_proportional(expr.right))
    if isinstance(expr, Neg):
        return replace(expr, operand=_proportional(expr.operand))
    return expr


def grow_tree(program: Program, states: np.ndarray, actions: np.ndarray, depth: int = 1,
              seed: int = 0) -> tuple[Program, dict[str, Any]]:
    """A tree from the flat PID ``program``: splits (and thresholds, 4 significant digits)
    of a regression tree of ``depth`` fitted to ``actions``' ``[accel, brake]`` on ``states``
    (rows of the 29 sensors), over :data:`TREE_FEATURES`; one steering law (the program's)
    before the split.  The leaf the most states reach keeps the program's throttle and
    brake laws, ``pid`` calls included (so the tree has the program's controllers and
    their state, which the specs declare); every other leaf has the same laws with each
    ``pid`` replaced by its proportional term (:func:`_proportional`), constants of its own.
    A program that already splits is returned as it is.  Also returns the splits grown."""
    from sklearn.tree import DecisionTreeRegressor

    from saferl.policy import format_policy, parse_policy
    from saferl.policy.ast import Assign
    from saferl.policy.printer import format_expr, format_number

    check_torcs_program(program)
    if is_tree(program):
        return program, {"grown": False, "splits": []}
    if not 1 <= depth <= 3:
        raise InputError(f"the tree depth must be 1, 2 or 3, got {depth}")
    if len(states) < 2:
        raise InputError("too few states to grow a tree from")
    x = _feature_matrix(np.asarray(states, dtype=np.float32), program.obs_names)
    y = np.clip(np.asarray(actions, dtype=np.float64).reshape(len(states), -1)[:, 1:3], 0.0, 1.0)
    reg = DecisionTreeRegressor(max_depth=depth, min_samples_leaf=max(1, len(x) // 10), random_state=seed).fit(x, y)
    tree = reg.tree_
    values = {stmt.target: stmt.value for stmt in program.body if isinstance(stmt, Assign)}
    stateful = {a: format_expr(values[a]) for a in ("accel", "brake")}
    stateless = {a: format_expr(_proportional(values[a])) for a in ("accel", "brake")}
    lines = [f"steer = {format_expr(values['steer'])}"]
    splits: list[dict[str, Any]] = []
    leaves = [k for k in range(tree.node_count) if tree.children_left[k] < 0]
    pid_leaf = max(leaves, key=lambda k: (int(tree.n_node_samples[k]), -k))

    def split(feature: int, threshold: float, pad: str, left: Any, right: Any) -> None:
        name, expr = TREE_FEATURES[feature]
        value = float(f"{threshold:.4g}")
        splits.append({"feature": name, "threshold": value})
        lines.append(f"{pad}if {expr} <= {format_number(value)} {{")
        left(pad + "  ")
        lines.append(f"{pad}}} else {{")
        right(pad + "  ")
        lines.append(f"{pad}}}")

    def leaf(pad: str, laws: dict[str, str]) -> None:
        lines.extend((f"{pad}accel = {laws['accel']}", f"{pad}brake = {laws['brake']}"))

    def node(k: int, pad: str) -> None:
        if tree.children_left[k] < 0:
            leaf(pad, stateful if k == pid_leaf else stateless)
            return
        split(int(tree.feature[k]), float(tree.threshold[k]), pad, lambda p: node(int(tree.children_left[k]), p),
              lambda p: node(int(tree.children_right[k]), p))

    if tree.children_left[0] < 0:  # nothing to split on (constant actions): the median free distance
        split(1, float(np.median(x[:, 1])), "", lambda p: leaf(p, stateless), lambda p: leaf(p, stateful))
    else:
        node(0, "")
    header = format_policy(program).split("\n\n", 1)[0].splitlines()
    name = program.name if program.name.endswith("_tree") else program.name + "_tree"
    text = "\n".join([f"policy {name}", *header[1:], "", *lines]) + "\n"
    return parse_policy(text, "<grown tree>"), {"grown": True, "splits": splits, "states": int(len(states))}


def grow_tree_from(program: Program, driver: Any, tc: TorcsLoopConfig, seed: int) -> tuple[Program, dict[str, Any]]:
    """:func:`grow_tree` on the states ``driver`` (a network, or the program itself as a
    :class:`~saferl.policy.evaluate.ProgramPolicy`) visits on the track, and its actions."""
    if is_tree(program):
        return program, {"grown": False, "splits": []}
    states, actions, _ = _drive(driver, tc)
    return grow_tree(program, states, actions, tc.tree_depth, seed)
