"""Distil a .pol program into a neural policy by DAgger, written to read top to bottom.

The program is the expert.  Iteration 0 rolls the program out and labels its own states;
every later iteration rolls out the current network (greedy), labels the states the
*network* visits with the program's action, adds them to the data set (aggregation) and
retrains the network on everything gathered so far.  Discrete actions are fitted with
cross-entropy on the program's action index, continuous ones with the mean squared error
of the squashed action (``tanh`` into the action box, clipped labels).

The result is a model in saferl's format (:mod:`saferl.learn.model`) with no critic, whose
actor has the same shape and output convention as the PPO (discrete) and TD3 (continuous)
actors, so ``saferl finetune`` can continue from it.  The report gives the agreement with
the program on states the final network visits and the mean return of both.

Stateful (PID) programs are labelled along each trajectory: the program is reset at every
episode start and advanced on every visited state, so its integral and previous error
follow the trajectory the network drives.

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
from saferl.learn.envs import EnvSignature, env_signature, make_env
from saferl.learn.evaluate import evaluate_policy, to_env_action
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


@dataclass(frozen=True)
class DistillIteration:
    """One DAgger iteration: who drove, states added and in total, agreement, return."""

    iteration: int
    driver: str
    new_states: int
    total_states: int
    agreement: float
    """agreement of the network (before this iteration's retraining) on the driven states;
    NaN at iteration 0, where the program drove and no network existed yet"""
    mean_return: float
    """mean return of the driver over this iteration's episodes"""


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

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready summary (no tensors)."""
        return {
            "env": self.manifest["env_id"],
            "agreement": self.agreement,
            "network_return": self.network_return,
            "program_return": self.program_return,
            "visited_states": self.visited_states,
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
) -> DistillResult:
    """Imitate ``program`` on ``env_id`` with DAgger; return the network and its report.

    ``progress(iteration, iterations, last_agreement)`` is called after each iteration.
    ``env_kwargs`` go to ``gymnasium.make`` (e.g. a TORCS track and frame limit); with them,
    the final returns come from the same environment.  A program with several continuous
    actions (TORCS) is fitted on all of them at once.  InputError when the program does not
    fit the environment.
    """
    cfg = config or DistillConfig()
    sig = env_signature(env_id)
    check_program_fits(program, sig)
    if cfg.iters < 0 or cfg.episodes_per_iter < 1 or cfg.epochs < 1 or not cfg.hidden:
        raise InputError("distillation needs iters >= 0, episodes_per_iter >= 1, epochs >= 1 and a hidden layer")
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

    # inputs are standardised with the statistics of the program's own states (set after
    # iteration 0); on export the scaling is folded into the first layer, so the saved
    # network reads raw observations like every PPO / TD3 actor
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

    def fit(x: np.ndarray, y: np.ndarray) -> None:
        xt = torch.as_tensor(x)
        yt = torch.as_tensor(y[:, 0]) if sig.discrete else torch.as_tensor(np.clip(y, low, high))
        opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
        steps_per_epoch = max(1, int(np.ceil(len(x) / cfg.batch_size)))
        total = cfg.epochs * steps_per_epoch
        step = 0
        for _ in range(cfg.epochs):
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

    # -- iteration 0: the program drives and labels its own states ----------------------
    xs, ys, _, rets = _rollout(None, expert, env, sig, cfg.episodes_per_iter, cfg.max_steps_per_iter, seed)  # type: ignore[arg-type]
    data_x, data_y = [xs], [ys]
    obs_mean = torch.as_tensor(xs.mean(axis=0))
    obs_std = torch.as_tensor(np.maximum(xs.std(axis=0), 1e-3))
    history = [DistillIteration(0, "program", len(xs), len(xs), float("nan"), float(np.mean(rets)))]
    fit(np.concatenate(data_x), np.concatenate(data_y))
    if progress is not None:
        progress(0, cfg.iters, float("nan"))

    # -- iterations 1..N: the network drives, the program labels, the data aggregates ----
    for it in range(1, cfg.iters + 1):
        ep_seed = seed + 1_000 * it
        xs, ys, taken, rets = _rollout(act, expert, env, sig, cfg.episodes_per_iter, cfg.max_steps_per_iter, ep_seed)
        agree = fidelity(taken, ys if sig.discrete else np.clip(ys, low, high), sig.discrete, span)
        data_x.append(xs)
        data_y.append(ys)
        total_states = int(sum(len(x) for x in data_x))
        history.append(DistillIteration(it, "network", len(xs), total_states, agree, float(np.mean(rets))))
        fit(np.concatenate(data_x), np.concatenate(data_y))
        if progress is not None:
            progress(it, cfg.iters, agree)

    # -- final report: agreement on the final network's own states, returns of both ------
    eval_seed = seed + 777_000
    xs, ys, taken, net_returns = _rollout(act, expert, env, sig, cfg.eval_episodes, 10**9, eval_seed)
    prog_returns = _rollout(None, expert, env, sig, cfg.eval_episodes, 10**9, eval_seed)[3] if env_kwargs else []  # type: ignore[arg-type]
    agreement = fidelity(taken, ys if sig.discrete else np.clip(ys, low, high), sig.discrete, span)
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
    env.close()
    tensors = export_tensors("actor", net)
    w0 = tensors["actor.0.weight"].astype(np.float64) / obs_std.numpy().astype(np.float64)
    tensors["actor.0.bias"] = (tensors["actor.0.bias"] - w0 @ obs_mean.numpy().astype(np.float64)).astype(np.float32)
    tensors["actor.0.weight"] = w0.astype(np.float32)
    if env_kwargs:
        network_return, program_return = float(np.mean(net_returns)), float(np.mean(prog_returns))
    else:
        policy = policy_from_parts(manifest, tensors)
        network_return = evaluate_policy(policy, env_id, episodes=cfg.eval_episodes, seed=eval_seed).mean
        program_return = evaluate_policy(ProgramPolicy(program), env_id, episodes=cfg.eval_episodes, seed=eval_seed).mean
    manifest["training"]["distill"] = {
        "agreement": agreement,
        "network_return": network_return,
        "program_return": program_return,
        "eval_episodes": cfg.eval_episodes,
    }
    return DistillResult(manifest, tensors, agreement, network_return, program_return, len(xs), tuple(history))
