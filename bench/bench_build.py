"""The build benchmark of issue 4: `reportgen build` of the reader benchmark's stores (bench/make_stores.py),
printing build time (read / render / swap), site size and page count, with real MLflow's full-read time of
the same store beside it (measured by bench/bench_read.py in its own process, or given with --mlflow-seconds).

    python bench/make_stores.py --stores A B --no-sqlite
    python bench/bench_build.py [--stores A-file B-file] [--mlflow] [--mlflow-sample N] [--repeat N]

Sites are written under bench/out/ (gitignored). Static chart images are on, as in a default build.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_read import STORES, measure  # noqa: E402

OUT = HERE / "out"


def build_once(store: str) -> dict:
    from reportgen.site import build_site

    import shutil

    target = OUT / f"site-{store}"
    shutil.rmtree(target, ignore_errors=True)  # a fresh build, as in CI (replacing a site adds its deletion)
    began = time.perf_counter()
    result = build_site([str(STORES[store])], target, progress=None)
    return {"seconds": time.perf_counter() - began, "timings": result.timings, "pages": result.pages,
            "runs": result.runs, "size_mb": result.size_bytes / 1e6, "warnings": len(result.problems),
            "largest_page_kb": max(p.stat().st_size for p in target.rglob("*.html")) / 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", nargs="+", default=["A-file", "B-file"], choices=[s for s in STORES if s.endswith("file")])
    parser.add_argument("--repeat", type=int, default=1, help="builds per store; the best is kept")
    parser.add_argument("--mlflow", action="store_true", help="also measure MLflow's full read (slow: ~1 min per store)")
    parser.add_argument("--mlflow-sample", type=int, default=None, help="see bench_read.py")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    missing = [s for s in args.stores if not STORES[s].exists()]
    if missing:
        sys.exit(f"missing stores {missing}: run python bench/make_stores.py first")
    OUT.mkdir(exist_ok=True)
    results = []
    print(f"{'store':8} {'build s':>8} {'read':>6} {'render':>7} {'swap':>5} {'pages':>6} {'site MB':>8} "
          f"{'max page KB':>11} {'MLflow read s':>13} {'speed-up':>8}")
    for store in args.stores:
        best = min((build_once(store) for _ in range(args.repeat)), key=lambda r: r["seconds"])
        mlflow = measure("mlflow", store, args.mlflow_sample) if args.mlflow else None
        mlflow_s = mlflow.get("seconds") if mlflow and "error" not in mlflow else None
        t = best["timings"]
        speed = f"{mlflow_s / best['seconds']:.1f}x" if mlflow_s else "-"
        print(f"{store:8} {best['seconds']:8.2f} {t.get('read', 0):6.2f} {t.get('render', 0):7.2f} {t.get('swap', 0):5.2f} "
              f"{best['pages']:6} {best['size_mb']:8.1f} {best['largest_page_kb']:11.0f} "
              f"{(f'{mlflow_s:.1f}' if mlflow_s else '-'):>13} {speed:>8}", flush=True)
        results.append({"store": store, **best, "mlflow_read_seconds": mlflow_s})
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
