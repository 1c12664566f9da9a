"""TD3 on real TORCS (``saferl/Torcs-v0``): a neural driver, read top to bottom.

1. **Warm start (optional, documented)**: behaviour cloning from a .pol driving program
   (``policies/torcs/propel_prog.pol``) by DAgger, as MORL starts from its program: the
   program drives first and labels its own states, then the network drives and the program
   labels the states the network visits; the actor is fitted to the program's
   ``[steer, accel, brake]`` with the mean squared error of the tanh-squashed output.
2. **TD3** (:func:`saferl.learn.td3.train_td3`) from that actor on the chosen track with
   PROPEL's reward (``reward="propel"``: speed along the track axis less the transverse
   speed and the distance from the centre line), episodes that end when the car leaves the
   track, takes damage or stalls (``stall_steps``), and a frame limit (``max_steps``).
   Exploration is pink noise (slowly varying, as a driver's corrections are) at 10 % of
   the action half-range; the critics learn the warm-started actor's values before it moves.
3. **Checkpoint by lap**: every ``eval_every`` steps the greedy actor drives one lap of the
   track; the score is the fraction of the lap covered, plus ``1000 / lap time`` when the
   lap is complete, so any finished lap beats any crash and a faster lap beats a slower
   one.  The best checkpoint is returned.

This module imports torch at import time; ``import saferl`` never imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from saferl.errors import InputError
from saferl.learn.envs import make_env
from saferl.learn.nets import export_tensors, mlp
from saferl.learn.td3 import TD3Config, train_td3

__all__ = [
    "TORCS_ENV_ID",
    "TorcsTrainConfig",
    "behaviour_clone",
    "check_warm_start",
    "drive_lap",
    "lap_score",
    "train_torcs_td3",
]

TORCS_ENV_ID = "saferl/Torcs-v0"


@dataclass
class TorcsTrainConfig:
    """The TORCS-specific settings around :class:`TD3Config`."""

    episode_steps: int = 5_000
    """frame limit of a training episode (100 s of simulated time)"""
    stall_steps: int = 250
    """a training episode ends when the car gains less than 1 m in this many steps (5 s)"""
    reward: str = "propel"
    """the env's reward: ``propel`` (PROPEL's) or ``progress`` (metres along the track)"""
    eval_max_steps: int = 15_000
    """frame limit of an evaluation lap (300 s)"""
    bc_iters: int = 3
    """DAgger iterations of the warm start after the program's own lap"""
    bc_steps_per_iter: int = 5_000
    """states gathered per warm-start iteration (per track)"""
    bc_tracks: tuple[str, ...] = ()
    """tracks the warm start drives (empty: the training track alone)"""
    bc_epochs: int = 20
    """passes over the aggregated warm-start data per iteration"""
    anchor_weight: float = 20.0
    """with a warm start: weight of ``mse(actor(s), warm-start actor(s))`` added to the
    actor's loss (as TD3+BC adds a behaviour-cloning term), so that the first updates of
    a critic that has only seen the program's states do not throw the driver off the
    track; 0 turns it off"""


def td3_defaults() -> TD3Config:
    """TD3 hyper-parameters for TORCS (small networks, pink exploration noise)."""
    return TD3Config(
        total_timesteps=300_000,
        learning_starts=5_000,
        actor_starts=20_000,
        buffer_size=300_000,
        learning_rate=3e-4,
        exploration_noise=0.1,
        noise_beta=1.0,
        hidden=(64, 64),
        activation="relu",
        eval_every=10_000,
        eval_episodes=1,
    )


def drive_lap(act: Callable[[np.ndarray], Any], track: str, max_steps: int = 15_000, reset: Callable[[], None] | None = None) -> dict[str, Any]:
    """Drive one lap of ``track`` with ``act``; return lap time, crash, distance and steps.

    The lap ends early when the car leaves the track or stalls (less than 1 m in 5 s)."""
    env = make_env(TORCS_ENV_ID, track=track, laps=1, max_steps=max_steps, stall_steps=250)
    try:
        obs, info = env.reset()
        if reset is not None:
            reset()
        steps, done = 0, False
        while not done:
            obs, _, term, trunc, info = env.step(np.asarray(act(obs), dtype=np.float32).reshape(-1))
            steps += 1
            done = bool(term or trunc)
    finally:
        env.close()
    laps = info["lap_times"]
    return {
        "track": track,
        "lap_time": float(laps[0]) if laps else None,
        "crashed": bool(info["crashed"]),
        "dist_raced": float(info["dist_raced"]),
        "steps": steps,
    }


def lap_score(track: str, max_steps: int = 15_000) -> Callable[[Callable[[np.ndarray], np.ndarray], int], float]:
    """The checkpoint measure: lap fraction covered, plus ``1000 / lap time`` if finished."""
    from saferl.envs.torcs.geometry import load_track

    length = load_track(track).length

    def score(act: Callable[[np.ndarray], np.ndarray], seed: int) -> float:
        lap = drive_lap(act, track, max_steps)
        frac = min(max(lap["dist_raced"] / length, 0.0), 1.0)
        return frac + (1000.0 / lap["lap_time"] if lap["lap_time"] else 0.0)

    return score


def check_warm_start(program: Any) -> None:
    """InputError unless ``program`` reads the 29 TORCS observations and writes
    ``steer, accel, brake`` (continuous), so that it can warm-start a driver."""
    acts = [(a.name, a.kind) for a in program.actions]
    if len(program.observations) != 29 or acts != [("steer", "continuous"), ("accel", "continuous"), ("brake", "continuous")]:
        raise InputError(
            f"policy {program.name!r} cannot warm-start a TORCS driver",
            hint="it must read the 29 TORCS observations and write continuous steer, accel, brake",
        )


