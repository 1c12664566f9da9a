"""How far from optimal are saferl's Pendulum-v1 programs?  A value-iteration reference.

Pendulum-v1's step is known exactly (theta'' = 3g/(2l) sin(theta) + 3/(m l^2) torque, explicit
Euler with dt = 0.05, theta_dot clipped to [-8, 8], 200 steps, reward -(theta^2 + 0.1 theta_dot^2
+ 0.001 torque^2)), so its finite-horizon optimum can be approximated by dynamic programming
on a grid over (theta, theta_dot): V_0 = 0, V_k(s) = max_u r(s, u) + V_{k-1}(step(s, u)), with
bilinear interpolation between grid points and a finite set of torques.  The resulting
time-dependent greedy controller is then run in the real gymnasium environment on the same
episodes (seeds) as the programs, so the table says how much return any policy could still
gain on those episodes.  The controller is a reference, not a policy saferl ships: it is a
lookup table of 200 value grids, with no proof of anything.

    python bench/pendulum_optimal.py                       # seeds 0-99 and 555000-555099
    python bench/pendulum_optimal.py --grid 400,321 --torques 81 --bases 555000

Prints a table, then the same figures as JSON.  CPU seconds of the value iteration are given.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ("policies/pendulum/swing_up.pol", "policies/pendulum/energy_swing.pol")
G, M, L, DT, MAX_SPEED, MAX_TORQUE, HORIZON = 10.0, 1.0, 1.0, 0.05, 8.0, 2.0, 200


def wrap(theta: np.ndarray) -> np.ndarray:
    return ((theta + np.pi) % (2 * np.pi)) - np.pi


def step(theta: np.ndarray, speed: np.ndarray, torque: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    speed = np.clip(speed + (3 * G / (2 * L) * np.sin(theta) + 3.0 / (M * L * L) * torque) * DT, -MAX_SPEED, MAX_SPEED)
    return theta + speed * DT, speed


def reward(theta: np.ndarray, speed: np.ndarray, torque: np.ndarray) -> np.ndarray:
    return -(wrap(theta) ** 2 + 0.1 * speed * speed + 0.001 * torque * torque)


class ValueTable:
    """V_k on an (n_theta x n_speed) grid for k = 0 .. HORIZON; theta is periodic."""

    def __init__(self, n_theta: int, n_speed: int, n_torques: int) -> None:
        self.nt, self.nw = n_theta, n_speed
        self.torques = np.linspace(-MAX_TORQUE, MAX_TORQUE, n_torques)
        theta = np.linspace(-np.pi, np.pi, n_theta, endpoint=False)
        speed = np.linspace(-MAX_SPEED, MAX_SPEED, n_speed)
        th, w = np.meshgrid(theta, speed, indexing="ij")
        self.values = [np.zeros((n_theta, n_speed))]
        for _ in range(HORIZON):
            prev, best = self.values[-1], np.full(th.shape, -np.inf)
            for u in self.torques:
                best = np.maximum(best, reward(th, w, u) + self.lookup(prev, *step(th, w, u)))
            self.values.append(best)

    def lookup(self, table: np.ndarray, theta: np.ndarray, speed: np.ndarray) -> np.ndarray:
        ft = (wrap(theta) + np.pi) / (2 * np.pi) * self.nt
        i0 = np.floor(ft).astype(int) % self.nt
        a = ft - np.floor(ft)
        i1 = (i0 + 1) % self.nt
        fw = (speed + MAX_SPEED) / (2 * MAX_SPEED) * (self.nw - 1)
        j0 = np.clip(np.floor(fw).astype(int), 0, self.nw - 2)
        b = fw - j0
        return (table[i0, j0] * (1 - a) * (1 - b) + table[i1, j0] * a * (1 - b)
                + table[i0, j0 + 1] * (1 - a) * b + table[i1, j0 + 1] * a * b)

    def act(self, theta: float, speed: float, t: int) -> float:
        """The greedy torque at step t of the episode (HORIZON - t steps to go)."""
        nxt = step(np.full_like(self.torques, theta), np.full_like(self.torques, speed), self.torques)
        q = reward(theta, speed, self.torques) + self.lookup(self.values[HORIZON - t - 1], *nxt)
        return float(self.torques[int(np.argmax(q))])


def run_table(table: ValueTable, base: int, episodes: int) -> float:
    import gymnasium as gym

    env = gym.make("Pendulum-v1")
    total = 0.0
    for ep in range(episodes):
        env.reset(seed=base + ep)
        for t in range(HORIZON):
            theta, speed = env.unwrapped.state
            _, r, term, trunc, _ = env.step(np.array([table.act(theta, speed, t)], dtype=np.float32))
            total += float(r)
            if term or trunc:
                break
    env.close()
    return total / episodes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="200,161", help="grid points over theta,theta_dot (default 200,161)")
    parser.add_argument("--torques", type=int, default=41, help="torques in [-2, 2] (default 41)")
    parser.add_argument("--bases", default="0,555000", help="first seeds of the 100-episode sets (555000: saferl loop's)")
    parser.add_argument("--episodes", type=int, default=100)
    args = parser.parse_args(argv)
    n_theta, n_speed = (int(x) for x in args.grid.split(","))
    bases = [int(x) for x in args.bases.split(",")]

    from saferl.policy import load_policy
    from saferl.policy.evaluate import ProgramPolicy
    from saferl.rollout import evaluate_policy

    t0 = time.process_time()
    table = ValueTable(n_theta, n_speed, args.torques)
    vi_cpu = time.process_time() - t0
    rows = []
    for base in bases:
        row = {"seeds": f"{base}-{base + args.episodes - 1}", "value_iteration": round(run_table(table, base, args.episodes), 2)}
        for path in PROGRAMS:
            stats = evaluate_policy(ProgramPolicy(load_policy(ROOT / path)), "Pendulum-v1", episodes=args.episodes, seed=base)
            row[Path(path).stem] = round(stats.mean_return, 2)
        rows.append(row)
    keys = list(rows[0])
    print(f"Pendulum-v1, mean return over {args.episodes} episodes; value iteration on a {n_theta}x{n_speed} grid, "
          f"{args.torques} torques ({vi_cpu:.1f} s CPU), load {os.getloadavg()[0]:.1f}")
    print("  ".join(f"{k:>16}" for k in keys))
    for row in rows:
        print("  ".join(f"{row[k]!s:>16}" for k in keys))
    print(json.dumps({"grid": [n_theta, n_speed], "torques": args.torques, "vi_cpu_s": round(vi_cpu, 2), "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
