"""Extract verifiable policies from neural oracles: VIPER trees and PID programs.

Example:
    >>> from saferl.learn import load_model
    >>> from saferl.extract import extract_tree, ViperConfig
    >>> result = extract_tree(load_model("oracles/cartpole-ppo"), "CartPole-v1")   # doctest: +SKIP
    >>> print(result.pol_text)                                                      # doctest: +SKIP
"""

from __future__ import annotations

from saferl.extract.programs import PidProgram, TreePolicy
from saferl.extract.synth import ProgramConfig, extract_program
from saferl.extract.viper import ExtractResult, ViperConfig, extract_tree, tree_from_sklearn

__all__ = [
    "ExtractResult",
    "PidProgram",
    "ProgramConfig",
    "TreePolicy",
    "ViperConfig",
    "extract_program",
    "extract_tree",
    "tree_from_sklearn",
]
