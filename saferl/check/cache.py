"""A content-hash cache of verification records, safe to restore from a CI cache.

An entry is keyed by what decides a verdict and nothing else: the canonical policy digest
(comments and layout ignored), the digest of the spec file's bytes, saferl's version and a
fingerprint of its verifier's source, the versions of z3, cvc5 and pysmt, and the options.  Never a modification time, so a cache
restored on another machine (or after a fresh checkout) still hits.

* SAFE and UNSAFE records are cached (UNSAFE with its counterexamples); UNKNOWN never is.
* An entry that does not parse, is truncated, was written by another version of the
  format, answers another key, or whose record does not match its checksum is ignored
  and recomputed — never trusted.  (The checksum catches damage and hand edits, not an
  adversary who can write the cache folder: a cache is as trustworthy as where it lives.)
* Writes go to a temporary file in the same folder and are renamed into place
  (``os.replace``), so concurrent writers cannot leave a half-written entry.

A memo (``digests/``) maps the sha256 of a policy file's bytes to its canonical digest, so
that a warm run reads and hashes files but parses none.

Because the policy digest ignores layout, a hit may come from a file whose lines moved;
entries therefore anchor each result's line to a node of the program (its index in a fixed
walk), and a hit on a file with other bytes finds the lines again from those anchors.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from saferl.errors import InputError

__all__ = ["FORMAT", "ResultCache", "cache_key", "solver_versions", "verifier_fingerprint", "clear_cache", "CacheUnavailable"]

FORMAT = "saferl-check-cache/2"
_TAG = "CACHEDIR.TAG"
_TAG_TEXT = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by saferl (saferl check).\n"
)
_ENTRY = re.compile(r"^[0-9a-f]{64}\.json$")
_SHARD = re.compile(r"^[0-9a-f]{2}$")
_CACHEABLE = ("SAFE", "UNSAFE")


class CacheUnavailable(Exception):
    """The cache folder cannot be created or written; the caller warns and goes on without it."""


def solver_versions() -> dict[str, str]:
    """Installed versions of the solver stack, read from package metadata (no solver is imported)."""
    versions = {}
    for dist in ("z3-solver", "cvc5", "pysmt"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "absent"
    return versions


#: the modules whose code decides a verdict: a change to any of them is a change of verifier
VERIFIER_MODULES = ("verify.py", "results.py", "errors.py", "limits.py", "yamlfile.py", "smt", "spec", "policy", "closedloop", "dynamics")
_FINGERPRINT: list[str] = []


def verifier_fingerprint() -> str:
    """sha256 of the source of the modules that decide a verdict (see :data:`VERIFIER_MODULES`).

    saferl's version number does not change between commits; the fingerprint does, so a
    cache restored across a change of the verifier (a soundness fix, say) does not answer
    with verdicts the old code computed.
    """
    if not _FINGERPRINT:
        package = Path(__file__).resolve().parents[1]
        h = hashlib.sha256()
        for name in VERIFIER_MODULES:
            target = package / name
            files = sorted(target.rglob("*.py")) if target.is_dir() else [target] if target.is_file() else []
            for f in files:
                h.update(f.relative_to(package).as_posix().encode() + b"\0")
                h.update(f.read_bytes() + b"\0")
        _FINGERPRINT.append(h.hexdigest())
    return _FINGERPRINT[0]


def cache_key(policy_digest: str, spec_digest: str, options: dict[str, Any], versions: dict[str, str]) -> str:
    """The hex sha256 naming a cache entry (``versions``: the solvers', see :func:`solver_versions`)."""
    from saferl import __version__

    doc = {
        "format": FORMAT,
        "saferl": __version__,
        "verifier": verifier_fingerprint(),
        "solvers": versions,
        "policy": policy_digest,
        "spec": spec_digest,
        "options": options,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode("utf-8")).hexdigest()


def _valid_record(record: Any) -> bool:
    if not isinstance(record, dict) or record.get("verdict") not in _CACHEABLE:
        return False
    props = record.get("properties")
    if not isinstance(props, list) or not props:
        return False
    for p in props:
        if not isinstance(p, dict) or p.get("verdict") not in _CACHEABLE or not isinstance(p.get("id"), str):
            return False
        if not isinstance(p.get("policy_line"), int) or not isinstance(p.get("solver_time_s"), int | float):
            return False
        if p["verdict"] == "UNSAFE" and not isinstance(p.get("counterexample"), dict):
            return False
    worst = "UNSAFE" if any(p["verdict"] == "UNSAFE" for p in props) else "SAFE"
    return bool(record["verdict"] == worst)


def _record_sha(record: Any) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CacheHit:
    """A cached record with the lines it was stored with."""

    record: dict[str, Any]
    source_sha: str
    anchors: dict[str, int]
    nodes: int


class ResultCache:
    """The cache folder: ``get`` and ``put`` records by key.

    Creating one checks the folder: a path that exists but is not a folder is an
    :class:`~saferl.errors.InputError`; a folder that cannot be created or written raises
    :class:`CacheUnavailable`.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        if folder.exists() and not folder.is_dir():
            raise InputError(f"cache directory {str(folder)!r} is not a directory")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tag = folder / _TAG
            if not tag.exists():
                self._write_atomic(tag, _TAG_TEXT)
        except OSError as exc:
            raise CacheUnavailable(f"cannot use cache directory {str(folder)!r}: {exc.strerror or exc}") from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise CacheUnavailable(f"cannot write to cache directory {str(folder)!r}")

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> CacheHit | None:
        """The entry for ``key``, or None when absent or not to be trusted."""
        try:
            raw = self._path(key).read_bytes()
            doc = json.loads(raw)
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("key") != key:
            return None
        record, sha, anchors, nodes = doc.get("record"), doc.get("source_sha"), doc.get("anchors"), doc.get("nodes")
        if not isinstance(record, dict) or not _valid_record(record):
            return None
        if not isinstance(sha, str) or not isinstance(anchors, dict):
            return None
        if not isinstance(nodes, int) or not all(isinstance(v, int) and 0 <= v < nodes for v in anchors.values()):
            return None
        if doc.get("record_sha") != _record_sha(record):
            return None
        return CacheHit(record, sha, anchors, nodes)

    def put(self, key: str, record: dict[str, Any], source_sha: str, anchors: dict[str, int], nodes: int) -> bool:
        """Store ``record`` (SAFE or UNSAFE only); False when it is not cacheable."""
        if not _valid_record(record):
            return False
        doc = {
            "format": FORMAT, "key": key, "source_sha": source_sha, "anchors": anchors, "nodes": nodes,
            "record": record, "record_sha": _record_sha(record),
        }
        path = self._path(key)
        try:
            path.parent.mkdir(exist_ok=True)
            self._write_atomic(path, json.dumps(doc, sort_keys=True))
        except OSError as exc:
            raise CacheUnavailable(f"cannot write to cache directory {str(self.folder)!r}: {exc.strerror or exc}") from None
        return True

    # -- the digest memo: raw policy bytes -> canonical digest, so a warm run parses nothing --

    def _memo_path(self, source_sha: str) -> Path:
        from saferl import __version__

        name = hashlib.sha256(f"{FORMAT}|{__version__}|{verifier_fingerprint()}|{source_sha}".encode()).hexdigest()
        return self.folder / "digests" / name[:2] / f"{name}.json"

    def get_digest(self, source_sha: str) -> str | None:
        """The canonical digest of the policy text whose sha256 is ``source_sha``, if memoised."""
        try:
            doc = json.loads(self._memo_path(source_sha).read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("source_sha") != source_sha:
            return None
        digest = doc.get("digest")
        if not isinstance(digest, str) or not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            return None
        return digest

    def put_digest(self, source_sha: str, digest: str) -> None:
        """Remember that the policy text with sha256 ``source_sha`` has canonical ``digest``."""
        path = self._memo_path(source_sha)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._write_atomic(path, json.dumps({"format": FORMAT, "source_sha": source_sha, "digest": digest}))
        except OSError as exc:
            raise CacheUnavailable(f"cannot write to cache directory {str(self.folder)!r}: {exc.strerror or exc}") from None

    @staticmethod
    def _write_atomic(path: Path, text: str) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
        try:
            os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide a shared CI cache from other users
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise


def clear_cache(folder: Path) -> int:
    """Delete saferl's entries in ``folder``; return how many were removed.

    Only what saferl writes is touched (two-hex-digit shards of ``<sha256>.json`` files and
    temporary files); a folder without saferl's ``CACHEDIR.TAG`` is refused.
    """
    if not folder.exists():
        return 0
    if not folder.is_dir():
        raise InputError(f"cache directory {str(folder)!r} is not a directory")
    tag = folder / _TAG
    try:
        tagged = tag.is_file() and "saferl" in tag.read_text(encoding="utf-8", errors="replace")
    except OSError:
        tagged = False
    if not tagged:
        raise InputError(f"{str(folder)!r} is not a saferl cache (no {_TAG} written by saferl); not touching it")
    removed = 0
    try:
        memo = folder / "digests"
        if memo.is_dir():
            for shard in memo.iterdir():
                if shard.is_dir() and _SHARD.match(shard.name):
                    for entry in shard.iterdir():
                        if _ENTRY.match(entry.name) or entry.name.startswith(".tmp-"):
                            entry.unlink()
                    if not any(shard.iterdir()):
                        shard.rmdir()
            if not any(memo.iterdir()):
                memo.rmdir()
        for shard in folder.iterdir():
            if not (shard.is_dir() and _SHARD.match(shard.name)):
                continue
            for entry in shard.iterdir():
                if _ENTRY.match(entry.name) or entry.name.startswith(".tmp-"):
                    entry.unlink()
                    removed += 1
            if not any(shard.iterdir()):
                shard.rmdir()
    except OSError as exc:
        raise InputError(f"cannot clear cache directory {str(folder)!r}: {exc.strerror or exc}") from None
    return removed

