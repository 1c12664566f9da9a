"""Distil a .pol program into a neural policy, written to read top to bottom.

The program is the expert, and it can label any state.  The first data come from one of two
places (``DistillConfig.states``):

* ``rollouts`` (DAgger from the start): iteration 0 rolls the program out in the
  environment and labels its own states;
* ``domain``: iteration 0 draws states uniformly from an observation box
  (:mod:`saferl.learn.domain`: the spec's ``observations:``, the program's declared ranges,
  the environment's finite bounds) and labels them, without the environment.  Each
  *refinement* round then draws a fresh sample of the box, keeps the states where the
  network disagrees with the program, adds them and Gaussian neighbours of them (the
  program's decision boundaries, where a network is least sure), and retrains.  Still no
  environment step.

Every later (DAgger) iteration rolls out the current network (greedy), labels the states the
*network* visits with the program's action, adds them to the data set (aggregation) and
retrains the network on everything gathered so far; those are the only environment steps
training takes (``train_env_steps``; with ``states="domain"`` and ``iters=0``, none).  Discrete actions are fitted with
cross-entropy on the program's action index, continuous ones with the mean squared error
of the squashed action (``tanh`` into the action box, clipped labels).

The result is a model in saferl's format (:mod:`saferl.learn.model`) with no critic, whose
actor has the same shape and output convention as the PPO (discrete) and TD3 (continuous)
actors, so ``saferl finetune`` can continue from it.  The report gives the agreement with
the program on the states the final (saved) network visits and the mean return of both,
over the same seeded evaluation episodes; those steps are evaluation (``eval_env_steps``),
not training.

With ``augment_copies`` (rollouts, stateless programs) every state a rollout visits brings
Gaussian neighbours of itself into the data, labelled by the program: the network learns
where near the visited states the program keeps or changes its decision, which DAgger
otherwise learns from many more rollouts (on CartPole, 1 iteration x 2 episodes with 40
copies agree >= 99 % from ~500 env steps, against ~7,000 for 8 x 5; docs/loop.md).  The
neighbours cost no environment step.

Stateful (PID) programs are labelled along each trajectory: the program is reset at every
episode start and advanced on every visited state, so its integral and previous error
follow the trajectory the network drives.  They cannot be distilled from the domain.

This module imports torch at import time; ``import saferl`` never imports it.

Example:
    >>> from saferl.policy import load_policy
    >>> from saferl.learn.distill import DistillConfig, distill_program
    >>> result = distill_program(load_policy("policies/cartpole/near_optimal.pol"),
    ...                          "CartPole-v1", seed=0, config=DistillConfig(iters=4))  # doctest: +SKIP
    >>> result.agreement > 0.95                                                         # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from saferl.errors import InputError
from saferl.extract.rollout import fidelity
from saferl.learn.domain import (
    ObservationBox,
    boundary_states,
    jitter_states,
    label_states,
    observation_box,
    sample_box,
    soft_labels,
)
from saferl.learn.envs import EnvSignature, env_signature, make_env
from saferl.learn.evaluate import to_env_action
from saferl.learn.model import policy_from_parts
from saferl.learn.nets import export_tensors, mlp, space_manifest
from saferl.policy.ast import Program
from saferl.policy.evaluate import ProgramPolicy

__all__ = ["DistillConfig", "DistillIteration", "DistillResult", "distill_program", "check_program_fits"]


@dataclass
class DistillConfig:
    """Hyper-parameters of :func:`distill_program`."""

    hidden: tuple[int, ...] = (64, 64)
    """hidden layer widths of the network"""
    activation: str | None = None
    """tanh or relu; None: the finetuning trainer's default (tanh for PPO, relu for TD3)"""
    iters: int = 8
    """DAgger iterations after iteration 0 (the program's own rollouts)"""
    episodes_per_iter: int = 5
    """episodes rolled out per iteration"""
    max_steps_per_iter: int = 5_000
    """cap on the states one iteration adds (long episodes are cut)"""
    epochs: int = 30
    """passes over the aggregated data set per iteration"""
    batch_size: int = 256
    """minibatch size"""
    learning_rate: float = 3e-3
    """Adam step size (annealed to a tenth over each iteration's epochs)"""
    eval_episodes: int = 10
    """episodes of the final evaluation (agreement and returns)"""
    label_smoothing: float = 0.0
    """discrete actions: cross-entropy label smoothing (bounds the logit gap; 0.1 gives the
    preferred action about 95 %).  Off by default: it costs agreement, and fine-tuning
    softens the start itself (:func:`saferl.learn.finetune.finetune_model`)"""
    states: str = "rollouts"
    """where iteration 0's states come from: ``rollouts`` (the program drives the
    environment) or ``domain`` (drawn from the observation box, no environment)"""
    domain_samples: int = 50_000
    """``domain``: states drawn for iteration 0, and the fresh sample of each refinement round"""
    boundary_fraction: float = 0.5
    """``domain``: the share of each sample drawn near the program's decision boundaries
    (:func:`saferl.learn.domain.boundary_states`) instead of uniformly"""
    refine_rounds: int = 4
    """``domain``: refinement rounds (network disagreements on a fresh sample, and their
    neighbours, added to the data; no environment)"""
    refine_max_states: int = 100_000
    """``domain``: the most states one refinement round adds (a random subset)"""
    refine_epochs: int = 10
    """``domain``: passes over the aggregated data set per refinement round"""
    refine_copies: int = 8
    """``domain``: Gaussian neighbours added per disagreeing state"""
    refine_scale: float = 0.01
    """``domain``: the neighbours' standard deviation, as a fraction of the box's width"""
    soft_label_noise: float = 0.0
    """``domain``, discrete actions: train on the program's action frequencies on Gaussian
    neighbours of each state (standard deviation this fraction of the box's width; 0: the
    program's action alone) instead of its action alone, so that the network's confidence
    falls off towards the program's decision boundaries (:func:`saferl.learn.domain.soft_labels`)"""
    soft_label_floor: float = 0.6
    """``domain``, with ``soft_label_noise``: the least target probability of the program's own
    action (> 0.5: the target's preferred action is always the program's)"""
    augment_copies: int = 0
    """``rollouts``, stateless programs: Gaussian neighbours added per visited state, labelled
    by the program (no environment step), so that the network learns how far from the
    visited states the program keeps its decision; 0: none"""
    augment_scale: float = 0.2
    """their standard deviation, as a fraction of the spread (standard deviation) of
    iteration 0's states per observation, drawn log-uniformly down to a hundredth of it"""


