"""The build benchmark: a build of the reader benchmark's stores (bench/make_stores.py), each in a fresh
process, with no cache and as a first build with a cache (a fresh CI job), printing the build's time after
the imports (as MLflow's full read is timed, by bench/bench_read.py in its own process) and the whole
process's, site size and page count, with MLflow's read time of the same store beside it; the speed-up is
of the build time.

    python bench/make_stores.py --stores A B --no-sqlite
    python bench/bench_build.py [--stores A-file B-file] [--mlflow] [--mlflow-sample N] [--repeat N] [--jobs 0 1]

Sites are written under bench/out/ (gitignored). Static chart images are on, as in a default build.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_read import STORES, measure  # noqa: E402

OUT = HERE / "out"


# One build in a fresh process, as `reportgen build` makes it (its default -j, its cache options); it prints
# the seconds of the build itself, after the imports, as bench_read.py times MLflow's read after its imports.
_BUILD = """
import json, sys, time
from reportgen.site import build_site
store, target, cache, jobs = sys.argv[1:5]
began = time.perf_counter()
build_site([store], target, cache_dir=cache or None, workers=int(jobs) or None)
print(json.dumps({"build": time.perf_counter() - began}))
"""


def build_once(store: str, mode: str, jobs: int | None) -> dict:
    """One build in a fresh process into a fresh folder: mode "no-cache", or "first-cache" (the default cache,
    in a new empty folder: a fresh CI job). Returns the build's seconds (after the imports) and the whole
    process's (interpreter start and imports included)."""
    target = OUT / f"site-{store}"
    shutil.rmtree(target, ignore_errors=True)  # a fresh build, as in CI (replacing a site adds its deletion)
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
        command = [sys.executable, "-c", _BUILD, str(STORES[store]), str(target),
                   cache if mode == "first-cache" else "", str(jobs or 0)]
        began = time.perf_counter()
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        process = time.perf_counter() - began
    pages = list(target.rglob("*.html"))
    return {"seconds": json.loads(done.stdout.strip().splitlines()[-1])["build"], "process_seconds": process,
            "mode": mode, "jobs": jobs or "default", "pages": len(pages),
            "size_mb": sum(p.stat().st_size for p in target.rglob("*") if p.is_file()) / 1e6,
            "largest_page_kb": max(p.stat().st_size for p in pages) / 1e3}


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", nargs="+", default=["A-file", "B-file"], choices=[s for s in STORES if s.endswith("file")])
    parser.add_argument("--repeat", type=int, default=1, help="builds per store and mode; the best is kept")
    parser.add_argument("--modes", nargs="+", default=["no-cache", "first-cache"], choices=["no-cache", "first-cache"])
    parser.add_argument("--jobs", nargs="+", type=int, default=[0],
                        help="-j values to compare (0: reportgen's default); builds of all modes and -j alternate")
    parser.add_argument("--mlflow", action="store_true", help="also measure MLflow's full read (slow: ~1 min per store)")
    parser.add_argument("--mlflow-sample", type=int, default=None, help="see bench_read.py")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    missing = [s for s in args.stores if not STORES[s].exists()]
    if missing:
        sys.exit(f"missing stores {missing}: run python bench/make_stores.py first")
    OUT.mkdir(exist_ok=True)
    results = []
    print(f"load before: {_uptime()}")
    print(f"{'store':8} {'mode':12} {'-j':>7} {'build s':>8} {'process s':>9} {'pages':>6} {'site MB':>8} {'max page KB':>11} "
          f"{'MLflow read s':>13} {'speed-up':>8}")
    for store in args.stores:
        variants = [(mode, jobs) for mode in args.modes for jobs in args.jobs]
        runs: dict[tuple, list[dict]] = {variant: [] for variant in variants}
        for _ in range(args.repeat):  # alternating, so that a slow phase of the machine hits every variant
            for mode, jobs in variants:
                runs[(mode, jobs)].append(build_once(store, mode, jobs or None))
        mlflow = measure("mlflow", store, args.mlflow_sample) if args.mlflow else None
        mlflow_s = mlflow.get("seconds") if mlflow and "error" not in mlflow else None
        for variant, found in runs.items():
            best = min(found, key=lambda r: r["seconds"])
            speed = f"{mlflow_s / best['seconds']:.1f}x" if mlflow_s else "-"
            print(f"{store:8} {best['mode']:12} {str(best['jobs']):>7} {best['seconds']:8.2f} "
                  f"{best['process_seconds']:9.2f} {best['pages']:6} "
                  f"{best['size_mb']:8.1f} {best['largest_page_kb']:11.0f} "
                  f"{(f'{mlflow_s:.1f}' if mlflow_s else '-'):>13} {speed:>8}", flush=True)
            results.append({"store": store, **best, "all_seconds": [r["seconds"] for r in found],
                            "mlflow_read_seconds": mlflow_s})
    print(f"load after: {_uptime()}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
