"""``saferl loop``: mirror descent between a network and a verified program, resumable.

Each iteration runs five stages, with saferl's checks at every projection:

1. **finetune** the current network with PPO (discrete) / TD3 (continuous), with an
   imitation penalty (weight ``lam``) towards the previous iteration's program — the
   neural update of PROPEL's mirror descent, written as a regulariser
   (:mod:`saferl.learn.finetune`);
2. **extract** a program from the fine-tuned network (VIPER tree or PID program, the code
   of ``saferl extract``) — the projection to program space;
3. **verify** it against the spec (:func:`saferl.verify.verify_policy`);
4. **repair** it when a property is not proved (:func:`saferl.repair.repair_policy`),
   then **tune** the SAFE program's constants for return, with every candidate that can
   win verified (:func:`saferl.learn.tune.tune_program`: a cross-entropy search whose
   elites must be proved SAFE, so the search never leaves the verified set);
5. **distill** the resulting program back into a network (:mod:`saferl.learn.distill`),
   which the next iteration fine-tunes.

Everything goes to the output directory: ``iter-<k>/`` holds the iteration's networks and
programs, ``iterations.jsonl`` one JSON record per finished iteration (program, verdict,
return, timing), ``best.pol`` / ``best.json`` the best program by return among those the
verifier proved SAFE — ``best.pol`` is written only after a ``verify_policy`` call on the
exact text returns SAFE.  A killed run resumes: finished iterations (lines of
``iterations.jsonl``) are kept and the next one starts from the last distilled network.

A spec's closed-loop properties (``safety`` / ``reach`` over a dynamics model) are checked
by the same ``verify_policy`` call, so ``best.pol`` is proved against them too; each
record lists every property's verdict under ``properties``.
On ``saferl/Torcs-v0`` (real TORCS, three actions) the stages are those of
:mod:`saferl.loop_torcs`: TD3 on one track, a projection that fits the constants of the
last program (its structure kept) to the network's actions inside the verified set, a
gate-first lap-time search, and a program's "return" that is minus its lap cost; with
``--kind tree`` a flat starting program (or template) is first grown into a tree
(``grown.pol``: a regression tree's split of the throttle and brake,
:func:`saferl.loop_torcs.grow_tree`) whose structure and thresholds the stages then keep.

This module imports torch through ``saferl.learn`` only when :func:`run_loop` runs;
``saferl.learn`` never imports it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from saferl.errors import InputError, InternalError

__all__ = ["LoopConfig", "run_loop", "ITERATIONS_NAME", "BEST_NAME"]

ITERATIONS_NAME = "iterations.jsonl"
BEST_NAME = "best.pol"
CONFIG_NAME = "loop.json"
GROWN_NAME = "grown.pol"
START_NAME = "start.json"


def start_program_text(path: Path) -> str:
    """The starting program's own text (comments and layout kept)."""
    from saferl.policy import read_policy_text

    return read_policy_text(path)


