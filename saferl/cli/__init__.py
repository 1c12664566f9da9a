"""saferl's command line: ``saferl COMMAND ...``.

The dispatcher imports only the module of the command being run, so that ``saferl verify``
starts fast (no torch, no scikit-learn).  Each command lives in its own module under
``saferl.cli`` and exposes ``run(argv, stdout, stderr) -> int``; only :func:`main` exits.

A crash is never a verdict: :func:`run` turns any exception a command did not handle into
exit code 2 and one line on stderr (``saferl: internal error: …``); the traceback is
written only with the global ``--debug`` flag or ``SAFERL_DEBUG=1`` in the environment.
Ctrl-C ends with exit code 130 and one line; a reader that closes stdout early
(``saferl verify … | head``) ends the command quietly with exit code 2.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TextIO

__all__ = ["COMMANDS", "main", "run"]

#: command name -> (module, one-line help).  One module per command.
COMMANDS: dict[str, tuple[str, str]] = {
    "verify": ("saferl.cli.verify", "Prove a policy against a YAML spec (SAFE / UNSAFE / UNKNOWN)."),
    "eval": ("saferl.cli.eval", "Run a policy in an environment and report its return."),
    "certify": ("saferl.cli.certify", "Certify a gridworld subgoal program with exact arithmetic."),
    "synth": ("saferl.cli.synth", "Synthesise a gridworld subgoal program (backward tree + Algorithm 1)."),
    "grid": ("saferl.cli.grid", "Gridworld utilities: render an instance and a path."),
    "torcs": ("saferl.cli.torcs", "TORCS utilities: list tracks, race a policy."),
    "train": ("saferl.cli.train", "Train a small neural oracle (PPO or TD3) from a seed."),
    "extract": ("saferl.cli.extract", "Extract a tree or PID program from a neural oracle."),
    "repair": ("saferl.cli.repair", "Repair a policy until every property is SAFE."),
    "shield": ("saferl.cli.shield", "Run a neural policy behind a runtime shield."),
    "closedloop": ("saferl.cli.closedloop", "Prove closed-loop safety / reach over an environment model."),
    "import": ("saferl.cli.import_", "Convert an SB3 .zip, ONNX MLP or skops tree into saferl's format."),
    "check": ("saferl.cli.check", "Verify every configured policy × spec pair (cache, baseline, parallel)."),
    "cache": ("saferl.cli.cache", "Manage saferl check's result cache (clear, dir)."),
    "distill": ("saferl.cli.distill", "Imitate a .pol program with a neural network (DAgger)."),
    "finetune": ("saferl.cli.finetune", "Fine-tune a neural policy (PPO / TD3), optionally shielded or near a program."),
    "loop": ("saferl.cli.loop", "Finetune -> extract -> verify -> repair -> tune -> distill, resumable (best.pol always SAFE)."),
    "tune": ("saferl.cli.tune", "Raise a SAFE program's return by searching its constants; every winner is proved."),
}

EXIT_OK = 0
EXIT_UNSAFE = 1
EXIT_ERROR = 2
EXIT_UNKNOWN = 3
EXIT_INTERRUPTED = 130

#: the global flag (accepted anywhere before ``--``) and the variable that show tracebacks
DEBUG_FLAG = "--debug"
DEBUG_ENV = "SAFERL_DEBUG"

_USAGE = "usage: saferl COMMAND [ARGS]...   (saferl COMMAND --help for a command's options)"


def _print_help(stream: TextIO) -> None:
    stream.write(_USAGE + "\n\ncommands:\n")
    for name, (_, help_text) in COMMANDS.items():
        stream.write(f"  {name:<9} {help_text}\n")
    stream.write("\nexit codes: 0 SAFE/ok, 1 UNSAFE/refuted, 2 bad input or tool error, 3 UNKNOWN\n")
    stream.write(f"\n{DEBUG_FLAG} (or {DEBUG_ENV}=1) prints the traceback of an internal error\n")


def _split_debug(argv: list[str]) -> tuple[list[str], bool]:
    """``argv`` without the global ``--debug`` flag, and whether it was given."""
    if "--" in argv:
        cut = argv.index("--")
        head, tail = argv[:cut], argv[cut:]
    else:
        head, tail = argv, []
    debug = DEBUG_FLAG in head
    return [a for a in head if a != DEBUG_FLAG] + tail, debug


def debug_requested(argv: list[str]) -> bool:
    """Whether tracebacks are wanted: ``--debug`` in ``argv`` or ``SAFERL_DEBUG`` set (not 0)."""
    env = os.environ.get(DEBUG_ENV, "").strip().lower()
    return _split_debug(argv)[1] or env not in ("", "0", "false", "no")


def _one_line(text: str, limit: int = 400) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def internal_error_line(exc: BaseException) -> str:
    """The one line :func:`run` writes for an exception no command handled.

    Example:
        >>> internal_error_line(ZeroDivisionError("division by zero"))
        'saferl: internal error: ZeroDivisionError: division by zero (rerun with --debug or SAFERL_DEBUG=1 for the traceback)'
    """
    detail = _one_line(str(exc))
    name = type(exc).__name__
    return (
        f"saferl: internal error: {name}{': ' + detail if detail else ''} "
        f"(rerun with {DEBUG_FLAG} or {DEBUG_ENV}=1 for the traceback)"
    )


def _dispatch(argv: list[str], out: TextIO, err: TextIO) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        _print_help(out)
        return EXIT_OK if argv else EXIT_ERROR
    if argv[0] == "--version":
        from saferl import __version__

        out.write(f"saferl {__version__}\n")
        return EXIT_OK
    name = argv[0]
    if name not in COMMANDS:
        err.write(f"saferl: error: unknown command {_one_line(name, 80)!r}; commands: {', '.join(COMMANDS)}\n")
        return EXIT_ERROR
    try:
        module = importlib.import_module(COMMANDS[name][0])
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("saferl"):
            err.write(f"saferl: error: command {name!r} is not available in this build\n")
            return EXIT_ERROR
        raise
    code = module.run(argv[1:], out, err)
    if not isinstance(code, int) or isinstance(code, bool):
        raise TypeError(f"command {name!r} returned {code!r}, not an exit code")
    return code


def run(argv: list[str], stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run the command line ``argv`` (without the program name); return the exit code.

    Never raises: an exception a command did not handle becomes exit code 2 and one line
    on ``stderr`` (plus the traceback under ``--debug`` or ``SAFERL_DEBUG=1``).
    """
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    debug = debug_requested(argv)
    argv = _split_debug(argv)[0]
    try:
        return _dispatch(argv, out, err)
    except KeyboardInterrupt:
        _write_quietly(err, "saferl: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader of our output went away (``| head``): nothing left to tell it
        return EXIT_ERROR
    except SystemExit as exc:  # a library called sys.exit(); only main() exits
        if exc.code in (None, 0):
            return EXIT_OK
        return _internal_error(exc, err, debug)
    except Exception as exc:  # noqa: BLE001 - the one place every crash ends: exit 2, one line
        return _internal_error(exc, err, debug)


def _write_quietly(stream: TextIO, text: str) -> None:
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):  # a closed or broken stream: nowhere left to say it
        pass


def _internal_error(exc: BaseException, err: TextIO, debug: bool) -> int:
    if debug:
        import traceback

        _write_quietly(err, "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    _write_quietly(err, internal_error_line(exc) + "\n")
    return EXIT_ERROR


def main() -> None:
    """Entry point of the ``saferl`` script."""
    code = run(sys.argv[1:])
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        # keep Python's shutdown from reporting the broken pipe a second time
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        code = EXIT_ERROR if code == EXIT_OK else code
    except (OSError, ValueError):
        pass
    sys.exit(code)