def behaviour_clone(
    program: Any,
    track: str,
    seed: int,
    hidden: tuple[int, ...],
    activation: str,
    cfg: TorcsTrainConfig,
    log: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, np.ndarray]:
    """DAgger from a three-action TORCS program; return the actor's ``actor.<k>`` tensors."""
    from saferl.policy.evaluate import ProgramPolicy

    check_warm_start(program)
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    expert = ProgramPolicy(program)
    tracks = cfg.bc_tracks or (track,)
    env = make_env(TORCS_ENV_ID, track=tracks[0])
    low = env.action_space.low.astype(np.float32)
    high = env.action_space.high.astype(np.float32)
    env.close()
    t_scale, t_bias = torch.as_tensor((high - low) / 2.0), torch.as_tensor((high + low) / 2.0)
    net = mlp([29, *hidden, 3], activation, out_gain=0.01)

    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(net(x)) * t_scale + t_bias

    def act(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return forward(torch.as_tensor(np.asarray(obs, dtype=np.float32))).numpy()

    def rollout(name: str, network_drives: bool) -> tuple[np.ndarray, np.ndarray]:
        states: list[np.ndarray] = []
        labels: list[np.ndarray] = []
        env = make_env(TORCS_ENV_ID, track=name, laps=100, max_steps=cfg.bc_steps_per_iter, stall_steps=cfg.stall_steps)
        try:
            while len(states) < cfg.bc_steps_per_iter:
                obs, _ = env.reset()
                expert.reset()
                done = False
                while not done and len(states) < cfg.bc_steps_per_iter:
                    label = np.clip(np.asarray(expert.act(obs), dtype=np.float32), low, high)
                    states.append(np.asarray(obs, dtype=np.float32))
                    labels.append(label)
                    obs, _, term, trunc, _ = env.step(act(obs) if network_drives else label)
                    done = bool(term or trunc)
        finally:
            env.close()
        return np.asarray(states), np.asarray(labels)

    data_x: list[np.ndarray] = []
    data_y: list[np.ndarray] = []
    for it in range(cfg.bc_iters + 1):
        for name in tracks:
            xs, ys = rollout(name, network_drives=it > 0)
            data_x.append(xs)
            data_y.append(ys)
        x, y = torch.as_tensor(np.concatenate(data_x)), torch.as_tensor(np.concatenate(data_y))
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        loss = torch.zeros(())
        for _ in range(cfg.bc_epochs):
            order = torch.as_tensor(rng.permutation(len(x)))
            for lo in range(0, len(x), 256):
                idx = order[lo : lo + 256]
                loss = F.mse_loss(forward(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        if log is not None:
            log({"kind": "bc", "iteration": it, "states": int(len(x)), "loss": float(loss.detach())})
    return export_tensors("actor", net)


def train_torcs_td3(
    track: str,
    seed: int,
    config: TD3Config | None = None,
    torcs: TorcsTrainConfig | None = None,
    warm_start: Any = None,
    progress: Callable[[int, int, float], None] | None = None,
    log: Callable[[dict[str, Any]], None] | None = None,
    on_best: Callable[[dict[str, np.ndarray]], None] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Train a TORCS driver on ``track``; return (manifest, tensors) of the best lap checkpoint.

    ``warm_start`` is a parsed .pol program to behaviour-clone first, or None (TD3 from
    noise).  The manifest's ``training`` section records the TORCS settings, the warm
    start and the number of training episodes.
    """
    cfg = config or td3_defaults()
    tcfg = torcs or TorcsTrainConfig()
    init = None
    if warm_start is not None:
        init = behaviour_clone(warm_start, track, seed, tuple(cfg.hidden), cfg.activation, tcfg, log)
    env_kwargs = {
        "track": track,
        "laps": 1000,  # laps never end a training episode; the frame limit does
        "max_steps": tcfg.episode_steps,
        "reward": tcfg.reward,
        "stall_steps": tcfg.stall_steps,
        "robot_timeout_s": 3600.0,  # the training race waits while the greedy lap is evaluated
    }
    imitation = None
    if init is not None and tcfg.anchor_weight > 0:
        from saferl.learn.nets import import_tensors

        anchor = mlp([29, *cfg.hidden, 3], cfg.activation)
        import_tensors("actor", anchor, init)
        anchor.requires_grad_(False)
        env = make_env(TORCS_ENV_ID)
        low = torch.as_tensor(env.action_space.low.astype(np.float32))
        high = torch.as_tensor(env.action_space.high.astype(np.float32))
        env.close()
        weight = float(tcfg.anchor_weight)

        def imitation(obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
            target = torch.tanh(anchor(obs)) * (high - low) / 2.0 + (high + low) / 2.0
            return weight * F.mse_loss(actions, target)

    manifest, tensors = train_td3(
        TORCS_ENV_ID,
        seed,
        cfg,
        progress,
        imitation=imitation,
        init_actor=init,
        env_kwargs=env_kwargs,
        score=lap_score(track, tcfg.eval_max_steps),
        log=log,
        on_best=on_best,
    )
    manifest["training"]["torcs"] = {
        "track": track,
        **asdict(tcfg),
        "warm_start": None if warm_start is None else warm_start.name,
        "score": "lap fraction + 1000 / lap time (s) of one greedy lap",
    }
    return manifest, tensors
