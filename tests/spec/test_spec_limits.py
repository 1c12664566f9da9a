"""Spec limits and YAML rules: one line naming the limit at the YAML line, numbers as
people write them, no tags, empty ids and fractional windows refused."""

from __future__ import annotations

import time

import pytest

from saferl.errors import SpecError
from saferl.limits import MAX_NESTING_DEPTH
from saferl.spec import parse_spec

PROP = "spec: s\nproperties:\n  - id: r\n    kind: {kind}\n"


def spec_error(text: str) -> str:
    with pytest.raises(SpecError) as info:
        parse_spec(text, "s.yaml")
    return str(info.value)


def invariant(require: str) -> str:
    return PROP.format(kind="invariant") + f"    require: {require}\n"


DEEP = f"nesting deeper than {MAX_NESTING_DEPTH} levels (limit max_nesting_depth) " \
       "(hint: split the expression or flatten the nesting)"


@pytest.mark.parametrize(
    ("require", "where"),
    [
        ("(" * 10_000 + "a" + ")" * 10_000 + " <= 1", "s.yaml:5:142"),
        ("(" * 10_000 + "a <= 1" + ")" * 10_000, "s.yaml:5:142"),
        ("not " * 10_000 + "a <= 1", "s.yaml:5:526"),
        ("a <= " + "- " * 10_000 + "1", "s.yaml:5:275"),
        ("abs(" * 10_000 + "a" + ")" * 10_000 + " <= 1", "s.yaml:5:526"),
        (" + ".join(["a"] * 20_000) + " <= 1", "s.yaml:5:268"),
        ("sum(k = 0..99, a) <= 1", "s.yaml:5:14"),
    ],
    ids=["parentheses", "parenthesised-condition", "not", "unary-minus", "abs", "flat-sum", "unrolled-sum"],
)
def test_deep_expressions_name_the_nesting_limit(require: str, where: str) -> None:
    start = time.perf_counter()
    assert spec_error(invariant(require)) == f"{where}: {DEEP}"
    assert time.perf_counter() - start < 5


def test_sum_expansion_limit_before_any_work() -> None:
    start = time.perf_counter()
    text = PROP.format(kind="smoothness") + "    require: sum(i = 0..999, sum(j = 0..999, sum(k = 0..999, a[t-1]))) <= 2\n"
    assert spec_error(text) == "s.yaml:5:30: sum(...) unrolls to more than 10000 terms (limit max_sum_expansion)"
    assert time.perf_counter() - start < 1
    many = "max(" + ", ".join(["sum(k = 0..9, a[t-1])"] * 1001) + ")"
    assert "limit max_sum_expansion" in spec_error(PROP.format(kind="smoothness") + f"    require: {many} <= 2\n")


