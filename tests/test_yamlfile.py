"""The plain-data YAML loader every YAML reader uses (specs, names files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from saferl.errors import InputError
from saferl.formats.names import load_names_file
from saferl.yamlfile import parse_user_yaml


def test_numbers_and_text() -> None:
    data = parse_user_yaml("a: 1e-30\nb: 1E5\nc: 2026-11-29\nd: yes\ne: 0x10\nf: ~\ng: '1e-30'\n", "y.yaml", "file")
    assert data == {"a": 1e-30, "b": 1e5, "c": "2026-11-29", "d": True, "e": 16, "f": None, "g": "1e-30"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: " + "[" * 100_000, "y.yaml:1:67: lists and mappings nested deeper than 64 levels (limit max_data_depth)"),
        ("a: !!python/object/apply:os.system [ls]\n",
         "y.yaml:1:4: YAML tag '!!python/object/apply:os.system' is not allowed "
         "(hint: a names file is plain data: text, numbers, lists and mappings)"),
        ("a: [1,\n", "y.yaml:2:1: invalid YAML: expected the node content, but found '<stream end>'"),
        ("a: \x07\n", "y.yaml:1:4: invalid YAML: unacceptable character U+0007 (hint: YAML allows no control characters)"),
        ("a: " + "9" * 5000 + "\n", "y.yaml:1:4: number longer than 100 characters (limit max_number_length)"),
    ],
    ids=["deep", "tag", "syntax", "control", "huge-int"],
)
def test_errors_are_one_line(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_user_yaml(text, "y.yaml", "names file")
    assert str(info.value) == message


def test_names_file_reads_through_it(tmp_path: Path) -> None:
    path = tmp_path / "n.yaml"
    path.write_text("obs: [a]\nlow: 1e-30\n")
    assert load_names_file(path).low == 1e-30
    path.write_text("obs: " + "[" * 10_000 + "\n")
    with pytest.raises(InputError, match="limit max_data_depth"):
        load_names_file(path)
