"""Run the code blocks of README.md and docs/*.md, as a reader would, in a copy of the repository.

Every fenced block carries a language, and the language says what the test does with it:

``sh`` / ``bash`` / ``shell``
    Each command (``\\``-continued lines joined, comments kept for bash) runs with ``bash -c``
    in the workspace and must exit 0.  A trailing comment that starts with a verdict —
    ``# SAFE``, ``# UNSAFE``, ``# UNKNOWN`` — sets the expected exit code (0, 1, 3), and every
    decimal figure in that comment (``# SAFE; return 93.62 -> 93.69``) must appear in the
    command's output: a stale figure fails.  A comment ``# exit N`` (or ``# exits N``) sets
    the exit code alone.
``console``
    A transcript: ``$ command`` lines (``\\``-continued), each followed by the output the doc
    shows.  The command runs (stdout and stderr together) and its output must match: ``...``
    stands for any text (as doctest's ELLIPSIS), trailing spaces and surrounding blank lines
    do not count, and durations (``0.30 s``) are masked on both sides.
``python``
    Runs as a script by the test interpreter, working folder = the workspace; must exit 0.
``pycon``
    ``>>>`` examples run by doctest (ELLIPSIS, NORMALIZE_WHITESPACE) in a subprocess, working
    folder = the workspace: every output shown is compared.
anything else (``text``, ``yaml``, ``json``, ``toml``)
    needs a directive saying how it is checked (``synopsis``, ``file``/``then``, ``in``) or why
    it is not code (``text``).

Directives are HTML comments on the lines right above the fence (invisible on GitHub, in
plain sight in the source), one per comment, ``<!-- docs-test KEY: VALUE -->``:

``sub: OLD => NEW``
    replace text in the block before it runs: the *short form* of a long command
    (``sub: --episodes 10 => --episodes 2``).  The commands as run are printed.
``append: PREFIX => ARGS``
    append ARGS to every command that starts with PREFIX (``append: saferl train =>
    --timesteps 1500``).
``setup: SHELL``
    a command run before the block (a transcript's input file, a model the reader brings).
``exit: N``
    the exit code every command of the block (or its ``then``) must return.
``needs: torcs``
    the block needs real TORCS; it is skipped, with that reason, where TORCS is not installed
    (CI installs it, so CI runs it).
``file: PATH`` and ``then: SHELL``
    write the block to PATH in the workspace, then run SHELL (which must exit 0): an example
    .pol program or spec is parsed, verified or loaded.
``in: PATH``
    the block appears verbatim in the shipped file PATH (a fragment of a shipped spec).
``synopsis: saferl CMD[, saferl CMD2...]``
    a usage block: every ``--option`` it names is one that ``saferl CMD --help`` lists, and
    every option the help lists is in the block.
``writes: PATH``
    the block (or its setup) may write PATH although it is a shipped file or lies outside
    ``out/`` (a user's own ``bad.pol``, the baseline ``saferl check`` documents); from then on
    for the rest of the document.
``text: REASON`` / ``skip: REASON``
    not a command or snippet (a grammar, an excerpt) / not run, with the reason.  Both are
    counted and reported; the target is no ``skip``.

The workspace is a copy of the checkout's tracked files (``git ls-files``, as they are in the
working tree) without ``saferl/`` (the installed package is what runs) and without ``tests/``
except ``tests/conftest.py`` and ``tests/test_doctests.py`` (so ``make test`` in it runs its
recipe on one test file), plus the TORCS robot's build and header cache.  One workspace per
document; blocks run in the document's order, so a later block may use an earlier one's
output.  After every block no shipped file may have changed (unless ``writes``), and new
files may appear only under ``out/`` and the caches.

The workspace and the runners are in docrun.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")),
        "policies/README.md"]

RUN_LANGS = {"sh", "bash", "shell"}
KEYS = {"sub", "append", "setup", "exit", "needs", "file", "then", "in", "synopsis", "writes",
        "text", "skip"}

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)\s*$")
_DIRECTIVE = re.compile(r"<!--\s*docs-test\s+(?P<key>[a-z]+)\s*:\s*(?P<value>.*?)\s*-->", re.S)
_DURATION = re.compile(r"\b\d+(?:\.\d+)? s\b")


class DocError(Exception):
    """A block that is malformed, or whose run does not match the doc."""


@dataclass
class Block:
    doc: str            # path relative to the repository root
    line: int           # 1-based line of the opening fence
    lang: str
    text: str
    directives: list[tuple[str, str]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"

    def get(self, key: str) -> list[str]:
        return [v for k, v in self.directives if k == key]

    def first(self, key: str) -> str | None:
        values = self.get(key)
        return values[0] if values else None

    @property
    def kind(self) -> str:
        """run, console, python, pycon, synopsis, file, in, text or skip."""
        if self.get("skip"):
            return "skip"
        if self.get("text"):
            return "text"
        if self.lang in RUN_LANGS:
            return "run"
        if self.lang in ("console", "python", "pycon"):
            return self.lang
        for key in ("synopsis", "file", "in"):
            if self.get(key):
                return key
        raise DocError(f"{self.id}: a ```{self.lang or ''} block with no docs-test directive "
                       "(give it a language the test runs, or synopsis/file/in/text)")


def parse_doc(doc: str, root: Path = ROOT) -> tuple[list[Block], list[str]]:
    """The fenced blocks of ``doc`` and a list of problems (unfenced code, bad directives)."""
    lines = (root / doc).read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    problems: list[str] = []
    attached = 0
    i = 0
    in_list = False
    while i < len(lines):
        line = lines[i]
        m = _FENCE.match(line)
        if m:
            fence, lang = m.group("fence"), m.group("lang").lower()
            start = i
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(fence):
                body.append(lines[i])
                i += 1
            if i == len(lines):
                problems.append(f"{doc}:{start + 1}: unclosed code fence")
            directives, bad = _directives_above(lines, start)
            problems += [f"{doc}:{start + 1}: {b}" for b in bad]
            attached += len(directives) + sum("does not parse" in b for b in bad)
            blocks.append(Block(doc, start + 1, lang, "\n".join(body) + "\n", directives))
            if not lang:
                problems.append(f"{doc}:{start + 1}: a code fence without a language")
            i += 1
            continue
        # an indented code block: 4 spaces after a blank line, not continuing a list item
        stripped = line.strip()
        if stripped and not line.startswith(" "):
            in_list = bool(re.match(r"([-*+]|\d+[.)])\s", line))
        if (line.startswith("    ") and stripped and i > 0 and not lines[i - 1].strip()
                and not in_list and not stripped.startswith("|")):
            problems.append(f"{doc}:{i + 1}: an indented code block; write it as a fenced block "
                            "with a language")
        i += 1
    mentioned = sum(ln.count("<!-- docs-test") for ln in lines)
    if mentioned != attached:
        problems.append(f"{doc}: {mentioned - attached} docs-test comment(s) not directly above "
                        "a code fence (a blank line between them detaches a comment)")
    return blocks, problems


def _directives_above(lines: list[str], fence: int) -> tuple[list[tuple[str, str]], list[str]]:
    """The ``<!-- docs-test ... -->`` comments directly above line index ``fence``."""
    j = fence - 1
    chunk: list[str] = []
    while j >= 0 and lines[j].strip() and (chunk or lines[j].rstrip().endswith("-->")):
        chunk.insert(0, lines[j])
        if lines[j].lstrip().startswith("<!--"):
            # keep going while the line above also ends a comment
            if j - 1 >= 0 and lines[j - 1].rstrip().endswith("-->"):
                j -= 1
                continue
            break
        j -= 1
    text = "\n".join(chunk)
    found: list[tuple[str, str]] = []
    bad: list[str] = []
    for m in _DIRECTIVE.finditer(text):
        key = m.group("key")
        if key not in KEYS:
            bad.append(f"unknown docs-test directive {key!r}")
        found.append((key, m.group("value")))
    if "docs-test" in text and not found:
        bad.append("a docs-test comment that does not parse (<!-- docs-test KEY: VALUE -->)")
    return found, bad


def all_blocks(root: Path = ROOT) -> tuple[list[Block], list[str]]:
    blocks: list[Block] = []
    problems: list[str] = []
    for doc in DOCS:
        if (root / doc).exists():
            b, p = parse_doc(doc, root)
            blocks += b
            problems += p
    return blocks, problems


# -- text helpers -------------------------------------------------------------------------------


def logical_lines(text: str) -> list[str]:
    """Lines with backslash continuations joined."""
    out: list[str] = []
    buf = ""
    for raw in text.splitlines():
        if raw.rstrip().endswith("\\"):
            buf += raw.rstrip()[:-1].rstrip() + " "
            continue
        out.append(buf + (raw.strip() if buf else raw))
        buf = ""
    if buf:
        out.append(buf)
    return out


def split_comment(command: str) -> tuple[str, str]:
    """(command, trailing comment) at the first `` #`` outside quotes."""
    quote = ""
    for k, ch in enumerate(command):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (k == 0 or command[k - 1].isspace()):
            return command[:k].rstrip(), command[k + 1:].strip()
    return command.rstrip(), ""


