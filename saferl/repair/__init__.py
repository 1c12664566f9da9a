"""Automatic repair: counterexample-guided, by constraint solving, re-verified.

``repair_policy(program, spec, RepairOptions(...))`` returns a :class:`RepairResult`
whose policy is proved SAFE (status ``repaired``), or says why no repair exists within
the policy's shape and the budget (status ``unrepairable``).  See docs/repair.md.
"""

from saferl.repair.engine import RepairOptions, repair_policy
from saferl.repair.result import Attempt, Edit, ParamChange, RepairResult, Witness

__all__ = ["repair_policy", "RepairOptions", "RepairResult", "ParamChange", "Edit", "Witness", "Attempt"]
