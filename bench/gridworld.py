"""Gridworld benchmark: certification, backward tree and synthesis on the smol-strats corpus.

Run:  python bench/gridworld.py   (times are CPU seconds, best of --repeat, unless marked wall)
     python bench/gridworld.py [--corpus PATH] [--json OUT.json] [--only NAME ...]

For every instance it measures (wall clock, best of ``--repeat`` runs):
  * certify: reading the grid and the published policy, running it exactly and checking the
    path against the backward tree's shortest length (what ``saferl certify`` does);
  * tree: the backward tree from the start (stops at the start), and synth: tree plus
    Algorithm 1 plus the certifier (what ``saferl synth`` does, minus writing the file);
  * program sizes: ours (.pol bytes, instructions) beside theirs (benchmark-data.csv bytes
    of subgoals_policy.json, which embeds the grid, and the instructions of their program).
It also builds the whole tree of size100preds50-2 to depth 1000 without stopping at the
start, the setting in which the reference needed 849 s.  Prints a table, then JSON.

Side by side with the reference implementation (issue 13, item 6):

     python bench/gridworld.py --reference /tmp/smolref [--seeds 9] [--ref-timeout 60]

``--reference DIR`` names a checkout of the smol-strats code (guruprerana/smol-strats, GPL-3.0:
kept outside this repository, never imported here) with its own virtualenv
(``DIR/.venv/bin/python``, or ``--reference-python``).  For every corpus instance, and for
``--seeds`` fresh instances of saferl's own generator written out in the smol-strats format
(both tools read the same file), it times in CPU seconds, best of ``--repeat``, after loading:
  * reference: ``SubgoalPolicy(grid, start_point=...).build(btree_depth=1000)`` (their backward
    tree and subgoal policy), in a child process running the reference's Python, one child
    per instance, killed after ``--ref-timeout`` seconds;
  * saferl: ``synthesize`` then ``certify_program`` (defaults, so with the shortest-path check),
    on a freshly loaded grid each time;
and prints both, the ratio saferl / reference and the load (parse) times of both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from saferl.errors import UnsupportedError  # noqa: E402
from saferl.gridworld.certify import certify_program  # noqa: E402
from saferl.gridworld.generator import generate_grid  # noqa: E402
from saferl.gridworld.geometry import cone_letters  # noqa: E402
from saferl.gridworld.instance import GridWorld  # noqa: E402
from saferl.gridworld.io import grid_from_text, program_from_text  # noqa: E402
from saferl.gridworld.mpq import encode_mpq  # noqa: E402
from saferl.gridworld.smolstrats import ACTION_SETS  # noqa: E402
from saferl.gridworld.synth import program_from_path, synthesize  # noqa: E402
from saferl.gridworld.tree import build_backward_tree  # noqa: E402

DEFAULT_CORPUS = REPO / ".." / "shared" / "gridworld" / "smol-strats"
#: the corpus README's reference timings (their code, a 2-core machine of this kind)
REFERENCE_S = {"spiral": 0.02, "size100preds50-1": 0.29}
REFERENCE_50_2 = {"cap200": 6.5, "cap1000": 849.0}


def best_of(n: int, fn):  # type: ignore[no-untyped-def]
    """Best CPU time (process_time: robust when other jobs share the cores) of n runs."""
    best, value = float("inf"), None
    for _ in range(n):
        t0 = time.process_time()
        value = fn()
        best = min(best, time.process_time() - t0)
    return best, value


def best_of_fresh(n: int, make_grid, fn):  # type: ignore[no-untyped-def]
    """Best CPU time of ``fn(grid)`` over n runs, each on a freshly made grid (not timed): a
    grid keeps its backward tree, so a second run on the same grid would not build it."""
    best, value = float("inf"), None
    for _ in range(n):
        grid = make_grid()
        t0 = time.process_time()
        value = fn(grid)
        best = min(best, time.process_time() - t0)
    return best, value


def wall_of(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def read_csv(corpus: Path) -> dict[str, dict[str, int]]:
    rows: dict[str, dict[str, int]] = {}
    path = corpus / "benchmark-data.csv"
    if not path.exists():
        return rows
    lines = path.read_text().splitlines()
    header = [h.strip() for h in lines[0].split(",")]
    for line in lines[1:]:
        cells = [c.strip() for c in line.split(",")]
        if len(cells) == len(header):
            rows[cells[0]] = {h: int(c) for h, c in zip(header[1:], cells[1:])}
    return rows


def bench_instance(d: Path, repeat: int, csv: dict[str, dict[str, int]]) -> dict:  # type: ignore[type-arg]
    grid_text = (d / "polygongrid.json").read_text()
    policy_text = (d / "subgoals_policy.json").read_text()

    def certify():  # type: ignore[no-untyped-def]
        grid = grid_from_text(grid_text, str(d / "polygongrid.json"))
        prog, _embedded = program_from_text(policy_text, str(d / "subgoals_policy.json"))
        return prog, certify_program(grid, prog)

    t_cert, (their_prog, cert) = best_of(repeat, certify)
    def fresh() -> GridWorld:
        return grid_from_text(grid_text, str(d / "polygongrid.json"))

    grid = fresh()
    t_tree, tree = best_of_fresh(repeat, fresh, lambda g: build_backward_tree(g, depth_cap=1000))
    t_synth, syn = best_of_fresh(repeat, fresh, lambda g: synthesize(g, d.name))
    tree = build_backward_tree(grid, depth_cap=1000)
    start_edge = syn.program.start_edge
    h0 = grid.half_edge(start_edge.a, start_edge.b)
    t_alg1, _ = best_of(repeat, lambda: program_from_path(grid, tree, h0, d.name))
    t_cert_wall, _ = wall_of(certify)
    row = csv.get(d.name, {})
    return {
        "name": d.name,
        "regions": grid.n_regions,
        "certify_s": round(t_cert, 4),
        "certified": cert.certified,
        "their_moves": cert.moves,
        "shortest": tree.length,
        "tree_nodes": len(tree.nodes),
        "tree_s": round(t_tree, 4),
        "alg1_s": round(t_alg1, 4),
        "tree_alg1_s": round(t_tree + t_alg1, 4),
        "synth_s": round(t_synth, 4),
        "certify_wall_s": round(t_cert_wall, 4),
        "our_moves": syn.certificate.moves,
        "our_certified": syn.certificate.certified,
        "strategy": syn.strategy,
        "our_bytes": syn.program.size_bytes(),
        "our_instructions": syn.program.n_instructions(),
        "size_bound": syn.size_bound,
        "their_instructions": their_prog.n_instructions(),
        "their_pol_bytes": their_prog.size_bytes(),
        "their_policy_json_bytes": row.get("policysize"),
        "their_problem_json_bytes": row.get("problemsize"),
        "reference_tree_s": REFERENCE_S.get(d.name),
    }


#: the child run with the reference's own Python: load the grid, then time the build only
_REFERENCE_CHILD = r"""
import json, sys, time
job = json.loads(sys.argv[1])
sys.path.insert(0, job["ref"])
from src.polygons import PolygonGridWorldSerializer, Vertex, VertexSerializer
from src.policy.subgoals import SubgoalPolicy
t0 = time.process_time()
with open(job["grid"]) as f:
    doc = json.load(f)
