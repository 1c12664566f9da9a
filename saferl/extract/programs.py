"""The policies extraction produces, as small Python objects that print themselves as .pol.

Two families: :class:`TreePolicy` (axis-aligned decision trees with discrete or constant
continuous leaves, VIPER and PROPEL-Tree) and :class:`PidProgram` (a short decision list
``if c1 {...} elif c2 {...} else {...}`` whose branches are sums of ``pid`` controllers
clipped to the action range, PROPEL-Prog / NDPS).  Each has ``act(obs)`` with the semantics of saferl's .pol evaluator
(observations rounded to float32, then compared exactly with float64 constants; PID state
advanced only in the branch that runs) and ``to_pol()`` giving the text.  Numbers are
written with ``repr(float(x))`` so that the text round-trips exactly.

Example:
    >>> from saferl.extract.programs import Leaf, Split, TreePolicy, PolHeader
    >>> h = PolHeader("demo", ("x",), "a", labels=("l", "r"))
    >>> print(TreePolicy(h, Split(0, 0.5, Leaf(0), Leaf(1))).to_pol(), end="")
    policy demo
    obs x: float32
    act a: discrete {l = 0, r = 1}
    <BLANKLINE>
    if x <= 0.5 {
      a = l
    } else {
      a = r
    }
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["PolHeader", "Leaf", "Split", "TreePolicy", "PidTerm", "PidBranch", "Condition", "PidProgram", "num"]


def num(x: float) -> str:
    """A float as .pol text that parses back to exactly the same float64."""
    text = repr(float(x))
    if text in ("inf", "-inf", "nan"):
        raise ValueError(f"cannot write {text} in a policy")
    return text


@dataclass(frozen=True)
class PolHeader:
    """Name, observation names and the (single) action of a policy."""

    name: str
    obs_names: tuple[str, ...]
    action_name: str
    labels: tuple[str, ...] | None = None
    low: float | None = None
    high: float | None = None
    comment: str = ""
    obs_bounds: tuple[tuple[float, float] | None, ...] = ()

    @property
    def discrete(self) -> bool:
        """True when the action is discrete."""
        return self.labels is not None

    def lines(self) -> list[str]:
        """The declaration lines of the policy."""
        out = [f"# {line}" for line in self.comment.splitlines()]
        out.append(f"policy {self.name}")
        for i, name in enumerate(self.obs_names):
            bound = self.obs_bounds[i] if i < len(self.obs_bounds) else None
            rng = f" in [{num(bound[0])}, {num(bound[1])}]" if bound is not None else ""
            out.append(f"obs {name}: float32{rng}")
        if self.labels is not None:
            choices = ", ".join(f"{label} = {i}" for i, label in enumerate(self.labels))
            out.append(f"act {self.action_name}: discrete {{{choices}}}")
        else:
            out.append(f"act {self.action_name}: continuous [{num(self.low or 0.0)}, {num(self.high or 0.0)}]")
        return out

    def leaf_text(self, value: float) -> str:
        """The right-hand side of a leaf assignment."""
        if self.labels is not None:
            return self.labels[int(value)]
        return num(value)


@dataclass(frozen=True)
class Leaf:
    """A tree leaf: a discrete action index or a continuous action value."""

    value: float


@dataclass(frozen=True)
class Split:
    """``if obs[feature] <= threshold { left } else { right }``."""

    feature: int
    threshold: float
    left: Split | Leaf
    right: Split | Leaf


def _f32(obs: Any) -> list[float]:
    return [float(v) for v in np.asarray(obs, dtype=np.float32).reshape(-1)]


@dataclass(frozen=True)
class TreePolicy:
    """A decision tree over the observations, printable as .pol."""

    header: PolHeader
    root: Split | Leaf

    def act(self, obs: Any) -> Any:
        """The tree's action for one observation (int for discrete actions)."""
        x = _f32(obs)
        node = self.root
        while isinstance(node, Split):
            node = node.left if x[node.feature] <= node.threshold else node.right
        return int(node.value) if self.header.discrete else np.array([node.value], dtype=np.float32)

    def act_batch(self, obs_batch: np.ndarray) -> np.ndarray:
        """Actions for a batch of observations (float32 inputs, exact comparisons)."""
        x = np.asarray(obs_batch, dtype=np.float32).astype(np.float64)
        out = np.empty(len(x))
        for i, row in enumerate(x):
            node = self.root
            while isinstance(node, Split):
                node = node.left if row[node.feature] <= node.threshold else node.right
            out[i] = node.value
        return out.astype(np.int64) if self.header.discrete else out

    @property
    def leaves(self) -> int:
        """Number of leaves."""
        def count(n: Split | Leaf) -> int:
            return 1 if isinstance(n, Leaf) else count(n.left) + count(n.right)

        return count(self.root)

    @property
    def depth(self) -> int:
        """Depth (a lone leaf has depth 0)."""
        def d(n: Split | Leaf) -> int:
            return 0 if isinstance(n, Leaf) else 1 + max(d(n.left), d(n.right))

        return d(self.root)

    def to_pol(self) -> str:
        """The tree as .pol text."""
        lines = self.header.lines() + [""]
        self._emit(self.root, 0, lines)
        return "\n".join(lines) + "\n"

    def _emit(self, node: Split | Leaf, indent: int, lines: list[str]) -> None:
        pad = "  " * indent
        if isinstance(node, Leaf):
            lines.append(f"{pad}{self.header.action_name} = {self.header.leaf_text(node.value)}")
            return
        lines.append(f"{pad}if {self.header.obs_names[node.feature]} <= {num(node.threshold)} {{")
        self._emit(node.left, indent + 1, lines)
        lines.append(f"{pad}}} else {{")
        self._emit(node.right, indent + 1, lines)
        lines.append(f"{pad}}}")


