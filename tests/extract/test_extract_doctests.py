"""The docstring examples of the learning and extraction modules run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["saferl.learn", "saferl.learn.envs", "saferl.learn.model", "saferl.learn.sb3", "saferl.extract", "saferl.extract.programs"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failures == 0
