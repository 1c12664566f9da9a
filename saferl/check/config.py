"""The ``[tool.saferl]`` configuration: groups of policy globs × spec files, and their options.

The configuration lives in ``pyproject.toml`` under ``[tool.saferl]``, or in a
``saferl.toml`` whose keys sit at the top level (a ``saferl.toml`` wins when a directory
holds both).  Paths and globs are relative to the directory of the configuration file.

Example ``pyproject.toml``::

    [tool.saferl]
    cache-dir = ".saferl_cache"
    timeout = 10

    [[tool.saferl.groups]]
    name = "cartpole"
    policies = ["policies/cartpole/near_optimal.pol"]
    specs = ["specs/cartpole/pole_follow.yaml"]
    cross-check = true

Every mistake (a TOML syntax error, an unknown key, a wrong type, a glob that matches
nothing, a spec file that does not exist) is a :class:`~saferl.errors.InputError` whose
location is the configuration file's line.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from saferl.errors import InputError, Location

__all__ = ["GroupOptions", "Group", "CheckConfig", "find_config", "load_config", "parse_config", "expand_globs"]

CONFIG_NAMES = ("saferl.toml", "pyproject.toml")
_OPTION_KEYS = {"timeout", "cross-check", "allow-unknown", "solver"}
_TOP_KEYS = _OPTION_KEYS | {"cache-dir", "jobs", "groups"}
_GROUP_KEYS = _OPTION_KEYS | {"name", "policies", "specs"}
_SOLVERS = ("z3", "cvc5")
_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class GroupOptions:
    """How the pairs of a group are verified (``timeout_s`` None: the spec's own, else 10 s)."""

    timeout_s: float | None = None
    cross_check: bool = False
    allow_unknown: bool = False
    solver: str = "z3"


@dataclass(frozen=True)
class Group:
    """One group: every policy matched by ``policies`` is checked against every spec in ``specs``."""

    name: str
    policies: tuple[str, ...]
    specs: tuple[str, ...]
    options: GroupOptions
    line: int = 0


@dataclass(frozen=True)
class CheckConfig:
    """A loaded configuration; ``root`` is the directory its paths are relative to."""

    path: Path | None
    root: Path
    groups: tuple[Group, ...] = ()
    cache_dir: Path | None = None
    jobs: int | None = None
    defaults: GroupOptions = field(default_factory=GroupOptions)


class _Lines:
    """Finds the line of a key or a string in the configuration text, for error messages."""

    def __init__(self, text: str, prefix: str):
        self.lines = text.splitlines()
        self.prefix = prefix  # "tool.saferl" in pyproject.toml, "" in saferl.toml
        self.sections: list[tuple[int, str]] = []  # (line number, table name)
        for no, raw in enumerate(self.lines, start=1):
            m = re.match(r"\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$", raw)
            if m:
                self.sections.append((no, m.group(1).replace('"', "").replace(" ", "")))

    def _table(self, sub: str) -> str:
        return ".".join(p for p in (self.prefix, sub) if p)

    def region(self, sub: str = "", index: int | None = None) -> tuple[int, int]:
        """First and last line of table ``sub`` (the ``index``-th one for an array of tables)."""
        name = self._table(sub)
        if not name:  # the top level of a saferl.toml: up to the first table header
            return 1, (self.sections[0][0] - 1 if self.sections else len(self.lines))
        starts = [no for no, sect in self.sections if sect == name]
        if not starts:
            return 0, 0
        start = starts[min(index or 0, len(starts) - 1)]
        following = [no for no, _ in self.sections if no > start]
        return start, following[0] - 1 if following else len(self.lines)

    def key(self, key: str, sub: str = "", index: int | None = None) -> int:
        start, end = self.region(sub, index)
        pattern = re.compile(rf"""\s*["']?{re.escape(key)}["']?\s*=""")
        for no in range(max(start, 1), end + 1):
            if pattern.match(self.lines[no - 1]):
                return no
        return start

    def string(self, value: str, sub: str, index: int | None, fallback_key: str) -> int:
        start, end = self.region(sub, index)
        for no in range(max(start, 1), end + 1):
            line = self.lines[no - 1]
            if f'"{value}"' in line or f"'{value}'" in line:
                return no
        return self.key(fallback_key, sub, index)


def find_config(start: Path) -> Path | None:
    """The nearest ``saferl.toml``, or ``pyproject.toml`` with a ``[tool.saferl]`` table, at or above ``start``."""
    start = start.resolve()
    for folder in (start, *start.parents):
        candidate = folder / "saferl.toml"
        if candidate.is_file():
            return candidate
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                text = candidate.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if re.search(r"^\s*\[\[?\s*tool\.saferl[\].]", text, re.MULTILINE):
                return candidate
    return None


def load_config(path: Path) -> CheckConfig:
    """Read and validate the configuration in ``path`` (a pyproject.toml or saferl.toml)."""
    from saferl.userfile import read_user_text

    text = read_user_text(path, "configuration file")
    return parse_config(text, path)


def _toml_error(exc: tomllib.TOMLDecodeError, path: Path) -> InputError:
    msg = str(exc)
    m = re.search(r"\(at line (\d+), column (\d+)\)$", msg)
    if m:
        return InputError(
            f"invalid TOML: {msg[: m.start()].strip()}", Location(str(path), int(m.group(1)), int(m.group(2)))
        )
    return InputError(f"invalid TOML: {msg}", Location(str(path)))


def parse_config(text: str, path: Path) -> CheckConfig:
    """Validate configuration ``text`` read from ``path``; paths are resolved against its folder."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(exc, path) from None
    is_pyproject = path.name == "pyproject.toml"
    lines = _Lines(text, "tool.saferl" if is_pyproject else "")
    if is_pyproject:
        table = data.get("tool", {}).get("saferl")
        if table is None:
            raise InputError("no [tool.saferl] table", Location(str(path), 1))
    else:
        table = data
    if not isinstance(table, dict):
        raise InputError("[tool.saferl] must be a table", Location(str(path), lines.key("saferl", "tool")))
    root = path.resolve().parent

    def err(message: str, line: int, hint: str | None = None) -> InputError:
        return InputError(message, Location(str(path), line), hint)

    for key in table:
        if key not in _TOP_KEYS:
            raise err(f"unknown key {key!r}", lines.key(key), f"known keys: {', '.join(sorted(_TOP_KEYS))}")
    defaults = _options(table, GroupOptions(), lambda k: lines.key(k), err)
    cache_dir = None
    if "cache-dir" in table:
        value = table["cache-dir"]
        if not isinstance(value, str) or not value:
            raise err("'cache-dir' must be a non-empty string", lines.key("cache-dir"))
        cache_dir = root / value
    jobs = None
    if "jobs" in table:
        jobs = table["jobs"]
        if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
            raise err("'jobs' must be a positive integer", lines.key("jobs"))
    raw_groups = table.get("groups", [])
    if not isinstance(raw_groups, list):
        raise err("'groups' must be an array of tables ([[tool.saferl.groups]])", lines.key("groups"))
    groups = []
    names: set[str] = set()
    for index, raw in enumerate(raw_groups):
        gline = lines.region("groups", index)[0] or lines.key("groups")

        def line_of(k: str, index: int = index, gline: int = gline) -> int:
            return lines.key(k, "groups", index) or gline

        if not isinstance(raw, dict):
            raise err("each entry of 'groups' must be a table", gline)
        for key in raw:
            if key not in _GROUP_KEYS:
                raise err(f"unknown key {key!r} in group", line_of(key), f"known keys: {', '.join(sorted(_GROUP_KEYS))}")
        name = raw.get("name", f"group-{index + 1}")
        if not isinstance(name, str) or not name:
            raise err("'name' must be a non-empty string", line_of("name"))
        if name in names:
            raise err(f"two groups are named {name!r}", line_of("name"))
        names.add(name)
        patterns = {}
        for key in ("policies", "specs"):
            value = raw.get(key)
            if value is None:
                raise err(f"group {name!r} has no {key!r}", gline)
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
                raise err(f"{key!r} must be a non-empty list of paths or globs", line_of(key))
            for pattern in value:
                if not expand_globs(root, pattern):
                    where = lines.string(pattern, "groups", index, key)
                    if key == "specs" and not _GLOB_CHARS.search(pattern):
                        raise err(f"spec file {pattern!r} does not exist", where)
                    raise err(f"{key[:-1] if key == 'specs' else 'policy'} glob {pattern!r} matches nothing", where)
            patterns[key] = tuple(value)
        options = _options(raw, defaults, line_of, err)
        groups.append(Group(name, patterns["policies"], patterns["specs"], options, gline))
    return CheckConfig(path, root, tuple(groups), cache_dir, jobs, defaults)


def _options(table: dict[str, Any], base: GroupOptions, line_of: Any, err: Any) -> GroupOptions:
    timeout = base.timeout_s
    if "timeout" in table:
        value = table["timeout"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86400:
            raise err("'timeout' must be a positive number of seconds", line_of("timeout"))
        timeout = float(value)
    flags = {}
    for key, current in (("cross-check", base.cross_check), ("allow-unknown", base.allow_unknown)):
        value = table.get(key, current)
        if not isinstance(value, bool):
            raise err(f"{key!r} must be true or false", line_of(key))
        flags[key] = value
    solver = table.get("solver", base.solver)
    if solver not in _SOLVERS:
        raise err(f"'solver' must be one of {', '.join(_SOLVERS)}", line_of("solver"))
    return GroupOptions(timeout, flags["cross-check"], flags["allow-unknown"], solver)


def expand_globs(root: Path, pattern: str) -> list[Path]:
    """Files matched by ``pattern`` (a path or a glob, ``**`` included) under ``root``, sorted."""
    if not _GLOB_CHARS.search(pattern):
        candidate = root / pattern
        return [candidate] if candidate.is_file() else []
    if Path(pattern).is_absolute():
        anchor = Path(Path(pattern).anchor)
        return sorted(p for p in anchor.glob(str(Path(pattern).relative_to(anchor))) if p.is_file())
    return sorted(p for p in root.glob(pattern) if p.is_file())
