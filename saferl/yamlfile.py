"""Reading YAML that users hand us: plain data only, numbers as people write them, bounded.

One loader for every YAML file saferl reads (specs, names files): PyYAML's safe loader
with three rules of our own.

* Tags: only plain data (``!!str``, ``!!int``, ``!!float``, ``!!bool``, ``!!null``, lists,
  mappings); any other tag (``!!python/object``, ``!custom``, ``!!binary``) is an error
  at its line.  Nothing is ever constructed from a tag.
* Numbers: ``1e-30``, ``1E5``, ``-.5`` and ``2.5e+3`` are floats (YAML 1.1 reads the first
  two as text); dates and YAML 1.1's other implicit types stay text.
* Size: at most :data:`~saferl.limits.MAX_DATA_DEPTH` nested lists and mappings, checked
  while composing, before Python's recursion could run out; numbers of at most
  :data:`~saferl.limits.MAX_NUMBER_LENGTH` characters.

Every failure is one ``error`` (an :class:`~saferl.errors.InputError` subclass) with
``path:line:col``.

Example:
    >>> parse_user_yaml("low: 1e-30\\nnames: [a, b]\\n", "n.yaml", "names file")
    {'low': 1e-30, 'names': ['a', 'b']}
    >>> parse_user_yaml("x: !custom 1\\n", "n.yaml", "names file")
    Traceback (most recent call last):
    ...
    saferl.errors.InputError: n.yaml:1:4: YAML tag '!custom' is not allowed (hint: a names file is plain data: text, numbers, lists and mappings)
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from saferl.errors import InputError, Location
from saferl.limits import MAX_DATA_DEPTH, MAX_NUMBER_LENGTH, limit_message

__all__ = ["PlainYamlLoader", "compose_user_yaml", "parse_user_yaml", "YAML_TAG"]

#: the prefix of YAML's standard tags
YAML_TAG = "tag:yaml.org,2002:"
_PLAIN_TAGS = frozenset(YAML_TAG + t for t in ("str", "int", "float", "bool", "null", "seq", "map"))
_NUMBER_TAGS = frozenset((YAML_TAG + "int", YAML_TAG + "float"))
#: a float as people write it: 1e-30, 1E5, -.5, 2.5e+3, 1_000.5 (YAML 1.1 insists on a
#: dot and a signed exponent); .inf and .nan are read so that they can be refused by name
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class PlainYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader with saferl's rules (module docstring); errors are ``error``."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag in (YAML_TAG + "bool", YAML_TAG + "int", YAML_TAG + "null")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str, path: str = "<string>", error: type[InputError] = InputError, what: str = "file"):
        super().__init__(stream)
        self.user_path = path
        self.error = error
        self.what = what
        self.depth = 0

    def _location(self, mark: Any) -> Location:
        return Location(self.user_path, mark.line + 1, mark.column + 1)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:  # type: ignore[override]
        """Compose one node, refusing deep nesting before it happens and unknown tags."""
        self.depth += 1
        try:
            if self.depth > MAX_DATA_DEPTH:
                exc = self.error(
                    limit_message(f"lists and mappings nested deeper than {MAX_DATA_DEPTH} levels", "max_data_depth"),
                    self._location(self.peek_event().start_mark),
                )
                exc.limit = "max_data_depth"
                raise exc
            node: yaml.Node = super().compose_node(parent, index)  # type: ignore[no-untyped-call]
        finally:
            self.depth -= 1
        if node.tag in _NUMBER_TAGS and len(node.value) > MAX_NUMBER_LENGTH:
            exc = self.error(
                limit_message(f"number longer than {MAX_NUMBER_LENGTH} characters", "max_number_length"),
                self._location(node.start_mark),
            )
            exc.limit = "max_number_length"
            raise exc
        if node.tag not in _PLAIN_TAGS:
            raise self.error(
                f"YAML tag {_short(node.tag)!r} is not allowed", self._location(node.start_mark),
                hint=f"a {self.what} is plain data: text, numbers, lists and mappings",
            )
        return node


PlainYamlLoader.add_implicit_resolver(YAML_TAG + "float", _FLOAT, list("-+0123456789."))  # type: ignore[no-untyped-call]


def _short(tag: str) -> str:
    tag = tag[len(YAML_TAG) :] if tag.startswith(YAML_TAG) else tag
    return tag if tag.startswith("!") else "!!" + tag


def _fail(text: str, path: str, exc: yaml.YAMLError, error: type[InputError]) -> InputError:
    """The one-line ``error`` for a YAML error raised by PyYAML."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        loc = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
        return error(f"invalid YAML: {' '.join(str(exc.problem or exc.context).split())}", loc)
    if isinstance(exc, yaml.reader.ReaderError):
        char = exc.character
        shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        return error(
            f"invalid YAML: unacceptable character {shown}", Location(path, line, col),
            hint="YAML allows no control characters",
        )
    return error(f"invalid YAML: {' '.join(str(exc).split())}", Location(path))


def compose_user_yaml(text: str, path: str, what: str, error: type[InputError] = InputError) -> yaml.Node | None:
    """The node tree of one YAML document (None when empty), with saferl's rules."""
    try:
        loader = PlainYamlLoader(text, path, error, what)  # the reader checks every character here
        try:
            node: yaml.Node | None = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise _fail(text, path, exc, error) from None
    return node


def parse_user_yaml(text: str, path: str, what: str, error: type[InputError] = InputError) -> Any:
    """The plain Python data (dicts, lists, str, int, float, bool, None) of one YAML document."""
    try:
        loader = PlainYamlLoader(text, path, error, what)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise _fail(text, path, exc, error) from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer of more than 4300 digits
        if isinstance(exc, InputError):
            raise
        raise error(f"cannot read {what}: {' '.join(str(exc).split())}", Location(path)) from None
