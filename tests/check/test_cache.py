"""The content-hash cache: hits, misses, corrupt entries, moved lines, atomic writes, clear."""

from __future__ import annotations

import json
import multiprocessing
import re
from pathlib import Path

import pytest

from saferl.check.cache import FORMAT, ResultCache, cache_key, clear_cache
from saferl.errors import InputError


def _results(out: str) -> dict[str, dict]:
    return {r["policy"]: r for r in json.loads(out)["results"]}


def _strip(rec: dict) -> dict:
    rec = dict(rec, cached=None)
    rec["properties"] = [dict(p, solver_time_s=0) for p in rec["properties"]]
    return rec


def _entries(project: Path) -> list[Path]:
    return sorted((project / ".saferl_cache").glob("??/*.json"))


def test_warm_run_answers_from_the_cache(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code1, out1, _ = cli("check", "-f", "json")
    code2, out2, _ = cli("check", "-f", "json", "--jobs", "1")
    assert code1 == code2 == 1
    cold, warm = _results(out1), _results(out2)
    assert not any(r["cached"] for r in cold.values()) and all(r["cached"] for r in warm.values())
    assert {k: _strip(v) for k, v in cold.items()} == {k: _strip(v) for k, v in warm.items()}  # counterexamples too
    assert json.loads(out2)["summary"]["cached"] == {"SAFE": 2, "UNSAFE": 2, "UNKNOWN": 0, "ERROR": 0}
    assert len(_entries(project)) == 4


def test_no_cache_neither_reads_nor_writes(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("check", "--no-cache", "-f", "json")
    assert code == 1 and not (project / ".saferl_cache").exists()
    cli("check")
    code, out, _ = cli("check", "--no-cache", "-f", "json")
    assert not any(r["cached"] for r in _results(out).values())


def test_one_changed_policy_is_the_only_one_reverified(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    cli("check")
    pol = project / "policies/cartpole/near_optimal.pol"
    pol.write_text(pol.read_text().replace("<= 0.3", "<= 0.25"))
    code, out, _ = cli("check", "-f", "json")
    fresh = [p for p, r in _results(out).items() if not r["cached"]]
    assert fresh == ["policies/cartpole/near_optimal.pol"]


def test_options_and_spec_bytes_are_in_the_key(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    cli("check")
    code, out, _ = cli("check", "--timeout", "7", "-f", "json")
    assert not any(r["cached"] for r in _results(out).values())
    spec = project / "specs/mountaincar/momentum.yaml"
    spec.write_text(spec.read_text() + "# a comment changes the spec's digest\n")
    code, out, _ = cli("check", "-f", "json")
    assert [p for p, r in _results(out).items() if not r["cached"]] == ["policies/mountaincar/bang_bang.pol"]


def test_layout_change_hits_and_moves_the_lines(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    cli("check")
    pol = project / "policies/cartpole/worst.pol"
    pol.write_text("# three more\n# comment\n# lines\n" + pol.read_text().replace("\n\n", "\n\n\n"))
    _, cached, _ = cli("check", "policies/cartpole/worst.pol", "-f", "json")
    _, fresh, _ = cli("check", "policies/cartpole/worst.pol", "-f", "json", "--no-cache")
    hit, computed = _results(cached)["policies/cartpole/worst.pol"], _results(fresh)["policies/cartpole/worst.pol"]
    assert hit["cached"] is True
    assert [p["policy_line"] for p in hit["properties"]] == [p["policy_line"] for p in computed["properties"]]
    assert next(p["policy_line"] for p in hit["properties"] if p["id"] == "follow-right") == 18


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # truncated
        lambda text: "not json at all",
        lambda text: text.replace(FORMAT, "saferl-check-cache/0"),  # another format version
        lambda text: text.replace('"verdict": "UNSAFE"', '"verdict": "SAFE"'),  # inconsistent record
        lambda text: json.dumps(dict(json.loads(text), key="0" * 64)),  # another key's entry
        lambda text: "",
    ],
)
def test_damaged_entries_are_recomputed(project: Path, cli, damage) -> None:  # type: ignore[no-untyped-def]
    cli("check", "policies/cartpole/worst.pol")
    (entry,) = _entries(project)
    good = entry.read_text()
    entry.write_text(damage(good))
    code, out, _ = cli("check", "policies/cartpole/worst.pol", "-f", "json")
    assert code == 1
    assert _results(out)["policies/cartpole/worst.pol"]["cached"] is False
    assert _strip(json.loads(entry.read_text())["record"]) == _strip(json.loads(good)["record"])  # rewritten


def test_cache_dir_that_is_a_file_is_bad_input(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (project / "cachefile").write_text("x")
    code, out, err = cli("check", "--cache-dir", "cachefile")
    assert code == 2 and out == ""
    assert err == "saferl check: error: cache directory 'cachefile' is not a directory\n"


def test_unwritable_cache_warns_and_verifies(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (project / "blocker").write_text("x")  # a file where a folder is needed: cannot be created
    code, out, err = cli("check", "--cache-dir", "blocker/cache", "-f", "json")
    assert code == 1 and len(json.loads(out)["results"]) == 4
    assert err.startswith("saferl check: warning: cannot use cache directory 'blocker/cache'") and err.count("\n") == 1


def test_config_cache_dir_and_cache_clear(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("timeout = 20\n", 'timeout = 20\ncache-dir = "build/verdicts"\n'))
    cli("check")
    folder = project / "build/verdicts"
    assert len(list(folder.glob("??/*.json"))) == 4
    code, out, _ = cli("cache", "dir")
    assert code == 0 and out == f"{folder.resolve()}\n"
    code, out, _ = cli("cache", "clear")
    assert code == 0 and out == f"removed 4 cached results from {folder.resolve()}\n"
    assert not list(folder.glob("??/*.json")) and (folder / "CACHEDIR.TAG").is_file()
    code, out, _ = cli("check", "-f", "json")
    assert not any(r["cached"] for r in _results(out).values())


def test_clear_refuses_a_folder_saferl_did_not_make(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "ab").mkdir()
    (tmp_path / "ab" / ("a" * 64 + ".json")).write_text("{}")
    with pytest.raises(InputError, match="not a saferl cache"):
        clear_cache(tmp_path)
    code, _, err = cli("cache", "clear", "--cache-dir", str(tmp_path))
    assert code == 2 and "not a saferl cache" in err and (tmp_path / "ab").is_dir()
    assert cli("cache")[0] == 2


def _writer(folder: str, record: dict, rounds: int) -> None:
    cache = ResultCache(Path(folder))
    for i in range(rounds):
        cache.put("f" * 64, record, f"sha{i}", {"p": i % 5}, 5)


def test_concurrent_writers_never_leave_a_partial_entry(tmp_path: Path) -> None:
    record = {
        "policy": "p.pol", "spec": "s.yaml", "verdict": "SAFE",
        "properties": [{"id": "p", "verdict": "SAFE", "policy_line": 3, "solver_time_s": 0.1, "message": "x" * 20000}],
    }
    cache = ResultCache(tmp_path / "c")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path / "c"), record, 60)) for _ in range(3)]
    for p in procs:
        p.start()
    seen = 0
    while any(p.is_alive() for p in procs):
        hit = cache.get("f" * 64)
        if hit is not None:
            assert hit.record == record
            seen += 1
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert cache.get("f" * 64) is not None
    assert not list((tmp_path / "c").glob("**/.tmp-*"))


def test_key_covers_versions_and_options(monkeypatch: pytest.MonkeyPatch) -> None:
    import saferl.check.cache as cache_mod

    base = cache_key("sha256:a", "sha256:b", {"timeout_s": None}, {"z3-solver": "4.13"})
    assert re.fullmatch(r"[0-9a-f]{64}", cache_mod.verifier_fingerprint())
    monkeypatch.setattr(cache_mod, "_FINGERPRINT", ["another verifier"])
    assert base != cache_key("sha256:a", "sha256:b", {"timeout_s": None}, {"z3-solver": "4.13"})
    monkeypatch.undo()
    assert base != cache_key("sha256:a", "sha256:b", {"timeout_s": None}, {"z3-solver": "4.14"})
    assert base != cache_key("sha256:a", "sha256:b", {"timeout_s": 5.0}, {"z3-solver": "4.13"})
    assert base != cache_key("sha256:a", "sha256:c", {"timeout_s": None}, {"z3-solver": "4.13"})
    assert base == cache_key("sha256:a", "sha256:b", {"timeout_s": None}, {"z3-solver": "4.13"})


def test_a_warm_run_parses_no_policy(project: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import saferl.policy

    cli("check")

    def no_parsing(*_: object, **__: object) -> None:
        raise AssertionError("a warm run parsed a policy")

    monkeypatch.setattr(saferl.policy, "parse_policy", no_parsing)
    code, out, err = cli("check", "-f", "json")
    assert code == 1, err
    assert all(r["cached"] for r in _results(out).values())


def test_a_damaged_digest_memo_is_recomputed(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    cli("check", "policies/cartpole/worst.pol")
    (memo,) = sorted((project / ".saferl_cache" / "digests").glob("??/*.json"))
    doc = json.loads(memo.read_text())
    memo.write_text(json.dumps(dict(doc, digest="sha256:" + "0" * 64, source_sha="x")))  # another file's memo
    code, out, _ = cli("check", "policies/cartpole/worst.pol", "-f", "json")
    assert code == 1 and _results(out)["policies/cartpole/worst.pol"]["cached"] is True
    assert json.loads(memo.read_text()) == doc  # rewritten from a fresh parse
    memo.write_text("{")
    code, out, _ = cli("check", "policies/cartpole/worst.pol", "-f", "json")
    assert code == 1 and _results(out)["policies/cartpole/worst.pol"]["cached"] is True


def test_results_of_a_worker_with_other_versions_are_not_cached(project: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import saferl.check.forkbase as forkbase_mod
    import saferl.check.task as task_mod

    monkeypatch.setattr(forkbase_mod, "ISOLATION", "inline")  # the stand-in lives in this process
    real = task_mod.worker_versions
    calls = {"n": 0}

    def drifting() -> dict[str, str]:  # the first call is the parent's; then "workers" differ
        calls["n"] += 1
        return real() if calls["n"] == 1 else dict(real(), **{"z3-solver": "0.0.1"})

    monkeypatch.setattr(task_mod, "worker_versions", drifting)
    import saferl.check.fleet as fleet_mod

    monkeypatch.setattr(fleet_mod, "worker_versions", drifting)
    code, out, err = cli("check", "--jobs", "1", "-f", "json")
    assert code == 1 and len(json.loads(out)["results"]) == 4
    assert "its results are not cached" in err and err.count("\n") == 1
    assert _entries(project) == []
