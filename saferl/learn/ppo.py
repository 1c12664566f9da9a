"""PPO for discrete actions, written to read top to bottom (in the spirit of CleanRL).

One function, :func:`train_ppo`, runs the whole algorithm: collect ``num_envs x num_steps``
transitions with the stochastic policy, compute GAE advantages, then optimise the clipped
surrogate for a few epochs of minibatches.  Besides the usual V critic it fits a Q head,
Q(s, a) regressed on the same λ-returns for the action taken, because VIPER weighs states
by the oracle's Q-value gap; the Q head is what the saved model calls its critic.

The Q head learnt during training mostly learns the state value (on-policy returns barely
depend on the action), so after training it is refit by one-step lookahead through the
trained V critic: in states an ε-greedy run of the chosen actor visits, every action is
tried on a copy of the environment and Q(s, a) is regressed on r + γ V(s') (V = 0 at
termination).  That gives VIPER a meaningful gap max_a Q - min_a Q.

The result is reproducible from the seed on one CPU thread.  The best greedy checkpoint
(evaluated every ``eval_every`` updates) is the one returned.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from saferl.learn.envs import env_signature, make_env
from saferl.learn.nets import export_tensors, import_tensors, mlp, space_manifest

__all__ = ["PPOConfig", "train_ppo"]


@dataclass
class PPOConfig:
    """Hyper-parameters of :func:`train_ppo` (defaults solve CartPole-v1 in ~150k steps)."""

    total_timesteps: int = 200_000
    """environment steps over all parallel environments"""
    num_envs: int = 4
    """environments stepped in lock-step"""
    num_steps: int = 128
    """steps per environment per rollout"""
    learning_rate: float = 2.5e-4
    """Adam step size, annealed linearly to 0"""
    gamma: float = 0.99
    """discount"""
    gae_lambda: float = 0.95
    """GAE λ"""
    num_minibatches: int = 4
    """minibatches per epoch"""
    update_epochs: int = 4
    """passes over each rollout"""
    clip_coef: float = 0.2
    """PPO ratio clip"""
    ent_coef: float = 0.01
    """entropy bonus"""
    vf_coef: float = 0.5
    """weight of the value (and Q) losses"""
    max_grad_norm: float = 0.5
    """gradient clipping"""
    hidden: tuple[int, ...] = (64, 64)
    """hidden layer widths of actor and critics"""
    activation: str = "tanh"
    """tanh or relu"""
    eval_every: int = 10
    """evaluate the greedy policy every this many updates (0: never, keep the last)"""
    eval_episodes: int = 5
    """episodes per evaluation"""
    q_eval_transitions: int = 20_000
    """transitions gathered for the fitted Q evaluation of the final actor (0: skip it)"""
    q_eval_epsilon: float = 0.2
    """probability of a random action while gathering them"""
    q_eval_updates: int = 5_000
    """gradient steps of the fitted Q evaluation"""
    critic_warmup: int = 0
    """rollouts at the start that only fit the critics, the actor frozen (fine-tuning: a
    fresh value function first learns the start's values, so that the first policy
    updates follow advantages rather than noise); their environment steps count"""
    critic_warmup_epochs: int = 50
    """passes over each warm-up rollout (V and Q regressed on discounted returns)"""
    critic_warmup_lr: float = 1e-3
    """Adam step size of the warm-up's own optimiser"""


def _greedy_return(actor: nn.Module, env_id: str, episodes: int, seed: int) -> float:
    env = make_env(env_id)
    total = 0.0
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        done = False
        while not done:
            with torch.no_grad():
                a = int(actor(torch.as_tensor(obs, dtype=torch.float32)).argmax())
            obs, r, term, trunc, _ = env.step(a)
            total += float(r)
            done = term or trunc
    env.close()
    return total / episodes


def _lookahead(env: Any, n_actions: int) -> list[tuple[float, bool, np.ndarray]] | None:
    """(reward, terminated, next obs) of every action from the current state, on copies."""
    results = []
    for a in range(n_actions):
        try:
            twin = copy.deepcopy(env.unwrapped)
        except Exception:  # an environment that cannot be copied: no lookahead
            return None
        nxt, r, term, _, _ = twin.step(a)
        results.append((float(r), bool(term), np.asarray(nxt, dtype=np.float32)))
    return results


