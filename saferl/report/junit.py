"""JUnit XML: one testsuite per policy × spec, one testcase per property."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from xml.etree import ElementTree as ET


def render_junit(records: Sequence[dict[str, Any]], *, allow_unknown: bool = False) -> str:
    root = ET.Element("testsuites", name="saferl verify")
    total = failures = skipped = 0
    for rec in records:
        props = rec["properties"]
        suite = ET.SubElement(root, "testsuite", name=f"{rec['policy']} :: {rec['spec']}")
        s_fail = s_skip = 0
        s_time = 0.0
        for p in props:
            case = ET.SubElement(
                suite, "testcase", classname=rec["policy_name"], name=p["id"], time=f"{p['solver_time_s']:.6f}"
            )
            s_time += p["solver_time_s"]
            if p["verdict"] == "UNSAFE":
                s_fail += 1
                f = ET.SubElement(case, "failure", type="UNSAFE", message=p["message"])
                f.text = json.dumps(p["counterexample"], indent=2)
            elif p["verdict"] == "UNKNOWN":
                if allow_unknown:
                    s_skip += 1
                    ET.SubElement(case, "skipped", message=f"UNKNOWN: {p['message']}")
                else:
                    s_fail += 1
                    ET.SubElement(case, "failure", type="UNKNOWN", message=p["message"])
        suite.set("tests", str(len(props)))
        suite.set("failures", str(s_fail))
        suite.set("errors", "0")
        suite.set("skipped", str(s_skip))
        suite.set("time", f"{s_time:.6f}")
        total += len(props)
        failures += s_fail
        skipped += s_skip
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", "0")
    root.set("skipped", str(skipped))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