@dataclass
class LoopConfig:
    """Settings of :func:`run_loop`."""

    iters: int = 3
    """iterations (counting finished ones of a resumed run)"""
    kind: str = "tree"
    """what extraction produces: ``tree`` (VIPER) or ``program`` (PID synthesis)"""
    timesteps: int = 50_000
    """fine-tuning environment steps per iteration"""
    lam: float = 1.0
    """weight of the imitation penalty towards the previous program (0: none)"""
    extract_iters: int | None = None
    """extraction DAgger iterations (None: the extractor's per-environment default)"""
    extract_episodes: int | None = None
    """episodes per extraction iteration (None: the default)"""
    max_leaves: int | None = None
    """leaf limit of extracted trees (None: the per-environment default)"""
    final_episodes: int = 100
    """episodes scoring each iteration's program (and the extractor's choice)"""
    distill_iters: int = 6
    """DAgger iterations of the distillation stage"""
    distill_hidden: tuple[int, ...] = (64, 64)
    """hidden widths of distilled networks (an --oracle start keeps its own)"""
    repair_timeout_s: float = 60.0
    """budget of each repair"""
    tune_generations: int = 20
    """generations of the constant search on the verified program (0: no tuning stage)"""
    tune_episodes: int = 20
    """training episodes scoring each candidate of the constant search"""
    tune_population: int = 16
    """candidates per generation of the constant search"""
    seed: int = 0
    """seed of every stage (offset per iteration)"""
    trainer_config: Any = field(default=None, compare=False)
    """a PPOConfig / TD3Config for fine-tuning (None: the trainer's defaults)"""
    torcs: Any = field(default=None, compare=False)
    """on ``saferl/Torcs-v0``: a :class:`saferl.loop_torcs.TorcsLoopConfig` (None: its defaults)"""


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _extract(network: Any, env_id: str, cfg: LoopConfig, seed: int) -> Any:
    from saferl.extract import ProgramConfig, ViperConfig, extract_program, extract_tree

    if cfg.kind == "tree":
        vcfg = ViperConfig.for_env(env_id, seed=seed)
        vcfg.final_episodes = cfg.final_episodes
        if cfg.extract_iters is not None:
            vcfg.iters = cfg.extract_iters
        if cfg.extract_episodes is not None:
            vcfg.episodes_per_iter = cfg.extract_episodes
            vcfg.eval_episodes = cfg.extract_episodes
            vcfg.refine_evals = min(vcfg.refine_evals, cfg.extract_episodes)
            vcfg.refine_episodes = min(vcfg.refine_episodes, cfg.extract_episodes)
        if cfg.max_leaves is not None:
            vcfg.max_leaves = cfg.max_leaves
        if network.critic is None:
            vcfg.q_weighting = False
        return extract_tree(network, env_id, vcfg)
    pcfg = ProgramConfig.for_env(env_id, seed=seed)
    pcfg.final_episodes = cfg.final_episodes
    if cfg.extract_iters is not None:
        pcfg.iters = cfg.extract_iters
    if cfg.extract_episodes is not None:
        pcfg.episodes_per_iter = pcfg.eval_episodes = cfg.extract_episodes
    return extract_program(network, env_id, pcfg)


