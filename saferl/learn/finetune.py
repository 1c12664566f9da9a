"""Fine-tune a neural policy with the existing PPO (discrete) / TD3 (continuous) trainers.

:func:`finetune_model` starts the trainer's actor from a saved model (e.g. one
``saferl distill`` wrote; critics start fresh) and adds, each optionally:

* **an imitation penalty towards a program** (``program`` with weight ``lam``): every
  PPO minibatch loss gains ``lam * cross_entropy(logits, program action)``, every TD3
  actor update ``lam * mse(action, program action)``.  This is the projection term of
  PROPEL's mirror descent written as a regulariser, chosen over the mixed policy
  h = π + λf because it leaves both trainers' acting, storage and targets untouched (one
  added loss term), and the result is a plain network.  Program labels are computed per
  minibatch from the observation alone, with the program's PID state reset: exact for
  trees and stateless programs, an approximation for PID programs.
* **a shield** (``shield_spec`` with a verified ``fallback`` program): every training
  environment is wrapped in :class:`saferl.shield.Shield`, so exploration never executes
  an action the spec forbids; the trainer still learns from the action it proposed (the
  shield is part of its environment).  Interventions are counted, and each costs the
  trainer ``intervention_penalty`` (default 5) off that step's reward — the curve and
  every reported return keep the environment's reward.  Without it a start that proposes
  forbidden actions never learns not to (the shield saves it every time), and the
  network, which is evaluated and used unshielded, stays as bad as it started.
* **a softened start** (discrete actions, ``start_confidence``, default 0.55): a distilled
  network is nearly deterministic (its logit gaps are ~10), and from there PPO can neither
  explore nor move a greedy decision in the few updates it takes from scratch, where the
  logits start near 0; the actor's output layer is scaled down (which keeps every greedy
  action) until the median probability of the preferred action on the start network's own
  states is at most ``start_confidence``: the start keeps its greedy policy and its
  features and explores almost as a fresh actor does.  Those states come from one greedy
  episode of the start on a training environment (shielded and monitored like the rest),
  and its steps are counted: they are on the curve, in ``steps`` and in the progress
  callback's step.  docs/loop.md has the measurements behind the default.
* **a critic warm-up** (PPO, ``critic_warmup`` rollouts, default 1): the critics start
  fresh, and a value function near 0 against returns in the tens or hundreds makes the
  first advantages noise; the first rollout(s) of the start only fit V and Q (their own
  optimiser, 50 passes, outputs started at the mean return), the actor frozen.  Those
  steps are training steps and count as such.  (TD3 has the same idea as ``actor_starts``.)
* **a violation monitor** (``monitor_spec``, or the shield's spec): the action the
  environment actually received is judged at every training step by
  :class:`saferl.shield.ViolationMonitor`, independently of the shield's own code.

The learning curve records, at the end of every training episode, the environment steps
so far, the episode's return and the cumulative violations and interventions;
:func:`write_curve_png` draws it.  The greedy evaluation that picks the returned
checkpoint runs unshielded, on the plain environment.

This module imports torch and gymnasium at import time; ``import saferl`` never imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

from saferl.errors import InputError
from saferl.learn.envs import env_signature, make_env
from saferl.learn.evaluate import evaluate_policy
from saferl.learn.model import NeuralPolicy, policy_from_parts
from saferl.policy.ast import Program
from saferl.policy.evaluate import ProgramPolicy
from saferl.spec.load import Spec

__all__ = ["CurvePoint", "FinetuneResult", "TrainingMonitor", "finetune_model", "soften_actor", "write_curve_png"]


@dataclass(frozen=True)
class CurvePoint:
    """One finished training episode."""

    step: int
    """environment steps (all training environments together) at the episode's end"""
    episode_return: float
    violations: int
    """cumulative steps whose executed action broke a monitored property"""
    interventions: int
    """cumulative steps where the shield replaced the proposed action"""


@dataclass
class _Counters:
    steps: int = 0
    violations: int = 0
    interventions: int = 0
    by_property: dict[str, int] = field(default_factory=dict)
    curve: list[CurvePoint] = field(default_factory=list)