def _fit_q(
    actor: nn.Module,
    q_net: nn.Sequential,
    v_net: nn.Module,
    env_id: str,
    cfg: PPOConfig,
    seed: int,
    rng: np.random.Generator,
    gen: torch.Generator,
) -> nn.Sequential:
    """Fit Q(s, a) = r + γ V(s') for every action a, by one-step lookahead on copies of the
    environment, in the states an ε-greedy run of the greedy ``actor`` visits.

    Without lookahead (an environment that cannot be copied) only the action taken gets a
    target.  The loss weighs the advantage Q(s, a) - mean_a Q(s, a) heavily, because the
    gap between actions is what VIPER reads and it is small next to Q itself.
    """
    env = make_env(env_id)
    n_actions = int(env.action_space.n)
    states, targets, masks = [], [], []
    # small training budgets (tests) get a proportionally small evaluation
    transitions = min(cfg.q_eval_transitions, max(1_000, cfg.total_timesteps // 10))
    updates = min(cfg.q_eval_updates, max(200, cfg.total_timesteps // 40))
    obs, _ = env.reset(seed=seed + 20_000)
    for _ in range(transitions):
        if rng.random() < cfg.q_eval_epsilon:
            a = int(rng.integers(n_actions))
        else:
            with torch.no_grad():
                a = int(actor(torch.as_tensor(obs, dtype=torch.float32)).argmax())
        outcomes = _lookahead(env, n_actions)
        nxt, r, term, trunc, _ = env.step(a)
        y = np.zeros(n_actions, np.float32)
        mask = np.zeros(n_actions, np.float32)
        if outcomes is None:
            items = [(a, (float(r), bool(term), np.asarray(nxt, dtype=np.float32)))]
        else:
            items = list(enumerate(outcomes))
        with torch.no_grad():
            for b, (rb, tb, nb) in items:
                vb = 0.0 if tb else float(v_net(torch.as_tensor(nb)).item())
                y[b] = rb + cfg.gamma * vb
                mask[b] = 1.0
        states.append(np.asarray(obs, dtype=np.float32))
        targets.append(y)
        masks.append(mask)
        obs = env.reset()[0] if (term or trunc) else nxt
    env.close()
    o = torch.as_tensor(np.asarray(states))
    y_t = torch.as_tensor(np.asarray(targets))
    m_t = torch.as_tensor(np.asarray(masks))
    full = m_t.sum(1) == n_actions
    q_net = copy.deepcopy(q_net)
    opt = torch.optim.Adam(q_net.parameters(), lr=1e-3)
    for _ in range(updates):
        idx = torch.randint(0, len(o), (256,), generator=gen)
        pred = q_net(o[idx])
        err = (pred - y_t[idx]) * m_t[idx]
        loss = (err**2).sum() / m_t[idx].sum()
        f = full[idx]
        if bool(f.any()):
            adv_pred = pred[f] - pred[f].mean(1, keepdim=True)
            adv_true = y_t[idx][f] - y_t[idx][f].mean(1, keepdim=True)
            loss = loss + 10.0 * ((adv_pred - adv_true) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return q_net


def _discounted_returns(
    rewards: torch.Tensor, dones: torch.Tensor, next_done: torch.Tensor, next_value: torch.Tensor, gamma: float
) -> torch.Tensor:
    """Discounted returns of a (T, N) rollout, bootstrapped with ``next_value`` where the
    rollout cuts an episode (``dones[t]`` marks that step t starts a new episode)."""
    T = rewards.shape[0]
    out = torch.zeros_like(rewards)
    running = next_value * (1.0 - next_done)
    for t in reversed(range(T)):
        out[t] = rewards[t] + gamma * running
        running = out[t] * (1.0 - dones[t])
    return out


def _warm_critics(
    v_net: nn.Sequential,
    q_net: nn.Sequential,
    obs: torch.Tensor,
    act: torch.Tensor,
    returns: torch.Tensor,
    cfg: PPOConfig,
    rng: np.random.Generator,
    first: bool,
) -> None:
    """Regress V(s) and Q(s, a taken) on discounted returns of the frozen start actor, with
    an optimiser of their own; the first call starts both output biases at the mean return
    (a fresh critic's output is near 0 and the start's returns are in the tens)."""
    if first:
        with torch.no_grad():
            for net in (v_net, q_net):
                out = net[-1]
                if isinstance(out, nn.Linear):
                    out.bias.fill_(float(returns.mean()))
    params = [*v_net.parameters(), *q_net.parameters()]
    opt = torch.optim.Adam(params, lr=cfg.critic_warmup_lr)
    n = len(obs)
    size = max(1, n // cfg.num_minibatches)
    for _ in range(cfg.critic_warmup_epochs):
        order = torch.as_tensor(rng.permutation(n))
        for lo in range(0, n, size):
            idx = order[lo : lo + size]
            v_loss = 0.5 * ((v_net(obs[idx]).squeeze(1) - returns[idx]) ** 2).mean()
            q_loss = 0.5 * ((q_net(obs[idx]).gather(1, act[idx, None]).squeeze(1) - returns[idx]) ** 2).mean()
            opt.zero_grad()
            (v_loss + q_loss).backward()
            nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            opt.step()


def train_ppo(
    env_id: str,
    seed: int,
    config: PPOConfig | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    *,
    init_actor: dict[str, np.ndarray] | None = None,
    env_factory: Callable[[], Any] | None = None,
    imitation: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    observer: Callable[[int, nn.Module], None] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Train PPO on a discrete-action environment; return (manifest, tensors).

    ``progress(step, total, last_eval_return)`` is called after each update (and, with
    ``init_actor`` and evaluation on, once with step 0 for the start's evaluation).  For
    fine-tuning (:mod:`saferl.learn.finetune`): ``init_actor`` holds ``actor.<k>`` tensors
    to start from (its greedy return is then the first "best" checkpoint, so the result is
    never worse than the start on the evaluation episodes); ``env_factory()`` makes each
    training environment (e.g. behind a shield; evaluation stays on the plain one); and
    ``imitation(obs, logits)`` is a loss term added to every minibatch's loss.
    ``observer(step, actor)`` sees the actor after each policy update (after its greedy
    evaluation, before ``progress``), e.g. to measure how far it moved; it must not change it.
    """
    cfg = config or PPOConfig()
    sig = env_signature(env_id)
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)

    # -- environments ----------------------------------------------------------------
    envs = [env_factory() if env_factory is not None else make_env(env_id) for _ in range(cfg.num_envs)]
    obs_dim = envs[0].observation_space.shape[0]
    n_actions = int(envs[0].action_space.n)
    obs = np.stack([env.reset(seed=seed * 1000 + i)[0] for i, env in enumerate(envs)]).astype(np.float32)

    # -- networks --------------------------------------------------------------------
    hidden = list(cfg.hidden)
    actor = mlp([obs_dim, *hidden, n_actions], cfg.activation, out_gain=0.01)
    v_net = mlp([obs_dim, *hidden, 1], cfg.activation, out_gain=1.0)
    q_net = mlp([obs_dim, *hidden, n_actions], cfg.activation, out_gain=1.0)
    if init_actor is not None:
        import_tensors("actor", actor, init_actor)
    params = [*actor.parameters(), *v_net.parameters(), *q_net.parameters()]
    optimizer = torch.optim.Adam(params, lr=cfg.learning_rate, eps=1e-5)

    # -- storage ---------------------------------------------------------------------
    T, N = cfg.num_steps, cfg.num_envs
    b_obs = torch.zeros((T, N, obs_dim))
    b_act = torch.zeros((T, N), dtype=torch.long)
    b_logp = torch.zeros((T, N))
    b_rew = torch.zeros((T, N))
    b_done = torch.zeros((T, N))
    b_val = torch.zeros((T, N))
    batch_size = T * N
    minibatch = batch_size // cfg.num_minibatches
    num_updates = max(1, cfg.total_timesteps // batch_size)

    next_obs = torch.as_tensor(obs)
    next_done = torch.zeros(N)
    best_return, best_actor, best_q, best_v = -np.inf, copy.deepcopy(actor), copy.deepcopy(q_net), copy.deepcopy(v_net)
    last_eval = float("nan")
    if init_actor is not None and cfg.eval_every:
        best_return = last_eval = _greedy_return(actor, env_id, cfg.eval_episodes, seed + 10_000)
        if progress is not None:  # the start's own evaluation, before any training step
            progress(0, num_updates * batch_size, last_eval)
    for update in range(1, num_updates + 1):
        # anneal the learning rate
        for group in optimizer.param_groups:
            group["lr"] = cfg.learning_rate * (1.0 - (update - 1.0) / num_updates)

        # 1. rollout
        for t in range(T):
            b_obs[t] = next_obs
            b_done[t] = next_done
            with torch.no_grad():
                logits = actor(next_obs)
                probs = torch.softmax(logits, dim=-1)
                action = torch.multinomial(probs, 1, generator=gen).squeeze(1)
                b_logp[t] = torch.log(probs.gather(1, action[:, None]).squeeze(1) + 1e-12)
                b_val[t] = v_net(next_obs).squeeze(1)
            b_act[t] = action
            obs_list, dones = [], []
            for i, env in enumerate(envs):
                o, r, term, trunc, _ = env.step(int(action[i]))
                b_rew[t, i] = float(r)
                if term or trunc:
                    o, _ = env.reset()
                obs_list.append(o)
                dones.append(float(term or trunc))
            next_obs = torch.as_tensor(np.stack(obs_list), dtype=torch.float32)
            next_done = torch.as_tensor(dones)

        if update <= cfg.critic_warmup:  # fit the critics only; the actor stays as it started
            with torch.no_grad():
                discounted = _discounted_returns(b_rew, b_done, next_done, v_net(next_obs).squeeze(1), cfg.gamma)
            _warm_critics(v_net, q_net, b_obs.reshape(batch_size, obs_dim), b_act.reshape(-1), discounted.reshape(-1),
                          cfg, rng, first=update == 1)
            if progress is not None:
                progress(update * batch_size, num_updates * batch_size, last_eval)
            continue

        # 2. GAE advantages and λ-returns
        with torch.no_grad():
            next_value = v_net(next_obs).squeeze(1)
            adv = torch.zeros((T, N))
            last_gae = torch.zeros(N)
            for t in reversed(range(T)):
                if t == T - 1:
                    not_done, nv = 1.0 - next_done, next_value
                else:
                    not_done, nv = 1.0 - b_done[t + 1], b_val[t + 1]
                delta = b_rew[t] + cfg.gamma * nv * not_done - b_val[t]
                last_gae = delta + cfg.gamma * cfg.gae_lambda * not_done * last_gae
                adv[t] = last_gae
            returns = adv + b_val

        # 3. optimise the clipped surrogate, V and Q
        f_obs = b_obs.reshape(batch_size, obs_dim)
        f_act, f_logp = b_act.reshape(-1), b_logp.reshape(-1)
        f_adv, f_ret = adv.reshape(-1), returns.reshape(-1)
        for _ in range(cfg.update_epochs):
            order = torch.as_tensor(rng.permutation(batch_size))
            for lo in range(0, batch_size, minibatch):
                idx = order[lo : lo + minibatch]
                logits = actor(f_obs[idx])
                logp_all = torch.log_softmax(logits, dim=-1)
                logp = logp_all.gather(1, f_act[idx, None]).squeeze(1)
                entropy = -(logp_all.exp() * logp_all).sum(1).mean()
                ratio = (logp - f_logp[idx]).exp()
                mb_adv = f_adv[idx]
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                pg_loss = torch.max(-mb_adv * ratio, -mb_adv * ratio.clamp(1 - cfg.clip_coef, 1 + cfg.clip_coef)).mean()
                v_loss = 0.5 * ((v_net(f_obs[idx]).squeeze(1) - f_ret[idx]) ** 2).mean()
                q_taken = q_net(f_obs[idx]).gather(1, f_act[idx, None]).squeeze(1)
                q_loss = 0.5 * ((q_taken - f_ret[idx]) ** 2).mean()
                loss = pg_loss - cfg.ent_coef * entropy + cfg.vf_coef * (v_loss + q_loss)
                if imitation is not None:
                    loss = loss + imitation(f_obs[idx], logits)
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                optimizer.step()

        # 4. keep the best greedy policy
        if cfg.eval_every and (update % cfg.eval_every == 0 or update == num_updates):
            last_eval = _greedy_return(actor, env_id, cfg.eval_episodes, seed + 10_000 + update)
            if last_eval >= best_return:
                best_return, best_actor, best_q, best_v = last_eval, copy.deepcopy(actor), copy.deepcopy(q_net), copy.deepcopy(v_net)
        if observer is not None:
            observer(update * batch_size, actor)
        if progress is not None:
            progress(update * batch_size, num_updates * batch_size, last_eval)
    if not cfg.eval_every:
        best_actor, best_q, best_v, best_return = actor, q_net, v_net, float("nan")
    for env in envs:
        env.close()

    # 5. refit Q of the chosen greedy actor by one-step lookahead (VIPER weighs states by it)
    if cfg.q_eval_transitions > 0:
        best_q = _fit_q(best_actor, best_q, best_v, env_id, cfg, seed, rng, gen)

    manifest: dict[str, Any] = {
        "format": "saferl-model",
        "version": 1,
        "env_id": env_id,
        "observation": space_manifest(envs[0], sig.obs_names),
        "action": {"kind": "discrete", "name": sig.action_name, "labels": list(sig.action_labels or ())},
        "actor": {"layers": [obs_dim, *hidden, n_actions], "activation": cfg.activation, "output": "logits"},
        "critic": {"kind": "q", "layers": [obs_dim, *hidden, n_actions], "activation": cfg.activation},
        "normalisation": None,
        "training": {
            "algo": "ppo",
            "seed": seed,
            "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()},
            "best_eval_return": None if not np.isfinite(best_return) else float(best_return),
        },
    }
    tensors = {**export_tensors("actor", best_actor), **export_tensors("critic", best_q)}
    return manifest, tensors