if len(doc) == 2:
    grid_doc, start = doc[0], VertexSerializer.deserialize(doc[1])
else:
    grid_doc, start = doc, Vertex(0, 0)
grid = PolygonGridWorldSerializer().deserialize(grid_doc)
load_s = time.process_time() - t0
best, policy = float("inf"), None
for _ in range(job["repeat"]):
    t0 = time.process_time()
    policy = SubgoalPolicy(grid, start_point=start)
    policy.build(btree_depth=job["depth"])
    best = min(best, time.process_time() - t0)
    print(json.dumps({"build_s": best, "load_s": load_s, "start_depth": policy.start_leaf.depth,
                      "subgoals": len(policy.subgoals)}), flush=True)
"""


def smol_grid_text(grid: GridWorld) -> str:
    """``grid`` as a smol-strats ``polygongrid.json`` (``[GRID, START_POINT]``, gmpy2 mpq strings)."""
    index_of = {letters: i for i, letters in enumerate(ACTION_SETS)}
    hes = []
    for h, (a, b) in enumerate(zip(grid.he_start, grid.he_end)):
        cone = grid.cones[grid.he_region[h]]
        hes.append([[encode_mpq(a[0]), encode_mpq(a[1])], [encode_mpq(b[0]), encode_mpq(b[1])],
                    index_of[cone_letters(cone)] if cone else -1])
    target = grid.regions[grid.target][0]
    doc = [[hes, grid.he_next, grid.he_prev, grid.he_opp, 0, target, grid.size],
           [encode_mpq(grid.start[0]), encode_mpq(grid.start[1])]]
    return json.dumps(doc)


def fresh_instances(n: int, out_dir: Path) -> list[tuple[str, Path]]:
    """``n`` reachable instances of saferl's generator, written in the smol-strats format."""
    shapes = [(50, 10), (100, 20), (100, 30)]
    found: list[tuple[str, Path]] = []
    seed = 1000
    while len(found) < n and seed < 1000 + 50 * max(n, 1):
        size, chords = shapes[len(found) % len(shapes)]
        seed += 1
        try:
            grid = generate_grid(size=size, n_chords=chords, seed=seed, far_target=True)
        except UnsupportedError:
            continue
        name = f"gen-s{size}c{chords}-{seed}"
        path = out_dir / name / "polygongrid.json"
        path.parent.mkdir(parents=True)
        path.write_text(smol_grid_text(grid))
        found.append((name, path))
    return found


