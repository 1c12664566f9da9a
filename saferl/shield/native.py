"""The shield's Box step compiled to C, built at first use with the system C compiler.

:func:`native_step` takes the Python step :func:`saferl.shield.fastpath.make_box_step`
generated for a shield, translates it to C (:mod:`saferl.shield.ctrans`), compiles it as
a small CPython extension module and returns the module's step over this shield's
objects (its history, its PID state, its counters, the environment's ``step``): a
built-in function the shield installs as its ``step``.  It takes the same decisions and
produces the same values, bit for bit, as the Python step (IEEE doubles, compiled with
``-O2 -ffp-contract=off``: no fused multiply-add, no fast-math); anything it does not
expect it hands to the Python step, unchanged.

Builds are cached per user under ``$SAFERL_CACHE_DIR`` (default
``$XDG_CACHE_HOME/saferl``, else ``~/.cache/saferl``), in ``shield-native/``, keyed by the
SHA-256 of the C source, the compiler command and flags, the Python and numpy versions.
The compiler is ``$CC`` (default ``cc``); Python's headers come from ``sysconfig``,
numpy's from ``numpy.get_include()``.  ``SAFERL_NATIVE=0`` turns the native step off.

Nothing fails for want of it: without a compiler, when the build or the load fails, or
when the step holds something the translation does not handle, :func:`native_step`
returns None and says why; the shield keeps the Python step and shows the reason
(``Shield.step_kind``, ``Shield.native_note``, and ``saferl shield run``'s summary).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import shlex
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from saferl.shield.ctrans import NativeUnsupported, StepLayout, c_step_source
from saferl.shield.records import ShieldRecord

if TYPE_CHECKING:
    from saferl.shield.wrapper import Shield

__all__ = ["native_step", "native_module", "FLAGS", "cache_dir"]

#: compiler flags: exact IEEE double arithmetic in the source's order
FLAGS = ("-O2", "-ffp-contract=off", "-fno-fast-math", "-fno-strict-aliasing", "-fPIC", "-shared")
_BUILD_TIMEOUT_S = 120
_MODULES: dict[str, Any] = {}  # key -> loaded module, for this process


def cache_dir() -> Path:
    """The per-user folder of native builds."""
    base = os.environ.get("SAFERL_CACHE_DIR")
    if not base:
        base = str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "saferl")
    return Path(base) / "shield-native"


def _compiler() -> list[str] | None:
    cmd = shlex.split(os.environ.get("CC") or "cc")
    if not cmd or shutil.which(cmd[0]) is None:
        return None
    return cmd


def _private_dir(path: Path) -> bool:
    """Create ``path`` (mode 0700) if needed; is it a folder of this user that others cannot write?"""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022


def _build(c_src: str, module: str, cc: list[str], includes: list[str]) -> tuple[Path, bool]:
    """The module's shared object: from the cache, else compiled into it (atomically); and
    whether it is cached (else it lies in a temporary folder of its own, for this process)."""
    folder = cache_dir()
    cached = _private_dir(folder)
    if not cached:  # not a private cache: build for this process only
        folder = Path(tempfile.mkdtemp(prefix="saferl-native-"))
    target = folder / f"{module}{sysconfig.get_config_var('EXT_SUFFIX') or '.so'}"
    if cached and target.is_file():
        return target, True
    try:
        _compile(c_src, module, cc, includes, folder, target)
    except BaseException:
        if not cached:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return target, cached


def _compile(c_src: str, module: str, cc: list[str], includes: list[str], folder: Path, target: Path) -> None:
    with tempfile.TemporaryDirectory(dir=folder, prefix=".build-") as tmp:
        c_file, so_file = Path(tmp) / f"{module}.c", Path(tmp) / target.name
        c_file.write_text(c_src, encoding="utf-8")
        cmd = [*cc, *FLAGS, *(f"-I{i}" for i in includes), "-o", str(so_file), str(c_file), "-lm"]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=_BUILD_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise NativeUnsupported(f"the C compiler did not run: {exc}") from None
        if done.returncode != 0 or not so_file.is_file():
            first = next((line for line in done.stderr.splitlines() if "error" in line), done.stderr.strip()[:200])
            raise NativeUnsupported(f"the C build failed ({' '.join(cc)} exit {done.returncode}): {first}")
        os.replace(so_file, target)


def _load(path: Path, module: str) -> Any:
    loader = importlib.machinery.ExtensionFileLoader(module, str(path))
    spec = importlib.util.spec_from_file_location(module, str(path), loader=loader)
    if spec is None:
        raise NativeUnsupported(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def _layout(shield: Shield) -> StepLayout:
    adt, odt = shield._adtype, shield._odtype
    if adt not in (np.float32, np.float64) or odt not in (np.float32, np.float64):
        raise NativeUnsupported(f"actions of {adt} / observations of {odt} (float32 or float64 only)")
    if shield._ashape != (len(shield._alow),):
        raise NativeUnsupported(f"action shape {shield._ashape}")
    return StepLayout(n_obs=len(shield.fallback.observations), n_act=len(shield._alow), n_state=len(shield._ps),
                      action_f32=adt == np.float32, obs_f32=odt == np.float32, projection=bool(shield.projection))


def native_module(shield: Shield, python_step: Callable[[Any], Any]) -> Any:
    """The extension module compiled for ``python_step`` (the shield's generated Box step,
    its source in its docstring): from this process's modules, the cache, or built now.

    Raises:
        NativeUnsupported: no compiler, a failed build, or a step the translation does not handle.
        ImportError, OSError: the module did not load.
    """
    layout = _layout(shield)
    source = python_step.__doc__ or ""
    body = c_step_source(source, layout, shield.checks.window, "MODULE")
    cc = _compiler()
    if cc is None:
        raise NativeUnsupported(f"no C compiler ({os.environ.get('CC') or 'cc'} not found)")
    includes = [sysconfig.get_paths()["include"], np.get_include()]
    key_text = "\n".join([body, *cc, *FLAGS, sys.version, np.__version__, *includes])
    key = hashlib.sha256(key_text.encode()).hexdigest()[:24]
    module = f"_saferl_shield_{key}"
    mod = _MODULES.get(key)
    if mod is None:
        c_src = c_step_source(source, layout, shield.checks.window, module)
        path, cached = _build(c_src, module, cc, includes)
        try:
            mod = _load(path, module)
        finally:
            if not cached:  # loaded (or not): the temporary build goes
                shutil.rmtree(path.parent, ignore_errors=True)
        _MODULES[key] = mod
    return mod


def native_step(shield: Shield, python_step: Callable[[Any], Any]) -> tuple[Callable[[Any], Any] | None, str]:
    """The native twin of ``python_step`` over this shield's objects, or None; and a line
    saying which, and why when None."""
    if os.environ.get("SAFERL_NATIVE", "1") == "0":
        return None, "Python step (native step turned off: SAFERL_NATIVE=0)"
    try:
        mod = native_module(shield, python_step)
        if any(hasattr(type(shield), name) for name in ("_o", "_t")):
            raise NativeUnsupported("the shield's class defines _o or _t (the step reads them from the instance)")
        # in the order of saferl.shield.ctemplate.CONTEXT
        ctx = (shield, shield._step, python_step, shield.env.step, shield._to_list, shield._finish, shield._fb_step,
               shield._ps, shield._h, shield._h.append, shield._ptally, shield._adtype, shield._odtype, np.ndarray,
               np.array, ShieldRecord, (None, *shield._ids), vars(shield))
        return mod.make(ctx), f"native ({mod.__name__})"
    except NativeUnsupported as exc:
        return None, f"Python step (no native step: {exc})"
    except (ImportError, OSError) as exc:
        return None, f"Python step (the native build did not load: {exc})"
