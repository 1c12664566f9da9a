"""The generated fast ``step`` of the shield (a friend of :class:`~saferl.shield.Shield`).

For a Discrete action space, a stateless fallback and no history properties, the shield
replaces its ``step`` on reset by a function generated here: the property checks are
inlined, the fallback program's tree is inlined, and every record is built once and
shared.  Anything unusual (invalid action, a fallback failing a property outside the
verified domain) is handed to the general path, ``Shield._step``, which starts over.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from saferl.shield.compile import inline_fallback
from saferl.shield.records import ShieldRecord

if TYPE_CHECKING:
    from saferl.shield.wrapper import Shield

__all__ = ["make_fast_step"]


def _implied_by_space(shield: Shield, pid: str) -> bool:
    """Is ``pid`` an unconditional ``allowed`` bounds property every action of the space meets?"""
    prop = next(p for p in shield.safety_spec.properties if p.id == pid)
    if prop.kind != "bounds" or not prop.allowed or prop.when is not None or not shield._discrete:
        return False
    labels = dict(shield.fallback.action(prop.action or "").labels)  # labels are per action
    allowed = {labels[a] for a in prop.allowed}
    return all(v in allowed for v in range(shield._start, shield._start + shield._n))


def make_fast_step(shield: Shield) -> Callable[[Any], Any] | None:
    """Straight-line ``step`` for the common case: Discrete, stateless, no history.

    With a look-ahead, a proposal it allows is handled here too; one it objects to goes to
    the general path.

    A valid action that satisfies every property, or one that breaks a property
    while the fallback's action satisfies all of them, is handled here; anything
    else (invalid actions, a failing fallback) goes to the general path
    (:meth:`_step`), which re-checks from scratch.  Records are built once per
    (proposed, executed, property) and shared; interventions are tallied per
    property in a list and folded into the episode counters when they are read.
    """
    if not shield._discrete or shield._stateful or shield.checks.window or shield.checks.uses_state:
        return None
    if not shield._plain_tolist:
        return None
    n_obs = len(shield.fallback.observations)
    start, end = shield._start, shield._start + shield._n
    if shield._n * shield._n * (len(shield._ids) + 1) > 100_000:
        return None  # too many shared records to build; the general path handles it
    off = "" if start == 0 else f" - {start}"
    unpack = ", ".join(f"o{i}" for i in range(n_obs))
    # the fallback's body in line (no call, no tuple) when it is a stateless program
    inline = inline_fallback(shield.fallback, "b0", "                ") or [
        f"                b0 = int(fallback({unpack}, ps)[0])"
    ]
    lines = [
        "def step(action):",
        "    cls = action.__class__",
        "    if cls is int or cls is _i64:",
        "        a0 = action if cls is int else int(action)",
        f"        if {start} <= a0 < {end}:",
        f"            {unpack}, = shield._o",
    ]
    first = True
    for k, m in enumerate(shield.checks.monitored):
        if _implied_by_space(shield, m.id):
            continue  # every action in the space satisfies it; the range test above suffices
        test = f"not {m.require_src}" if m.when_src == "True" else f"{m.when_src} and not {m.require_src}"
        lines.append(f"            {'if' if first else 'elif'} {test}:")
        lines.append(f"                k = {k + 1}")
        first = False
    lines += [
        "            if True:" if first else "            else:",
        "                k = 0",
        # the look-ahead objects: the general path decides (fallback, records, counters)
        *(["            if not k and look(shield._o, a0):", "                return general(action, False)"]
          if shield.lookahead is not None else []),
        "            if k:",
        *inline,
        f"                if not ({start} <= b0 < {end}):",
        "                    return general(action, False)",
    ]
    for m in shield.checks.monitored:  # the fallback's action must pass every property too
        if _implied_by_space(shield, m.id):
            continue
        when, require = (re.sub(r"\ba0\b", "b0", x) for x in (m.when_src, m.require_src))
        test = f"not {require}" if when == "True" else f"{when} and not {require}"
        lines += [f"                if {test}:", "                    return general(action, False)"]
    lines += [
        "                tally[k] += 1",
        f"                rec = substituted[a0{off}][b0{off}][k]",
        # the environment gets the action object the policy gave (an int or an
        # np.int64), or the substitute in the same type: the shield should not change
        # what the environment's own checks cost
        f"                action = b0 if cls is int else np_values[b0{off}]",
        "            else:",
        f"                rec = passed[a0{off}]",
        "            obs, reward, terminated, truncated, info = env_step(action)",
        "            try:",
        "                shield._o = obs.tolist()",
        "            except AttributeError:",
        "                shield._o = to_list(obs)",
        "            shield._t += 1",
        "            if terminated or truncated:",
        "                rec = finish(rec)",
        "            info['saferl'] = rec",
        "            return obs, reward, terminated, truncated, info",
        "    return general(action, False)",
    ]
    src = "\n".join(lines) + "\n"
    ids = shield._ids
    # every (proposed, substitute, property) record, built once: n * n * (K + 1) tuples
    substituted = [
        [[ShieldRecord(a, b, True, ids[k - 1], "violation", "fallback") if k else None for k in range(len(ids) + 1)]
         for b in range(start, end)]
        for a in range(start, end)
    ]

    namespace: dict[str, Any] = {
        "__builtins__": {"int": int, "abs": abs, "min": min, "max": max},
        "_i64": np.int64, "shield": shield, "general": shield._step, "env_step": shield.env.step,
        "to_list": shield._to_list, "finish": shield._finish, "_INF": math.inf, "_NAN": math.nan,
        "passed": [ShieldRecord(v, v, False, None, None, "policy") for v in range(start, end)],
        "np_values": [np.int64(v) for v in range(start, end)],
        "fallback": shield._fb_step, "ps": shield._ps, "check": shield.checks.check, "tally": shield._tally,
        "substituted": substituted,
        "look": shield.lookahead.code if shield.lookahead is not None else None,
    }
    local: dict[str, Any] = {}
    exec(compile(src, f"<shield-step:{shield.safety_spec.name}>", "exec"), namespace, local)
    fn: Callable[[Any], Any] = local["step"]
    fn.__doc__ = src
    return fn