class TrainingMonitor(gym.Wrapper):  # type: ignore[type-arg]
    """Counts steps, episode returns, violations and shield interventions of a training env.

    Wraps the (possibly shielded) environment outermost; several instances share one
    counter object, so the curve's step axis counts every training environment.
    """

    def __init__(
        self,
        env: gym.Env,  # type: ignore[type-arg]
        counters: _Counters,
        spec: Spec | None,
        program: Program | None,
        intervention_penalty: float = 0.0,
    ):
        super().__init__(env)
        from saferl.shield.monitor import ViolationMonitor

        self.counters = counters
        self.penalty = intervention_penalty
        self.monitor = ViolationMonitor(spec, program) if spec is not None and program is not None else None
        self._return = 0.0

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._return = 0.0
        if self.monitor is not None:
            self.monitor.reset(obs)
        return obs, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, term, trunc, info = self.env.step(action)
        c = self.counters
        c.steps += 1
        self._return += float(reward)
        record = info.get("saferl")
        executed = action
        if record is not None:
            executed = record.executed
            c.interventions += int(bool(record.intervened))
            if record.intervened:  # the trainer's reward only; the curve keeps the env's
                reward = float(reward) - self.penalty
        if self.monitor is not None:
            broken = self.monitor.step(executed, obs)
            if broken:
                c.violations += 1
                for pid in broken:
                    c.by_property[pid] = c.by_property.get(pid, 0) + 1
        if term or trunc:
            c.curve.append(CurvePoint(c.steps, self._return, c.violations, c.interventions))
        return obs, reward, term, trunc, info


