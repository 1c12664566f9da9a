"""``saferl check [PATHS...]``: verify every configured policy × spec pair, for CI gates.

Pairs come from ``[tool.saferl]`` (pyproject.toml or saferl.toml; PATHS then keep only
the pairs whose policy or spec is among them, as pre-commit passes changed files), or
without a configuration from ``--spec SPEC`` and PATHS naming policies and folders.
Verdicts come from the content-hash cache when it knows them, else from a local process
pool (``--jobs``) or Ray (``--backend ray``).  Exit code of the worst pair: 2 a pair could
not be verified, else 1 UNSAFE, else 3 UNKNOWN (unless allowed), else 0; with
``--baseline`` only pairs that got worse count.

This module uses argparse, not typer, so that the command starts light.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, TextIO

from saferl.cli._plain import Parser, run_plain
from saferl.errors import InputError

EXIT_OK, EXIT_UNSAFE, EXIT_ERROR, EXIT_UNKNOWN = 0, 1, 2, 3
FORMATS = ("text", "json", "sarif", "junit", "github")
PROG = "saferl check"


def build_parser() -> argparse.ArgumentParser:
    """The command's options."""
    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0], add_help=False)
    p.add_argument("paths", nargs="*", type=Path, metavar="PATHS",
                   help="with a configuration: only pairs whose policy or spec is among these; "
                        "with --spec: the policies to check (folders are searched for *.pol)")
    p.add_argument("-h", "--help", action="store_true", help="show this help and exit")
    p.add_argument("--config", type=Path, help="pyproject.toml or saferl.toml (default: the nearest one)")
    p.add_argument("-s", "--spec", type=Path, action="append", default=[],
                   help="check PATHS against this spec instead of the configured groups (repeatable)")
    p.add_argument("-f", "--format", dest="fmt", default="text", help=" | ".join(FORMATS))
    p.add_argument("-o", "--output", type=Path, help="write the report here instead of stdout")
    p.add_argument("--summary", type=Path, help="append a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY)")
    p.add_argument("-j", "--jobs", type=int, help="parallel workers (default: the config's, else the CPU count)")
    p.add_argument("--backend", default="process", help="process | ray (the 'ray' extra)")
    p.add_argument("--ray-address", help="an existing Ray cluster (default: $RAY_ADDRESS, else a local one)")
    p.add_argument("--cache-dir", type=Path, help="where results are cached (default: the config's, else .saferl_cache)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--baseline", type=Path, help="an earlier --format json report: fail only on pairs that got worse")
    p.add_argument("--timeout", type=float, help="seconds per property and solver, for every group")
    p.add_argument("--cross-check", action="store_true", help="also run cvc5 for every group")
    p.add_argument("--allow-unknown", action="store_true", help="UNKNOWN does not fail the gate")
    p.add_argument("--solver", help="z3 | cvc5, for every group")
    return p


def _options(args: argparse.Namespace, base: Any) -> Any:
    from dataclasses import replace

    changes: dict[str, Any] = {}
    if args.timeout is not None:
        changes["timeout_s"] = args.timeout
    if args.cross_check:
        changes["cross_check"] = True
    if args.allow_unknown:
        changes["allow_unknown"] = True
    if args.solver is not None:
        changes["solver"] = args.solver
    return replace(base, **changes)


def _validate(args: argparse.Namespace) -> None:
    from saferl.check.backends import BACKENDS

    if args.fmt not in FORMATS:
        raise InputError(f"unknown format {args.fmt!r}; formats: {', '.join(FORMATS)}")
    if args.backend not in BACKENDS:
        raise InputError(f"unknown backend {args.backend!r}; backends: {', '.join(BACKENDS)}")
    if args.solver is not None and args.solver not in ("z3", "cvc5"):
        raise InputError(f"unknown solver {args.solver!r}; solvers: z3, cvc5")
    if args.timeout is not None and not (0 < args.timeout <= 86400):
        raise InputError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    if args.jobs is not None and args.jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {args.jobs}")
    if args.ray_address is not None and args.backend != "ray":
        raise InputError("--ray-address needs --backend ray")


def _exit_code(reports: list[Any], baseline: Any) -> int:
    codes = []
    for r in reports:
        if r.record is None:
            codes.append(EXIT_ERROR)
            continue
        if baseline is not None and not r.record["regression"]:
            continue
        if r.verdict == "UNSAFE":
            codes.append(EXIT_UNSAFE)
        elif r.verdict == "UNKNOWN" and not r.pair.options.allow_unknown:
            codes.append(EXIT_UNKNOWN)
    for code in (EXIT_ERROR, EXIT_UNSAFE, EXIT_UNKNOWN):
        if code in codes:
            return code
    return EXIT_OK


