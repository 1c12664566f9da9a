"""``saferl cache clear | dir``: manage the result cache of ``saferl check``.

The folder is ``--cache-dir``, else the configuration's ``cache-dir``, else
``.saferl_cache`` next to the configuration (or in the current folder).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from saferl.cli._plain import Parser, run_plain
from saferl.errors import InputError

PROG = "saferl cache"
ACTIONS = ("clear", "dir")


def _folder(args: argparse.Namespace) -> Path:
    from saferl.check.config import find_config, load_config

    if args.cache_dir is not None:
        return Path(args.cache_dir)
    config_path = args.config or find_config(Path.cwd())
    if config_path is None:
        return Path.cwd() / ".saferl_cache"
    config = load_config(config_path)
    return config.cache_dir or config.root / ".saferl_cache"


def cache(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Run ``saferl cache`` on ``argv``."""
    from saferl.check.cache import clear_cache

    p = Parser(prog=PROG, description="Manage saferl check's result cache.", add_help=False)
    p.add_argument("action", nargs="?", metavar="ACTION", help="clear: delete every cached result; dir: print the folder")
    p.add_argument("-h", "--help", action="store_true", help="show this help and exit")
    p.add_argument("--cache-dir", type=Path, help="the cache folder")
    p.add_argument("--config", type=Path, help="pyproject.toml or saferl.toml naming the cache folder")
    args = p.parse_args(argv)
    if args.help:
        p.print_help(out)
        return 0
    if args.action not in ACTIONS:
        raise InputError(f"expected an action: {' | '.join(ACTIONS)} (see '{PROG} --help')")
    folder = _folder(args)
    if args.action == "dir":
        out.write(f"{folder}\n")
        return 0
    removed = clear_cache(folder)
    out.write(f"removed {removed} cached result{'s' if removed != 1 else ''} from {folder}\n")
    return 0


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Entry point used by ``saferl.cli``: bad input is one line on stderr and exit 2."""
    return run_plain(PROG, lambda: cache(argv, out, err), err)
