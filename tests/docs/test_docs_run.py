"""Every command and snippet of README.md and docs/*.md runs, in a copy of the repository.

How blocks are run, and the ``<!-- docs-test ... -->`` directives that give long commands a
short form, are described in tests/docs/docblocks.py (and tests/docs/README.md); the
workspace and the runners are in tests/docs/docrun.py.  Each block
is one test, named ``doc.md:LINE``; the blocks of one document share a workspace and run in
the document's order (running one block alone runs the blocks above it first; a block that
fails does not stop the ones below it).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from docblocks import DOCS, ROOT, Block, DocError, all_blocks, parse_doc  # noqa: E402
from docrun import Workspace, run_block, torcs_installed  # noqa: E402

BLOCKS, PROBLEMS = all_blocks()


def _kind(block: Block) -> str:
    try:
        return block.kind
    except DocError:
        return "unclassified"   # reported by test_every_block_is_run_or_says_why_not


RUNNABLE = [b for b in BLOCKS if _kind(b) not in ("text", "skip", "unclassified")]


def _param(block: Block) -> object:
    """Blocks that need TORCS or train networks carry the suite's ``integration`` mark."""
    heavy = block.first("needs") is not None or "saferl train" in block.text
    return pytest.param(block, id=block.id, marks=[pytest.mark.integration] if heavy else [])


class Workspaces:
    """One workspace per document, created on first use; blocks remembered as they run."""

    def __init__(self, factory: pytest.TempPathFactory):
        self.factory = factory
        self.spaces: dict[str, Workspace] = {}
        self.timings: list[tuple[str, float]] = []

    def get(self, doc: str) -> Workspace:
        if doc not in self.spaces:
            base = self.factory.mktemp("docs-" + doc.replace("/", "-").removesuffix(".md"))
            scripts = base / "scripts"
            scripts.mkdir()
            self.spaces[doc] = Workspace(base / "repo", scripts)
        return self.spaces[doc]


@pytest.fixture(scope="session")
def workspaces(tmp_path_factory: pytest.TempPathFactory) -> Workspaces:
    return Workspaces(tmp_path_factory)


def _run_in_order(block: Block, spaces: Workspaces) -> None:
    """Run the document's blocks up to ``block`` that have not run yet, in order; fail if
    ``block`` failed.  An earlier block's failure is its own test's: later blocks still run
    (a missing output then names itself)."""
    ws = spaces.get(block.doc)
    for earlier in RUNNABLE:
        if earlier.doc != block.doc or earlier.line > block.line or earlier.line in ws.done:
            continue
        if earlier.first("needs") == "torcs" and not torcs_installed():
            ws.done[earlier.line] = "skip"
            continue
        start = time.perf_counter()
        cpu = _children_cpu_s()
        first_command = len(ws.log)
        failure = None
        try:
            run_block(earlier, ws)
        except (DocError, OSError, ValueError, subprocess.TimeoutExpired) as exc:
            failure = str(exc)
        ws.done[earlier.line] = failure
        spaces.timings.append((earlier.id, time.perf_counter() - start, _children_cpu_s() - cpu))
        print(f"{earlier.id} ({time.perf_counter() - start:.1f} s):", *ws.log[first_command:], sep="\n  ")
    outcome = ws.done[block.line]
    if outcome == "skip":
        pytest.skip("real TORCS is not installed for saferl; run: bash torcs-robot/install.sh")
    if outcome is not None:
        pytest.fail(outcome, pytrace=False)


@pytest.mark.parametrize("block", [_param(b) for b in RUNNABLE])
def test_doc_block_runs(block: Block, workspaces: Workspaces) -> None:
    _run_in_order(block, workspaces)


def test_every_block_is_run_or_says_why_not() -> None:
    """Coverage: every block is executed, or marked text/skip with a reason; none unfenced."""
    unclassified = [b.id for b in BLOCKS if _kind(b) == "unclassified"]
    assert PROBLEMS == [] and unclassified == [], "\n".join(PROBLEMS + unclassified)
    counts: dict[str, int] = {}
    for b in BLOCKS:
        counts[b.kind] = counts.get(b.kind, 0) + 1
    run = sum(n for k, n in counts.items() if k not in ("text", "skip"))
    unexplained = [b.id for b in BLOCKS if b.kind in ("text", "skip")
                   and not (b.first("text") or b.first("skip") or "").strip()]
    print(f"\ndocs blocks: {len(BLOCKS)} in {len(DOCS)} documents; executed {run}, "
          f"text (not code) {counts.get('text', 0)}, skipped {counts.get('skip', 0)}; by kind {counts}")
    assert unexplained == []
    assert counts.get("skip", 0) == 0, [b.id for b in BLOCKS if b.kind == "skip"]
    assert run > 0


