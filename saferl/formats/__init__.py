"""One loader for every policy file: .pol, saferl model directories, stable-baselines3 zips,
ONNX MLPs and skops scikit-learn trees.  Nothing is unpickled, nothing is executed;
TorchScript is refused with the reason.

Heavy libraries (torch, onnx, skops, scikit-learn) are imported only when a file of theirs
is read.

Example:
    >>> from saferl.formats import load_policy_file
    >>> policy = load_policy_file("policies/cartpole/near_optimal.pol")       # doctest: +SKIP
    >>> policy.act([0.0, 0.0, 0.01, 0.0])                                      # doctest: +SKIP
    1
"""

from __future__ import annotations

from saferl.formats.detect import FORMATS, detect_format
from saferl.formats.loader import (
    KINDS,
    kind_of,
    load_neural_model,
    load_policy_file,
    load_program,
    load_program_source,
)
from saferl.formats.names import PolicyNames, load_names_file

__all__ = [
    "FORMATS",
    "KINDS",
    "PolicyNames",
    "detect_format",
    "kind_of",
    "load_names_file",
    "load_neural_model",
    "load_policy_file",
    "load_program",
    "load_program_source",
]
