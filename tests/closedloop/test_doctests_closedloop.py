"""The examples in the docstrings of dynamics and closedloop run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

pytest.importorskip("gymnasium")


@pytest.mark.parametrize("name", ["saferl.dynamics", "saferl.closedloop"])
def test_docstring_examples(name: str) -> None:
    failures, _ = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert failures == 0