@dataclass(frozen=True)
class DistillIteration:
    """One iteration: where its states came from (``program`` / ``network`` rollouts, or
    ``domain`` samples), states added and in total, agreement, return, environment steps."""

    iteration: int
    driver: str
    new_states: int
    total_states: int
    agreement: float
    """agreement of the network (before this iteration's retraining) on the driven states
    (``domain``: on the uniform part of the fresh sample, i.e. on the box); NaN at
    iteration 0, before any network"""
    mean_return: float
    """mean return of the driver over this iteration's episodes (NaN for ``domain``)"""
    env_steps: int = 0
    """environment steps this iteration took (0 for ``domain``: no environment)"""


@dataclass(frozen=True)
class DistillResult:
    """The distilled network (manifest + tensors) and its report."""

    manifest: dict[str, Any]
    tensors: dict[str, np.ndarray]
    agreement: float
    """agreement with the program on the states the final network visits (discrete: the
    fraction of equal actions; continuous: 1 - mean |difference| / action range)"""
    network_return: float
    program_return: float
    visited_states: int
    iterations: tuple[DistillIteration, ...] = field(default_factory=tuple)
    train_env_steps: int = 0
    """environment steps the training data took (rollouts; 0 when every state came from the domain)"""
    eval_env_steps: int = 0
    """environment steps of the final report (the network's and the program's evaluation episodes)"""
    box: ObservationBox | None = None
    """the observation box sampled (``states="domain"``)"""

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready summary (no tensors)."""
        return {
            "env": self.manifest["env_id"],
            "states": "rollouts" if self.box is None else "domain",
            "agreement": self.agreement,
            "network_return": self.network_return,
            "program_return": self.program_return,
            "visited_states": self.visited_states,
            "train_env_steps": self.train_env_steps,
            "eval_env_steps": self.eval_env_steps,
            "domain": None if self.box is None else self.box.to_record(),
            "iterations": [asdict(it) for it in self.iterations],
        }


def check_program_fits(program: Program, sig: EnvSignature) -> None:
    """InputError unless ``program`` reads the environment's observations and writes one
    action of the environment's kind (and, discrete, the right number of labels), or, for a
    multi-value Box action, one continuous action per value."""
    n_obs = len(program.observations)
    if n_obs != len(sig.obs_names):
        raise InputError(
            f"policy {program.name!r} declares {n_obs} observations; {sig.env_id} has {len(sig.obs_names)}",
            hint="pass a program written for this environment",
        )
    if not sig.discrete and sig.action_dim > 1:
        # a multi-value Box action (TORCS: steer, accel, brake): one continuous program action per value
        if len(program.actions) != sig.action_dim or any(a.kind != "continuous" for a in program.actions):
            raise InputError(
                f"policy {program.name!r} declares {len(program.actions)} actions; {sig.env_id} takes "
                f"{sig.action_dim} continuous values",
                hint="declare one continuous action per value, in the environment's order",
            )
        return
    if len(program.actions) != 1:
        raise InputError(f"policy {program.name!r} declares {len(program.actions)} actions; distillation needs one")
    act = program.actions[0]
    if (act.kind == "discrete") != sig.discrete:
        kind = "discrete" if sig.discrete else "continuous"
        raise InputError(f"policy {program.name!r} has a {act.kind} action; {sig.env_id}'s action is {kind}")
    if sig.discrete and sig.action_labels is not None:
        n = len(sig.action_labels)
        if any(v < 0 or v >= n for _, v in act.labels):
            raise InputError(f"policy {program.name!r} uses action values outside 0..{n - 1} of {sig.env_id}")


def _rollout(
    driver: Callable[[np.ndarray], Any],
    expert: ProgramPolicy,
    env: Any,
    sig: EnvSignature,
    episodes: int,
    max_steps: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[float]]:
    """Drive ``episodes`` episodes with ``driver``; return (states, expert labels, driver
    actions, episode returns).  The expert is advanced on every state it labels."""
    states, labels, taken, returns = [], [], [], []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        expert.reset()
        total, done = 0.0, False
        while not done:
            label = expert.act(obs)
            action = driver(obs) if driver is not None else label
            states.append(np.asarray(obs, dtype=np.float32))
            labels.append(label)
            taken.append(action)
            obs, r, term, trunc, _ = env.step(to_env_action(action, sig.discrete))
            total += float(r)
            done = bool(term or trunc) or len(states) >= max_steps
        returns.append(total)
        if len(states) >= max_steps:
            break
    lab = np.asarray(labels, dtype=np.int64 if sig.discrete else np.float32).reshape(len(states), -1)
    tak = np.asarray(taken, dtype=np.int64 if sig.discrete else np.float32).reshape(len(states), -1)
    return np.asarray(states, dtype=np.float32), lab, tak, returns


def distill_program(
    program: Program,
    env_id: str,
    seed: int = 0,
    config: DistillConfig | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    spec: Any = None,
) -> DistillResult:
    """Imitate ``program`` on ``env_id``; return the network and its report.

    ``config.states`` says where the first states come from (rollouts of the program, or the
    observation box; see the module docstring); ``spec`` (a :class:`saferl.spec.Spec`) gives
    the box its ranges (its ``observations:``) and must fit the program.
    ``progress(iteration, iterations, last_agreement)`` is called after each iteration.
    ``env_kwargs`` go to ``gymnasium.make`` (e.g. a TORCS track and frame limit).  A program
    with several continuous actions (TORCS) is fitted on all of them at once.  InputError
    when the program (or the spec) does not fit the environment.
    """
    cfg = config or DistillConfig()
    sig = env_signature(env_id)
    check_program_fits(program, sig)
    if cfg.iters < 0 or cfg.episodes_per_iter < 1 or cfg.epochs < 1 or not cfg.hidden:
        raise InputError("distillation needs iters >= 0, episodes_per_iter >= 1, epochs >= 1 and a hidden layer")
    if cfg.states not in ("rollouts", "domain"):
        raise InputError(f"unknown source of states {cfg.states!r}; choose rollouts or domain")
    if (cfg.domain_samples < 1 or cfg.refine_rounds < 0 or cfg.refine_copies < 0 or not cfg.refine_scale > 0
            or not 0.0 <= cfg.boundary_fraction <= 1.0 or not 0.0 <= cfg.soft_label_noise < float("inf")
            or not 0.5 < cfg.soft_label_floor <= 1.0):
        raise InputError("domain distillation needs domain_samples >= 1, boundary_fraction in [0, 1], "
                         "refine_rounds >= 0, refine_copies >= 0, refine_scale > 0, soft_label_noise >= 0 "
                         "and soft_label_floor in (0.5, 1]")
    if cfg.augment_copies < 0 or not cfg.augment_scale > 0:
        raise InputError("augment_copies must be >= 0 and augment_scale > 0")
    if cfg.augment_copies and program.pid_sites:
        raise InputError(f"policy {program.name!r} keeps pid state; augmented states are single observations "
                         "and cannot label it", hint="distill it without augmentation")
    box = observation_box(program, sig, spec) if cfg.states == "domain" else None
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    expert = ProgramPolicy(program)

    # -- environment and network -------------------------------------------------------
    env = make_env(env_id, **(env_kwargs or {}))
    obs_dim = int(env.observation_space.shape[0])
    activation = cfg.activation or ("tanh" if sig.discrete else "relu")
    if sig.discrete:
        n_out = int(env.action_space.n)
        low = high = None
    else:
        n_out = int(env.action_space.shape[0])
        low = env.action_space.low.astype(np.float32)
        high = env.action_space.high.astype(np.float32)
    net = mlp([obs_dim, *cfg.hidden, n_out], activation, out_gain=0.01)
    t_scale = None if low is None else torch.as_tensor((high - low) / 2.0)
    t_bias = None if low is None else torch.as_tensor((high + low) / 2.0)

    # inputs are standardised with the statistics of iteration 0's states; on export the
    # scaling is folded into the first layer, so the saved network reads raw observations
    # like every PPO / TD3 actor
    obs_mean = torch.zeros(obs_dim)
    obs_std = torch.ones(obs_dim)

    def forward(x: torch.Tensor) -> torch.Tensor:
        out = net((x - obs_mean) / obs_std)
        if t_scale is None or t_bias is None:
            return out
        return torch.tanh(out) * t_scale + t_bias

    def act(obs: np.ndarray) -> Any:
        with torch.no_grad():
            out = forward(torch.as_tensor(np.asarray(obs, dtype=np.float32)))
        return int(out.argmax()) if sig.discrete else out.numpy().astype(np.float32)

    def act_batch(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = forward(torch.as_tensor(x))
        return out.argmax(dim=1, keepdim=True).numpy() if sig.discrete else out.numpy()

    def targets(y: np.ndarray) -> np.ndarray:
        return y if sig.discrete else np.clip(y, low, high)

    def fit(x: np.ndarray, y: np.ndarray, epochs: int = cfg.epochs) -> None:
        xt = torch.as_tensor(x)
        yt = torch.as_tensor(y[:, 0]) if sig.discrete else torch.as_tensor(targets(y))
        if sig.discrete and box is not None and cfg.soft_label_noise > 0:
            soft = soft_labels(program, x, y, box, n_out, cfg.soft_label_noise, cfg.soft_label_floor, rng)
            yt = torch.as_tensor(soft, dtype=torch.float32)
        opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
        steps_per_epoch = max(1, int(np.ceil(len(x) / cfg.batch_size)))
        total = epochs * steps_per_epoch
        step = 0
        for _ in range(epochs):
            order = torch.as_tensor(rng.permutation(len(x)))
            for lo in range(0, len(x), cfg.batch_size):
                for group in opt.param_groups:  # anneal to a tenth
                    group["lr"] = cfg.learning_rate * (1.0 - 0.9 * step / total)
                idx = order[lo : lo + cfg.batch_size]
                out = forward(xt[idx])
                loss = F.cross_entropy(out, yt[idx], label_smoothing=cfg.label_smoothing) if sig.discrete else F.mse_loss(out, yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                step += 1

    span = 1.0 if high is None else float(np.mean(high - low))
    tolerance = None if high is None else 0.02 * (high - low)

    def draw(n: int) -> tuple[np.ndarray, int]:
        """``n`` states of the box, uniform ones first, then ones near the program's
        boundaries; and how many are uniform."""
        near = boundary_states(program, box, int(round(cfg.boundary_fraction * n)), sig.discrete, rng, tolerance)  # type: ignore[arg-type]
        return np.concatenate([sample_box(box, n - len(near), rng), near]), n - len(near)  # type: ignore[arg-type]

    n_iters = cfg.iters + (cfg.refine_rounds if box is not None else 0)
    spread = np.ones(obs_dim)

    def augment(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``xs`` and ``ys`` with ``augment_copies`` labelled Gaussian neighbours of each state."""
        if not cfg.augment_copies or box is not None or not len(xs):
            return xs, ys
        base = np.repeat(xs.astype(np.float64), cfg.augment_copies, axis=0)
        sigma = cfg.augment_scale * 10.0 ** (-2.0 * rng.random((len(base), 1)))
        near = (base + rng.standard_normal(base.shape) * sigma * spread).astype(np.float32)
        return np.concatenate([xs, near]), np.concatenate([ys, label_states(program, near, sig.discrete)])

    # -- iteration 0: the program's own rollouts, or states drawn from the box -----------
    if box is None:
        xs, ys, _, rets = _rollout(None, expert, env, sig, cfg.episodes_per_iter, cfg.max_steps_per_iter, seed)  # type: ignore[arg-type]
        steps0 = len(xs)
        spread = np.maximum(xs.std(axis=0), 1e-3)
        xs, ys = augment(xs, ys)
        history = [DistillIteration(0, "program", len(xs), len(xs), float("nan"), float(np.mean(rets)), steps0)]
    else:
        xs = draw(cfg.domain_samples)[0]
        ys = label_states(program, xs, sig.discrete)
        history = [DistillIteration(0, "domain", len(xs), len(xs), float("nan"), float("nan"))]
    data_x, data_y = [xs], [ys]
    obs_mean = torch.as_tensor(xs.mean(axis=0))
    obs_std = torch.as_tensor(np.maximum(xs.std(axis=0), 1e-3))
    fit(xs, ys)
    if progress is not None:
        progress(0, n_iters, float("nan"))

    # -- domain refinement: disagreements on a fresh sample, and their neighbours ----------
    it = 0
    for it in range(1, (cfg.refine_rounds if box is not None else 0) + 1):
        pool, uniform = draw(cfg.domain_samples)
        want = targets(label_states(program, pool, sig.discrete))
        got = act_batch(pool)
        wrong = np.any(got != want, axis=1) if sig.discrete else np.any(np.abs(got - want) > tolerance, axis=1)
        agree = fidelity(got[:uniform], want[:uniform], sig.discrete, span)
        xs = np.concatenate([pool[wrong], jitter_states(pool[wrong], box, cfg.refine_copies, cfg.refine_scale, rng)])  # type: ignore[arg-type]
        xs = xs[rng.permutation(len(xs))[: cfg.refine_max_states]]
        ys = label_states(program, xs, sig.discrete)
        data_x.append(xs)
        data_y.append(ys)
        total_states = int(sum(len(x) for x in data_x))
        history.append(DistillIteration(it, "domain", len(xs), total_states, agree, float("nan")))
        if len(xs):
            fit(np.concatenate(data_x), np.concatenate(data_y), cfg.refine_epochs)
        if progress is not None:
            progress(it, n_iters, agree)

    # -- DAgger: the network drives, the program labels, the data aggregates -------------
    for k in range(1, cfg.iters + 1):
        it += 1
        ep_seed = seed + 1_000 * k
        xs, ys, taken, rets = _rollout(act, expert, env, sig, cfg.episodes_per_iter, cfg.max_steps_per_iter, ep_seed)
        agree = fidelity(taken, targets(ys), sig.discrete, span)
        steps = len(xs)
        xs, ys = augment(xs, ys)
        data_x.append(xs)
        data_y.append(ys)
        total_states = int(sum(len(x) for x in data_x))
        history.append(DistillIteration(it, "network", len(xs), total_states, agree, float(np.mean(rets)), steps))
        fit(np.concatenate(data_x), np.concatenate(data_y))
        if progress is not None:
            progress(it, n_iters, agree)

    # -- the saved network: raw observations in ------------------------------------------
    if sig.discrete:
        action: dict[str, Any] = {"kind": "discrete", "name": sig.action_name, "labels": list(sig.action_labels or ())}
        output = "logits"
    else:
        action = {"kind": "continuous", "name": sig.action_name, "low": low.tolist(), "high": high.tolist()}  # type: ignore[union-attr]
        output = "tanh"
    manifest: dict[str, Any] = {
        "format": "saferl-model",
        "version": 1,
        "env_id": env_id,
        "observation": space_manifest(env, sig.obs_names),
        "action": action,
        "actor": {"layers": [obs_dim, *cfg.hidden, n_out], "activation": activation, "output": output},
        "critic": None,
        "normalisation": None,
        "training": {
            "algo": "distill",
            "seed": seed,
            "program": program.name,
            "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()},
        },
    }
    tensors = export_tensors("actor", net)
    w0 = tensors["actor.0.weight"].astype(np.float64) / obs_std.numpy().astype(np.float64)
    tensors["actor.0.bias"] = (tensors["actor.0.bias"] - w0 @ obs_mean.numpy().astype(np.float64)).astype(np.float32)
    tensors["actor.0.weight"] = w0.astype(np.float32)

    # -- final report (evaluation, not training): the saved network's own states and the
    # returns of both, over the same seeded episodes ----------------------------------------
    eval_seed = seed + 777_000
    saved = policy_from_parts(manifest, tensors)
    xs, ys, taken, net_returns = _rollout(saved.act, expert, env, sig, cfg.eval_episodes, 10**9, eval_seed)
    prog_states, _, _, prog_returns = _rollout(None, expert, env, sig, cfg.eval_episodes, 10**9, eval_seed)  # type: ignore[arg-type]
    env.close()
    agreement = fidelity(taken, targets(ys), sig.discrete, span)
    network_return, program_return = float(np.mean(net_returns)), float(np.mean(prog_returns))
    train_steps = int(sum(h.env_steps for h in history))
    eval_steps = len(xs) + len(prog_states)
    manifest["training"]["distill"] = {
        "states": cfg.states,
        "agreement": agreement,
        "network_return": network_return,
        "program_return": program_return,
        "eval_episodes": cfg.eval_episodes,
        "train_env_steps": train_steps,
        "eval_env_steps": eval_steps,
    }
    if box is not None:
        manifest["training"]["distill"]["domain"] = box.to_record()
    return DistillResult(manifest, tensors, agreement, network_return, program_return, len(xs), tuple(history),
                         train_steps, eval_steps, box)
