"""The runtime shield: a ``gymnasium.Wrapper`` that only lets spec-satisfying actions through.

Example:
    >>> import gymnasium as gym
    >>> from saferl.policy import load_policy
    >>> from saferl.spec import load_spec
    >>> env = Shield(gym.make("CartPole-v1"), load_spec("specs/cartpole/pole_follow.yaml"),
    ...              fallback=load_policy("policies/cartpole/near_optimal.pol"))   # doctest: +SKIP
    >>> obs, info = env.reset(seed=0)                                              # doctest: +SKIP
    >>> obs, reward, terminated, truncated, info = env.step(0)                     # doctest: +SKIP
    >>> info["saferl"].intervened                                                  # doctest: +SKIP
    False

On every ``step(action)`` the proposed action is checked against the spec's monitored
properties at the current observation (and history); a rejected action is replaced — by
its projection into the allowed interval (continuous actions), else by the verified
fallback program's action — and the step is recorded in ``info["saferl"]``
(:class:`~saferl.shield.records.ShieldRecord`).  Invalid actions (NaN, out of the space,
wrong type) are replaced by the fallback and never reach the environment.  The fallback
is proved (``verify_policy``) against every monitored property when the shield is built.

When the spec has closed-loop ``safety`` properties (a dynamics model, see
docs/closed-loop.md), the shield also looks one step ahead: the fallback is proved with an
inductive invariant per property, and a proposed action runs only if its successor stays
in every invariant (a table lookup, :mod:`saferl.shield.lookahead`, imported only for such
specs); otherwise the fallback's action runs (reason ``lookahead``).  See docs/shield.md.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from saferl.errors import InputError, InternalError, UnsupportedError
from saferl.policy.ast import Program
from saferl.policy.evaluate import compile_program
from saferl.results import Verdict, VerifyResult
from saferl.shield.cast import caster
from saferl.shield.compile import CompiledChecks, compile_checks
from saferl.shield.fastpath import make_fast_step
from saferl.shield.records import EpisodeStats, ShieldRecord
from saferl.spec.bind import bind_spec
from saferl.spec.load import Spec

if TYPE_CHECKING:
    from saferl.verify import VerifyOptions

__all__ = ["Shield", "Policy", "UnverifiedFallbackError"]


class Policy(Protocol):
    """Anything that can act: ``act(obs) -> action``."""

    def act(self, obs: Any) -> Any: ...


class UnverifiedFallbackError(InputError):
    """The fallback program is not proved SAFE against a property the shield relies on."""


class Shield(gym.Wrapper, gym.utils.RecordConstructorArgs):  # type: ignore[type-arg]
    """Veto every action that would break ``spec``; substitute a safe one; record it.

    Args:
        env: the environment; its observation space must be a flat ``Box`` with one entry
            per observation the fallback declares (in declaration order); its action
            space a ``Discrete`` (one discrete action) or a ``Box`` of shape ``(k,)``
            (``k`` continuous actions).
        spec: the spec whose properties are enforced (see :attr:`monitored`).
        fallback: the verified .pol program whose action replaces a rejected one.
        allow_unverified: run even if the fallback is not proved SAFE (the proof is then
            skipped; :attr:`proof` is ``None``).
        proof: a :class:`~saferl.results.VerifyResult` of ``fallback`` against ``spec``
            computed earlier (checked: same program digest, every monitored property
            SAFE); without it the shield runs ``verify_policy`` once.
        verify_options: options for that run.
        projection: try clamping a rejected continuous action into the interval the
            properties allow before falling back to the program.
        lookahead: enforce the spec's closed-loop ``safety`` properties by a one-step
            look-ahead on the fallback's proved invariant (Discrete action spaces; the
            environment must be the property's dynamics model, parameters included).
        fast_path: replace ``step`` by a function generated for this spec and fallback
            (:mod:`saferl.shield.fastpath`) where the set-up allows one; it takes the same
            decisions as the general step.  ``False`` keeps the general step (for
            comparisons and benchmarks).
        native: for a Box action space, compile that generated step to C at first use
            (:mod:`saferl.shield.native`; same decisions and values, bit for bit); without
            a C compiler, or if the build fails, the Python step runs and
            :attr:`native_note` says why.  ``False`` keeps the Python step.

    Raises:
        UnverifiedFallbackError: the fallback is not SAFE on a monitored property.
        InputError: spec, program and environment do not fit together.
        UnsupportedError: an action space the shield cannot handle.
    """

    def __init__(
        self,
        env: gym.Env,  # type: ignore[type-arg]
        spec: Spec,
        fallback: Program,
        *,
        allow_unverified: bool = False,
        proof: VerifyResult | None = None,
        verify_options: VerifyOptions | None = None,
        projection: bool = True,
        lookahead: bool = True,
        fast_path: bool = True,
        native: bool = True,
    ):
        super().__init__(env)
        if not isinstance(spec, Spec):
            raise InputError(f"spec must be a saferl Spec (load_spec), got {type(spec).__name__}")
        if not isinstance(fallback, Program):
            raise InputError(f"fallback must be a .pol Program (load_policy), got {type(fallback).__name__}")
        self.safety_spec = spec
        self.fallback = fallback
        binding = bind_spec(spec, fallback)
        self._setup_spaces(env, fallback)
        self.checks: CompiledChecks = compile_checks(spec, binding, self._continuous)
        self._check = self.checks.check
        self.proof = None if allow_unverified else self._prove(proof, verify_options)
        self.lookahead: Any = None
        self._closed_unmonitored: list[tuple[str, str]] = []
        if spec.closed_loop:
            self._setup_lookahead(env, lookahead, allow_unverified)
        self.verified = self.proof is not None
        self._outside = 0
        self.projection = projection and self.checks.intervals is not None
        self._fb_step = compile_program(fallback)
        self._stateful = bool(fallback.state_names)
        self._ps: list[float] = [0.0] * len(fallback.state_names)
        self._h: collections.deque[Any] = collections.deque(maxlen=max(self.checks.window, 1))
        self._o: list[float] | None = None
        self._obs: Any = None
        self.last_policy_error: BaseException | None = None
        self._ids = self.checks.ids
        self._zero_counters()
        self._closed = EpisodeStats(0, 0, 0)
        self._episodes = 0
        self._fast: Callable[[Any], Any] | None = make_fast_step(self) if fast_path else None
        #: which step runs: "native" (compiled C), "python" (generated Python) or "general"
        self.step_kind = "general" if self._fast is None else "python"
        #: how the step was chosen (the native build's module, or why there is none)
        self.native_note: str | None = None
        if self._fast is not None and not self._discrete and native:
            from saferl.shield.native import native_step

            compiled, self.native_note = native_step(self, self._fast)
            if compiled is not None:
                self._fast, self.step_kind = compiled, "native"
        # lets gymnasium re-create the shielded environment from env.spec (gym.make, check_env)
        gym.utils.RecordConstructorArgs.__init__(
            self, spec=spec, fallback=fallback, allow_unverified=allow_unverified, proof=self.proof,
            verify_options=verify_options, projection=projection, lookahead=lookahead, fast_path=fast_path,
            native=native,
        )

    # -- set-up -----------------------------------------------------------------------
    def _setup_spaces(self, env: gym.Env, program: Program) -> None:  # type: ignore[type-arg]
        ospace = env.observation_space
        n_obs = len(program.observations)
        if not isinstance(ospace, spaces.Box) or ospace.shape != (n_obs,):
            raise InputError(
                f"the environment's observation space is {ospace}; the fallback program "
                f"{program.name!r} declares {n_obs} observations (a Box of shape ({n_obs},) is needed)"
            )
        odt = np.dtype(ospace.dtype)
        self._odtype = odt
        f32 = [d.dtype == "float32" for d in program.observations]
        # with float32 observations (or no float32 declaration) ndarray.tolist() is exact
        self._plain_tolist = odt == np.float32 or (odt == np.float64 and not any(f32))
        if odt == np.float32 or not any(f32):
            self._to_list: Callable[[Any], list[float]] = _tolist_as(odt)
        elif all(f32):
            self._to_list = _tolist_as(np.dtype(np.float32))
        else:
            self._to_list = _mixed_cast(f32)
        aspace = env.action_space
        acts = program.actions
        if isinstance(aspace, spaces.Discrete):
            if len(acts) != 1 or acts[0].kind != "discrete":
                raise InputError(
                    f"the environment has a Discrete action space; the fallback program {program.name!r} "
                    "must declare exactly one discrete action"
                )
            start, n = int(aspace.start), int(aspace.n)
            for label, value in acts[0].labels:
                if not start <= value < start + n:
                    raise InputError(
                        f"label {label!r} = {value} of action {acts[0].name!r} is outside the environment's "
                        f"actions {start}..{start + n - 1}"
                    )
            self._discrete = True
            self._start, self._n = start, n
            self._continuous = [False]
        elif isinstance(aspace, spaces.Box):
            if len(aspace.shape) != 1 or aspace.shape[0] != len(acts) or any(a.kind != "continuous" for a in acts):
                raise InputError(
                    f"the environment's action space is {aspace}; the fallback program {program.name!r} "
                    f"declares {len(acts)} action(s) — one continuous action per entry is needed"
                )
            self._discrete = False
            self._adtype = np.dtype(aspace.dtype)
            self._ashape = aspace.shape
            self._alow = [float(x) for x in np.asarray(aspace.low, dtype=np.float64).reshape(-1)]
            self._ahigh = [float(x) for x in np.asarray(aspace.high, dtype=np.float64).reshape(-1)]
            self._continuous = [True] * len(acts)
            self._adtype = np.dtype(self._adtype.type)  # the canonical instance, for 'is' tests
            # x (inside [lo, hi]) cast to the action dtype, nudged back inside if rounding left
            self._cast_into: Callable[[float, float, float], float] = caster(self._adtype)
            self._open_box = not all(math.isfinite(v) for v in self._alow + self._ahigh)
        else:
            raise UnsupportedError(f"the shield handles Discrete and flat Box action spaces, not {aspace}")

    def _setup_lookahead(self, env: gym.Env, enabled: bool, allow_unverified: bool) -> None:  # type: ignore[type-arg]
        ids = [p.id for p in self.safety_spec.closed_loop]
        if not enabled:
            self._closed_unmonitored = [(pid, "look-ahead turned off") for pid in ids]
            return
        if not self._discrete:
            self._closed_unmonitored = [(pid, "the look-ahead needs a Discrete action space") for pid in ids]
            return
        from saferl.shield.lookahead import build_lookahead

        look, skipped, unproved = build_lookahead(env, self.safety_spec, self.fallback)
        if unproved and not allow_unverified:
            pid, why = unproved[0]
            raise UnverifiedFallbackError(
                f"the fallback {self.fallback.name!r} has no proved inductive invariant for property {pid!r} "
                f"of spec {self.safety_spec.name!r} ({why}); the look-ahead needs one",
                hint="repair the fallback until 'saferl closedloop' proves it SAFE forever, or pass allow_unverified=True",
            )
        self._closed_unmonitored = skipped + [(pid, f"no proved invariant for the fallback ({why})") for pid, why in unproved]
        self.lookahead = look
        if look is not None and self.proof is not None:
            self.proof = replace(self.proof, results=self.proof.results + look.results)

    def _prove(self, proof: VerifyResult | None, options: VerifyOptions | None) -> VerifyResult:
        from saferl.policy.printer import program_digest

        if proof is None and not self.checks.ids:
            # nothing per-state to prove (a spec of closed-loop properties only)
            return VerifyResult("", "", self.fallback.name, program_digest(self.fallback), self.safety_spec.name, ())
        if proof is None:
            from saferl.verify import verify_policy

            ids = set(self.checks.ids)
            sub = replace(self.safety_spec, properties=tuple(p for p in self.safety_spec.properties if p.id in ids),
                          closed_loop=())
            proof = verify_policy(self.fallback, sub, options)
        elif proof.policy_digest != program_digest(self.fallback):
            raise UnverifiedFallbackError(
                f"the proof given is for another program (digest {proof.policy_digest}), "
                f"not the fallback {self.fallback.name!r}"
            )
        verdicts = {r.property_id: r.verdict for r in proof.results}
        for pid in self.checks.ids:
            verdict = verdicts.get(pid)
            if verdict is not Verdict.SAFE:
                shown = "not checked" if verdict is None else verdict.value
                raise UnverifiedFallbackError(
                    f"the fallback {self.fallback.name!r} is not proved against property {pid!r} "
                    f"of spec {self.safety_spec.name!r} ({shown}); a substitution could break it",
                    hint="repair the fallback until saferl.verify_policy proves it SAFE, or pass allow_unverified=True",
                )
        return proof

    # -- counters ---------------------------------------------------------------------
    def _zero_counters(self) -> None:
        # tally[k] / ptally[k]: fast-path substitutions of the fallback / projections for
        # property k (1-based); the lists are shared with the generated step, so they are
        # cleared in place
        if not hasattr(self, "_tally"):
            self._tally = [0] * (len(self._ids) + 1)
            self._ptally = [0] * (len(self._ids) + 1)
        self._tally[:] = [0] * len(self._tally)
        self._ptally[:] = [0] * len(self._ptally)
        self._t = 0
        self._ep_int = 0
        self._ep_unsafe = 0
        self._ep_prop: collections.Counter[str] = collections.Counter()
        self._ep_reason: collections.Counter[str] = collections.Counter()
        self._ep_source: collections.Counter[str] = collections.Counter()

    def _episode_stats(self) -> EpisodeStats:
        prop, reason, source = collections.Counter(self._ep_prop), collections.Counter(self._ep_reason), collections.Counter(self._ep_source)
        fast = 0
        for tally, src in ((self._tally, "fallback"), (self._ptally, "projection")):
            n = 0
            for k, count in enumerate(tally):
                if k and count:
                    prop[self._ids[k - 1]] += count
                    n += count
            if n:
                reason["violation"] += n
                source[src] += n
                fast += n
        return EpisodeStats(self._t, self._ep_int + fast, self._ep_unsafe, dict(prop), dict(reason), dict(source))

    def _fold_episode(self) -> EpisodeStats:
        """Close the current episode's counters: add them to the totals, start afresh."""
        ep = self._episode_stats()
        if ep.steps:
            self._closed = _add(self._closed, ep)
            self._episodes += 1
        self._zero_counters()
        return ep

    def _finish(self, rec: ShieldRecord) -> ShieldRecord:
        return rec._replace(episode=self._fold_episode())

    @property
    def episode_stats(self) -> EpisodeStats:
        """Counters of the episode in progress."""
        return self._episode_stats()

    @property
    def totals(self) -> EpisodeStats:
        """Counters over every step since the shield was built."""
        return _add(self._closed, self._episode_stats())

    @property
    def episodes(self) -> int:
        """Episodes finished (terminated, truncated, or abandoned by a reset)."""
        return self._episodes

    @property
    def monitored(self) -> tuple[str, ...]:
        """Ids of the properties the shield enforces (per-state checks, then look-ahead)."""
        return self.checks.ids + (self.lookahead.ids if self.lookahead is not None else ())

    @property
    def unmonitored(self) -> tuple[tuple[str, str], ...]:
        """(id, why) of properties the shield cannot enforce at run time."""
        return self.checks.unmonitored + tuple(self._closed_unmonitored)

    @property
    def outside_invariant_steps(self) -> int:
        """Steps taken from a state that may lie outside a proved invariant (the fallback
        acted; nothing is guaranteed there).  0 from reset states inside the invariant."""
        return self._outside

    @property
    def observation(self) -> Any:
        """The last observation the environment returned (what the policy should act on)."""
        if self._plain_tolist and self._o is not None:
            # rebuilt from the exact values the shield keeps (the fast path stores no array)
            return np.array(self._o, dtype=self._odtype)
        return self._obs

    # -- gymnasium API ----------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset the environment, the history, the fallback's state and the episode counters."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._fold_episode()
        self._obs = obs
        self._o = self._to_list(obs)
        self._h.clear()
        self._ps[:] = [0.0] * len(self._ps)
        if self._fast is not None:
            # the generated fast path replaces the method on this instance (one call less per step)
            self.step = self._fast  # type: ignore[method-assign,assignment]
        return obs, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        """Check ``action``, substitute a safe one if needed, step the environment."""
        return self._step(action, False)

    def step_with(self, policy: Policy) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        """Ask ``policy`` for an action on the current observation and step with it.

        An exception from ``policy.act`` is caught (kept in :attr:`last_policy_error`) and
        the fallback acts instead (reason ``policy-error``).
        """
        if self._o is None:
            raise gym.error.ResetNeeded("call reset() before step_with()")
        try:
            action = policy.act(self.observation)
        except Exception as exc:  # the policy's failure must never stop the shield
            self.last_policy_error = exc
            return self._step(None, True)
        return self.step(action)

    def action_masks(self) -> np.ndarray:
        """For a Discrete space: which actions satisfy every monitored property now.

        For use with maskable algorithms.  When no action does (only possible outside the
        spec's verified domain), the fallback's action alone is allowed.
        """
        if not self._discrete:
            raise UnsupportedError("action_masks() needs a Discrete action space")
        if self._o is None:
            raise gym.error.ResetNeeded("call reset() before action_masks()")
        o, h, s = self._o, self._h, tuple(self._ps)
        check = self.checks.check
        mask = np.array([check(o, (v,), h, s) == 0 for v in range(self._start, self._start + self._n)], dtype=bool)
        if self.lookahead is not None:
            mask &= np.array([self.lookahead.check(o, v)[0] == 0 for v in range(self._start, self._start + self._n)])
        if not mask.any():
            fb = int(self._fb_step(*o, list(self._ps))[0])
            mask[fb - self._start] = True
        return mask

    # -- the step ---------------------------------------------------------------------
    def _step(self, action: Any, policy_error: bool) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        o = self._o
        if o is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        h = self._h
        s_in = tuple(self._ps) if self._ps else ()
        fb = self._fb_step(*o, self._ps) if self._stateful else None  # state follows every step
        pid: str | None = None
        cand: tuple[Any, ...] | None = None
        if policy_error:
            reason: str | None = "policy-error"
        else:
            cand = self._validate(action)
            reason = None if cand is not None else "invalid-action"
        if cand is not None:
            k = self._check(o, cand, h, s_in)
            if k:
                reason, pid = "violation", self._ids[k - 1]
        if reason is None and self.lookahead is not None:
            code, lpid = self.lookahead.check(o, cand[0])  # type: ignore[index]
            if code:
                if code == 2:
                    self._outside += 1
                fb = fb if fb is not None else self._fb_step(*o, list(self._ps))
                if self._fit(fb) != cand:
                    reason, pid = ("lookahead" if code == 1 else "outside-invariant"), lpid
        if reason is None:
            executed, source = cand, "policy"
            # a valid array of the space's own dtype and shape goes through untouched
            passthrough = (
                not self._discrete and action.__class__ is np.ndarray
                and action.dtype is self._adtype and action.shape == self._ashape
            )
        else:
            executed, source = self._substitute(o, h, s_in, cand if reason == "violation" else None, fb)
            passthrough = False
        if executed is None:  # unreachable: a missing candidate always has a reason
            raise InternalError("the shield lost its candidate action")
        env_action = action if passthrough else self._env_action(executed)
        obs, reward, terminated, truncated, info = self.env.step(env_action)
        if self.checks.window:
            h.append((o, executed, s_in))
        self._obs = obs
        self._o = self._to_list(obs)
        self._t += 1
        shown = executed[0] if len(executed) == 1 else executed
        if reason is None:
            rec = ShieldRecord(shown, shown, False, None, None, "policy")
        else:
            self._ep_int += 1
            self._ep_reason[reason] += 1
            self._ep_source[source] += 1
            if pid is not None:
                self._ep_prop[pid] += 1
            if source == "unsafe-fallback":
                self._ep_unsafe += 1
            proposed = None if policy_error else _plain_action(action)
            rec = ShieldRecord(proposed, shown, True, pid, reason, source)
        if terminated or truncated:
            rec = self._finish(rec)
        info["saferl"] = rec
        return obs, reward, terminated, truncated, info

    def _substitute(
        self, o: list[float], h: Any, s_in: tuple[float, ...], proposed: tuple[Any, ...] | None, fb: tuple[Any, ...] | None
    ) -> tuple[tuple[Any, ...], str]:
        check = self.checks.check
        if self.projection and proposed is not None:
            p = self._project(o, proposed, h, s_in)
            if p is not None and check(o, p, h, s_in) == 0:
                return p, "projection"
        if fb is None:
            fb = self._fb_step(*o, list(self._ps))
        fit = self._fit(fb)
        if check(o, fit, h, s_in) == 0:
            return fit, "fallback"
        if self._discrete:
            for v in range(self._start, self._start + self._n):
                if check(o, (v,), h, s_in) == 0:
                    return (v,), "search"
        elif self.projection:
            p = self._project(o, fit, h, s_in)
            if p is not None and check(o, p, h, s_in) == 0:
                return p, "fallback-projection"
        return fit, "unsafe-fallback"

    def _validate(self, action: Any) -> tuple[Any, ...] | None:
        """The action as a tuple of executable values, or None if it is not in the space."""
        if self._discrete:
            if isinstance(action, int | np.integer):
                v = int(action)
            elif isinstance(action, np.ndarray) and action.shape == () and np.issubdtype(action.dtype, np.integer):
                v = int(action)
            else:
                return None
            return (v,) if self._start <= v < self._start + self._n else None
        if action.__class__ is np.ndarray and action.dtype is self._adtype and action.shape == self._ashape:
            vals = action.tolist()  # the common case: no conversion, no errstate
        else:
            try:
                with np.errstate(over="ignore", invalid="ignore"):
                    arr = np.asarray(action, dtype=self._adtype)
            except (TypeError, ValueError, OverflowError):
                return None
            if arr.shape != self._ashape:
                return None
            vals = arr.reshape(-1).tolist()
        for v, lo, hi in zip(vals, self._alow, self._ahigh, strict=True):
            # NaN fails the comparison; infinities fail it unless a bound is infinite
            if not (lo <= v <= hi) or (self._open_box and not math.isfinite(v)):
                return None
        return tuple(vals)

    def _fit(self, fb: Sequence[float]) -> tuple[Any, ...]:
        """The fallback's actions as executable values (continuous: clipped into the box)."""
        if self._discrete:
            return (int(fb[0]),)
        return tuple(self._cast_into(min(max(v, lo), hi), lo, hi) for v, lo, hi in zip(fb, self._alow, self._ahigh, strict=True))

    def _project(self, o: list[float], base: tuple[Any, ...], h: Any, s_in: tuple[float, ...]) -> tuple[Any, ...] | None:
        intervals = self.checks.intervals
        if intervals is None:
            return None
        iv = intervals(o, base, h, s_in)
        out = []
        for v, (lo, hi), blo, bhi in zip(base, iv, self._alow, self._ahigh, strict=True):
            lo, hi = max(lo, blo), min(hi, bhi)
            if not lo <= hi:
                return None
            out.append(self._cast_into(min(max(v, lo), hi), lo, hi))
        return tuple(out)

    def _env_action(self, executed: tuple[Any, ...]) -> Any:
        if self._discrete:
            return executed[0]
        return np.array(executed, dtype=self._adtype).reshape(self._ashape)

    # -- the generated fast path --------------------------------------------------------


