"""saferl certify / synth / grid through the CLI entry point (and one real subprocess)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from saferl.cli import run

REPO = Path(__file__).resolve().parents[2]
GRID = REPO / "grids" / "gen-s12-c8-seed7.json"
POLICY = REPO / "policies" / "gridworld" / "gen-s12-c8-seed7.pol"


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_certify_example_text_and_json() -> None:
    code, out, err = _run("certify", str(GRID), str(POLICY))
    assert code == 0, err
    assert "CERTIFIED" in out and "6 moves (shortest)" in out
    code, out, _ = _run("certify", str(GRID), str(POLICY), "--format", "json")
    rec = json.loads(out)
    assert code == 0 and rec["certified"] and rec["moves"] == 6 and rec["shortest"] is True
    assert rec["path"][0] == "(0, 0)"


@pytest.mark.parametrize("name", ["gen-s8-c4-seed1", "gen-s12-c8-seed7", "gen-s20-c14-seed3", "gen-s30-c20-seed11"])
def test_committed_examples_certify(name: str) -> None:
    code, _, err = _run("certify", str(REPO / "grids" / f"{name}.json"),
                        str(REPO / "policies" / "gridworld" / f"{name}.pol"), "--require-shortest")
    assert code == 0, err


def test_synth_writes_a_certified_program(tmp_path: Path) -> None:
    out_pol = tmp_path / "p.pol"
    code, out, err = _run("synth", str(GRID), "-o", str(out_pol), "--name", "mine")
    assert code == 0, err
    assert "certified program written" in out
    assert out_pol.read_text() == POLICY.read_text().replace("policy gen_s12_c8_seed7", "policy mine")
    code, out, _ = _run("synth", str(GRID), "--format", "json")
    rec = json.loads(out)
    assert rec["certificate"]["certified"] and rec["instructions"] <= rec["size_bound"]
    code, out, _ = _run("synth", str(GRID))
    assert out.startswith("policy gen_s12_c8_seed7\ngridworld size 12")


def test_synth_reports_the_depth_cap(tmp_path: Path) -> None:
    code, _, err = _run("synth", str(GRID), "--depth-cap", "2", "-o", str(tmp_path / "x.pol"))
    assert code == 3
    assert "depth cap 2" in err
    assert not (tmp_path / "x.pol").exists()


def test_synth_unreachable_target_exits_1(tmp_path: Path) -> None:
    grid = tmp_path / "g.json"
    grid.write_text(json.dumps({
        "format": "saferl-gridworld", "version": 1, "size": 2, "start": [0, 0], "target": 1,
        "regions": [{"moves": "L", "vertices": [[0, 0], [2, 0], [0, 2]]},
                    {"moves": "", "vertices": [[2, 0], [2, 2], [0, 2]]}]}))
    code, _, err = _run("synth", str(grid))
    assert code == 1 and "cannot be reached" in err


def test_refuted_program_exits_1_with_the_failing_step(tmp_path: Path) -> None:
    text = POLICY.read_text()
    lines = text.splitlines()
    # drop the second block: the run stands on an edge with no rule
    start = lines.index("do", 5)
    end = lines.index("", start)
    broken = "\n".join(lines[:start] + lines[end + 1:]) + "\n"
    pol = tmp_path / "broken.pol"
    pol.write_text(broken)
    code, out, _ = _run("certify", str(GRID), str(pol))
    assert code == 1
    assert "REFUTED" in out and "no rule for the edge" in out
    code, out, _ = _run("certify", str(GRID), str(pol), "-f", "json")
    rec = json.loads(out)
    assert rec["failure"]["step"] == 1 and "no rule" in rec["failure"]["reason"]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["certify", "missing.json", "x.pol"], "grid file not found"),
        (["certify", str(GRID), "missing.pol"], "policy file not found"),
        (["certify", str(GRID), str(POLICY), "--format", "xml"], "unknown format"),
        (["synth", str(GRID), "--name", "9lives"], "bad policy name"),
        (["grid", "render", str(GRID), "-o", "out.gif"], "unknown image type"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv: list[str], fragment: str) -> None:
    code, _, err = _run(*argv)
    assert code == 2
    assert fragment in err and err.count("\n") == 1


def test_policy_parse_error_points_at_the_line(tmp_path: Path) -> None:
    pol = tmp_path / "bad.pol"
    pol.write_text(POLICY.read_text().replace("reach [", "reach (", 1))
    code, _, err = _run("certify", str(GRID), str(pol))
    assert code == 2
    assert f"{pol}:6:11: expected '['" in err


def test_render_svg_and_png(tmp_path: Path) -> None:
    svg = tmp_path / "g.svg"
    code, out, err = _run("grid", "render", str(GRID), str(POLICY), "-o", str(svg))
    assert code == 0, err
    text = svg.read_text()
    assert text.startswith("<svg") and text.count("<polygon") >= 10 and "path of 6 moves" in text
    png = tmp_path / "g.png"
    code, _, err = _run("grid", "render", str(GRID), "-o", str(png), "--px", "300")
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_generate_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert _run("grid", "generate", "--size", "12", "--chords", "8", "--seed", "7", "--far", "-o", str(a))[0] == 0
    assert _run("grid", "generate", "--size", "12", "--chords", "8", "--seed", "7", "--far", "-o", str(b))[0] == 0
    assert a.read_text() == b.read_text() == GRID.read_text()


def test_convert_smol_instance(smol: Path, tmp_path: Path) -> None:
    ours = tmp_path / "spiral.json"
    assert _run("grid", "convert", str(smol / "spiral" / "polygongrid.json"), "-o", str(ours))[0] == 0
    code, out, err = _run("certify", str(ours), str(smol / "spiral" / "subgoals_policy.json"), "-f", "json")
    assert code == 0, err
    assert json.loads(out)["moves"] == 92


def test_subprocess_python_m_saferl_certify() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "saferl", "certify", str(GRID), str(POLICY), "--format", "json"],
        capture_output=True, text=True, cwd=str(REPO), timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["certified"] is True


def test_start_inside_a_region(tmp_path: Path) -> None:
    grid = tmp_path / "inner.json"
    grid.write_text(json.dumps({
        "format": "saferl-gridworld", "version": 1, "size": 4, "start": ["1/2", "1/2"], "target": 1,
        "regions": [{"moves": "RU", "vertices": [[0, 0], [4, 0], [0, 4]]},
                    {"moves": "", "vertices": [[4, 0], [4, 4], [0, 4]]}]}))
    pol = tmp_path / "inner.pol"
    code, _, err = _run("synth", str(grid), "-o", str(pol))
    assert code == 0, err
    assert "start (1/2, 1/2) on [(4, 0) -- (0, 4)]" in pol.read_text()
    code, out, err = _run("certify", str(grid), str(pol), "-f", "json")
    assert code == 0 and json.loads(out)["moves"] == 1
