"""The .pol policy language: parse, print, digest and evaluate policies.

Example:
    >>> from saferl.policy import parse_policy, format_policy
    >>> p = parse_policy("policy p\\nobs x: float32\\nact a: discrete {l = 0, r = 1}\\nif x <= 0 { a = l } else { a = r }\\n")
    >>> print(format_policy(p), end="")
    policy p
    obs x: float32
    act a: discrete {l = 0, r = 1}
    <BLANKLINE>
    if x <= 0 {
      a = l
    } else {
      a = r
    }
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from saferl.errors import Location, PolicyParseError
from saferl.limits import MAX_POLICY_BYTES
from saferl.policy.ast import Program
from saferl.policy.evaluate import ProgramPolicy, compile_program, interpret
from saferl.policy.lexer import tokenize
from saferl.policy.parser import parse_program
from saferl.policy.printer import format_program, program_digest
from saferl.userfile import read_user_text

__all__ = [
    "Program",
    "ProgramPolicy",
    "parse_policy",
    "load_policy",
    "format_policy",
    "policy_digest",
    "read_policy_text",
    "interpret",
    "compile_program",
]


def _family_keyword(text: str, path: str) -> str | None:
    toks = tokenize(text, path, max_tokens=3)  # the header only: parse_program reads the rest
    if len(toks) >= 3 and toks[0].text == "policy" and toks[2].kind == "NAME":
        return toks[2].text
    return None


def parse_policy(text: str, path: str = "<string>") -> Any:
    """Parse .pol text of any family: a :class:`Program` or a gridworld subgoal program."""
    # The syntax nodes hold no reference cycles, so the cycle collector has nothing to
    # find while they are built; left running it rescans them over and over (a 10 MB
    # tree parses in 2.2 s with it paused, 5.3 s without).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _parse_any(text, path)
    finally:
        if collecting:
            gc.enable()


def _parse_any(text: str, path: str) -> Any:
    if _family_keyword(text, path) == "gridworld":
        try:
            from saferl.gridworld.polfile import parse_subgoal_pol
        except ImportError:  # pragma: no cover - the gridworld package ships with saferl
            raise PolicyParseError("gridworld programs are not supported by this build", Location(path, 1, 1)) from None
        return parse_subgoal_pol(text, path)
    return parse_program(text, path)


def read_policy_text(path: str | Path) -> str:
    """Read a policy file as text (at most :data:`~saferl.limits.MAX_POLICY_BYTES`); every
    failure is a PolicyParseError with the path."""
    text = read_user_text(path, "policy file", PolicyParseError, max_bytes=MAX_POLICY_BYTES, limit="max_policy_bytes")
    if not text.strip():
        raise PolicyParseError("empty policy file", Location(str(path), 1, 1), hint="a .pol file starts with 'policy NAME'")
    return text


def load_policy(path: str | Path) -> Any:
    """Read and parse a .pol file."""
    return parse_policy(read_policy_text(path), str(path))


def format_policy(policy: Any) -> str:
    """Canonical text of a policy of any family."""
    if isinstance(policy, Program):
        return format_program(policy)
    from saferl.gridworld.polfile import format_subgoal_pol

    return format_subgoal_pol(policy)


def policy_digest(policy: Any) -> str:
    """Stable content digest of a policy (``sha256:…`` of its canonical text)."""
    if isinstance(policy, Program):
        return program_digest(policy)
    return str(policy.digest())


