"""The size limits saferl puts on what users hand it, in one place.

Deep or large input must never cost a traceback or a hang: every reader checks these
limits and fails with a one-line :class:`~saferl.errors.InputError` (exit code 2) whose
message names the limit, e.g. ``p.pol:3:7: nesting deeper than 64 levels (limit
max_nesting_depth)``.  The figures are documented in docs/policy-format.md and
docs/spec-format.md; this module imports nothing, so any reader may use it.

Why these values: the evaluator, the printer, the SMT encoder and the Python code the
evaluator and the shield generate all recurse over the syntax tree.  Python's own parser
refuses more than 100 indentation levels and 200 nested parentheses, and a spec
expression may be combined with a program expression, so 64 levels of nesting (statements
and expressions counted together) keeps every consumer well inside those bounds.

Example:
    >>> from saferl.limits import MAX_NESTING_DEPTH, limit_message
    >>> limit_message("nesting deeper than 64 levels", "max_nesting_depth")
    'nesting deeper than 64 levels (limit max_nesting_depth)'
"""

from __future__ import annotations

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_POLICY_BYTES",
    "MAX_NESTING_DEPTH",
    "MAX_SUM_EXPANSION",
    "MAX_NUMBER_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_BRANCHES",
    "MAX_DATA_DEPTH",
    "MAX_HISTORY_LAG",
    "MAX_SHOWN_PATH",
    "limit_message",
    "shown_path",
]

#: largest spec or other text file saferl reads (4 MiB)
MAX_FILE_BYTES = 4 * 1024 * 1024

#: largest .pol policy file (16 MiB): distilled trees of tens of thousands of leaves are
#: megabytes of text, and the parser is linear (a 10 MB tree parses in about 2 s and
#: 250 MB); what keeps hostile input from hanging or crashing a reader is the nesting and
#: branch limits below, which bound every recursion over the tree, not the file's size
MAX_POLICY_BYTES = 16 * 1024 * 1024

#: deepest nesting of a .pol program or a spec expression: each nested ``if`` block,
#: ``not``, unary minus, function call, comparison, ``and``/``or``, leaf and each operand of
#: a chain of binary operators (``a + b + c`` is three levels deep) counts one level;
#: parentheses build no level, but the parser allows at most twice as many of them
MAX_NESTING_DEPTH = 64

#: most terms the ``sum(k = lo..hi, …)`` of one spec expression may unroll to,
#: nested sums multiplied (``sum(k = 1..100, sum(j = 1..100, …))`` is 10,000 terms)
MAX_SUM_EXPANSION = 10_000

#: longest number literal, in characters (a float64 needs at most 24)
MAX_NUMBER_LENGTH = 100

#: most if/elif branches on one path of a .pol program: the k-th branch of a chain counts
#: k + 1 (the evaluator compiles to Python, which nests each ``elif`` in the ``else`` of the
#: one before, and CPython's compiler recurses on that nesting), enclosing chains add up
MAX_BRANCHES = 1000

#: longest name (observation, action, label, function) in a policy or a spec expression
MAX_NAME_LENGTH = 200

#: deepest nesting of lists and mappings in a YAML spec or a JSON manifest
MAX_DATA_DEPTH = 64

#: furthest a history index ``x[t-k]`` or a ``window:`` may look back, in steps
MAX_HISTORY_LAG = 1000

#: file names longer than this are shortened in messages (not a limit on the name)
MAX_SHOWN_PATH = 160


def limit_message(message: str, limit_name: str) -> str:
    """``message`` followed by the name of the limit it hit."""
    return f"{message} (limit {limit_name})"


def shown_path(path: str) -> str:
    """``path`` as messages show it, on one line: very long names are cut in the middle
    and characters that cannot be printed (newlines, NUL) become ``?``.

    Example:
        >>> shown_path("a" * 200)[:10], len(shown_path("a" * 200)) < 200
        ('aaaaaaaaaa', True)
        >>> shown_path("two\\nlines")
        'two?lines'
    """
    if not path.isprintable():
        path = "".join(c if c.isprintable() else "?" for c in path)
    if len(path) <= MAX_SHOWN_PATH:
        return path
    keep = (MAX_SHOWN_PATH - 5) // 2
    return f"{path[:keep]}[...]{path[-keep:]}"
