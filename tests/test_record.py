"""``@record`` behaves as ``@dataclass`` does: construction, repr, equality, hashing, frozenness, the dataclasses API."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import FrozenInstanceError, dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saferl.record import record


def _shapes(make):  # type: ignore[no-untyped-def]
    """The same three classes made by ``make`` (dataclass or record)."""

    class Span:
        line: int = 0
        col: int = 0

    Span = make(Span)
    nospan = Span()

    class Cmp:
        """A comparison."""

        op: str
        left: object
        right: float
        span: Span = field(default=nospan, compare=False, repr=False)  # type: ignore[valid-type]

    class Bag:
        name: str
        items: list = field(default_factory=list)  # type: ignore[type-arg]
        weight: float = field(default=1.0, hash=False)

    return Span, make(Cmp), make(Bag)


DC = _shapes(dataclass(frozen=True))
REC = _shapes(record)
_VALUES = st.one_of(st.floats(), st.integers(), st.text(max_size=3), st.none())


def _outcome(fn):  # type: ignore[no-untyped-def]
    try:
        return ("ok", fn())
    except (TypeError, FrozenInstanceError, ValueError) as exc:
        return (type(exc).__name__,)


@settings(max_examples=200, deadline=None)
@given(st.lists(_VALUES, min_size=2, max_size=4), st.dictionaries(st.sampled_from(["right", "span", "span", "zz"]), _VALUES, max_size=2),
       st.lists(_VALUES, min_size=3, max_size=3))
def test_record_is_a_dataclass(args: list[object], kwargs: dict[str, object], other: list[object]) -> None:
    results = []
    for span_cls, cmp_cls, _ in (DC, REC):
        made = _outcome(lambda c=cmp_cls: c(*args, **kwargs))
        if made[0] != "ok":
            results.append(made)
            continue
        obj = made[1]
        twin = cmp_cls(*other, span_cls(3, 4))
        same = cmp_cls(obj.op, obj.left, obj.right, span_cls(5, 6))
        results.append((
            repr(obj), obj == twin, obj == same, obj != same, obj == (obj.op,),
            _outcome(lambda o=obj: hash(o)), _outcome(lambda o=obj: hash(o) == hash(same)),
            _outcome(lambda o=obj: setattr(o, "op", 1)), _outcome(lambda o=obj: delattr(o, "left")),
            _outcome(lambda o=obj: setattr(o, "new", 1)),
            [f.name for f in dataclasses.fields(obj)], repr(dataclasses.replace(obj, right=2.5)),
            dataclasses.is_dataclass(obj),
        ))
    assert results[0] == results[1]


def test_defaults_factories_and_mutable_records() -> None:
    for _, _, bag in (DC, REC):
        a, b = bag("a"), bag("a")
        assert a.items == [] and a.items is not b.items and a.weight == 1.0
        assert a == bag(name="a") and a != bag(name="a", weight=2.0)
        assert dataclasses.asdict(bag("q", [1], 3.0)) == {"name": "q", "items": [1], "weight": 3.0}

    @record(frozen=False)
    class Mutable:
        x: int
        y: list = field(default_factory=list)  # type: ignore[type-arg]

    m = Mutable(1)
    m.x = 2
    assert m == Mutable(2) and repr(m) == "test_defaults_factories_and_mutable_records.<locals>.Mutable(x=2, y=[])"
    with pytest.raises(TypeError):
        hash(m)


def test_nan_fields_compare_as_a_dataclass_does() -> None:
    nan = math.nan
    for _, cmp_cls, _ in (DC, REC):
        assert cmp_cls("<", "x", nan) == cmp_cls("<", "x", nan)  # the same NaN object: equal, as in a tuple
        assert cmp_cls("<", "x", nan) != cmp_cls("<", "x", float("nan"))


def test_unsupported_classes_are_refused() -> None:
    class WithPost:
        x: int

        def __post_init__(self) -> None: ...

    with pytest.raises(TypeError, match="__post_init__"):
        record(WithPost)

    @dataclass
    class Base:
        x: int

    class Derived(Base):
        y: int

    with pytest.raises(TypeError, match="inherit"):
        record(Derived)


def test_a_class_keeps_its_own_methods() -> None:
    @record
    class Named:
        name: str

        def __repr__(self) -> str:
            return f"<{self.name}>"

    assert repr(Named("a")) == "<a>" and Named("a") == Named("a") and hash(Named("a")) == hash(("a",))
