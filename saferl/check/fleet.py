"""Check a fleet: collect policy × spec pairs, answer what the cache knows, verify the rest."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from saferl.check.cache import CacheUnavailable, ResultCache, cache_key, solver_versions
from saferl.check.config import CheckConfig, GroupOptions, expand_globs
from saferl.check.task import PairTask, policy_nodes, worker_versions
from saferl.errors import InputError, Location

__all__ = ["Pair", "PairReport", "pairs_from_config", "pairs_from_paths", "check_pairs", "display_path"]


@dataclass(frozen=True)
class Pair:
    """One policy file checked against one spec file, with its group's options."""

    policy: Path
    spec: Path
    options: GroupOptions = field(default_factory=GroupOptions)
    group: str = ""


@dataclass(frozen=True)
class PairReport:
    """The outcome of one pair: a record (``record["cached"]`` says where it came from) or an error."""

    pair: Pair
    policy_path: str
    spec_path: str
    record: dict[str, Any] | None
    error: str | None = None

    @property
    def verdict(self) -> str:
        """SAFE, UNSAFE, UNKNOWN or ERROR."""
        return "ERROR" if self.record is None else str(self.record["verdict"])

    @property
    def cached(self) -> bool:
        return bool(self.record is not None and self.record.get("cached"))


def display_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` in POSIX form when it lies below it, else absolute."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(root.resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def _policy_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*.pol") if p.is_file())
    if path.is_file():
        return [path]
    raise InputError("no such file or directory", Location(str(path)))


def pairs_from_paths(paths: Sequence[Path], specs: Sequence[Path], options: GroupOptions) -> list[Pair]:
    """Every .pol file among ``paths`` (folders searched recursively) against every spec."""
    policies: list[Path] = []
    for p in paths:
        policies += _policy_files(p)
    if not policies:
        raise InputError("no .pol files among the given paths")
    for s in specs:
        if not s.is_file():
            raise InputError("spec file not found", Location(str(s)))
    seen: set[tuple[Path, Path]] = set()
    out = []
    for pol in policies:
        for s in specs:
            key = (pol.resolve(), s.resolve())
            if key not in seen:
                seen.add(key)
                out.append(Pair(key[0], key[1], options))
    return out


def _selected(path: Path, filters: Sequence[Path]) -> bool:
    return any(path == f or f in path.parents for f in filters)


def pairs_from_config(config: CheckConfig, only: Sequence[Path] = ()) -> list[Pair]:
    """The configured pairs; with ``only``, those whose policy or spec is (or is under) one of them."""
    filters = []
    for p in only:
        if not p.exists():
            raise InputError("no such file or directory", Location(str(p)))
        filters.append(p.resolve())
    out: list[Pair] = []
    seen: set[tuple[Path, Path]] = set()
    for group in config.groups:
        policies = [p.resolve() for pattern in group.policies for p in expand_globs(config.root, pattern)]
        specs = [p.resolve() for pattern in group.specs for p in expand_globs(config.root, pattern)]
        for pol in dict.fromkeys(policies):
            for spec in dict.fromkeys(specs):
                if (pol, spec) in seen:
                    continue
                if filters and not (_selected(pol, filters) or _selected(spec, filters)):
                    continue
                seen.add((pol, spec))
                out.append(Pair(pol, spec, group.options, group.name))
    return out


@dataclass
class _Policy:
    text: str
    program: Any  # None until parsed: a warm run takes the digest from the cache's memo
    digest: str
    source_sha: str
    path: str
    error: str | None = None  # a valid policy saferl check does not verify (a gridworld program)

    def parsed(self) -> Any:
        if self.program is None:
            from saferl.policy import parse_policy

            self.program = parse_policy(self.text, self.path)
        return self.program


def _options_doc(o: GroupOptions) -> dict[str, Any]:
    return {"timeout_s": o.timeout_s, "cross_check": o.cross_check, "solver": o.solver}


def _from_cache(hit: Any, pol: _Policy, policy_path: str, spec_path: str) -> dict[str, Any] | None:
    """The cached record for this file, its lines found again if the layout changed (None: recompute)."""
    record = dict(hit.record)
    record["policy"], record["spec"], record["cached"] = policy_path, spec_path, True
    if hit.source_sha == pol.source_sha:
        return record
    nodes = policy_nodes(pol.parsed())
    if len(nodes) != hit.nodes:  # same canonical text from another tree shape: do not guess lines
        return None
    props = []
    for p in record["properties"]:
        p = dict(p)
        anchor = hit.anchors.get(p["id"])
        span = getattr(nodes[anchor], "span", None) if anchor is not None else None
        if span is not None and span.line:
            p["policy_line"] = span.line
        props.append(p)
    record["properties"] = props
    return record


def check_pairs(
    pairs: Sequence[Pair],
    root: Path,
    *,
    cache: ResultCache | None = None,
    jobs: int = 1,
    backend: str = "process",
    ray_address: str | None = None,
    warn: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[PairReport]:
    """Verify every pair (cache first); reports in the order of ``pairs``.

    ``progress(done, total)`` follows the pairs the cache did not answer, as they finish.

    Unreadable or unparsable policy and spec files raise :class:`~saferl.errors.InputError`
    before anything is verified; a pair that fails while verifying (a spec that does not
    fit its policy, a solver disagreement) becomes a report with an ``error``.
    """
    from saferl.check.backends import run_tasks
    from saferl.errors import PolicyParseError, SpecError
    from saferl.policy import parse_policy
    from saferl.policy.ast import Program
    from saferl.policy.printer import program_digest
    from saferl.userfile import read_user_text

    policies: dict[Path, _Policy] = {}
    specs: dict[Path, tuple[str, str]] = {}
    def read_policy(path: Path) -> _Policy:
        nonlocal cache
        text = read_user_text(path, "policy file", PolicyParseError)
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        shown = display_path(path, root)
        digest = cache.get_digest(sha) if cache is not None else None
        if digest is not None:
            return _Policy(text, None, digest, sha, shown)
        program = parse_policy(text, shown)
        if not isinstance(program, Program):
            why = "a gridworld subgoal program: certify it with 'saferl certify', or leave it out of the check"
            return _Policy(text, program, "", sha, shown, error=why)
        pol = _Policy(text, program, program_digest(program), sha, shown)
        if cache is not None:
            try:
                cache.put_digest(sha, pol.digest)
            except CacheUnavailable as exc:
                if warn is not None:
                    warn(f"{exc}; going on without the cache")
                cache = None
        return pol

    for pair in pairs:
        if pair.policy not in policies:
            policies[pair.policy] = read_policy(pair.policy)
        if pair.spec not in specs:
            text = read_user_text(pair.spec, "spec file", SpecError)
            specs[pair.spec] = (text, "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest())

    versions = solver_versions()
    reports: list[PairReport | None] = [None] * len(pairs)
    tasks: list[PairTask] = []
    keys: dict[int, str] = {}
    for i, pair in enumerate(pairs):
        pol, (spec_text, spec_digest) = policies[pair.policy], specs[pair.spec]
        policy_path, spec_path = display_path(pair.policy, root), display_path(pair.spec, root)
        if pol.error is not None:
            reports[i] = PairReport(pair, policy_path, spec_path, None, pol.error)
            continue
        key = cache_key(pol.digest, spec_digest, _options_doc(pair.options), versions)
        keys[i] = key
        hit = cache.get(key) if cache is not None else None
        record = _from_cache(hit, pol, policy_path, spec_path) if hit is not None else None
        if record is not None:
            reports[i] = PairReport(pair, policy_path, spec_path, record)
            continue
        o = pair.options
        tasks.append(PairTask(i, policy_path, pol.text, spec_path, spec_text, o.timeout_s, o.cross_check, o.solver))

    ours = worker_versions()
    if progress is not None:
        progress(0, len(tasks))

    def finished(n: int) -> None:
        if progress is not None:
            progress(n, len(tasks))

    for outcome in run_tasks(tasks, jobs=jobs, backend=backend, ray_address=ray_address, on_done=finished):
        pair = pairs[outcome.index]
        policy_path, spec_path = display_path(pair.policy, root), display_path(pair.spec, root)
        if outcome.record is None:
            reports[outcome.index] = PairReport(pair, policy_path, spec_path, None, outcome.error)
            continue
        record = dict(outcome.record)
        record["cached"] = False
        if cache is not None and outcome.versions != ours:
            if warn is not None:
                warn(f"a worker runs other versions than this process ({outcome.versions} vs {ours}); "
                     "its results are not cached")
            cache = None
        if cache is not None and record["verdict"] in ("SAFE", "UNSAFE"):
            try:
                cache.put(keys[outcome.index], outcome.record, policies[pair.policy].source_sha,
                          outcome.anchors, outcome.nodes)
            except CacheUnavailable as exc:
                if warn is not None:
                    warn(f"{exc}; going on without the cache")
                cache = None
        reports[outcome.index] = PairReport(pair, policy_path, spec_path, record)
    return [r for r in reports if r is not None]