def _write(text: str, path: Path | None, out: TextIO, *, append: bool = False) -> None:
    if path is None:
        out.write(text)
        return
    from saferl.userfile import check_output_location

    check_output_location(path, "--summary" if append else "--output")
    try:
        with open(path, "a" if append else "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None


def check(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Run ``saferl check`` on ``argv``; may raise SaferlError (mapped by :func:`run`)."""
    from saferl.check.backends import default_jobs
    from saferl.check.cache import CacheUnavailable, ResultCache
    from saferl.check.config import GroupOptions, find_config, load_config
    from saferl.check.fleet import check_pairs, pairs_from_config, pairs_from_paths

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.help:
        parser.print_help(out)
        return EXIT_OK
    _validate(args)
    from saferl.userfile import check_output_location

    for option, target in (("--output", args.output), ("--summary", args.summary)):
        if target is not None:
            check_output_location(target, option)  # before any work, as every command does
    started = time.perf_counter()

    config_path = args.config or find_config(Path.cwd())
    config = load_config(config_path) if config_path is not None else None
    if args.spec:
        if not args.paths:
            raise InputError("--spec needs the policies to check as PATHS")
        base = config.defaults if config is not None else GroupOptions()
        pairs = pairs_from_paths(args.paths, args.spec, _options(args, base))
        root = Path.cwd()
    elif config is None:
        raise InputError(
            "no configuration: add [tool.saferl] to pyproject.toml (or a saferl.toml), "
            "or name the spec with --spec"
        )
    else:
        from dataclasses import replace

        pairs = [replace(p, options=_options(args, p.options)) for p in pairs_from_config(config, args.paths)]
        root = config.root

    baseline = None
    if args.baseline is not None:
        from saferl.check.baseline import load_baseline

        baseline = load_baseline(args.baseline)

    def warn(message: str) -> None:
        err.write(f"{PROG}: warning: {message}\n")

    cache = None
    if not args.no_cache:
        folder = args.cache_dir or (config.cache_dir if config is not None and config.cache_dir else None)
        folder = folder or root / ".saferl_cache"
        try:
            cache = ResultCache(folder)
        except CacheUnavailable as exc:
            warn(f"{exc}; verifying without the cache")

    from saferl.check.backends import prepare_backend

    prepare_backend(args.backend, args.ray_address)
    jobs = args.jobs or (config.jobs if config is not None and config.jobs else None) or default_jobs()
    from saferl.cli._progress import progress_bar

    with progress_bar(err, "check", enabled=args.fmt == "text") as update:
        reports = check_pairs(
            pairs, root, cache=cache, jobs=jobs, backend=args.backend, ray_address=args.ray_address, warn=warn,
            progress=lambda done, total: update(done, total, "policy × spec pairs verified"),
        )
    records, errors = [], []
    for r in reports:
        if r.record is None:
            errors.append({"policy": r.policy_path, "spec": r.spec_path, "error": r.error or "unknown error"})
            continue
        if args.fmt in ("text", "github") and any(p.get("counterexample") for p in r.record["properties"]):
            r.record["action_labels"] = _action_labels(r.pair.policy)  # name discrete actions by label
        if baseline is not None:
            r.record["regression"] = baseline.got_worse(r.record)
        records.append(r.record)
    wall = time.perf_counter() - started
    if not pairs:
        warn("no policy × spec pairs to check")
    _write(_render(args, records, errors, root, wall), args.output, out)
    if args.summary is not None:
        from saferl.report.summary import render_summary

        _write(render_summary(records, errors, wall_s=wall), args.summary, out, append=True)
    return _exit_code(reports, baseline)


def _action_labels(path: Path) -> dict[str, dict[str, str]]:
    """The labels of a policy file's discrete actions (none if it no longer reads)."""
    from saferl.errors import SaferlError
    from saferl.policy import load_policy
    from saferl.report.text import action_labels

    try:
        return action_labels(load_policy(path))
    except (SaferlError, OSError):
        return {}


def _render(args: argparse.Namespace, records: list[Any], errors: list[Any], root: Path, wall: float) -> str:
    if args.fmt == "json":
        from saferl.report.fleet import render_fleet_json

        return render_fleet_json(records, errors, wall_s=wall)
    if args.fmt == "sarif":
        from saferl.report.fleet import render_fleet_sarif

        return render_fleet_sarif(records, root)
    if args.fmt == "junit":
        from saferl.report.junit import render_junit

        return render_junit(records, allow_unknown=args.allow_unknown)
    if args.fmt == "github":
        from saferl.report.github import render_github

        return render_github(records, errors)
    from saferl.report.fleet import render_fleet_text

    return render_fleet_text(records, errors, wall_s=wall)


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Entry point used by ``saferl.cli``: bad input is one line on stderr and exit 2."""
    return run_plain(PROG, lambda: check(argv, out, err), err)
