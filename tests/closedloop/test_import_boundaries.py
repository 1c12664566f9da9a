"""The verify path never imports dynamics or closedloop, and loading a closed-loop spec
needs no numpy."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
import saferl, saferl.cli.verify, saferl.verify
from saferl.spec import parse_spec
parse_spec("properties:\\n  - {id: p, kind: safety, dynamics: CartPole-v1, initial: reset, always: abs(theta) <= 0.2, horizon: 5}\\n")
bad = sorted(m for m in sys.modules if m.startswith(("saferl.dynamics", "saferl.closedloop", "torch", "gymnasium")))
print(",".join(bad))
"""


def test_verify_path_stays_clear_of_closed_loop():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
