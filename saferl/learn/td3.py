"""TD3 for continuous actions, written to read top to bottom (in the spirit of CleanRL).

One function, :func:`train_td3`, runs the algorithm: a warm-up of exploratory steps, then
one gradient step of twin critics per environment step with clipped double-Q targets and
target-policy smoothing, and a delayed actor update.  Exploration noise is Gaussian or
*coloured* (``noise_beta`` > 0: pink for 1, red for 2), drawn per episode from a 1/f^β
spectrum; pink noise is what lets MountainCarContinuous reach its goal during warm-up
(Eberhard et al., "Pink noise is all you need", ICLR 2023).

The result is reproducible from the seed on one CPU thread; the best greedy checkpoint
(evaluated every ``eval_every`` steps) is the one returned, actor and first critic.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from saferl.learn.envs import env_signature, make_env
from saferl.learn.nets import export_tensors, import_tensors, mlp, space_manifest

__all__ = ["TD3Config", "train_td3", "coloured_noise"]


@dataclass
class TD3Config:
    """Hyper-parameters of :func:`train_td3`; :meth:`for_env` holds tuned defaults."""

    total_timesteps: int = 30_000
    """environment steps"""
    learning_starts: int = 2_000
    """warm-up steps with pure exploration noise before any update"""
    buffer_size: int = 200_000
    """replay capacity"""
    batch_size: int = 256
    """minibatch of each update"""
    gamma: float = 0.99
    """discount"""
    tau: float = 0.005
    """target-network soft update"""
    learning_rate: float = 1e-3
    """Adam step size of actor and critics"""
    policy_delay: int = 2
    """critic updates per actor update"""
    policy_noise: float = 0.2
    """target-policy smoothing noise (fraction of the action half-range)"""
    noise_clip: float = 0.5
    """clip of the smoothing noise"""
    exploration_noise: float = 0.1
    """scale of the behaviour noise (fraction of the action half-range)"""
    warmup_noise: float = 1.0
    actor_starts: int | None = None
    """steps before the first actor update (None: ``learning_starts``); fine-tuning sets it
    later, so fresh critics learn the start actor's values before they move it"""
    """scale of the noise during warm-up (actions are noise alone)"""
    noise_beta: float = 0.0
    """spectral exponent of the behaviour noise: 0 white, 1 pink, 2 red"""
    hidden: tuple[int, ...] = (64, 64)
    """hidden layer widths of actor and critics"""
    activation: str = "relu"
    """tanh or relu"""
    eval_every: int = 2_000
    """evaluate the greedy actor every this many steps (0: never, keep the last)"""
    eval_episodes: int = 3
    """episodes per evaluation"""

    @classmethod
    def for_env(cls, env_id: str) -> TD3Config:
        """Defaults that reach the oracle targets on saferl's continuous environments."""
        if env_id == "MountainCarContinuous-v0":
            return cls(
                total_timesteps=50_000,
                learning_starts=10_000,
                exploration_noise=0.5,
                warmup_noise=0.7,
                noise_beta=1.0,
                eval_every=5_000,
                eval_episodes=5,
            )
        if env_id == "Pendulum-v1":
            return cls(total_timesteps=30_000, learning_starts=2_000, eval_episodes=10)
        return cls()


def coloured_noise(beta: float, length: int, rng: np.random.Generator) -> np.ndarray:
    """A unit-variance sequence whose power spectrum falls as 1/f^beta (0 = white)."""
    if beta == 0.0:
        return rng.standard_normal(length)
    freqs = np.fft.rfftfreq(length)
    freqs[0] = freqs[1]
    spectrum = (rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs))) * freqs ** (-beta / 2.0)
    x = np.fft.irfft(spectrum, length)
    return x / (x.std() + 1e-12)


def _greedy_return(
    actor: torch.nn.Module, scale: np.ndarray, bias: np.ndarray, env_id: str, episodes: int, seed: int,
    env_kwargs: dict[str, Any] | None = None,
) -> float:
    env = make_env(env_id, **(env_kwargs or {}))
    total = 0.0
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        done = False
        while not done:
            with torch.no_grad():
                a = torch.tanh(actor(torch.as_tensor(obs, dtype=torch.float32))).numpy()
            obs, r, term, trunc, _ = env.step((a * scale + bias).astype(np.float32))
            total += float(r)
            done = term or trunc
    env.close()
    return total / episodes