def reference_run(python: Path, ref: Path, grid: Path, repeat: int, timeout_s: float) -> dict:  # type: ignore[type-arg]
    """Time the reference on one instance in a child process; ``error`` says why there is no time."""
    job = json.dumps({"ref": str(ref), "grid": str(grid), "repeat": repeat, "depth": 1000})
    try:
        done = subprocess.run([str(python), "-c", _REFERENCE_CHILD, job], capture_output=True, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        # a line per finished repetition: keep the best of those that finished in time
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        if lines:
            got = json.loads(lines[-1])
            got["note"] = f"{len(lines)} of {repeat} runs within {timeout_s:g} s"
            return got  # type: ignore[no-any-return]
        return {"build_s": None, "error": f"timeout after {timeout_s:g} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"build_s": None, "error": f"exit {done.returncode}: {last}"}
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def saferl_run(grid_path: Path, repeat: int) -> dict:  # type: ignore[type-arg]
    """Best CPU times of loading a grid and of synth + certify on a freshly loaded grid."""
    text = grid_path.read_text()
    grids, load_s = [], float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        grids.append(grid_from_text(text, str(grid_path)))
        load_s = min(load_s, time.process_time() - t0)
    best, syn, cert = float("inf"), None, None
    for grid in grids:
        t0 = time.process_time()
        syn = synthesize(grid, "g")
        cert = certify_program(grid, syn.program)
        best = min(best, time.process_time() - t0)
    if syn is None or cert is None:
        raise SystemExit("--repeat must be at least 1")
    return {"synth_certify_s": best, "load_s": load_s, "moves": cert.moves, "shortest": cert.shortest_length,
            "certified": cert.certified, "instructions": syn.program.n_instructions()}


def compare_with_reference(args: argparse.Namespace, corpus: Path) -> dict | None:  # type: ignore[type-arg]
    """The side-by-side table against the reference implementation; None if it is absent."""
    ref = args.reference.resolve()
    python = (args.reference_python or ref / ".venv" / "bin" / "python").absolute()  # a venv link: not resolved
    if not (ref / "src" / "policy" / "subgoals.py").is_file() or not python.is_file():
        print(f"reference implementation not found: expected the smol-strats sources under {ref}/src and a Python "
              f"at {python} (see the docstring of bench/gridworld.py); skipping the side-by-side comparison",
              file=sys.stderr)
        return None
    load_before = os.getloadavg()
    corpus_dirs = sorted(p for p in corpus.iterdir() if p.is_dir()) if corpus.is_dir() else []
    instances = [(d.name, d / "polygongrid.json") for d in corpus_dirs if not args.only or d.name in args.only]
    rows = []
    with tempfile.TemporaryDirectory(prefix="saferl-grid-") as tmp:
        instances += fresh_instances(args.seeds, Path(tmp))
        for name, path in instances:
            ours = saferl_run(path, args.repeat)
            theirs = reference_run(python, ref, path, args.repeat, args.ref_timeout)
            ref_s = theirs.get("build_s")
            ratio = ours["synth_certify_s"] / ref_s if ref_s else None
            if ref_s is None and "timeout" in theirs.get("error", ""):
                ratio = ours["synth_certify_s"] / args.ref_timeout  # an upper bound
            ref_load = theirs.get("load_s")
            with_load = ((ours["synth_certify_s"] + ours["load_s"]) / (ref_s + ref_load)
                         if ref_s and ref_load is not None else None)
            rows.append({"name": name, "saferl_s": round(ours["synth_certify_s"], 6),
                         "reference_s": None if ref_s is None else round(ref_s, 6),
                         "ratio": None if ratio is None else round(ratio, 4),
                         "ratio_is_bound": ref_s is None and ratio is not None,
                         "ratio_with_load": None if with_load is None else round(with_load, 4),
                         "saferl_load_s": round(ours["load_s"], 6),
                         "reference_load_s": None if theirs.get("load_s") is None else round(theirs["load_s"], 6),
                         "saferl_moves": ours["moves"], "saferl_shortest": ours["shortest"],
                         "certified": ours["certified"], "reference_start_depth": theirs.get("start_depth"),
                         "reference_error": theirs.get("error"), "reference_note": theirs.get("note")})
            print(f"  compared {name}", file=sys.stderr, flush=True)
    load_after = os.getloadavg()
    cols = [("name", 24), ("saferl_s", 9), ("reference_s", 11), ("ratio", 7), ("saferl_load_s", 13),
            ("reference_load_s", 16), ("ratio_with_load", 15), ("saferl_moves", 12), ("reference_start_depth", 21)]
    print("\nsaferl synth + certify vs the reference's tree + subgoal policy (CPU s, best of "
          f"{args.repeat}, after loading)")
    print(" ".join(f"{c:<{w}}" if c == "name" else f"{c:>{w}}" for c, w in cols))
    for r in rows:
        cells = []
        for c, w in cols:
            v = r[c]
            text = "-" if v is None else str(v)
            if c == "reference_s" and v is None:
                text = f">{args.ref_timeout:g}" if r["ratio_is_bound"] else "error"
            if c == "ratio" and r["ratio_is_bound"]:
                text = f"<{v:.4f}"
            cells.append(f"{text:<{w}}" if c == "name" else f"{text:>{w}}")
        print(" ".join(cells))
    timed = [r for r in rows if r["ratio"] is not None]
    worst = max(timed, key=lambda r: r["ratio"], default=None)
    slower = [r["name"] for r in timed if r["ratio"] > 1.0]
    slower_with_load = [r["name"] for r in rows if r["ratio_with_load"] is not None and r["ratio_with_load"] > 1.0]
    print(f"instances: {len(rows)} ({len(rows) - args.seeds} corpus, {args.seeds} generated); "
          f"saferl slower on {len(slower)}: {', '.join(slower) or 'none'}; worst ratio "
          f"{worst['ratio'] if worst else '-'} ({worst['name'] if worst else '-'}); "
          f"counting the loading (parse + validation) of both: slower on {len(slower_with_load)}"
          f"{': ' + ', '.join(slower_with_load) if slower_with_load else ''}; "
          f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    return {"rows": rows, "slower": slower, "slower_with_load": slower_with_load,
            "worst_ratio": worst["ratio"] if worst else None,
            "load_average": [round(load_before[0], 2), round(load_after[0], 2)],
            "reference": str(ref), "reference_python": str(python), "repeat": args.repeat,
            "ref_timeout_s": args.ref_timeout}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--skip-full-tree", action="store_true")
    ap.add_argument("--reference", type=Path, default=None,
                    help="a smol-strats checkout: time its synthesis beside saferl's synth + certify")
    ap.add_argument("--reference-python", type=Path, default=None, help="its Python (default DIR/.venv/bin/python)")
    ap.add_argument("--seeds", type=int, default=9, help="fresh generator instances in the comparison")
    ap.add_argument("--ref-timeout", type=float, default=60.0, help="seconds per reference instance")
    ap.add_argument("--reference-only", action="store_true", help="only the side-by-side comparison")
    args = ap.parse_args()
    corpus = args.corpus.resolve()
    if not corpus.is_dir():
        print(f"smol-strats corpus not found at {corpus}", file=sys.stderr)
        if not (args.reference is not None and args.reference_only):
            return 2
        print("comparing on generated instances only", file=sys.stderr)
    side_by_side = compare_with_reference(args, corpus) if args.reference is not None else None
    if args.reference_only:
        text = json.dumps({"reference_comparison": side_by_side}, indent=2)
        print(text)
        if args.json:
            args.json.write_text(text + "\n")
        return 0
    csv = read_csv(corpus)
    rows = []
    for d in sorted(p for p in corpus.iterdir() if p.is_dir()):
        if args.only and d.name not in args.only:
            continue
        rows.append(bench_instance(d, args.repeat, csv))
        print(f"  measured {d.name}", file=sys.stderr, flush=True)
    full = None
    if not args.skip_full_tree and (corpus / "size100preds50-2").is_dir():
        grid = grid_from_text((corpus / "size100preds50-2" / "polygongrid.json").read_text())
        out = {}
        for cap in (200, 1000):
            t, tree = wall_of(lambda cap=cap: build_backward_tree(grid, depth_cap=cap, stop_at_start=False))
            out[f"cap{cap}"] = {"seconds": round(t, 3), "nodes": len(tree.nodes), "depth": tree.depth_reached,
                                "capped": tree.capped, "reference_s": REFERENCE_50_2[f"cap{cap}"]}
        full = out

    cols = [("name", 24), ("regions", 7), ("certify_s", 9), ("their_moves", 11), ("shortest", 8), ("tree_s", 7),
            ("tree_alg1_s", 11), ("synth_s", 7), ("our_moves", 9), ("our_instructions", 16), ("their_instructions", 18),
            ("our_bytes", 9), ("their_pol_bytes", 15), ("their_policy_json_bytes", 23), ("size_bound", 10)]
    print(" ".join(f"{c:>{w}}" if c != "name" else f"{c:<{w}}" for c, w in cols))
    for r in rows:
        print(" ".join((f"{str(r[c]):<{w}}" if c == "name" else f"{str(r[c]):>{w}}") for c, w in cols))
    worst = max((r["certify_s"] for r in rows), default=0.0)
    worst_wall = max((r["certify_wall_s"] for r in rows), default=0.0)
    print(f"\nslowest certification: {worst:.3f} s CPU, {worst_wall:.3f} s wall (target <= 1 s)")
    for name, ref in REFERENCE_S.items():
        r = next((x for x in rows if x["name"] == name), None)
        if r:
            print(f"{name}: tree {r['tree_s']:.4f} s, tree+Algorithm 1 {r['tree_alg1_s']:.4f} s "
                  f"({ref / max(r['tree_alg1_s'], 1e-9):.1f}x faster than the reference's {ref} s), "
                  f"tree+Algorithm 1+certifier {r['synth_s']:.4f} s ({ref / max(r['synth_s'], 1e-9):.1f}x)")
    if full:
        for cap, v in full.items():
            print(f"size100preds50-2 whole tree to {cap} (no stop at the start): {v['seconds']} s wall, "
                  f"{v['nodes']} nodes (reference {v['reference_s']} s)")
    r = next((x for x in rows if x["name"] == "size100preds50-2"), None)
    if r:
        print(f"size100preds50-2 with depth cap 1000, stopping at the start: tree {r['tree_s']:.3f} s, "
              f"synth {r['synth_s']:.3f} s (target <= 30 s)")
    doc = {"instances": rows, "size100preds50_2_full_tree": full, "reference_comparison": side_by_side}
    text = json.dumps(doc, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
