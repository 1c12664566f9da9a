"""``saferl shield run``: run a policy behind a runtime shield and report what it vetoed.

Example:
    saferl shield run --policy oracles/cartpole-ppo --fallback policies/cartpole/near_optimal.pol \\
        --spec specs/cartpole/pole_follow.yaml --env CartPole-v1 --episodes 10 --format json

``--policy`` is any policy file saferl reads (a model directory, a stable-baselines3
``.zip``, an ``.onnx`` MLP, a ``.pol`` program or a ``.skops`` tree; see saferl.formats), or
``random``.  A live table (return, interventions, violations) is
drawn on stderr; the summary goes to stdout (text or JSON).  Violations are counted by an
independent monitor (the reference evaluator), not by the shield itself.

On TORCS (``--env saferl/Torcs-v0 --track g-track-2 [--laps N]``) every run also reports
its races: lap times, best lap and crashes.

When the spec has closed-loop ``safety`` properties (``dynamics:``), the shield looks one
step ahead on the fallback's proved invariant, and the monitor also checks every state the
environment reaches against their ``always`` conditions.

Exit codes: 0 the run finished and no violation reached the environment under the
shield; 1 a violation did (only possible outside the spec's verified domain, reported as
``unsafe_steps``); 2 bad input (including a fallback that is not proved SAFE, unless
``--allow-unverified``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, TextIO

import typer

from saferl.cli._common import EXIT_OK, EXIT_UNSAFE, new_app, run_app, streams, write_output
from saferl.errors import InputError

app = new_app("Run a policy behind a runtime shield built from a verified fallback program and a spec.")

FORMATS = ("text", "json")


@app.callback()
def _group() -> None:
    """Runtime shield commands."""


@app.command("run")
def run_command(
    ctx: typer.Context,
    policy: str = typer.Option(..., "--policy", "-p", help="Model directory, SB3 .zip, .onnx MLP, .pol file, .skops tree, or 'random'."),
    fallback: Path = typer.Option(..., "--fallback", help="The verified .pol program (or .skops tree) whose action replaces a vetoed one."),
    spec: Path = typer.Option(..., "--spec", "-s", help="The YAML spec to enforce."),
    env_id: str = typer.Option(..., "--env", help="Gymnasium environment id, e.g. CartPole-v1."),
    episodes: int = typer.Option(10, "--episodes", "-n", help="Episodes to run."),
    seed: int = typer.Option(0, "--seed", help="Seed of the first episode (episode i uses seed + i)."),
    fmt: str = typer.Option("text", "--format", "-f", help="text | json"),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the summary here instead of stdout."),
    compare: bool = typer.Option(False, "--compare", help="Also run the policy unshielded on the same seeds."),
    allow_unverified: bool = typer.Option(False, "--allow-unverified", help="Run even if the fallback is not proved SAFE."),
    no_projection: bool = typer.Option(False, "--no-projection", help="Never clamp continuous actions; always use the fallback."),
    no_lookahead: bool = typer.Option(False, "--no-lookahead", help="Do not enforce the spec's closed-loop safety properties."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Cap on the steps of one episode."),
    track: str | None = typer.Option(None, "--track", help="TORCS envs (saferl/Torcs-v0): the track (default g-track-2)."),
    laps: int | None = typer.Option(None, "--laps", help="TORCS envs: laps per episode (default 1)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No live display on stderr."),
) -> int:
    """Run POLICY behind the shield for N episodes; print returns, interventions, violations."""
    from saferl.formats import load_program
    from saferl.policy.ast import Program
    from saferl.spec import load_spec

    s = streams(ctx)
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    if not 1 <= episodes <= 1_000_000:
        raise InputError(f"--episodes must be between 1 and 1000000, got {episodes}")
    if max_steps is not None and max_steps < 1:
        raise InputError(f"--max-steps must be positive, got {max_steps}")
    env_kwargs: dict[str, Any] = {}
    if track is not None or laps is not None:
        if not env_id.startswith("saferl/Torcs"):
            raise InputError("--track and --laps apply to the TORCS environments (saferl/Torcs-v0) only")
        if laps is not None and laps < 1:
            raise InputError(f"--laps must be at least 1, got {laps}")
        env_kwargs = {k: v for k, v in (("track", track), ("laps", laps)) if v is not None}
    program = load_program(fallback, env_id=env_id)  # a skops tree takes the environment's names
    if not isinstance(program, Program):
        raise InputError(f"{fallback} is a gridworld subgoal program; the shield needs a control program")
    spec_obj = load_spec(spec)
    gym = _gymnasium()
    from saferl.shield import Shield, UnverifiedFallbackError, ViolationMonitor

    env = _make_env(gym, env_id, env_kwargs)
    try:
        try:
            shield = Shield(env, spec_obj, fallback=program, allow_unverified=allow_unverified, projection=not no_projection,
                            lookahead=not no_lookahead)
        except UnverifiedFallbackError as exc:  # the library's hint names Python; this one names the flags
            raise InputError(
                exc.message, hint=f"repair it ('saferl repair {fallback} --spec {spec}') until 'saferl verify' says SAFE, "
                "or pass --allow-unverified" + (" or --no-lookahead" if spec_obj.closed_loop else "")
            ) from None
        actor = _load_policy(policy, shield.action_space, seed, env_id)
        runs: dict[str, dict[str, Any]] = {}
        live = _Live(s.err, enabled=not quiet)
        try:
            runs["shielded"] = _run(shield, actor, _monitor(spec_obj, program, ViolationMonitor), episodes, seed, max_steps, live, "shielded")
            if compare:
                plain = _make_env(gym, env_id, env_kwargs)
                try:
                    actor = _load_policy(policy, plain.action_space, seed, env_id)
                    runs["unshielded"] = _run(plain, actor, _monitor(spec_obj, program, ViolationMonitor), episodes, seed, max_steps, live, "unshielded")
                finally:
                    plain.close()
        finally:
            live.stop()
        summary = {
            "env": env_id,
            "policy": policy,
            "fallback": str(fallback),
            "fallback_digest": _digest(program),
            "spec": str(spec),
            "verified": shield.verified,
            "episodes": episodes,
            "seed": seed,
            "monitored": list(shield.monitored),
            "unmonitored": [{"id": pid, "why": why} for pid, why in shield.unmonitored],
            "lookahead": _lookahead_summary(shield, spec_obj),
            # which step ran (native C, generated Python, general) and why: a missing compiler
            # is not an error, the Python step runs instead
            "step": {"kind": shield.step_kind, "note": shield.native_note},
            **runs,
        }
        text = json.dumps(summary, indent=2) if fmt == "json" else _text(summary)
        write_output(text, output, s.out)
        return EXIT_UNSAFE if runs["shielded"]["violations"] else EXIT_OK
    finally:
        env.close()  # a TORCS race ends with the command


def _lookahead_summary(shield: Any, spec: Any) -> dict[str, Any] | str:
    if not spec.closed_loop:
        return "not used: the spec has no closed-loop safety property"
    if shield.lookahead is None:
        return "not used: " + "; ".join(f"{pid}: {why}" for pid, why in shield.unmonitored if pid in {p.id for p in spec.closed_loop})
    return {
        "properties": list(shield.lookahead.ids),
        "invariant_cells": [int(t.alive.sum()) for t in shield.lookahead.tables],
        "outside_invariant_steps": shield.outside_invariant_steps,
    }


def _monitor(spec: Any, program: Any, per_state: Any) -> Any:
    """The independent monitor: per-state properties, plus closed-loop ``always`` conditions
    on the environment's state when the spec has them."""
    monitor = per_state(spec, program)
    if not any(p.kind == "safety" for p in spec.closed_loop):
        return monitor
    return _StateMonitor(monitor, [p for p in spec.closed_loop if p.kind == "safety"])