def test_the_harness_sees_a_stale_figure(tmp_path: Path) -> None:
    """A doc whose transcript, figure or output path is wrong fails: the harness can fail."""
    doc = tmp_path / "docs" / "stale.md"
    doc.parent.mkdir()
    doc.write_text(
        "```console\n$ echo return 93.62\nreturn 93.60\n```\n\n"
        "```sh\necho 'after 137.49'   # SAFE; after 137.50\n```\n\n"
        "```sh\necho x > README.md\n```\n\n"
        "```sh\nexit 1\n```\n", encoding="utf-8")
    blocks, problems = parse_doc("docs/stale.md", tmp_path)
    assert problems == []
    ws = Workspace(tmp_path / "ws", tmp_path)
    for block, message in zip(blocks, ["differs", "figures ['137.50']", "README.md (overwritten)",
                                       "exit code 1"]):
        with pytest.raises(DocError, match=message.replace("[", r"\[").replace("(", r"\(")
                           .replace(")", r"\)")):
            run_block(block, ws)


def test_unfenced_code_and_bad_directives_are_reported(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(
        "Text:\n\n    saferl verify x.pol\n\n- a list\n\n    continued item\n\n"
        "<!-- docs-test frobnicate: yes -->\n```sh\ntrue\n```\n\n```\nplain\n```\n\n"
        "<!-- docs-test sub: --laps 3 => --laps 1 -->\n\n```sh\ntrue\n```\n",
        encoding="utf-8")
    blocks, problems = parse_doc("a.md", tmp_path)
    assert [p.split(": ", 1)[1].split(";")[0].split(" (")[0] for p in problems] == [
        "an indented code block", "unknown docs-test directive 'frobnicate'",
        "a code fence without a language", "1 docs-test comment(s) not directly above a code fence"]
    assert [b.line for b in blocks] == [10, 14, 20]
    assert blocks[2].directives == []


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_report_times(workspaces: Workspaces) -> None:
    """Runs last: prints the blocks' CPU and wall time, heaviest first (run with -s)."""
    total = sum(t[2] for t in workspaces.timings)
    print(f"\ndocs blocks run: {len(workspaces.timings)}, CPU {total:.1f} s (commands' processes)")
    for block_id, wall, cpu in sorted(workspaces.timings, key=lambda t: -t[2])[:10]:
        print(f"{cpu:7.1f} s CPU {wall:7.1f} s wall  {block_id}")


def test_workspace_copies_no_package_source() -> None:
    """The installed saferl runs the docs, not a copy: the workspace has no saferl/."""
    from docrun import _copied

    assert not _copied("saferl/verify.py")
    assert _copied("policies/cartpole/worst.pol")
    assert _copied("tests/test_doctests.py") and not _copied("tests/docs/test_docs_run.py")
    assert (ROOT / "tests" / "test_doctests.py").is_file()


def test_inline_commands_name_real_options_and_files() -> None:
    """Commands quoted in sentences and tables name options their command has (checked
    against its --help) and files that exist; `python bench/...` scripts exist."""
    from docblocks import command_path, inline_commands, long_options, named_files

    saferl = str(Path(sys.executable).parent / "saferl")
    # saferl's own options (--debug) go with every command
    top = long_options(subprocess.run([saferl, "--help"], capture_output=True, text=True,
                                      timeout=120).stdout)
    helps: dict[str, set[str]] = {"": top}
    problems = []
    spans = inline_commands()
    for doc, line, span in spans:
        for path in named_files(span):
            if not (ROOT / path).exists():
                problems.append(f"{doc}:{line}: `{span}` names {path}, which does not exist")
        words = command_path(span)
        if words[0] != "saferl":
            continue
        key = " ".join(words[1:])
        if key not in helps:
            out = subprocess.run([saferl, *words[1:], "--help"], capture_output=True, text=True,
                                 timeout=120)
            if out.returncode != 0:
                problems.append(f"{doc}:{line}: `{span}`: saferl {key} --help exits {out.returncode}")
            helps[key] = long_options(out.stdout) | top
        for option in sorted(long_options(span)):
            twin = "--" + option[5:] if option.startswith("--no-") else "--no-" + option[2:]
            if option not in helps[key] and twin not in helps[key]:
                problems.append(f"{doc}:{line}: `{span}`: saferl {key} has no option {option}")
    print(f"\ninline commands checked: {len(spans)} ({len(helps)} distinct saferl commands)")
    assert problems == [], "\n".join(problems)
