"""The incremental-build benchmark of issue 6: on a copy of the 2000-run store B (bench/make_stores.py), a full
build against a rebuild with the build cache after one run changed, in one run of this script, and a check
that the incremental site equals a full build of the changed store byte for byte.

    python bench/bench_incremental.py [--repeat 5] [--replace] [--json FILE] [--out DIR]

Each round changes a different run the way a training job would (a new metric point and a tag, through
reportgen.tracking), rebuilds with the cache, then builds the changed store in full: the two take turns,
so that a noisy machine weighs on both alike. By default every build writes a fresh output folder, as a
CI job that restores only the cache does (and as bench_build.py measures); --replace rebuilds over the
previous site instead, which adds the deletion of the old site (~2,000 folders) to both.
--cli runs each build as `reportgen build` does, in a fresh Python process: both then include the
interpreter's start, the imports and the interpreter's exit, which a rebuild does not shrink; the script
also times a process that only imports what a build imports and exits (the floor of any build), in the
same rounds. The processes keep their bytecode (PYTHONPYCACHEPREFIX under the output folder), as an
installed package has it. Run the script with the Python of a venv holding only reportgen (`pip install .`)
to measure what a user's CI runs: the test extra's MLflow brings pyarrow, which pandas then imports.
The store copy and sites are written under bench/out/ (gitignored).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_stores import SHAPES, make_file_store  # noqa: E402
from reportgen.site import build_site  # noqa: E402
from reportgen.tracking import TrackingClient  # noqa: E402

OUT = Path(__file__).resolve().parent / "out" / "incremental"


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


ROOT = Path(__file__).resolve().parents[1]
_CLI = "import sys; from reportgen.cli import main; sys.argv[0] = 'reportgen'; main()"  # the console script


def _timed_build(store: Path, out: Path, *, cache: Path | None, replace: bool,
                 cli: dict[str, str] | None = None) -> tuple[float, object]:
    """Seconds and BuildResult of one build (None with cli: the environment of a `reportgen build` process)."""
    if not replace:
        shutil.rmtree(out, ignore_errors=True)
    # Each build starts on a quiet disk: not while the writes of the last one (130 MB for a full build)
    # are flushed.
    os.sync()
    started = time.perf_counter()
    if cli is not None:
        caching = ["--cache-dir", str(cache)] if cache is not None else ["--no-cache"]
        subprocess.run([sys.executable, "-c", _CLI, "build", str(store), "-o", str(out), *caching, "-q"],
                       env=cli, check=True)
        return time.perf_counter() - started, None
    result = build_site([str(store)], out, cache_dir=cache)
    return time.perf_counter() - started, result


def _cli_env(out: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "PYTHONPYCACHEPREFIX": str(out / "pycache"), "PYTHONWARNINGS": "ignore"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="rounds of a one-run change, its rebuild and a full build (best of)")
    parser.add_argument("--replace", action="store_true", help="rebuild over the previous site (adds its deletion)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the store copy and sites go (default {OUT})")
    parser.add_argument("--cli", action="store_true", help="each build in a fresh process, as `reportgen build`")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    out = args.out.resolve()
    cli = _cli_env(out) if args.cli else None
    store, cache = out / "B-mlruns", out / "cache"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    make_file_store(store, SHAPES["B"])
    print(f"store B written to {store} in {time.perf_counter() - started:.1f}s", flush=True)
    client = TrackingClient(tracking_uri=str(store))
    run_ids = sorted(run.info.run_id for exp in client.search_experiments()
                     for run in client.search_runs([exp.experiment_id], max_results=50))

    # Untimed: the store's files get older than the read cache's racy margin (2 s; files changed more
    # recently are read again next time) and into the page cache, as in the rounds below.
    _timed_build(store, out / "full", cache=None, replace=args.replace, cli=cli)
    cold = _timed_build(store, out / "site", cache=cache, replace=args.replace, cli=cli)
    warm = _timed_build(store, out / "site", cache=cache, replace=args.replace, cli=cli)
    # Full builds and rebuilds take turns, so that both meet the same state of this (shared, noisy) machine.
    full, changed, floor = [], [], []
    for n in range(args.repeat):
        run_id = run_ids[n * 7 % len(run_ids)]
        client.log_metric(run_id, "m0", 0.123 + n, step=1000 + n, timestamp=1_700_000_999_000 + n)
        client.set_tag(run_id, "reviewed", f"round {n}")
        changed.append(_timed_build(store, out / "site", cache=cache, replace=args.replace, cli=cli))
        full.append(_timed_build(store, out / "full", cache=None, replace=args.replace, cli=cli))
        if cli is not None:
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import reportgen.cli, reportgen.site.build"], env=cli, check=True)
            floor.append(time.perf_counter() - started)
        print(f"round {n + 1}: one run changed {changed[-1][0]:.2f} s, full build {full[-1][0]:.2f} s "
              f"({full[-1][0] / changed[-1][0]:.1f}x)", flush=True)

    reference = full[-1][1]  # a full build of the store as the last rebuild saw it
    identical = _digest(out / "full") == _digest(out / "site")

    best_full = min(seconds for seconds, _ in full)
    best_changed = min(seconds for seconds, _ in changed)
    per_round = [f / c for (c, _), (f, _) in zip(changed, full)]
    rows = [("full build (no cache)", best_full, full[0][1]), ("first build with cache", cold[0], cold[1]),
            ("rebuild, nothing changed", warm[0], warm[1]), ("rebuild, one run changed", best_changed, changed[0][1])]
    print(f"\n{'build' + (' (fresh process each)' if cli else ''):28} {'seconds':>8} {'read':>6} {'reused':>7} "
          f"{'speed-up':>9}")
    for label, seconds, result in rows:
        read = f"{result.timings.get('read', 0):6.2f}" if result is not None else f"{'-':>6}"
        reused = f"{result.reused:7d}" if result is not None else f"{'-':>7}"
        print(f"{label:28} {seconds:8.2f} {read} {reused} {best_full / seconds:8.1f}x")
    if reference is not None:
        print(f"\nruns {reference.runs}, pages {reference.pages}, site {reference.size_bytes / 1e6:.1f} MB; ", end="")
    print(f"one-run-changed builds: {', '.join(f'{s:.2f}' for s, _ in changed)} s; "
          f"full builds: {', '.join(f'{s:.2f}' for s, _ in full)} s; "
          f"round by round: {', '.join(f'{r:.1f}x' for r in per_round)} (lowest {min(per_round):.1f}x)")
    if floor:
        least = min(floor)
        print(f"a process that only imports what a build imports and exits: {', '.join(f'{f:.2f}' for f in floor)} s; "
              f"the fastest is {least / best_changed:.0%} of the fastest rebuild. Less it, the rebuild takes "
              f"{best_changed - least:.2f} s and the full build {best_full - least:.2f} s "
              f"({(best_full - least) / (best_changed - least):.1f}x)")
    print(f"incremental site identical to a full build of the changed store: {'yes' if identical else 'NO'}")
    if args.json:
        args.json.write_text(json.dumps({
            "full_s": [s for s, _ in full], "cold_s": cold[0], "warm_s": warm[0], "changed_s": [s for s, _ in changed],
            "speedup": best_full / best_changed, "per_round": per_round, "identical": identical,
            "replace": args.replace, "cli": args.cli,
        }, indent=2))
    if not identical:
        sys.exit(1)


if __name__ == "__main__":
    main()
