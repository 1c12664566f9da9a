"""``@record``: a dataclass whose methods are shared closures instead of generated code.

``@dataclass`` compiles an ``__init__``, ``__repr__``, ``__eq__``, ``__hash__`` and, when
frozen, ``__setattr__`` and ``__delattr__`` from source for every class: about half a
millisecond a class, and the verify path defines some forty (syntax trees, specs,
results) — a fifth of ``saferl verify``'s own start-up.  ``@record`` lets
:func:`dataclasses.dataclass` collect the fields only (``init=False, repr=False,
eq=False``: no code generated) and gives the class the same methods made from closures
over its field names.  What a caller sees is a dataclass's:

* the constructor takes the fields positionally or by name, with their defaults and
  default factories (``TypeError`` for a missing, unexpected or repeated argument);
* ``repr`` lists the fields with ``repr=True`` as ``Name(a=1, b='x')``;
* ``==`` compares the fields with ``compare=True`` of two objects of the same class;
  frozen records hash those fields (``field(hash=...)`` respected), others are unhashable;
* a frozen record refuses assignment and deletion with
  :class:`dataclasses.FrozenInstanceError`;
* :func:`dataclasses.fields`, :func:`~dataclasses.replace`, :func:`~dataclasses.asdict`
  and :func:`~dataclasses.is_dataclass` work as on any dataclass.

Not supported (a ``TypeError`` when the class is made): ``__post_init__``, ``InitVar``
fields, and a record inheriting from another dataclass.

Example:
    >>> from dataclasses import FrozenInstanceError, field, replace
    >>> @record
    ... class Point:
    ...     x: float
    ...     y: float = 0.0
    ...     tag: str = field(default="", compare=False, repr=False)
    >>> p = Point(1.0, tag="a")
    >>> p, p == Point(1.0, 0.0, "b"), replace(p, y=2.0)
    (Point(x=1.0, y=0.0), True, Point(x=1.0, y=2.0))
    >>> try:
    ...     p.x = 3.0
    ... except FrozenInstanceError as exc:
    ...     print(exc)
    cannot assign to field 'x'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

__all__ = ["record"]

C = TypeVar("C", bound=type)


@overload
@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def record(cls: C, /) -> C: ...


@overload
def record(*, frozen: bool = True) -> Callable[[C], C]: ...


def record(cls: Any = None, /, *, frozen: bool = True) -> Any:
    """Make ``cls`` a dataclass (frozen unless ``frozen=False``) without generating code."""

    def wrap(cls: C) -> C:
        return _make(cls, frozen)

    return wrap if cls is None else wrap(cls)


def _make(cls: C, frozen: bool) -> C:
    if any(dataclasses.is_dataclass(base) for base in cls.__mro__[1:]):
        raise TypeError(f"@record class {cls.__name__} cannot inherit from a dataclass")
    if "__post_init__" in cls.__dict__:
        raise TypeError(f"@record class {cls.__name__} cannot have __post_init__")
    if cls.__dict__.get("__doc__") is None:  # dataclass would build one from the signature (slow)
        cls.__doc__ = f"{cls.__name__}({', '.join(cls.__dict__.get('__annotations__', ()))})"
    dataclasses.dataclass(init=False, repr=False, eq=False)(cls)  # fields only, in place
    fields = dataclasses.fields(cls)
    if len(fields) != len(cls.__dataclass_fields__):  # type: ignore[attr-defined]
        raise TypeError(f"@record class {cls.__name__} cannot have InitVar or ClassVar fields")
    name = cls.__name__
    names = tuple(f.name for f in fields)
    known = frozenset(names)
    count = len(names)
    defaults = {f.name: f.default for f in fields if f.default is not dataclasses.MISSING}
    factories = {f.name: f.default_factory for f in fields if f.default_factory is not dataclasses.MISSING}

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > count:
            raise TypeError(f"{name}() takes {count} positional arguments but {len(args)} were given")
        values = dict(zip(names, args))
        for arg, value in kwargs.items():
            if arg not in known:
                raise TypeError(f"{name}() got an unexpected keyword argument {arg!r}")
            if arg in values:
                raise TypeError(f"{name}() got multiple values for argument {arg!r}")
            values[arg] = value
        for arg in names:
            if arg in values:
                _set(self, arg, values[arg])
            elif arg in defaults:
                _set(self, arg, defaults[arg])
            elif arg in factories:
                _set(self, arg, factories[arg]())
            else:
                raise TypeError(f"{name}() missing required argument: {arg!r}")

    shown = tuple(f.name for f in fields if f.repr)

    def __repr__(self: Any) -> str:
        return f"{type(self).__qualname__}({', '.join(f'{k}={getattr(self, k)!r}' for k in shown)})"

    key = _getter(tuple(f.name for f in fields if f.compare))

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is self.__class__:
            return key(self) == key(other)  # type: ignore[no-any-return]
        return NotImplemented

    methods: dict[str, Any] = {"__init__": _fast_init(names, init), "__repr__": __repr__, "__eq__": __eq__}
    if frozen:
        hash_key = _getter(tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash)))

        def __hash__(self: Any) -> int:
            return hash(hash_key(self))

        def __setattr__(self: Any, attr: str, value: Any) -> None:
            if type(self) is cls or attr in known:
                raise dataclasses.FrozenInstanceError(f"cannot assign to field {attr!r}")
            _set(self, attr, value)

        def __delattr__(self: Any, attr: str) -> None:
            if type(self) is cls or attr in known:
                raise dataclasses.FrozenInstanceError(f"cannot delete field {attr!r}")
            object.__delattr__(self, attr)

        methods.update(__hash__=__hash__, __setattr__=__setattr__, __delattr__=__delattr__)
    else:
        methods["__hash__"] = None  # as a mutable dataclass with eq: unhashable
    for method, fn in methods.items():
        if method in cls.__dict__ and (method != "__hash__" or cls.__dict__[method] is not None):
            continue  # the class's own, as dataclass keeps it
        if fn is not None:
            fn.__qualname__ = f"{cls.__qualname__}.{method}"
        setattr(cls, method, fn)
    return cls


#: per number of fields, the factory of a fast ``__init__`` (compiled once, shared by every
#: record with that many fields)
_INIT_FACTORIES: dict[int, Callable[..., Callable[..., None]]] = {}
_ABSENT = object()
#: how every method stores a field (as a frozen dataclass does): the instance keeps
#: CPython's compact attribute storage, which ``self.__dict__`` would turn into a dict
_set = object.__setattr__


def _fast_init(names: tuple[str, ...], init: Callable[..., None]) -> Callable[..., None]:
    """An ``__init__`` that stores every field given positionally, in order, and hands any
    other call to ``init`` (defaults, keywords, errors).

    Its code depends on the number of fields only: compiled once per count, it is bound
    to each class's field names through its closure (no per-class code)."""
    count = len(names)
    if count == 0:
        return init
    factory = _INIT_FACTORIES.get(count)
    if factory is None:
        params = [f"_p{k}" for k in range(count)]
        cells = [f"_n{k}" for k in range(count)]
        src = (
            f"def factory({', '.join(cells)}, init, absent, store):\n"
            f"    def __init__(self, {', '.join(p + '=absent' for p in params)}, *more, **kwargs):\n"
            f"        if kwargs or more or {params[-1]} is absent:\n"
            f"            given = [p for p in ({', '.join(params)},) if p is not absent]\n"
            f"            return init(self, *given, *more, **kwargs)\n"
            + "".join(f"        store(self, {c}, {p})\n" for c, p in zip(cells, params))
            + "    return __init__\n"
        )
        scope: dict[str, Any] = {}
        exec(compile(src, f"<record __init__ of {count} fields>", "exec"), scope)  # noqa: S102 - our own source
        factory = _INIT_FACTORIES[count] = scope["factory"]
    return factory(*names, init, _ABSENT, _set)


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The values of the fields ``names`` of an instance, always as a tuple (as a dataclass
    compares and hashes them: ``(x,) == (y,)`` holds for the same NaN, ``x == y`` not)."""
    if len(names) >= 2:
        return attrgetter(*names)
    if names:
        only = attrgetter(names[0])
        return lambda obj: (only(obj),)
    return lambda obj: ()
