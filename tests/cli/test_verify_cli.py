"""``saferl verify`` as a user runs it: exit codes, golden reports, bad input."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from saferl.cli import run

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
WORST = str(ROOT / "policies/cartpole/worst.pol")
NEAR = str(ROOT / "policies/cartpole/near_optimal.pol")
FOLLOW = str(ROOT / "specs/cartpole/pole_follow.yaml")


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def normalise(text: str) -> str:
    text = text.replace(str(ROOT) + "/", "")
    text = re.sub(r'"solver_time_s": [0-9.e-]+', '"solver_time_s": 0', text)
    text = re.sub(r'time="[0-9.]+"', 'time="0"', text)
    return re.sub(r"\d+\.\d{3} s", "0.000 s", text)


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "junit"])
@pytest.mark.parametrize("policy", ["worst", "near_optimal"])
def test_golden_reports(fmt: str, policy: str) -> None:
    code, out, err = cli("verify", str(ROOT / f"policies/cartpole/{policy}.pol"), "--spec", FOLLOW, "--format", fmt)
    assert code == (1 if policy == "worst" else 0), err
    assert err == ""
    got = normalise(out)
    golden = GOLDEN / f"verify_{policy}.{ 'txt' if fmt == 'text' else fmt if fmt != 'junit' else 'xml'}"
    if os.environ.get("SAFERL_UPDATE_GOLDEN"):
        golden.write_text(got)
    assert got == golden.read_text()


def test_sarif_points_at_the_pol_line_and_rule() -> None:
    code, out, _ = cli("verify", WORST, "--spec", FOLLOW, "--format", "sarif")
    doc = json.loads(out)
    assert doc["version"] == "2.1.0"
    results = doc["runs"][0]["results"]
    bad = [r for r in results if r["level"] == "error"]
    assert [r["ruleId"] for r in bad] == ["follow-right"]
    region = bad[0]["locations"][0]["physicalLocation"]["region"]
    # the counterexample executes 'push = left' under 'cart_velocity <= 0.5' (line 13)
    assert Path(WORST).read_text().splitlines()[region["startLine"] - 1].strip() == "push = left"
    assert {r["id"] for r in doc["runs"][0]["tool"]["driver"]["rules"]} == {"follow-right", "follow-left", "push-is-a-label"}


def test_junit_has_one_testcase_per_property() -> None:
    code, out, _ = cli("verify", WORST, "--spec", FOLLOW, "--format", "junit")
    root = ET.fromstring(out)
    cases = root.findall(".//testcase")
    assert [c.get("name") for c in cases] == ["follow-right", "follow-left", "push-is-a-label"]
    assert [c.find("failure") is not None for c in cases] == [True, False, False]
    assert root.get("failures") == "1"


def test_output_file(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    code, out, _ = cli("verify", NEAR, "--spec", FOLLOW, "-f", "json", "-o", str(target))
    assert code == 0 and out == ""
    assert json.loads(target.read_text())["verdict"] == "SAFE"


def test_unknown_is_exit_3_unless_allowed(tmp_path: Path) -> None:
    pol = tmp_path / "nl.pol"
    pol.write_text("policy nl\nobs x: float64\nobs y: float64\nobs z: float64\nact f: continuous\nf = x * x * y - z * z * x + y * y * z\n")
    spec = tmp_path / "nl.yaml"
    spec.write_text(
        "observations: {x: [-100, 100], y: [-100, 100], z: [-100, 100]}\n"
        "properties:\n  - {id: p, kind: invariant, when: 'x * y > 3 and z * x < 2', require: 'f < 1000000'}\n"
    )
    code, out, _ = cli("verify", str(pol), "--spec", str(spec), "--timeout", "0.001", "-f", "json")
    verdict = json.loads(out)["verdict"]
    assert (code, verdict) in ((3, "UNKNOWN"), (1, "UNSAFE"))
    if code == 3:
        code2, _, _ = cli("verify", str(pol), "--spec", str(spec), "--timeout", "0.001", "--allow-unknown")
        assert code2 == 0


def test_cross_check_passes_on_agreement() -> None:
    code, out, _ = cli("verify", WORST, "--spec", FOLLOW, "--cross-check", "-f", "json")
    assert code == 1
    assert all(p["cross_checked"] for p in json.loads(out)["results"][0]["properties"])


BAD_POL = "policy p\nobs x: float32\nact a: discrete {l = 0, r = 1}\nif x <= { a = l } else { a = r }\n"


@pytest.mark.parametrize(
    ("policy_text", "spec_text", "expect"),
    [
        (BAD_POL, None, r"p\.pol:4:9: expected an expression, found '\{'"),
        ("", None, r"p\.pol:1:1: empty policy file"),
        (b"\x00\x01\x02garbage\xff", None, r"p\.pol:1:1: binary data"),
        (b"policy p\n\xff\xfe", None, r"p\.pol:2:1: not valid UTF-8"),
        ("policy p\nobs x: float32\nact a: continuous\na = 1e999\n", None, r"p\.pol:4:5: constant 1e999 is too large"),
        ("policy p\nobs x: float32\nact a: continuous\na = y\n", None, r"p\.pol:4:5: unknown observation 'y'"),
        (None, "properties: [\n", r"s\.yaml:2:1: invalid YAML"),
        (None, "", r"s\.yaml:1:1: empty spec file"),
        (None, b"\x89PNG\r\n\x1a\n\x00\x00", r"s\.yaml:1:1: binary data"),
        (None, "properties:\n  - {id: a, kind: bounds, action: push, range: [0, .nan]}\n", r"s\.yaml:2:52: .*finite number"),
        (None, "properties:\n  - {id: a, kind: invariant, require: 'pushh == right'}\n", r"s\.yaml:2:40: unknown name 'pushh'"),
        (None, "properties:\n  - {id: a, kind: invariant, require: 'push == 1', when: 7}\n", r"s\.yaml:2:58: when must be text"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, policy_text, spec_text, expect: str) -> None:
    pol = tmp_path / "p.pol"
    spec = tmp_path / "s.yaml"
    for path, content, default in ((pol, policy_text, Path(NEAR).read_bytes()), (spec, spec_text, Path(FOLLOW).read_bytes())):
        data = default if content is None else content
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    code, out, err = cli("verify", str(pol), "--spec", str(spec))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert re.search(expect, err), err


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "missing.pol", "--spec", FOLLOW],
        ["verify", NEAR, "--spec", str(ROOT)],
        ["verify", str(ROOT), "--spec", FOLLOW],
        ["verify", NEAR, "--spec", FOLLOW, "--format", "pdf"],
        ["verify", NEAR, "--spec", FOLLOW, "--timeout", "-1"],
        ["verify", NEAR, "--spec", FOLLOW, "--solver", "yices"],
        ["verify", NEAR],
        ["verify", NEAR, "--spec", FOLLOW, "--nope"],
        ["frobnicate"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str]) -> None:
    code, out, err = cli(*argv)
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err, err


def test_subprocess_entry_point_imports_no_torch() -> None:
    code = (  # noqa: UP031
        "import sys, runpy; sys.argv = ['saferl', 'verify', %r, '--spec', %r, '-f', 'json'];"
        "import saferl.cli as c; rc = c.run(sys.argv[1:]);"
        "heavy = [m for m in ('torch', 'sklearn', 'gymnasium') if m in sys.modules];"
        "print('HEAVY', heavy, file=sys.stderr); sys.exit(rc)"
    ) % (NEAR, FOLLOW)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr
    assert json.loads(proc.stdout)["verdict"] == "SAFE"


def test_import_saferl_is_light() -> None:
    code = "import sys, saferl, saferl.policy, saferl.spec, saferl.verify; print(sorted(m for m in ('torch','sklearn','typer','rich','gymnasium') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_several_policies_and_folders_give_one_report_and_the_worst_exit_code(tmp_path: Path) -> None:
    code, out, err = cli("verify", NEAR, str(ROOT / "policies/cartpole"), "--spec", FOLLOW, "--format", "json")
    assert code == 1, err  # worst.pol and intermediate.pol are UNSAFE
    doc = json.loads(out)
    names = [Path(r["policy"]).name for r in doc["results"]]
    assert names[0] == "near_optimal.pol" and "worst.pol" in names and len(names) == 1 + len(list((ROOT / "policies/cartpole").glob("*.pol")))
    assert doc["verdict"] == "UNSAFE"
    code, out, _ = cli("verify", NEAR, str(ROOT / "policies/cartpole/pole_only.pol"), "--spec", FOLLOW, "--format", "json")
    assert code == 0 and json.loads(out)["verdict"] == "SAFE"
    (tmp_path / "empty").mkdir()
    code, out, err = cli("verify", str(tmp_path / "empty"), "--spec", FOLLOW)
    assert code == 2 and out == "" and err.endswith("the folder holds no .pol policy\n")