def _add(a: EpisodeStats, b: EpisodeStats) -> EpisodeStats:
    def merge(x: Any, y: Any) -> dict[str, int]:
        out = collections.Counter(dict(x))
        out.update(dict(y))
        return dict(out)

    return EpisodeStats(
        a.steps + b.steps, a.interventions + b.interventions, a.unsafe_steps + b.unsafe_steps,
        merge(a.by_property, b.by_property), merge(a.by_reason, b.by_reason), merge(a.by_source, b.by_source),
    )


def _tolist_as(dtype: np.dtype) -> Callable[[Any], list[float]]:  # type: ignore[type-arg]
    if dtype == np.float32 or dtype == np.float64:
        dtype = np.dtype(dtype.type)  # the canonical instance, so that 'is' matches arrays' dtype

        def convert(obs: Any) -> list[float]:
            if obs.__class__ is np.ndarray and obs.dtype is dtype:
                return obs.tolist()  # type: ignore[no-any-return]
            return np.asarray(obs, dtype=dtype).reshape(-1).tolist()  # type: ignore[no-any-return]
        return convert

    def convert_any(obs: Any) -> list[float]:
        return np.asarray(obs, dtype=np.float64).reshape(-1).tolist()  # type: ignore[no-any-return]
    return convert_any


def _mixed_cast(f32: list[bool]) -> Callable[[Any], list[float]]:
    def convert(obs: Any) -> list[float]:
        vals = np.asarray(obs, dtype=np.float64).reshape(-1).tolist()
        return [float(np.float32(v)) if c else v for v, c in zip(vals, f32, strict=True)]
    return convert


def _plain_action(action: Any) -> Any:
    """The proposed action as a plain Python value for the record."""
    if isinstance(action, bool | int | float):
        return action
    if isinstance(action, np.generic):
        return action.item()
    if isinstance(action, np.ndarray) and action.dtype.kind in "biuf" and action.size <= 64:
        vals = action.reshape(-1).tolist()
        return vals[0] if len(vals) == 1 else tuple(vals)
    if isinstance(action, list | tuple) and all(isinstance(x, int | float) for x in action):
        return action[0] if len(action) == 1 else tuple(action)
    return repr(action)[:200]