class _StateMonitor:
    """Adds a check of every reached state against closed-loop ``always`` conditions."""

    def __init__(self, inner: Any, props: list[Any]):
        from saferl.closedloop.condition import cond_points
        from saferl.dynamics import make_model

        self.inner, self.props, self.cond = inner, props, cond_points
        self.names = [make_model(p.dynamics, p.parameters).state_names for p in props]
        self.env: Any = None
        self.extra: dict[str, int] = {}

    @property
    def total(self) -> int:
        return int(self.inner.total) + sum(self.extra.values())

    @property
    def violations(self) -> dict[str, int]:
        out = dict(self.inner.violations)
        out.update({k: v for k, v in self.extra.items() if v})
        return out

    def reset(self, obs: Any) -> None:
        self.inner.reset(obs)

    def step(self, action: Any, next_obs: Any) -> list[str]:
        broke = list(self.inner.step(action, next_obs))
        import numpy as np

        state = np.asarray(self.env.unwrapped.state, dtype=np.float64)
        for prop, names in zip(self.props, self.names, strict=True):
            cols = {n: state[i:i + 1] for i, n in enumerate(names)}
            if not bool(self.cond(prop.always, cols)[0]):
                self.extra[prop.id] = self.extra.get(prop.id, 0) + 1
                broke.append(prop.id)
        return broke


def _gymnasium() -> Any:
    try:
        import gymnasium
    except ImportError:
        from saferl.errors import MissingDependencyError

        raise MissingDependencyError("gymnasium", "learn") from None
    return gymnasium


def _make_env(gym: Any, env_id: str, kwargs: dict[str, Any]) -> Any:
    if env_id.startswith("saferl/"):
        from saferl.envs import register_envs

        register_envs()
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.Error as exc:
        raise InputError(f"cannot make environment {env_id!r}: {exc}") from None


