"""The examples in docstrings of the public core modules run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "saferl", "saferl.errors", "saferl.results", "saferl.policy", "saferl.policy.parser",
    "saferl.spec", "saferl.smt.encode", "saferl.smt.solve", "saferl.verify", "saferl.userfile",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failures == 0
