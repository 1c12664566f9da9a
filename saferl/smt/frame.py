"""The steps a property talks about (pure data: no solver terms are built here).

A property's *frame* is ``t`` for one observation, ``t-W … t`` for a history window, or
``a``/``b`` for two runs; :class:`Frame` holds, once encoded, the observation symbols per
step, the state entering each executed step and the actions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any

from saferl.record import record
from saferl.spec.bind import Binding
from saferl.spec.expr import variables
from saferl.spec.load import Property

if TYPE_CHECKING:
    from pysmt.fnode import FNode

__all__ = ["Frame", "concrete_lookup", "frame_labels", "step_label"]


def step_label(lag: int, copy: int, mode: str) -> str:
    """The name of a step: ``t``, ``t-3``, or ``a``/``b`` for two runs."""
    if mode == "two-run":
        return "ab"[copy]
    return "t" if lag == 0 else f"t-{lag}"


def concrete_lookup(
    binding: Binding, mode: str, obs: Mapping[str, Mapping[str, float]], acts: Mapping[str, Mapping[str, float]],
    state_in: Mapping[str, Sequence[float]] | None = None,
) -> Callable[[Any], float]:
    """A spec variable's concrete value at its step: labels as constants, observations,
    actions, and (with ``state_in``) program state, each at the step its lag names."""
    state_names = binding.program.state_names

    def lookup(v: Any) -> float:
        kind = binding.kind_of(v.name)
        if kind == "label":
            return binding.label_value(v.name, None, v.loc)
        lbl = step_label(v.lag, v.copy, mode)
        if kind == "obs":
            return obs[lbl][v.name]
        if kind == "action" or state_in is None:
            return float(acts[lbl][v.name])
        return state_in[lbl][state_names.index(v.name)]

    return lookup


@record(frozen=False)
class Frame:
    """The symbols and terms of one property's encoding, for decoding and replay."""

    mode: str
    exec_labels: list[str]  # steps the program runs at, oldest first
    obs_labels: list[str]  # steps with observations, oldest first
    obs: dict[str, dict[str, FNode]] = field(default_factory=dict)
    state_in: dict[str, tuple[FNode, ...]] = field(default_factory=dict)
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)
    initial_state: tuple[FNode, ...] = ()
    initial_state_label: str = ""

    def free_symbols(self) -> list[FNode]:
        syms = [s for lbl in self.obs_labels for s in self.obs[lbl].values()]
        return syms + list(self.initial_state)


def _max_lag(prop: Property, binding: Binding, kinds: tuple[str, ...]) -> int:
    exprs = [e for e in (prop.when, prop.require) if e is not None]
    lags = [v.lag for e in exprs for v in variables(e) if binding.kind_of(v.name) in kinds]
    return max(lags, default=0)


def frame_labels(prop: Property, binding: Binding) -> tuple[str, list[str], list[str]]:
    """(mode, steps the program runs at, steps with observations), oldest first."""
    mode = prop.mode if prop.kind == "smoothness" else "single"
    if mode == "two-run":
        return mode, ["a", "b"], ["a", "b"]
    # The program runs at every step of the window, from a free state at its oldest step:
    # PID state then links the steps as it does at run time (and the free start state
    # over-approximates every reachable one).
    window = max(prop.window, _max_lag(prop, binding, ("obs", "action", "state")))
    obs_labels = [step_label(k, 0, mode) for k in range(window, -1, -1)]
    return mode, list(obs_labels), obs_labels
