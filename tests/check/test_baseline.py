"""``--baseline``: only pairs that got worse than an earlier json report fail the gate."""

from __future__ import annotations

import json
from pathlib import Path


def test_known_failures_pass_new_ones_fail(project: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    baseline = tmp_path / "baseline.json"
    code, _, _ = cli("check", "-f", "json", "-o", str(baseline))
    assert code == 1  # two UNSAFE pairs today
    code, out, err = cli("check", "--baseline", str(baseline))
    assert code == 0, err
    assert "(in baseline)" in out and "(new)" not in out
    # near_optimal gets worse: it now pushes left while the pole falls right
    pol = project / "policies/cartpole/near_optimal.pol"
    pol.write_text(pol.read_text().replace("    } else {\n      push = right\n    }\n  }\n}", "    } else {\n      push = left\n    }\n  }\n}"))
    code, out, _ = cli("check", "--baseline", str(baseline), "-f", "json")
    assert code == 1
    worse = {r["policy"]: r["regression"] for r in json.loads(out)["results"]}
    assert worse == {
        "policies/cartpole/intermediate.pol": False,
        "policies/cartpole/near_optimal.pol": True,
        "policies/cartpole/worst.pol": False,
        "policies/mountaincar/bang_bang.pol": False,
    }
    code, out, _ = cli("check", "--baseline", str(baseline), "-f", "sarif")
    states = {r["baselineState"] for r in json.loads(out)["runs"][0]["results"]}
    assert states == {"new", "unchanged"}


def test_a_bad_baseline_is_one_line(project: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "b.json"
    bad.write_text('{"results": [\n  {"policy": 1}\n')
    code, out, err = cli("check", "--baseline", str(bad))
    assert code == 2 and out == "" and err.count("\n") == 1 and "baseline is not JSON" in err
    bad.write_text('{"results": 3}')
    code, _, err = cli("check", "--baseline", str(bad))
    assert code == 2 and "not a saferl json report" in err