def apply_rewrites(block: Block, text: str) -> str:
    for rule in block.get("sub"):
        old, sep, new = rule.partition("=>")
        if not sep:
            raise DocError(f"{block.id}: sub needs OLD => NEW")
        if old.strip() not in text:
            raise DocError(f"{block.id}: sub: {old.strip()!r} is not in the block (stale directive)")
        text = text.replace(old.strip(), new.strip())
    return text


def append_args(block: Block, command: str) -> str:
    for rule in block.get("append"):
        prefix, sep, extra = rule.partition("=>")
        if not sep:
            raise DocError(f"{block.id}: append needs PREFIX => ARGS")
        if command.startswith(prefix.strip()):
            command = f"{command} {extra.strip()}"
    return command


def normalise(text: str) -> str:
    text = _DURATION.sub("<T> s", text)
    lines = [ln.rstrip() for ln in text.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def ellipsis_match(want: str, got: str) -> bool:
    """doctest's ELLIPSIS rule: ``...`` in ``want`` matches any text."""
    pieces = want.split("...")
    if len(pieces) == 1:
        return want == got
    start, end = 0, len(got)
    if not got.startswith(pieces[0]):
        return False
    start = len(pieces[0])
    if not got.endswith(pieces[-1]) or len(got) - len(pieces[-1]) < start:
        return False
    end = len(got) - len(pieces[-1])
    for piece in pieces[1:-1]:
        k = got.find(piece, start, end)
        if k < 0:
            return False
        start = k + len(piece)
    return True


def parse_transcript(block: Block, text: str) -> list[tuple[str, str]]:
    """[(command, expected output)] of a ``console`` block."""
    items: list[tuple[str, list[str]]] = []
    lines = text.splitlines()
    k = 0
    while k < len(lines):
        line = lines[k]
        if line.startswith("$ "):
            cmd = line[2:]
            while cmd.rstrip().endswith("\\") and k + 1 < len(lines):
                k += 1
                cmd = cmd.rstrip()[:-1].rstrip() + " " + lines[k].strip()
            items.append((cmd, []))
        elif items:
            items[-1][1].append(line)
        elif line.strip():
            raise DocError(f"{block.id}: a console block must start with a '$ ' command line")
        k += 1
    if not items:
        raise DocError(f"{block.id}: a console block with no '$ ' command")
    return [(c, "\n".join(out)) for c, out in items]


def long_options(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))


