"""The argparse commands' help is laid out at the terminal's width without shutil, as argparse would."""

from __future__ import annotations

import argparse
import shutil

import pytest

from saferl.cli._plain import terminal_columns
from saferl.cli.verify import build_parser


@pytest.mark.parametrize("columns", [None, "", "abc", "0", "-5", "33", "120"])
def test_help_is_argparse_own_layout(columns: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert terminal_columns() == shutil.get_terminal_size().columns
    ours = build_parser()
    theirs = build_parser()
    theirs.formatter_class = argparse.HelpFormatter  # sizes itself with shutil
    assert ours.format_help() == theirs.format_help()
