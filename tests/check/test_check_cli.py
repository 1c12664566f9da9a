"""``saferl check`` end to end on real solvers: pairs, exit codes, formats, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from saferl.smt import solve as solve_mod

PAIRS = {
    ("policies/cartpole/intermediate.pol", "specs/cartpole/pole_follow.yaml"): "UNSAFE",
    ("policies/cartpole/near_optimal.pol", "specs/cartpole/pole_follow.yaml"): "SAFE",
    ("policies/cartpole/worst.pol", "specs/cartpole/pole_follow.yaml"): "UNSAFE",
    ("policies/mountaincar/bang_bang.pol", "specs/mountaincar/momentum.yaml"): "SAFE",
}


def test_every_configured_pair_exit_1(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("check", "-f", "json", "--jobs", "2")
    assert code == 1, err
    doc = json.loads(out)
    assert {(r["policy"], r["spec"]): r["verdict"] for r in doc["results"]} == PAIRS
    assert doc["verdict"] == "UNSAFE" and doc["errors"] == []
    assert doc["summary"]["counts"] == {"SAFE": 2, "UNSAFE": 2, "UNKNOWN": 0, "ERROR": 0}
    car = next(r for r in doc["results"] if r["policy"].endswith("bang_bang.pol"))
    assert all(p["cross_checked"] for p in car["properties"])  # the group's cross-check = true
    worst = next(r for r in doc["results"] if r["policy"].endswith("worst.pol"))
    bad = next(p for p in worst["properties"] if p["verdict"] == "UNSAFE")
    assert bad["id"] == "follow-right" and bad["counterexample"]["replayed"] is True


def test_text_one_line_per_pair_and_a_table(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("check", "--no-cache", "--jobs", "1")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("UNSAFE   policies/cartpole/intermediate.pol × specs/cartpole/pole_follow.yaml  3 properties")
    assert any(line.startswith("SAFE     policies/cartpole/near_optimal.pol × ") for line in lines)
    assert "         follow-right: UNSAFE at policies/cartpole/worst.pol:14: violated (counterexample replayed)" in lines
    assert lines[-1] == "verdict: UNSAFE"
    assert "SAFE          2       0" in lines and "UNSAFE        2       0" in lines


def test_paths_select_pairs_for_pre_commit(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("check", "policies/cartpole/near_optimal.pol", "policies/mountaincar", "-f", "json")
    assert code == 0, err
    assert [r["policy"] for r in json.loads(out)["results"]] == [
        "policies/cartpole/near_optimal.pol", "policies/mountaincar/bang_bang.pol",
    ]
    code, out, _ = cli("check", "specs/cartpole/pole_follow.yaml", "-f", "json")  # a spec selects its pairs
    assert code == 1 and len(json.loads(out)["results"]) == 3
    code, out, err = cli("check", "README.md")  # nothing of ours changed: nothing to check
    assert code == 2 and "no such file" in err
    (project / "README.md").write_text("hi\n")
    code, out, err = cli("check", "README.md")
    assert code == 0 and "no policy × spec pairs" in err


def test_without_configuration_spec_and_folders(tmp_path: Path, project: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, err = cli("check", str(project / "policies/cartpole"), "--spec", str(project / "specs/cartpole/pole_follow.yaml"), "-f", "json")
    assert code == 1, err
    got = {Path(r["policy"]).name: r["verdict"] for r in json.loads(out)["results"]}
    assert got == {"intermediate.pol": "UNSAFE", "near_optimal.pol": "SAFE", "worst.pol": "UNSAFE"}
    assert (elsewhere / ".saferl_cache" / "CACHEDIR.TAG").is_file()


def test_a_pair_that_cannot_be_verified_is_exit_2(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("check", "policies/cartpole/near_optimal.pol", "--spec", "specs/mountaincar/momentum.yaml")
    assert code == 2
    assert out.splitlines()[0].startswith("ERROR    policies/cartpole/near_optimal.pol × specs/mountaincar/momentum.yaml: ")
    code, out, _ = cli("check", "policies/cartpole", "--spec", "specs/mountaincar/momentum.yaml",
                       "--spec", "specs/cartpole/pole_follow.yaml", "-f", "json")
    assert code == 2  # an error outranks UNSAFE
    doc = json.loads(out)
    assert doc["verdict"] == "ERROR" and len(doc["errors"]) == 3 and len(doc["results"]) == 3


def test_unknown_is_exit_3_unless_allowed(project: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # a timeout cannot be forced reliably on a tiny tree: the solver answers unknown instead
    import saferl.check.forkbase as forkbase_mod

    monkeypatch.setattr(forkbase_mod, "ISOLATION", "inline")  # the stand-in lives in this process
    monkeypatch.setattr(
        solve_mod, "solve", lambda f, s, solver="z3", timeout_s=10.0, **_: solve_mod.SolveOutcome("unknown", solver, 0.0, reason="timeout")
    )
    # the tree's leaf boxes would prove it without a solver: encode it whole
    import saferl.smt.tree as tree_mod

    monkeypatch.setattr(tree_mod.TreeDecomposition, "decide", lambda *a, **k: None)
    args = ("check", "policies/cartpole/near_optimal.pol", "--jobs", "1")
    code, out, _ = cli(*args, "-f", "json")
    assert code == 3 and json.loads(out)["verdict"] == "UNKNOWN"
    assert cli(*args, "--allow-unknown")[0] == 0
    assert not list((project / ".saferl_cache").glob("*/*.json"))  # UNKNOWN is never cached


def test_sarif_relative_uris_for_code_scanning(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    cli("check", "policies/cartpole/worst.pol")  # warm one pair
    code, out, _ = cli("check", "-f", "sarif")
    assert code == 1
    run = json.loads(out)["runs"][0]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == project.resolve().as_uri() + "/"
    worst = [r for r in run["results"] if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "policies/cartpole/worst.pol"]
    assert worst and all(r["properties"]["cached"] for r in worst)
    bad = next(r for r in worst if r["level"] == "error")
    loc = bad["locations"][0]["physicalLocation"]
    assert loc == {"artifactLocation": {"uri": "policies/cartpole/worst.pol", "uriBaseId": "%SRCROOT%"}, "region": {"startLine": 14}}
    assert bad["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
    assert not any(r["properties"]["cached"] for r in run["results"] if "near_optimal" in json.dumps(r["locations"]))


def test_junit_github_and_summary(project: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    code, out, _ = cli("check", "-f", "junit", "--summary", str(summary))
    assert code == 1
    root = ET.fromstring(out)
    assert root.get("tests") == "12" and root.get("failures") == "2"
    text = summary.read_text()
    assert text.startswith("earlier step\n## saferl check\n")  # appended, as $GITHUB_STEP_SUMMARY wants
    assert "| UNSAFE | 2 | 0 |" in text and "| UNSAFE | `policies/cartpole/worst.pol:14` |" in text
    code, out, _ = cli("check", "-f", "github")
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("::error file=policies/cartpole/worst.pol,line=14,title=saferl UNSAFE%3A follow-right::violated")
    assert lines[1].endswith("%0A(cached verdict)")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--format", "xml"), "unknown format 'xml'"),
        (("--jobs", "0"), "--jobs must be at least 1"),
        (("--backend", "dask"), "unknown backend 'dask'"),
        (("--timeout", "-1"), "--timeout must be a positive number"),
        (("--bogus",), "unrecognized arguments: --bogus"),
        (("--baseline", "nope.json"), "baseline report not found"),
        (("--ray-address", "127.0.0.1:1"), "--ray-address needs --backend ray"),
    ],
)
def test_bad_options_are_one_line(project: Path, cli, argv: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("check", *argv)
    assert code == 2 and out == ""
    assert err.startswith("saferl check: error: ") and err.count("\n") == 1 and message in err


def test_a_broken_policy_is_one_line(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (project / "policies/cartpole/worst.pol").write_text("policy broken\nobs x: float32\nif x <= {\n")
    code, out, err = cli("check")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("saferl check: error: policies/cartpole/worst.pol:3:")


def test_help_and_registration(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("--help")
    assert code == 0 and "  check " in out and "  cache " in out
    code, out, _ = cli("check", "--help")
    assert code == 0 and "--baseline" in out and "--backend" in out


def test_a_pair_answers_the_same_whatever_ran_before(root: Path) -> None:
    from saferl.check.forkbase import close_isolation, verify_pair_isolated
    from saferl.check.task import PairTask, verify_pair

    def task(i: int, name: str) -> PairTask:
        spec = root / "specs/cartpole/pole_follow.yaml"
        return PairTask(i, name, (root / name).read_text(), "spec.yaml", spec.read_text())

    alone = verify_pair_isolated(task(0, "policies/cartpole/worst.pol"))
    for other in ("policies/cartpole/intermediate.pol", "policies/cartpole/near_optimal.pol"):
        verify_pair(task(1, other))  # in this process: the fork base does not see it
        verify_pair_isolated(task(1, other))
    after = verify_pair_isolated(task(0, "policies/cartpole/worst.pol"))
    close_isolation()
    assert alone.record is not None and after.record is not None
    strip = [(p["id"], p["verdict"], p["counterexample"]) for p in alone.record["properties"]]
    assert strip == [(p["id"], p["verdict"], p["counterexample"]) for p in after.record["properties"]]


def test_a_gridworld_program_is_an_error_pair_not_an_abort(project: Path, cli, root: Path) -> None:  # type: ignore[no-untyped-def]
    grid = project / "policies/gridworld/g.pol"
    grid.parent.mkdir()
    grid.write_text((root / "policies/gridworld/gen-s8-c4-seed1.pol").read_text())
    code, out, _ = cli("check", "policies", "--spec", "specs/cartpole/pole_follow.yaml", "-f", "json")
    doc = json.loads(out)
    assert code == 2 and [e["policy"] for e in doc["errors"]] == ["policies/gridworld/g.pol", "policies/mountaincar/bang_bang.pol"]
    assert "gridworld subgoal program" in doc["errors"][0]["error"]
    assert len(doc["results"]) == 3  # the CartPole trees were verified all the same


def test_check_starts_light(project: Path) -> None:
    import subprocess
    import sys

    code = (
        "import io, sys\n"
        "from saferl.cli import run\n"
        "run(['check'], io.StringIO(), io.StringIO())\n"  # verifies: the pairs run in fork bases
        "run(['check'], io.StringIO(), io.StringIO())\n"  # warm: answered from the cache
        "heavy = {'typer', 'rich', 'torch', 'sklearn', 'ray', 'gymnasium', 'z3', 'pysmt', 'cvc5', 'yaml', 'numpy'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"