def _load_policy(spec: str, action_space: Any, seed: int, env_id: str | None = None) -> Any:
    """A policy from the --policy argument: 'random' or any policy file (saferl.formats)."""
    if spec == "random":
        action_space.seed(seed)
        return _Random(action_space)
    from saferl.formats import load_policy_file

    return load_policy_file(spec, env_id=env_id)


class _Random:
    """Uniformly random actions from the environment's action space."""

    def __init__(self, space: Any):
        self.space = space

    def act(self, obs: Any) -> Any:
        return self.space.sample()


def _run(env: Any, actor: Any, monitor: Any, episodes: int, seed: int, max_steps: int | None, live: _Live, label: str) -> dict[str, Any]:
    shielded = label == "shielded"
    returns: list[float] = []
    lengths: list[int] = []
    races: list[dict[str, Any]] = []
    violations = 0
    start = time.perf_counter()
    if isinstance(monitor, _StateMonitor):
        monitor.env = env
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        if hasattr(actor, "reset"):
            actor.reset()
        monitor.reset(obs)
        total, steps, before = 0.0, 0, monitor.total
        while True:
            if shielded:
                obs, reward, terminated, truncated, info = env.step_with(actor)
                executed = info["saferl"].executed
            else:
                action = actor.act(obs)
                obs, reward, terminated, truncated, info = env.step(action)
                executed = action
            monitor.step(executed, obs)
            total += float(reward)
            steps += 1
            if terminated or truncated or (max_steps is not None and steps >= max_steps):
                break
        returns.append(total)
        lengths.append(steps)
        if "lap_times" in info:  # a TORCS race: its laps and whether the car crashed
            races.append({"lap_times": [round(float(t), 2) for t in info["lap_times"]],
                          "crashed": bool(info["crashed"]), "dist_raced": round(float(info["dist_raced"]), 1)})
        violations += monitor.total - before
        interventions = env.totals.interventions if shielded else None
        live.update(label, ep + 1, episodes, total, sum(returns) / len(returns), interventions, violations)
    out: dict[str, Any] = {
        "mean_return": sum(returns) / len(returns),
        "returns": returns,
        "steps": sum(lengths),
        "violations": violations,
        "violations_by_property": dict(monitor.violations),
        "time_s": round(time.perf_counter() - start, 3),
    }
    if races:
        out["races"] = races
        out["crashes"] = sum(r["crashed"] for r in races)
        laps = [t for r in races for t in r["lap_times"]]
        out["best_lap_s"] = min(laps) if laps else None
    if shielded:
        out.update(env.totals.to_record())
    return out


class _Live:
    """A rich live table on stderr; silent when disabled."""

    def __init__(self, err: TextIO, enabled: bool):
        self.rows: dict[str, tuple[str, ...]] = {}
        self.live: Any = None
        if not enabled:
            return
        from rich.console import Console
        from rich.live import Live

        console = Console(file=err, stderr=True)
        self.live = Live(self._table(), console=console, refresh_per_second=8, transient=False)
        self.live.start()

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(title="saferl shield")
        for col in ("run", "episode", "last return", "mean return", "interventions", "violations"):
            table.add_column(col, justify="right" if col != "run" else "left")
        for label, row in self.rows.items():
            table.add_row(label, *row)
        return table

    def update(self, label: str, ep: int, episodes: int, last: float, mean: float, interventions: int | None, violations: int) -> None:
        if self.live is None:
            return
        shown = "-" if interventions is None else str(interventions)
        self.rows[label] = (f"{ep}/{episodes}", f"{last:.1f}", f"{mean:.1f}", shown, str(violations))
        self.live.update(self._table())

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()


def _digest(program: Any) -> str:
    from saferl.policy.printer import program_digest

    return program_digest(program)


def _text(summary: dict[str, Any]) -> str:
    lines = [
        f"env {summary['env']}  policy {summary['policy']}  fallback {summary['fallback']} "
        f"({'verified' if summary['verified'] else 'NOT verified'})",
        f"monitored: {', '.join(summary['monitored']) or 'none'}",
    ]
    for pid in summary["unmonitored"]:
        lines.append(f"not monitored: {pid['id']} ({pid['why']})")
    step = summary["step"]
    lines.append(f"shield step: {step['note'] or step['kind']}")
    for label in ("shielded", "unshielded"):
        run = summary.get(label)
        if run is None:
            continue
        line = f"{label:<10}  mean return {run['mean_return']:.2f}  steps {run['steps']}  violations {run['violations']}"
        if label == "shielded":
            line += f"  interventions {run['interventions']}  unsafe steps {run['unsafe_steps']}"
        if "races" in run:
            best = "-" if run["best_lap_s"] is None else f"{run['best_lap_s']:.2f} s"
            line += f"  laps {sum(len(r['lap_times']) for r in run['races'])}  best lap {best}  crashes {run['crashes']}"
        lines.append(line)
    return "\n".join(lines)


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    return run_app(app, "saferl shield", argv, out, err)