@dataclass(frozen=True)
class FinetuneResult:
    """The fine-tuned network (manifest + tensors), its learning curve and counters."""

    manifest: dict[str, Any]
    tensors: dict[str, np.ndarray]
    curve: tuple[CurvePoint, ...]
    steps: int
    """environment steps: training, and the softening's one greedy episode before it"""
    violations: int
    violations_by_property: dict[str, int]
    interventions: int
    monitored: bool
    shielded: bool
    start_return: float
    final_return: float

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready summary (no tensors, no curve)."""
        return {
            "env": self.manifest["env_id"],
            "algo": self.manifest["training"]["algo"],
            "steps": self.steps,
            "episodes": len(self.curve),
            "shielded": self.shielded,
            "monitored": self.monitored,
            "violations": self.violations if self.monitored else None,
            "violations_by_property": self.violations_by_property if self.monitored else None,
            "interventions": self.interventions if self.shielded else None,
            "start_return": self.start_return,
            "final_return": self.final_return,
        }


def _check_model_fits(model: NeuralPolicy, env_id: str) -> None:
    sig = env_signature(env_id)
    if len(model.obs_names) != len(sig.obs_names):
        raise InputError(
            f"the model reads {len(model.obs_names)} observations; {env_id} has {len(sig.obs_names)}",
            hint="pass a model trained or distilled for this environment",
        )
    if model.discrete != sig.discrete:
        raise InputError(f"the model's action is {'discrete' if model.discrete else 'continuous'}; {env_id}'s is not")
    if sig.discrete and model.n_actions != len(sig.action_labels or ()):
        raise InputError(f"the model has {model.n_actions} actions; {env_id} has {len(sig.action_labels or ())}")
    out = model.manifest["actor"]["output"]
    if not sig.discrete and out != "tanh":
        raise InputError(f"TD3 fine-tunes a tanh-squashed actor; this model's actor output is {out!r}")


def _imitation_loss(program: Program, lam: float, discrete: bool, low: np.ndarray | None, high: np.ndarray | None) -> Any:
    expert = ProgramPolicy(program)

    def labels(obs: torch.Tensor) -> np.ndarray:
        rows = []
        for x in obs.detach().numpy():
            expert.reset()
            rows.append(expert.act(x))
        return np.asarray(rows)

    def loss(obs: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        y = labels(obs)
        if discrete:
            return lam * F.cross_entropy(out, torch.as_tensor(y, dtype=torch.long).reshape(-1))
        target = torch.as_tensor(np.clip(y.reshape(len(y), -1), low, high), dtype=torch.float32)
        return lam * F.mse_loss(out, target)

    return loss


def soften_actor(
    model: NeuralPolicy, tensors: dict[str, np.ndarray], env_id: str, seed: int, confidence: float, env: Any = None
) -> dict[str, np.ndarray]:
    """Scale the last layer so the median logit gap on the model's own states (one greedy
    episode, on ``env`` when given) is at most log(confidence / (1 - confidence)) (two
    actions: the preferred one's probability)."""
    from saferl.extract.rollout import collect

    states = collect(model, env_id, episodes=1, seed=seed + 888_000, env=env).states
    logits = np.sort(model.actor_output(states), axis=1)
    gap = float(np.median(logits[:, -1] - logits[:, -2]))
    limit = float(np.log(confidence / (1.0 - confidence)))
    if gap <= limit:
        return tensors
    last = max(int(k.split(".")[1]) for k in tensors)
    factor = limit / gap
    softened = dict(tensors)
    for part in ("weight", "bias"):
        softened[f"actor.{last}.{part}"] = (tensors[f"actor.{last}.{part}"] * factor).astype(np.float32)
    return softened


def _offset_progress(
    progress: Callable[[int, int, float], None] | None, before: int
) -> Callable[[int, int, float], None] | None:
    """The trainer's progress callback with the steps taken before training added."""
    if progress is None or before == 0:
        return progress
    outer = progress

    def report(step: int, total: int, last: float) -> None:
        outer(before + step, before + total, last)

    return report


def _offset_observer(observer: Callable[[int, Any], None], before: int) -> Callable[[int, Any], None]:
    """The observer with the steps taken before training added (as ``_offset_progress``)."""

    def see(step: int, actor: Any) -> None:
        observer(before + step, actor)

    return see


def finetune_model(
    model: NeuralPolicy,
    env_id: str,
    seed: int = 0,
    timesteps: int = 50_000,
    *,
    program: Program | None = None,
    lam: float = 0.0,
    shield_spec: Spec | None = None,
    fallback: Program | None = None,
    monitor_spec: Spec | None = None,
    trainer_config: Any = None,
    eval_episodes: int = 10,
    progress: Callable[[int, int, float], None] | None = None,
    start_confidence: float = 0.55,
    critic_warmup: int = 1,
    intervention_penalty: float = 5.0,
    observer: Callable[[int, Any], None] | None = None,
) -> FinetuneResult:
    """Continue training ``model`` on ``env_id``; see the module docstring.

    ``trainer_config`` is a :class:`~saferl.learn.ppo.PPOConfig` /
    :class:`~saferl.learn.td3.TD3Config` (its hidden sizes and activation are replaced by
    the model's; ``total_timesteps`` by ``timesteps``).  InputError for a model that does
    not fit the environment, a shield without a fallback, or a fallback the verifier does
    not prove SAFE on the spec.  ``progress(step, total, last_greedy_eval_return)`` is the
    trainer's progress callback.  ``start_confidence``, ``critic_warmup`` and
    ``intervention_penalty`` (with a shield) are the fine-tune-only settings above
    (``critic_warmup`` replaces the PPO config's).  ``observer(step, actor)`` (PPO only) sees
    the torch actor after each policy update (:func:`saferl.learn.ppo.train_ppo`).
    """
    _check_model_fits(model, env_id)
    if timesteps < 1:
        raise InputError("timesteps must be positive")
    if shield_spec is not None and fallback is None:
        raise InputError("a shield needs a verified fallback program")
    if critic_warmup < 0:
        raise InputError("critic_warmup must be >= 0")
    if not 0.0 <= intervention_penalty < float("inf"):
        raise InputError("intervention_penalty must be finite and >= 0")
    if lam < 0 or (lam > 0 and program is None):
        raise InputError("lambda must be >= 0, and > 0 only with a program")
    sig = env_signature(env_id)
    names_from = fallback if fallback is not None else program
    spec = shield_spec if shield_spec is not None else monitor_spec
    if spec is not None and names_from is None:
        raise InputError("monitoring violations needs a program that names the observations (a fallback or program)")
    counters = _Counters()

    shield_proof: list[Any] = []

    def make_training_env() -> Any:
        env = make_env(env_id)
        if shield_spec is not None:
            from saferl.shield import Shield

            if fallback is None:  # checked above; kept for the type checker
                raise InputError("--shield needs --fallback")
            env = Shield(env, shield_spec, fallback, proof=shield_proof[0] if shield_proof else None)
            if not shield_proof:
                shield_proof.append(env.proof)
        return TrainingMonitor(env, counters, spec, names_from, intervention_penalty if shield_spec is not None else 0.0)

    actor_tensors = {k: v for k, v in model.tensors.items() if k.startswith("actor.")}
    if sig.discrete and 0.5 < start_confidence < 1.0:
        measure_env = make_training_env()  # its steps count like training steps
        actor_tensors = soften_actor(model, actor_tensors, env_id, seed, start_confidence, env=measure_env)
        measure_env.close()
    report = _offset_progress(progress, counters.steps)
    hidden = tuple(model.manifest["actor"]["layers"][1:-1])
    activation = model.manifest["actor"]["activation"]
    torch.set_num_threads(1)
    if sig.discrete:
        from saferl.learn.ppo import PPOConfig, train_ppo

        pcfg = trainer_config if trainer_config is not None else PPOConfig()
        pcfg.total_timesteps, pcfg.hidden, pcfg.activation = timesteps, hidden, activation
        pcfg.critic_warmup = critic_warmup
        imitation = _imitation_loss(program, lam, True, None, None) if program is not None and lam > 0 else None
        manifest, tensors = train_ppo(
            env_id, seed, pcfg, report, init_actor=actor_tensors, env_factory=make_training_env, imitation=imitation,
            observer=observer if observer is None else _offset_observer(observer, counters.steps),
        )
    else:
        from saferl.learn.td3 import TD3Config, train_td3

        tcfg = trainer_config if trainer_config is not None else TD3Config.for_env(env_id)
        tcfg.total_timesteps, tcfg.hidden, tcfg.activation = timesteps, hidden, activation
        tcfg.learning_starts = min(tcfg.learning_starts, max(1, timesteps // 10))
        if tcfg.actor_starts is None:  # fresh critics first learn the start actor's values
            tcfg.actor_starts = tcfg.learning_starts + max(1, timesteps // 4)
        imitation = None
        if program is not None and lam > 0:
            imitation = _imitation_loss(program, lam, False, model.action_low, model.action_high)
        manifest, tensors = train_td3(
            env_id, seed, tcfg, report, init_actor=actor_tensors, env_factory=make_training_env, imitation=imitation
        )
    manifest["training"]["finetune"] = {
        "from": model.manifest.get("training", {}).get("algo"),
        "program": None if program is None else program.name,
        "lambda": lam,
        "shield": shield_spec is not None,
        "fallback": None if fallback is None else fallback.name,
    }
    start = evaluate_policy(model, env_id, episodes=eval_episodes, seed=seed + 777_000).mean
    final = evaluate_policy(policy_from_parts(manifest, tensors), env_id, episodes=eval_episodes, seed=seed + 777_000).mean
    manifest["training"]["final_eval"] = {"episodes": eval_episodes, "mean_return": round(final, 3)}
    return FinetuneResult(
        manifest,
        tensors,
        tuple(counters.curve),
        counters.steps,
        counters.violations,
        dict(counters.by_property),
        counters.interventions,
        spec is not None,
        shield_spec is not None,
        start,
        final,
    )


def write_curve_png(curve: tuple[CurvePoint, ...] | list[CurvePoint], path: Path, title: str) -> None:
    """Draw episode return and cumulative violations / interventions against env steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [p.step for p in curve]
    fig, (ax_r, ax_v) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    ax_r.plot(steps, [p.episode_return for p in curve], ".", alpha=0.4, label="episode return")
    if len(curve) >= 10:
        k = max(5, len(curve) // 20)
        smooth = np.convolve([p.episode_return for p in curve], np.ones(k) / k, mode="valid")
        ax_r.plot(steps[k - 1 :], smooth, "-", label=f"mean of {k}")
    ax_r.set_ylabel("return")
    ax_r.set_title(title)
    ax_r.legend(loc="lower right")
    ax_v.plot(steps, [p.violations for p in curve], "-", label="violations (cumulative)")
    ax_v.plot(steps, [p.interventions for p in curve], "--", label="interventions (cumulative)")
    ax_v.set_xlabel("environment steps")
    ax_v.set_ylabel("steps")
    ax_v.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