def train_td3(
    env_id: str,
    seed: int,
    config: TD3Config | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    *,
    init_actor: dict[str, np.ndarray] | None = None,
    env_factory: Callable[[], Any] | None = None,
    imitation: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    score: Callable[[Callable[[np.ndarray], np.ndarray], int], float] | None = None,
    log: Callable[[dict[str, Any]], None] | None = None,
    on_best: Callable[[dict[str, np.ndarray]], None] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Train TD3 on a continuous-action environment; return (manifest, tensors).

    ``progress(step, total, last_eval_return)`` is called every few hundred steps.  For
    fine-tuning (:mod:`saferl.learn.finetune`): ``init_actor`` holds ``actor.<k>`` tensors
    to start from (warm-up then explores around it instead of acting on noise alone, and
    its greedy return is the first "best" checkpoint); ``env_factory()`` makes the
    training environment (e.g. behind a shield; evaluation stays on the plain one); and
    ``imitation(obs, actions)`` is a loss term added to every actor update's loss.
    ``env_kwargs`` go to ``gymnasium.make`` for training and evaluation (e.g. a TORCS
    track); ``score(act, seed)`` replaces the greedy return as the checkpoint measure
    (``act`` maps one observation to the greedy action); ``log(record)`` receives one
    record per finished training episode and per evaluation; ``on_best(tensors)`` receives
    the actor's tensors whenever a checkpoint becomes the best (to save it as it goes).
    """
    cfg = config or TD3Config.for_env(env_id)
    sig = env_signature(env_id)
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)

    # -- environment and action scaling ----------------------------------------------
    kwargs = dict(env_kwargs or {})
    env = env_factory() if env_factory is not None else make_env(env_id, **kwargs)
    obs_dim = env.observation_space.shape[0]
    act_dim = env.action_space.shape[0]
    low = env.action_space.low.astype(np.float32)
    high = env.action_space.high.astype(np.float32)
    scale, bias = (high - low) / 2.0, (high + low) / 2.0
    t_scale, t_bias = torch.as_tensor(scale), torch.as_tensor(bias)
    horizon = env.spec.max_episode_steps or kwargs.get("max_steps") or 1000

    # -- networks (actor outputs pre-tanh values; critics take obs ++ action) ----------
    hidden = list(cfg.hidden)
    actor = mlp([obs_dim, *hidden, act_dim], cfg.activation, out_gain=0.01)
    q1 = mlp([obs_dim + act_dim, *hidden, 1], cfg.activation)
    q2 = mlp([obs_dim + act_dim, *hidden, 1], cfg.activation)
    if init_actor is not None:
        import_tensors("actor", actor, init_actor)
    actor_t, q1_t, q2_t = copy.deepcopy(actor), copy.deepcopy(q1), copy.deepcopy(q2)
    actor_opt = torch.optim.Adam(actor.parameters(), lr=cfg.learning_rate)
    critic_opt = torch.optim.Adam([*q1.parameters(), *q2.parameters()], lr=cfg.learning_rate)

    def policy(x: torch.Tensor, net: torch.nn.Module) -> torch.Tensor:
        return torch.tanh(net(x)) * t_scale + t_bias

    def evaluate(eval_seed: int) -> float:
        if score is None:
            return _greedy_return(actor, scale, bias, env_id, cfg.eval_episodes, eval_seed, kwargs)

        def act(o: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return policy(torch.as_tensor(np.asarray(o, dtype=np.float32)), actor).numpy()

        return score(act, eval_seed)

    # -- replay buffer ---------------------------------------------------------------
    cap = min(cfg.buffer_size, cfg.total_timesteps)
    buf_obs = np.zeros((cap, obs_dim), np.float32)
    buf_next = np.zeros((cap, obs_dim), np.float32)
    buf_act = np.zeros((cap, act_dim), np.float32)
    buf_rew = np.zeros(cap, np.float32)
    buf_term = np.zeros(cap, np.float32)

    obs, _ = env.reset(seed=seed)
    noise = coloured_noise(cfg.noise_beta, horizon + 1, rng)[:, None] * np.ones(act_dim)
    ep_step, episodes, ep_return = 0, 0, 0.0
    best_return, best_actor, best_q = -np.inf, copy.deepcopy(actor), copy.deepcopy(q1)
    last_eval = float("nan")
    if init_actor is not None and cfg.eval_every:
        best_return = last_eval = evaluate(seed + 10_000)
        if log is not None:
            log({"kind": "eval", "step": 0, "score": last_eval})
    for step in range(cfg.total_timesteps):
        # 1. act: noise alone during warm-up (unless fine-tuning), then the actor plus noise
        if step < cfg.learning_starts and init_actor is None:
            action = np.clip(bias + scale * cfg.warmup_noise * noise[ep_step], low, high)
        else:
            with torch.no_grad():
                greedy = policy(torch.as_tensor(obs), actor).numpy()
            action = np.clip(greedy + scale * cfg.exploration_noise * noise[ep_step], low, high)
        action = action.astype(np.float32)
        next_obs, reward, term, trunc, _ = env.step(action)
        i = step % cap
        buf_obs[i], buf_next[i], buf_act[i] = obs, next_obs, action
        buf_rew[i], buf_term[i] = reward, float(term)
        obs, ep_step, ep_return = next_obs, ep_step + 1, ep_return + float(reward)
        if term or trunc or ep_step > horizon:
            episodes += 1
            if log is not None:
                log({"kind": "episode", "step": step + 1, "episode": episodes, "length": ep_step,
                     "return": ep_return, "terminated": bool(term)})
            ep_return = 0.0
            obs, _ = env.reset()
            noise = coloured_noise(cfg.noise_beta, horizon + 1, rng)[:, None] * np.ones(act_dim)
            ep_step = 0

        # 2. learn: twin critics every step, actor and targets every policy_delay steps
        if step >= cfg.learning_starts:
            idx = rng.integers(0, min(step + 1, cap), cfg.batch_size)
            o, a = torch.as_tensor(buf_obs[idx]), torch.as_tensor(buf_act[idx])
            o2, r, d = torch.as_tensor(buf_next[idx]), torch.as_tensor(buf_rew[idx]), torch.as_tensor(buf_term[idx])
            with torch.no_grad():
                smoothing = (torch.randn_like(a) * cfg.policy_noise).clamp(-cfg.noise_clip, cfg.noise_clip) * t_scale
                a2 = (policy(o2, actor_t) + smoothing).clamp(torch.as_tensor(low), torch.as_tensor(high))
                x2 = torch.cat([o2, a2], 1)
                target = r + cfg.gamma * (1.0 - d) * torch.min(q1_t(x2), q2_t(x2)).squeeze(1)
            x = torch.cat([o, a], 1)
            critic_loss = F.mse_loss(q1(x).squeeze(1), target) + F.mse_loss(q2(x).squeeze(1), target)
            critic_opt.zero_grad()
            critic_loss.backward()
            critic_opt.step()
            actor_starts = cfg.learning_starts if cfg.actor_starts is None else cfg.actor_starts
            if step % cfg.policy_delay == 0:
                if step >= actor_starts:
                    pi = policy(o, actor)
                    actor_loss = -q1(torch.cat([o, pi], 1)).mean()
                    if imitation is not None:
                        actor_loss = actor_loss + imitation(o, pi)
                    actor_opt.zero_grad()
                    actor_loss.backward()
                    actor_opt.step()
                with torch.no_grad():
                    for net, tgt in ((actor, actor_t), (q1, q1_t), (q2, q2_t)):
                        for p, tp in zip(net.parameters(), tgt.parameters(), strict=True):
                            tp.mul_(1.0 - cfg.tau).add_(cfg.tau * p)

        # 3. keep the best greedy actor
        done_steps = step + 1
        if cfg.eval_every and done_steps > cfg.learning_starts and (
            done_steps % cfg.eval_every == 0 or done_steps == cfg.total_timesteps
        ):
            last_eval = evaluate(seed + 10_000 + done_steps)
            if log is not None:
                log({"kind": "eval", "step": done_steps, "score": last_eval, "best": max(best_return, last_eval)})
            if last_eval >= best_return:
                best_return, best_actor, best_q = last_eval, copy.deepcopy(actor), copy.deepcopy(q1)
                if on_best is not None:
                    on_best(export_tensors("actor", best_actor))
        if progress is not None and (done_steps % 250 == 0 or done_steps == cfg.total_timesteps):
            progress(done_steps, cfg.total_timesteps, last_eval)
    if not np.isfinite(best_return):
        best_actor, best_q = actor, q1
    env.close()

    manifest: dict[str, Any] = {
        "format": "saferl-model",
        "version": 1,
        "env_id": env_id,
        "observation": space_manifest(env, sig.obs_names),
        "action": {"kind": "continuous", "name": sig.action_name, "low": low.tolist(), "high": high.tolist()},
        "actor": {"layers": [obs_dim, *hidden, act_dim], "activation": cfg.activation, "output": "tanh"},
        "critic": {"kind": "q", "layers": [obs_dim + act_dim, *hidden, 1], "activation": cfg.activation},
        "normalisation": None,
        "training": {
            "algo": "td3",
            "seed": seed,
            "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()},
            "best_eval_return": None if not np.isfinite(best_return) else float(best_return),
            "episodes": episodes,
        },
    }
    tensors = {**export_tensors("actor", best_actor), **export_tensors("critic", best_q)}
    return manifest, tensors