def run_loop(
    env_id: str,
    spec_path: Path,
    out_dir: Path,
    *,
    oracle_dir: Path | None = None,
    program_path: Path | None = None,
    template_path: Path | None = None,
    config: LoopConfig | None = None,
    progress: Callable[[int, str, str], None] | None = None,
) -> list[dict[str, Any]]:
    """Run (or resume) the loop in ``out_dir``; return every iteration's record.

    Exactly one of ``oracle_dir`` (a saferl model) and ``program_path`` (a .pol program,
    distilled first) starts it; on ``saferl/Torcs-v0`` an oracle start takes ``template_path``,
    the PID program whose structure the projections keep.  ``progress(iteration, stage, message)`` is called as the
    stages begin and end.  InputError for inconsistent input, or a resumed directory whose
    settings differ.
    """
    cfg = config or LoopConfig()
    if (oracle_dir is None) == (program_path is None):
        raise InputError("give exactly one of an oracle model and a program to start from")
    if cfg.kind not in ("tree", "program"):
        raise InputError(f"kind must be tree or program, got {cfg.kind!r}")
    if cfg.iters < 1 or cfg.timesteps < 1 or cfg.final_episodes < 1 or cfg.lam < 0:
        raise InputError("iters, timesteps and final episodes must be positive, lambda >= 0")
    from saferl.learn.distill import DistillConfig, check_program_fits, distill_program
    from saferl.learn.envs import env_signature
    from saferl.learn.evaluate import evaluate_policy
    from saferl.learn.finetune import finetune_model
    from saferl.learn.model import load_model, save_model
    from saferl.learn.program_search import tunable_parameters as tunable_parameters_of
    from saferl.policy import format_policy, load_policy, parse_policy, policy_digest
    from saferl.policy.ast import Program
    from saferl.policy.evaluate import ProgramPolicy
    from saferl.repair import RepairOptions, repair_policy
    from saferl.results import Verdict
    from saferl.spec import load_spec
    from saferl.verify import verify_policy

    def say(it: int, stage: str, message: str = "") -> None:
        if progress is not None:
            progress(it, stage, message)

    def grow_start(flat: Program, driver: Any) -> Program:
        # --kind tree on TORCS: a flat PID program becomes a tree (split from a regression
        # tree on the states driver visits); the grown text is kept, so a resumed run reuses it
        from saferl.spec.bind import bind_spec

        bind_spec(spec, flat)  # a spec that does not fit is refused before TORCS drives
        grown_file = out_dir / GROWN_NAME
        if grown_file.exists():
            return load_policy(grown_file)
        if loop_torcs.is_tree(flat):
            return flat
        if torcs is None:
            raise InternalError("trees are grown on saferl/Torcs-v0 only")
        say(0, "grow", "a tree from the flat program")
        tree, info = loop_torcs.grow_tree_from(flat, driver, torcs, cfg.seed)
        _write_atomic(grown_file, format_policy(tree))
        splits = ", ".join(f"{s['feature']} <= {s['threshold']}" for s in info["splits"])
        say(0, "grow", f"split on {splits}")
        return tree

    def score_program(prog: Program, seed: int) -> Any:
        # a gymnasium env: the mean return of seeded episodes; TORCS: minus the lap cost of
        # one race from the grid (the lap time in s; 1000 s less half the share covered
        # when the race is not finished), so the best program is the fastest lap
        if torcs is None:
            stats = evaluate_policy(ProgramPolicy(prog), env_id, episodes=cfg.final_episodes, seed=seed)
            return SimpleNamespace(mean=stats.mean, std=stats.std, race=None)
        race = loop_torcs.race_score(prog, torcs)
        return SimpleNamespace(mean=-race["cost"], std=0.0, race=race)


    sig = env_signature(env_id)
    torcs = None
    if env_id == "saferl/Torcs-v0":
        from saferl import loop_torcs

        torcs = cfg.torcs if cfg.torcs is not None else loop_torcs.TorcsLoopConfig()
        if (program_path is None) == (template_path is None):
            raise InputError("the loop on saferl/Torcs-v0 projects to PID programs (--kind program, PROPEL-Prog) or "
                             "trees of them (--kind tree, PROPEL-Tree): it needs a --program (from an --oracle: a "
                             "--template) whose structure it keeps")
    elif template_path is not None:
        raise InputError("a template program is for saferl/Torcs-v0 started from an oracle")
    env_kwargs: dict[str, Any] | None = None if torcs is None else loop_torcs.env_settings(torcs)
    if torcs is None and not sig.discrete and cfg.kind == "tree" and sig.action_dim != 1:
        raise InputError(f"{env_id} has {sig.action_dim} action values; extracted programs need one")
    if sig.discrete and cfg.kind == "program":
        raise InputError(f"PID programs need a continuous action; {env_id} is discrete", hint="use --kind tree")
    spec = load_spec(spec_path)
    settings: dict[str, Any] = {
        "env": env_id, "spec": str(spec_path), "oracle": None if oracle_dir is None else str(oracle_dir),
        "program": None if program_path is None else str(program_path), "kind": cfg.kind, "seed": cfg.seed,
    }
    if torcs is not None:
        settings["track"] = torcs.track
        if cfg.kind == "tree" and torcs.tree_depth != 1:
            settings["tree_depth"] = torcs.tree_depth
        if torcs.score_tracks:
            settings["score_tracks"] = list(torcs.score_tracks)
        if torcs.score_seeds:
            settings["score_seeds"] = torcs.score_seeds
        if template_path is not None:
            settings["template"] = str(template_path)
    out_dir.mkdir(exist_ok=True)
    config_file = out_dir / CONFIG_NAME
    if config_file.exists():
        try:
            previous = json.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise InputError(f"{config_file} is not a loop settings file; use a fresh --out") from None
        if previous != settings:
            raise InputError(f"{out_dir} holds a loop with other settings ({previous}); use a fresh --out")
    else:
        _write_atomic(config_file, json.dumps(settings, indent=2) + "\n")
    log = out_dir / ITERATIONS_NAME
    records: list[dict[str, Any]] = []
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    break  # a line cut by a kill: that iteration is redone
        _write_atomic(log, "".join(json.dumps(r) + "\n" for r in records))
    best_file = out_dir / "best.json"
    best = json.loads(best_file.read_text(encoding="utf-8")) if best_file.exists() else None

    # -- the start: the oracle, or the program distilled ---------------------------------------
    start_program: Program | None = None
    if program_path is not None:
        loaded = load_policy(program_path)
        if not isinstance(loaded, Program):
            raise InputError(f"{program_path} is a gridworld subgoal program; the loop needs a .pol program")
        start_program = loaded
        check_program_fits(start_program, sig)
        if torcs is not None:
            loop_torcs.check_torcs_program(start_program)
            if cfg.kind == "tree":  # PROPEL-Tree: a flat program grows its split on its own states
                start_program = grow_start(start_program, ProgramPolicy(start_program))
    start_dir = out_dir / "start"
    start_file = out_dir / START_NAME
    if start_program is not None and cfg.tune_generations > 0:
        # the starting program is PROPEL's first iterate: when SAFE, it is tuned and
        # competes for best.pol (iteration -1); the tuned text is what gets distilled
        if start_file.exists():
            start_record = json.loads(start_file.read_text(encoding="utf-8"))
            if start_record.get("tuned"):
                start_program = load_policy(out_dir / "start.pol")
        else:
            from saferl.learn.tune import TuneConfig, tune_program

            say(0, "start", "verify and tune the starting program")
            start_record = {"program": str(program_path), "verdict": None, "tuned": False}
            rep0 = verify_policy(start_program, spec, policy_path=str(program_path))
            start_record["verdict"] = rep0.verdict.value
            if rep0.verdict is Verdict.SAFE:
                if torcs is not None:
                    tuned0, tune0 = loop_torcs.tune_laps(start_program, spec, torcs, cfg.seed + 777_000)
                    tr: Any = SimpleNamespace(program=tuned0, validation_start=tune0["start_score"], validation=tune0["score"])
                else:
                    tcfg = TuneConfig(generations=cfg.tune_generations, episodes=cfg.tune_episodes,
                                      population=cfg.tune_population, seed=cfg.seed + 777_000)
                    tr = tune_program(start_program, env_id, spec, tcfg, policy_path=str(out_dir / "start.pol"))
                chosen, chosen_text = start_program, None
                if tr.program is not start_program:
                    chosen_text = format_policy(tr.program)
                    candidate = parse_policy(chosen_text, str(out_dir / "start.pol"))
                    if verify_policy(candidate, spec, policy_path=str(out_dir / "start.pol")).verdict is Verdict.SAFE:
                        chosen = candidate
                        _write_atomic(out_dir / "start.pol", chosen_text + ("" if chosen_text.endswith("\n") else "\n"))
                        start_record["tuned"] = True
                stats0 = score_program(chosen, cfg.seed + 555_000)
                start_record.update(validation_start=tr.validation_start, validation=tr.validation,
                                    program_return=stats0.mean, program_return_std=stats0.std)
                if torcs is not None:
                    start_record["race"] = stats0.race
                if best is None or stats0.mean > best["program_return"]:
                    if chosen_text is not None and start_record["tuned"]:
                        text0 = chosen_text
                    elif (out_dir / GROWN_NAME).exists():  # the tree grown from the starting program
                        text0 = (out_dir / GROWN_NAME).read_text(encoding="utf-8")
                    else:
                        text0 = start_program_text(Path(str(program_path)))
                    _write_atomic(out_dir / BEST_NAME, text0 if text0.endswith("\n") else text0 + "\n")
                    best = {"iteration": -1, "program_return": stats0.mean, "digest": policy_digest(chosen),
                            "verdict": Verdict.SAFE.value}
                    _write_atomic(best_file, json.dumps(best, indent=2) + "\n")
                start_program = chosen
                say(0, "start", f"SAFE, return {stats0.mean:.2f}" + (" (tuned)" if start_record["tuned"] else ""))
            else:
                say(0, "start", f"the starting program is {rep0.verdict.value}; not tuned")
            _write_atomic(start_file, json.dumps(start_record, indent=2) + "\n")
    if oracle_dir is not None:
        network = load_model(oracle_dir)
        if torcs is not None:
            loop_torcs.check_torcs_oracle(network)
        else:
            from saferl.extract.viper import check_oracle

            check_oracle(network, env_id)
    elif (start_dir / "manifest.json").exists():
        network = load_model(start_dir)
    else:
        say(0, "distill", "the starting program")
        if start_program is None:
            raise InternalError("the loop has neither a starting program nor a model")
        dcfg = DistillConfig(hidden=cfg.distill_hidden, iters=cfg.distill_iters)
        if torcs is not None:  # TORCS from the grid is deterministic: one episode per DAgger round
            dcfg.episodes_per_iter, dcfg.eval_episodes = 1, 1
        d = distill_program(start_program, env_id, seed=cfg.seed, config=dcfg, env_kwargs=env_kwargs)
        save_model(start_dir, d.manifest, d.tensors)
        network = load_model(start_dir)
    target = start_program
    if torcs is not None and template_path is not None:
        loaded = load_policy(template_path)
        if not isinstance(loaded, Program):
            raise InputError(f"{template_path} is a gridworld subgoal program; the template must be a .pol program")
        loop_torcs.check_torcs_program(loaded)
        target = grow_start(loaded, network) if cfg.kind == "tree" else loaded
    if records:
        last = records[-1]
        network = load_model(out_dir / f"iter-{last['iteration']}" / "distilled")
        from_best = last["distill"]["from"] == "best"
        target = load_policy(out_dir / BEST_NAME if from_best else out_dir / f"iter-{last['iteration']}" / "program.pol")

    for it in range(len(records), cfg.iters):
        t_iter = time.perf_counter()
        seed = cfg.seed + 1_000 * it
        idir = out_dir / f"iter-{it}"
        idir.mkdir(exist_ok=True)
        times: dict[str, float] = {}
        record: dict[str, Any] = {"iteration": it}

        # 1. neural update, near the previous program
        say(it, "finetune")
        t0 = time.perf_counter()
        lam = cfg.lam if target is not None else 0.0
        if torcs is not None:
            manifest, tensors = loop_torcs.finetune_driver(network, target, lam, seed, cfg.timesteps, torcs)
            save_model(idir / "finetuned", manifest, tensors)
            tuned = load_model(idir / "finetuned")
            # the checkpoint score: share of the lap covered, plus 1000 / lap time when finished
            lap = manifest["training"].get("best_eval_return")
            lap_s = 1000.0 / (lap - 1.0) if lap is not None and lap > 1.0 else None
            record["finetune"] = {"lambda": lam, "steps": cfg.timesteps, "lap_score": lap, "greedy_lap_s": lap_s,
                                  "episodes": manifest["training"].get("episodes")}
            message = "greedy lap " + (f"{lap_s:.2f} s" if lap_s is not None else "not finished")
        else:
            ft = finetune_model(network, env_id, seed, cfg.timesteps, program=target if lam > 0 else None, lam=lam,
                                trainer_config=cfg.trainer_config, eval_episodes=10)
            save_model(idir / "finetuned", ft.manifest, ft.tensors)
            tuned = load_model(idir / "finetuned")
            record["finetune"] = {"lambda": lam, "start_return": ft.start_return, "final_return": ft.final_return,
                                  "steps": ft.steps}
            message = f"network return {ft.final_return:.2f}"
        times["finetune"] = time.perf_counter() - t0
        say(it, "finetune", message)

        # 2. projection to a program
        say(it, "extract")
        t0 = time.perf_counter()
        if torcs is not None:
            if target is None:
                raise InternalError("the TORCS loop has no program to project onto")
            projected, fit = loop_torcs.project_program(target, tuned, spec, torcs, seed, str(idir / "extracted.pol"))
            text0 = format_policy(projected)
            ex = SimpleNamespace(pol_text=text0 if text0.endswith("\n") else text0 + "\n", kind=cfg.kind,
                                 size=len(tunable_parameters_of(projected)), size_unit="constants",
                                 fidelity=1.0 - fit["error"], mean_return=None, fit=fit)
        else:
            ex = _extract(tuned, env_id, cfg, seed)
        (idir / "extracted.pol").write_text(ex.pol_text, encoding="utf-8")
        times["extract"] = time.perf_counter() - t0
        record["extract"] = {"kind": ex.kind, "size": ex.size, "size_unit": ex.size_unit, "fidelity": ex.fidelity,
                             "mean_return": ex.mean_return}
        if torcs is not None:
            record["extract"]["fit"] = ex.fit
            say(it, "extract", f"constants fitted, imitation error {ex.fit['start_error']:.4f} -> {ex.fit['error']:.4f}")
        else:
            say(it, "extract", f"{ex.size} {ex.size_unit}, return {ex.mean_return:.2f}")

        # 3. verify, 4. repair when not proved
        t0 = time.perf_counter()
        program = parse_policy(ex.pol_text, str(idir / "extracted.pol"))
        say(it, "verify")
        first = verify_policy(program, spec, policy_path=str(idir / "extracted.pol"))
        times["verify"] = time.perf_counter() - t0
        record["extracted_verdict"] = first.verdict.value
        text = ex.pol_text
        record["repair"] = None
        if first.verdict is not Verdict.SAFE:
            say(it, "repair", f"extracted program is {first.verdict.value}")
            t0 = time.perf_counter()
            # on TORCS, repair chooses among fixes without races (a lap is scored by the tune stage)
            rep = repair_policy(program, spec, RepairOptions(timeout_s=cfg.repair_timeout_s,
                                                            env_id=None if torcs is not None else env_id,
                                                            env_episodes=20, env_seed=seed),
                                policy_path=str(idir / "extracted.pol"), source_text=ex.pol_text)
            times["repair"] = time.perf_counter() - t0
            record["repair"] = {"status": rep.status, "changes": len(rep.changes), "edits": len(rep.edits)}
            text = rep.policy_text
        _write_atomic(idir / "program.pol", text if text.endswith("\n") else text + "\n")
        program = parse_policy(text, str(idir / "program.pol"))
        t0 = time.perf_counter()
        final = first if text == ex.pol_text else verify_policy(program, spec, policy_path=str(idir / "program.pol"))
        times["verify"] += time.perf_counter() - t0
        verdict = final.verdict

        # 4b. tune the verified program's constants for return, inside the SAFE set
        record["tune"] = None
        if verdict is Verdict.SAFE and cfg.tune_generations > 0:
            from saferl.learn.tune import TuneConfig, tune_program

            say(it, "tune")
            t0 = time.perf_counter()
            if torcs is not None:
                laps_program, laps = loop_torcs.tune_laps(program, spec, torcs, seed + 777_000)
                tuned_result: Any = SimpleNamespace(program=laps_program, start_score=laps["start_score"], score=laps["score"],
                                               validation_start=laps["start_score"], validation=laps["score"],
                                               evaluations=laps["evaluations"], verifications=laps["verifications"],
                                               rejected=laps["rejected"])
            else:
                tcfg = TuneConfig(generations=cfg.tune_generations, episodes=cfg.tune_episodes,
                                  population=cfg.tune_population, seed=seed + 777_000)
                tuned_result = tune_program(program, env_id, spec, tcfg, policy_path=str(idir / "program.pol"))
            times["tune"] = time.perf_counter() - t0
            record["tune"] = {"start_score": tuned_result.start_score, "score": tuned_result.score,
                              "validation_start": tuned_result.validation_start, "validation": tuned_result.validation,
                              "evaluations": tuned_result.evaluations, "verifications": tuned_result.verifications,
                              "rejected": tuned_result.rejected, "changed": tuned_result.program is not program}
            if tuned_result.program is not program:
                tuned_text = format_policy(tuned_result.program)
                tuned_program = parse_policy(tuned_text, str(idir / "program.pol"))
                # the shipped text is verified once more, on the whole spec, before it counts
                t0 = time.perf_counter()
                check = verify_policy(tuned_program, spec, policy_path=str(idir / "program.pol"))
                times["verify"] += time.perf_counter() - t0
                if check.verdict is Verdict.SAFE:
                    (idir / "untuned.pol").write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
                    text, program = tuned_text, tuned_program
                    _write_atomic(idir / "program.pol", text if text.endswith("\n") else text + "\n")
                else:
                    record["tune"]["changed"] = False
            say(it, "tune", f"validation return {tuned_result.validation_start:.2f} -> {tuned_result.validation:.2f}")
        stats = score_program(program, seed + 555_000)
        if torcs is not None:
            record["race"] = stats.race
        final_report = final if record["tune"] is None or not record["tune"]["changed"] else check
        record["properties"] = {r.property_id: r.verdict.value for r in final_report.results}
        record.update(verdict=verdict.value, program=str(idir / "program.pol"), digest=policy_digest(program),
                      program_return=stats.mean, program_return_std=stats.std, episodes=cfg.final_episodes)
        say(it, "verify", f"{verdict.value}, program return {stats.mean:.2f}")

        # the best verified program so far (best.pol only ever holds a SAFE proof's text)
        record["best"] = False
        if verdict is Verdict.SAFE and (best is None or stats.mean > best["program_return"]):
            _write_atomic(out_dir / BEST_NAME, text if text.endswith("\n") else text + "\n")
            best = {"iteration": it, "program_return": stats.mean, "digest": policy_digest(program),
                    "verdict": verdict.value}
            _write_atomic(best_file, json.dumps(best, indent=2) + "\n")
            record["best"] = True

        # 5. the program back into a network (the verified one when this iteration's is not)
        say(it, "distill")
        t0 = time.perf_counter()
        source = program if verdict is Verdict.SAFE or best is None else load_policy(out_dir / BEST_NAME)
        dcfg = DistillConfig(hidden=tuple(tuned.manifest["actor"]["layers"][1:-1]), iters=cfg.distill_iters,
                             activation=tuned.manifest["actor"]["activation"])
        if torcs is not None:
            dcfg.episodes_per_iter, dcfg.eval_episodes = 1, 1
        d = distill_program(source, env_id, seed=seed, config=dcfg, env_kwargs=env_kwargs)
        save_model(idir / "distilled", d.manifest, d.tensors)
        times["distill"] = time.perf_counter() - t0
        record["distill"] = {"from": "iteration" if source is program else "best", "agreement": d.agreement,
                             "network_return": d.network_return}
        network, target = load_model(idir / "distilled"), source
        record["seconds"] = {k: round(v, 3) for k, v in times.items()}
        record["wall_s"] = round(time.perf_counter() - t_iter, 3)
        with log.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        records.append(record)
        say(it, "done", f"{verdict.value}, return {stats.mean:.2f}, {record['wall_s']:.1f} s")
    return records


def config_record(cfg: LoopConfig) -> dict[str, Any]:
    """A JSON-ready view of a :class:`LoopConfig` (without the trainer config)."""
    data = asdict(cfg)
    data.pop("trainer_config", None)
    return data