@dataclass(frozen=True)
class PidTerm:
    """``pid(obs[signal], target, kp, ki, kd)``."""

    signal: int
    target: float
    kp: float
    ki: float
    kd: float


@dataclass(frozen=True)
class PidBranch:
    """``clip(bias + sum of pid terms, low, high)``; ``bias`` is omitted when zero."""

    terms: tuple[PidTerm, ...]
    bias: float = 0.0


@dataclass(frozen=True)
class Condition:
    """``obs[feature] <= threshold`` (or ``>``), on ``abs(obs[feature])`` when ``absolute``."""

    feature: int
    threshold: float
    op: str = "<="
    absolute: bool = False

    def holds(self, x: list[float]) -> bool:
        """Evaluate on float32-rounded observations, exactly as the .pol evaluator does."""
        v = abs(x[self.feature]) if self.absolute else x[self.feature]
        return v <= self.threshold if self.op == "<=" else v > self.threshold

    def text(self, names: tuple[str, ...]) -> str:
        """The condition as .pol text."""
        lhs = f"abs({names[self.feature]})" if self.absolute else names[self.feature]
        return f"{lhs} {self.op} {num(self.threshold)}"


@dataclass
class PidProgram:
    """A decision list over PID branches: ``if c1 { B1 } elif c2 { B2 } ... else { Bn }``.

    With no conditions the program is the single branch ``B1``.  Stateful: each pid call
    keeps (integral, previous error), advanced only when its branch runs; :meth:`reset`
    zeroes them (do it at each episode start).
    """

    header: PolHeader
    branches: tuple[PidBranch, ...]
    conditions: tuple[Condition, ...] = ()
    _state: list[list[float]] = field(default_factory=list, repr=False)
    _first_site: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if len(self.branches) != len(self.conditions) + 1:
            raise ValueError("a decision list needs one branch more than conditions")
        sites, first = 0, []
        for b in self.branches:
            first.append(sites)
            sites += len(b.terms)
        self._first_site = first
        self.reset()

    def reset(self) -> None:
        """Zero every PID state."""
        self._state = [[0.0, 0.0] for b in self.branches for _ in b.terms]

    def _run(self, index: int, x: list[float]) -> float:
        branch = self.branches[index]
        first_site = self._first_site[index]
        total = branch.bias
        for k, term in enumerate(branch.terms):
            st = self._state[first_site + k]
            err = term.target - x[term.signal]
            st[0] = st[0] + err
            deriv = err - st[1]
            st[1] = err
            total = total + (term.kp * err + term.ki * st[0] + term.kd * deriv)
        low, high = float(self.header.low or 0.0), float(self.header.high or 0.0)
        return min(max(total, low), high)

    def branch_of(self, x: list[float]) -> int:
        """Index of the branch that runs on (float32-rounded) observations ``x``."""
        for i, cond in enumerate(self.conditions):
            if cond.holds(x):
                return i
        return len(self.conditions)

    def act(self, obs: Any) -> np.ndarray:
        """The program's action for one observation (advances PID state)."""
        x = _f32(obs)
        return np.array([self._run(self.branch_of(x), x)])

    @property
    def size(self) -> int:
        """Number of pid controllers plus conditions."""
        return sum(len(b.terms) for b in self.branches) + len(self.conditions)

    def _expr(self, branch: PidBranch) -> str:
        parts = [
            f"pid({self.header.obs_names[t.signal]}, {num(t.target)}, {num(t.kp)}, {num(t.ki)}, {num(t.kd)})"
            for t in branch.terms
        ]
        if branch.bias != 0.0 or not parts:
            parts.insert(0, num(branch.bias))
        return f"clip({' + '.join(parts)}, {num(self.header.low or 0.0)}, {num(self.header.high or 0.0)})"

    def to_pol(self) -> str:
        """The program as .pol text."""
        a = self.header.action_name
        lines = self.header.lines() + [""]
        if not self.conditions:
            lines.append(f"{a} = {self._expr(self.branches[0])}")
        else:
            for i, cond in enumerate(self.conditions):
                head = "if" if i == 0 else "} elif"
                lines.append(f"{head} {cond.text(self.header.obs_names)} {{")
                lines.append(f"  {a} = {self._expr(self.branches[i])}")
            lines += ["} else {", f"  {a} = {self._expr(self.branches[-1])}", "}"]
        return "\n".join(lines) + "\n"
