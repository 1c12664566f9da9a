"""Gridworlds: exact geometry, instances, the backward tree, synthesis and the certifier.

Everything here computes with ``fractions.Fraction``; nothing on the certificate path uses
floats.  Importing this package pulls in no typer, rich or matplotlib.

Example:
    >>> from saferl.gridworld import generate_grid, synthesize, certify_program
    >>> grid = generate_grid(size=6, n_chords=3, seed=1)
    >>> result = synthesize(grid)
    >>> certify_program(grid, result.program).certified
    True
"""

from __future__ import annotations

from saferl.gridworld.certify import CertifyResult, StepFailure, certify_program, run_program
from saferl.gridworld.generator import generate_grid
from saferl.gridworld.instance import GridWorld, validate_grid
from saferl.gridworld.io import load_grid, load_grid_and_program, load_program, save_grid_json
from saferl.gridworld.polfile import format_subgoal_pol, parse_subgoal_pol
from saferl.gridworld.program import Block, Rule, Segment, SubgoalProgram, Target
from saferl.gridworld.synth import SynthResult, synthesize
from saferl.gridworld.tree import BackwardTree, build_backward_tree, shortest_path_length

__all__ = [
    "GridWorld",
    "validate_grid",
    "generate_grid",
    "load_grid",
    "load_program",
    "load_grid_and_program",
    "save_grid_json",
    "Segment",
    "Target",
    "Rule",
    "Block",
    "SubgoalProgram",
    "parse_subgoal_pol",
    "format_subgoal_pol",
    "BackwardTree",
    "build_backward_tree",
    "shortest_path_length",
    "SynthResult",
    "synthesize",
    "CertifyResult",
    "StepFailure",
    "certify_program",
    "run_program",
]
