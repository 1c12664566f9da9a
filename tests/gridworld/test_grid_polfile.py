"""The gridworld family of .pol: round trip, digests and parse errors with line:col."""

from __future__ import annotations

from fractions import Fraction as F

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saferl.errors import PolicyParseError
from saferl.gridworld.polfile import format_subgoal_pol, is_subgoal_pol, parse_subgoal_pol
from saferl.gridworld.program import Block, Rule, Segment, SubgoalProgram, Target

rationals = st.builds(F, st.integers(-(10**9), 10**9), st.integers(1, 10**6))
points = st.tuples(rationals, rationals)
segments = st.builds(Segment, points, points)
targets = st.builds(Target, segments, segments, st.sampled_from(["mid", "max", "min"]))
rules = st.builds(Rule, segments, st.lists(targets, min_size=1, max_size=3).map(tuple))
_FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
names = st.builds(lambda a, b: a + b, st.sampled_from(_FIRST),
                  st.text(alphabet=_FIRST + "0123456789", max_size=10)).filter(
    lambda n: n not in ("policy", "gridworld", "size", "start", "on", "do", "from", "reach", "then", "prefer", "until", "target"))


@st.composite
def programs(draw: st.DrawFn) -> SubgoalProgram:
    n = draw(st.integers(1, 4))
    blocks = []
    for i in range(n):
        until = None if i == n - 1 else draw(segments)
        blocks.append(Block(tuple(draw(st.lists(rules, max_size=3))), until))
    return SubgoalProgram(draw(names), draw(st.integers(1, 1000)), draw(points), draw(segments), tuple(blocks))


@settings(max_examples=100, deadline=None)
@given(programs())
def test_parse_format_round_trip(prog: SubgoalProgram) -> None:
    text = format_subgoal_pol(prog)
    assert parse_subgoal_pol(text) == prog
    assert format_subgoal_pol(parse_subgoal_pol(text)) == text
    assert is_subgoal_pol(text)


TINY = """# a comment before the header
policy tiny   # trailing comment
gridworld size 2 start (0, 0) on [(0, 0) -- (2, 0)]
do
  from [(0, 0) -- (2, 0)]:
    reach [(1, 1) -- (2, 2)] on [(2, 2) -- (1, 1)] prefer max
    then reach [(3/7, -1/2) -- (1, 1)] on [(2, 2) -- (1, 1)]
until target
"""


def test_golden_format() -> None:
    prog = parse_subgoal_pol(TINY)
    assert prog.blocks[0].rules[0].targets[1].goal.a == (F(3, 7), F(-1, 2))
    assert format_subgoal_pol(prog) == (
        "policy tiny\n"
        "gridworld size 2 start (0, 0) on [(0, 0) -- (2, 0)]\n"
        "\n"
        "do\n"
        "  from [(0, 0) -- (2, 0)]:\n"
        "    reach [(1, 1) -- (2, 2)] on [(2, 2) -- (1, 1)] prefer max\n"
        "    then reach [(3/7, -1/2) -- (1, 1)] on [(2, 2) -- (1, 1)]\n"
        "until target\n"
    )


def test_digest_is_stable_and_content_sensitive() -> None:
    prog = parse_subgoal_pol(TINY)
    assert prog.digest() == parse_subgoal_pol(format_subgoal_pol(prog)).digest()
    assert len(prog.digest()) == 64
    other = parse_subgoal_pol(TINY.replace("prefer max", "prefer min"))
    assert other.digest() != prog.digest()
    assert prog.n_instructions() == 4 and prog.size_bytes() == len(format_subgoal_pol(prog))


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        ("policy p\ngridworld size 2 start (0, 0) on [(0, 0) -- (2, 0)]\n", "3:1", "at least one"),
        ("policy p\ngridworld size 2 start (0 0) on [(0, 0) -- (2, 0)]\ndo until target\n", "2:27", "expected ','"),
        ("policy p\ngridworld size 2 start (0, 0) on [(0, 0) -- (2, 0)]\ndo\n  from [(0, 0) -- (2, 0)]\n    reach [(1, 1) -- (2, 2)] on [(2, 2) -- (1, 1)]\nuntil target\n", "5:5", "expected ':'"),
        ("policy p\ngridworld size 2 start (0, 0) on [(0, 0) -- (2, 0)]\ndo\n  from [(0, 0) -- (2, 0)]:\n    reach [(1, 1) -- (2, 2)] on [(2, 2) -- (1, 1)] prefer left\nuntil target\n", "5:59", "unknown preference"),
        ("policy p\ngridworld size 2 start (1/0, 0) on [(0, 0) -- (2, 0)]\ndo until target\n", "2:27", "zero denominator"),
        ("policy p\ngridworld size 2 start (0, 0) on [(0, 0) -- (2, 0)]\ndo until [(0, 0) -- (1, 1)]\n", "4:", "last block"),
        ("policy p\ngridworld size 2 start (0, 0) on [(0, 0) -- (2, 0)]\ndo until target\ndo until target\n", "5:", "only the last"),
        ("policy p\nif x <= 0 { a = 1 }\n", "2:1", "expected 'gridworld'"),
        ("policy p\ngridworld size 2 start (0, 0) on [(0, 0) -- (2, 0)] $\n", "2:53", "found '$'"),
    ],
)
def test_parse_errors_point_at_line_and_column(text: str, where: str, fragment: str) -> None:
    with pytest.raises(PolicyParseError) as info:
        parse_subgoal_pol(text, "bad.pol")
    msg = str(info.value)
    assert msg.startswith(f"bad.pol:{where}"), msg
    assert fragment in msg


def test_parse_error_has_a_hint() -> None:
    with pytest.raises(PolicyParseError) as info:
        parse_subgoal_pol("policy p\ngridworld size 2 start 0, 0\n")
    assert info.value.hint and "(x, y)" in info.value.hint


def test_core_pol_loader_dispatches_gridworld_files() -> None:
    from pathlib import Path

    from saferl.policy import format_policy, load_policy

    path = Path(__file__).resolve().parents[2] / "policies" / "gridworld" / "gen-s12-c8-seed7.pol"
    prog = load_policy(path)
    assert isinstance(prog, SubgoalProgram)
    assert format_policy(prog) == path.read_text()
