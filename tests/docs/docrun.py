"""The workspace (a copy of the repository) and the runner of each kind of block.

The rules are in docblocks.py's docstring.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from docblocks import (
    ROOT,
    Block,
    DocError,
    append_args,
    apply_rewrites,
    ellipsis_match,
    logical_lines,
    long_options,
    normalise,
    parse_transcript,
    split_comment,
)

VERDICT_EXIT = {"SAFE": 0, "UNSAFE": 1, "UNKNOWN": 3}
# new files may appear here (outputs and caches), nowhere else
SCRATCH = ("out/", ".saferl_cache/", "torcs-robot/build/", "torcs-robot/.src/", ".hypothesis/")
COMMAND_TIMEOUT_S = 600
_FIGURE = re.compile(r"(?<![\w.])-?\d+\.\d+")


# -- the workspace ----------------------------------------------------------------------------


def shipped_files(root: Path = ROOT) -> list[str]:
    """The files a checkout ships: those git tracks (as they are in the working tree)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=root,
                             capture_output=True, check=True).stdout.decode()
        files = [f for f in out.split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
                 and not any(part in (".git", ".venv", "__pycache__") for part in p.parts)]
    return sorted(f for f in files if (root / f).is_file())


def _copied(path: str) -> bool:
    if path.startswith("saferl/") or path.startswith("saferl.egg-info/"):
        return False
    if path.startswith("tests/"):
        return path in ("tests/conftest.py", "tests/test_doctests.py")
    return True


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Workspace:
    """A copy of the repository for one document's blocks, checked after every block."""

    def __init__(self, path: Path, scripts: Path, root: Path = ROOT):
        self.path = path
        self.scripts = scripts
        self.files = [f for f in shipped_files(root) if _copied(f)]
        for f in self.files:
            target = path / f
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / f, target)
        for extra in ("torcs-robot/build", "torcs-robot/.src"):
            if (root / extra).is_dir() and not (path / extra).exists():
                shutil.copytree(root / extra, path / extra, symlinks=True)
        self.hashes = {f: _digest(path / f) for f in self.files}
        self.done: dict[int, str | None] = {}   # block line -> None (passed) or failure
        self.allowed: set[str] = set()          # files a block declared with 'writes'
        self.log: list[str] = []
        venv = Path(sys.prefix)
        self.env = dict(os.environ)
        self.env.update({
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "SAFERL_DOCS_VENV": str(venv),
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        self.env.pop("PYTEST_ADDOPTS", None)
        self.env.pop("PYTEST_CURRENT_TEST", None)

    def sh(self, command: str, timeout_s: float = COMMAND_TIMEOUT_S) -> tuple[int, str]:
        """Run ``command`` with bash in the workspace; (exit code, stdout and stderr merged)."""
        self.log.append(f"$ {command}")
        proc = subprocess.run(["bash", "-c", command], cwd=self.path, env=self.env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout_s, stdin=subprocess.DEVNULL)
        out = proc.stdout.decode("utf-8", "replace")
        return proc.returncode, out

    def check_untouched(self, block: Block) -> None:
        self.allowed |= set(block.get("writes"))
        allowed = self.allowed
        changed = []
        for f, digest in self.hashes.items():
            p = self.path / f
            if not p.is_file():
                if f not in allowed:
                    changed.append(f"{f} (removed)")
            elif _digest(p) != digest:
                if f in allowed:
                    self.hashes[f] = _digest(p)
                else:
                    changed.append(f"{f} (overwritten)")
        known = set(self.hashes)
        stray = []
        for p in self.path.rglob("*"):
            if not p.is_file() and not p.is_symlink():
                continue
            rel = p.relative_to(self.path).as_posix()
            if rel in known or rel in allowed or rel.startswith(SCRATCH) or "__pycache__" in rel:
                continue
            stray.append(rel)
        if changed or stray:
            raise DocError(f"{block.id}: the block wrote over shipped files "
                           f"{', '.join(changed) or '-'}; new files outside out/: "
                           f"{', '.join(sorted(stray)[:10]) or '-'}")


# -- running blocks ---------------------------------------------------------------------------


def _expect_exit(block: Block, comment: str) -> int:
    value = block.first("exit")
    if value is not None:
        return int(value)
    word = re.match(r"(UNSAFE|UNKNOWN|SAFE)\b", comment)
    if word:
        return VERDICT_EXIT[word.group(1)]
    code = re.match(r"exits? (\d+)\b", comment)
    return int(code.group(1)) if code else 0


def _fail(block: Block, command: str, message: str, output: str) -> DocError:
    tail = output if len(output) < 6000 else "…\n" + output[-6000:]
    return DocError(f"{block.id}: {message}\n$ {command}\n{tail}")


def run_setup(block: Block, ws: Workspace) -> None:
    for command in block.get("setup"):
        code, out = ws.sh(command)
        if code != 0:
            raise _fail(block, command, f"setup exited {code}", out)


def run_commands(block: Block, ws: Workspace, text: str) -> int:
    """A sh/bash block: every command, its exit code and the figures of a verdict comment."""
    ran = 0
    for line in logical_lines(text):
        command, comment = split_comment(line)
        if not command.strip():
            continue
        command = append_args(block, command.strip())
        want = _expect_exit(block, comment)
        code, out = ws.sh(command)
        ran += 1
        if code != want:
            raise _fail(block, command, f"exit code {code}, the doc expects {want}", out)
        if re.match(r"(UNSAFE|UNKNOWN|SAFE)\b", comment):
            missing = [f for f in _FIGURE.findall(comment) if f not in out]
            if missing:
                raise _fail(block, command, f"the doc's figures {missing} (# {comment}) are not "
                            "in the output", out)
    if not ran:
        raise DocError(f"{block.id}: a shell block with no command")
    return ran


def run_console(block: Block, ws: Workspace, text: str) -> int:
    items = parse_transcript(block, text)
    for command, want in items:
        command = append_args(block, command)
        code, out = ws.sh(command)
        expected = int(block.first("exit") or 0)
        if code != expected:
            raise _fail(block, command, f"exit code {code}, the doc expects {expected}", out)
        if not ellipsis_match(normalise(want), normalise(out)):
            raise _fail(block, command, "the output differs from the doc's.\n--- the doc shows:\n"
                        f"{normalise(want)}\n--- the command printed:", normalise(out))
    return len(items)


def run_python(block: Block, ws: Workspace, text: str) -> int:
    script = ws.scripts / f"{Path(block.doc).stem}_{block.line}.py"
    script.write_text(text, encoding="utf-8")
    code, out = ws.sh(f"{sys.executable} {script}")
    if code != 0:
        raise _fail(block, f"python {script.name}", f"exit code {code}", out)
    return 1


def run_pycon(block: Block, ws: Workspace, text: str) -> int:
    script = ws.scripts / f"{Path(block.doc).stem}_{block.line}.txt"
    script.write_text(text, encoding="utf-8")
    runner = ("import doctest, sys; r = doctest.testfile(sys.argv[1], module_relative=False, "
              "optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE); "
              "sys.exit(1 if r.failed or not r.attempted else 0)")
    code, out = ws.sh(f"{sys.executable} -c '{runner}' {script}")
    if code != 0:
        raise _fail(block, f"doctest {script.name}", "doctest failed", out)
    return 1


def run_synopsis(block: Block, ws: Workspace, text: str) -> int:
    commands = [c.strip() for c in block.first("synopsis").split(",")]  # type: ignore[union-attr]
    helped: set[str] = set()
    short: dict[str, set[str]] = {}   # long option -> its one-letter aliases in the help
    for command in commands:
        code, out = ws.sh(f"{command} --help")
        if code != 0:
            raise _fail(block, f"{command} --help", f"exit code {code}", out)
        helped |= long_options(out)
        for line in out.splitlines():
            letters = set(re.findall(r"(?<![\w-])-[a-zA-Z](?![\w-])", line))
            for option in long_options(line):
                short.setdefault(option, set()).update(letters)
    helped.discard("--help")
    shown = long_options(text)
    shown_short = set(re.findall(r"(?<![\w-])-[a-zA-Z](?![\w-])", text))
    def twin(option: str) -> str:   # --no-x <-> --x (a boolean flag and its negation)
        return "--" + option[5:] if option.startswith("--no-") else "--no-" + option[2:]

    unknown = sorted(o for o in shown - helped if twin(o) not in helped)
    missing = sorted(o for o in helped - shown
                     if not short.get(o, set()) & shown_short and twin(o) not in shown)
    if unknown or missing:
        raise DocError(f"{block.id}: the synopsis of {', '.join(commands)} names options the "
                       f"command does not have: {unknown or '-'}; and omits: {missing or '-'}")
    return len(commands)


def run_file(block: Block, ws: Workspace, text: str) -> int:
    target = ws.path / block.first("file")  # type: ignore[operator]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    thens = block.get("then")
    if not thens:
        raise DocError(f"{block.id}: a file block needs a 'then' command that checks it")
    want = int(block.first("exit") or 0)
    for command in thens:
        code, out = ws.sh(command)
        if code != want:
            raise _fail(block, command, f"exit code {code}, the doc expects {want}", out)
    return len(thens)


def run_in(block: Block, ws: Workspace, text: str) -> int:
    path = block.first("in")
    source = ws.path / path  # type: ignore[operator]
    if not source.is_file():
        raise DocError(f"{block.id}: 'in: {path}': no such shipped file")
    have = "\n".join(ln.rstrip() for ln in source.read_text(encoding="utf-8").splitlines())
    want = "\n".join(ln.rstrip() for ln in text.strip("\n").splitlines())
    if want not in have:
        raise DocError(f"{block.id}: the block is not (any longer) in {path}")
    return 1


RUNNERS = {"run": run_commands, "console": run_console, "python": run_python,
           "pycon": run_pycon, "synopsis": run_synopsis, "file": run_file, "in": run_in}


def run_block(block: Block, ws: Workspace) -> int:
    """Run one block in its document's workspace; the number of commands or snippets run."""
    text = apply_rewrites(block, block.text)
    run_setup(block, ws)
    ran = RUNNERS[block.kind](block, ws, text)
    ws.check_untouched(block)
    return ran


def torcs_installed() -> bool:
    try:
        from saferl.envs.torcs.errors import TorcsNotInstalledError
        from saferl.envs.torcs.launcher import find_installation
    except ImportError:
        return False
    try:
        find_installation()
    except TorcsNotInstalledError:
        return False
    return True