def test_nested_sums_within_the_limits_unroll() -> None:
    text = PROP.format(kind="smoothness") + "    require: sum(i = 1..3, sum(j = 1..4, a[t-i] - a[t-j])) <= 2\n"
    assert parse_spec(text).properties[0].window == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("spec: s\nproperties: " + "[" * 100_000 + "]" * 100_000 + "\n",
         "s.yaml:2:76: lists and mappings nested deeper than 64 levels (limit max_data_depth)"),
        (PROP.format(kind="bounds") + "    action: a\n    range: [-1, " + "9" * 5000 + "]\n",
         "s.yaml:6:17: number longer than 100 characters (limit max_number_length)"),
        (invariant("a <= " + "9" * 5000),
         "s.yaml:5:19: number longer than 100 characters (limit max_number_length) "
         "(hint: a float64 needs at most 17 significant digits)"),
        (invariant("a <= 1²"), "s.yaml:5:19: malformed number '1²' (hint: put a space or operator after a number)"),
        (PROP.format(kind="smoothness") + "    require: a[t-1001] <= 1\n",
         "s.yaml:5:16: history index looks back more than 1000 steps (limit max_history_lag)"),
        (PROP.format(kind="smoothness") + "    require: a[t-1] <= 1\n    window: 5000\n",
         "s.yaml:6:13: window 5000 is longer than 1000 steps (limit max_history_lag)"),
        ("spec: s\n" + "k" * 201 + ": 1\n", "s.yaml:2:1: key longer than 200 characters (limit max_name_length)"),
        (invariant("b" * 201 + " <= 1"), "s.yaml:5:14: name longer than 200 characters (limit max_name_length)"),
    ],
    ids=["yaml-depth", "yaml-number", "expr-number", "superscript", "lag", "window", "key", "name"],
)
def test_pinned_limit_messages(text: str, message: str) -> None:
    assert spec_error(text) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("spec: s\nproperties:\n  - id:\n    kind: bounds\n    action: a\n    range: [-1, 1]\n",
         "s.yaml:3:8: the property's id is empty (hint: write a name after the colon)"),
        ("spec: s\nproperties:\n  - id: ~\n    kind: bounds\n    action: a\n    range: [-1, 1]\n",
         "s.yaml:3:9: the property's id is empty (hint: write a name after the colon)"),
        ("spec:\nproperties:\n  - id: r\n    kind: bounds\n    action: a\n    range: [-1, 1]\n",
         "s.yaml:1:6: the spec's name is empty (hint: write a name after the colon)"),
        ("spec: s\nproperties:\n  - id: yes\n    kind: bounds\n    action: a\n    range: [-1, 1]\n",
         "s.yaml:3:9: the property's id must be a name, got 'yes' (hint: quote it if it is meant as text)"),
        ("spec: s\nproperties:\n  - id: !!python/object:os.system x\n    kind: bounds\n    action: a\n    range: [-1, 1]\n",
         "s.yaml:3:9: YAML tag '!!python/object:os.system' is not allowed "
         "(hint: a spec is plain data: text, numbers, lists and mappings)"),
        ("spec: s\nproperties:\n  - id: !custom x\n    kind: bounds\n    action: a\n    range: [-1, 1]\n",
         "s.yaml:3:9: YAML tag '!custom' is not allowed (hint: a spec is plain data: text, numbers, lists and mappings)"),
        ("spec: s\nproperties:\n  - id: r\n    kind: bounds\n    action: a\n    range: !!binary AAAA\n",
         "s.yaml:6:12: YAML tag '!!binary' is not allowed (hint: a spec is plain data: text, numbers, lists and mappings)"),
        ("spec: s\nproperties:\n  - id: r\n    kind: bounds\n    action: a\n    allowed: [l, ~]\n",
         "s.yaml:6:18: a label is empty (hint: write a name after the colon)"),
        (PROP.format(kind="smoothness") + "    require: abs(a[t] - a[t-1]) <= 1\n    window: 1.5\n",
         "s.yaml:6:13: window must be a whole number, got '1.5'"),
        (PROP.format(kind="smoothness") + "    require: abs(a[t] - a[t-1]) <= 1\n    window: 2.0\n",
         "s.yaml:6:13: window must be a whole number, got '2.0'"),
        (PROP.format(kind="bounds") + "    action: a\n    range: [-1, .inf]\n",
         "s.yaml:6:17: range's high end must be a finite number, got '.inf'"),
    ],
    ids=["empty-id", "null-id", "empty-spec-name", "bool-id", "python-tag", "custom-tag", "binary-tag",
         "empty-label", "fractional-window", "float-window", "infinite"],
)
def test_yaml_values(text: str, message: str) -> None:
    assert spec_error(text) == message


@pytest.mark.parametrize(
    ("written", "value"),
    [("1e-30", 1e-30), ("1E5", 1e5), ("-2.5e+3", -2500.0), ("-.5", -0.5), ("1_000.5", 1000.5), ("3", 3.0),
     ("0.25", 0.25), ("1.", 1.0), ("+7e0", 7.0)],
)
def test_numbers_as_people_write_them(written: str, value: float) -> None:
    spec = parse_spec(PROP.format(kind="bounds") + f"    action: a\n    range: [-10000, {written}]\n    timeout: {written.lstrip('-') if not written.startswith('-') else '1'}\n")
    assert spec.properties[0].high == value
    assert isinstance(spec.properties[0].high, float)


def test_an_empty_id_of_a_closed_loop_property_is_an_error() -> None:
    text = "spec: s\nproperties:\n  - id:\n    kind: safety\n    dynamics: CartPole-v1\n    initial: reset\n" \
           "    always: abs(theta) <= 0.2\n    horizon: 10\n"
    assert spec_error(text) == "s.yaml:3:8: the property's id is empty (hint: write a name after the colon)"


def test_control_characters_are_one_line_at_their_place() -> None:
    assert spec_error("spec: s\nproperties:\n  - id: r\x7f\n") == (
        "s.yaml:3:10: invalid YAML: unacceptable character U+007F (hint: YAML allows no control characters)"
    )


def test_text_that_looks_numeric_stays_text() -> None:
    spec = parse_spec("spec: 2026-11-29\nproperties:\n  - id: r\n    kind: bounds\n    action: a\n    allowed: [l, r]\n")
    assert spec.name == "2026-11-29"
    assert spec.properties[0].allowed == ("l", "r")