# -- commands quoted inline (`saferl ...` in a sentence) ------------------------------------------

_SPAN = re.compile(r"(?<!`)`((?:saferl|python|bash) [^`]+)`(?!`)")


def inline_commands(root: Path = ROOT) -> list[tuple[str, int, str]]:
    """(doc, line, command) for every inline code span that quotes a command, outside fences.

    Inline commands are references (``saferl repair … --env``, ``POLICY`` placeholders), not
    runs; the test checks what they name: options the command has, files that exist.
    """
    found: list[tuple[str, int, str]] = []
    for doc in DOCS:
        path = root / doc
        if not path.exists():
            continue
        fenced = False
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _FENCE.match(line):
                fenced = not fenced
                continue
            if not fenced:
                found += [(doc, n, m.group(1).replace("\\|", "|")) for m in _SPAN.finditer(line)]
    return found


def command_path(span: str) -> list[str]:
    """``saferl shield run --policy X`` -> ["saferl", "shield", "run"]."""
    words = span.split()
    path = words[:1]
    for word in words[1:]:
        if not re.fullmatch(r"[a-z]+", word):
            break
        path.append(word)
    return path


def named_files(span: str) -> list[str]:
    """Repository paths a command names (placeholders such as ``P.pol`` or ``FILE`` aside)."""
    paths = []
    for word in span.split():
        word = word.strip("[](),;")
        if "/" in word and not re.search(r"[A-Z…]|\.\.\.|://|\*", word) and not word.startswith("-"):
            paths.append(word)
    return paths
