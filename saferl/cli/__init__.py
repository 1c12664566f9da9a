"""saferl's command line: ``saferl COMMAND ...``.

The dispatcher imports only the module of the command being run, so that ``saferl verify``
starts fast (no torch, no scikit-learn).  Each command lives in its own module under
``saferl.cli`` and exposes ``run(argv, stdout, stderr) -> int``; only :func:`main` exits.
"""

from __future__ import annotations

import importlib
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
}

EXIT_OK = 0
EXIT_UNSAFE = 1
EXIT_ERROR = 2
EXIT_UNKNOWN = 3

_USAGE = "usage: saferl COMMAND [ARGS]...   (saferl COMMAND --help for a command's options)"


def _print_help(stream: TextIO) -> None:
    stream.write(_USAGE + "\n\ncommands:\n")
    for name, (_, help_text) in COMMANDS.items():
        stream.write(f"  {name:<9} {help_text}\n")
    stream.write("\nexit codes: 0 SAFE/ok, 1 UNSAFE/refuted, 2 bad input or tool error, 3 UNKNOWN\n")


def run(argv: list[str], stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run the command line ``argv`` (without the program name); return the exit code."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    if not argv or argv[0] in ("-h", "--help", "help"):
        _print_help(out)
        return EXIT_OK if argv else EXIT_ERROR
    if argv[0] == "--version":
        from saferl import __version__

        out.write(f"saferl {__version__}\n")
        return EXIT_OK
    name = argv[0]
    if name not in COMMANDS:
        err.write(f"saferl: error: unknown command {name!r}; commands: {', '.join(COMMANDS)}\n")
        return EXIT_ERROR
    try:
        module = importlib.import_module(COMMANDS[name][0])
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("saferl"):
            err.write(f"saferl: error: command {name!r} is not available in this build\n")
            return EXIT_ERROR
        raise
    code: int = module.run(argv[1:], out, err)
    return code


def main() -> None:
    """Entry point of the ``saferl`` script."""
    sys.exit(run(sys.argv[1:]))
