"""Logging speed on a file store: the same workload through reportgen.tracking and real MLflow.

Per point: `log_metric(key, value, step=i)` through the fluent API, one call per point.
Batched: `MlflowClient().log_batch(run_id, metrics=[...])` with --batch-size points per call.
Both write into fresh temporary mlruns/ folders; the written line counts are checked to be equal.

    python bench/bench_logging.py                   # default sizes, well under 2 minutes
    python bench/bench_logging.py --points 50000 --batches 500 --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")


def _count_lines(root: Path) -> int:
    return sum(len(path.read_bytes().splitlines()) for path in root.glob("*/*/metrics/**/*") if path.is_file())


def per_point(api, root: Path, points: int, keys: int) -> float:
    """Points per second for one fluent log_metric call per point."""
    api.set_tracking_uri(root.as_uri())
    api.set_experiment("bench")  # explicit: an experiment made active earlier belongs to another store
    with api.start_run():
        api.log_metric("warmup", 0.0)  # store creation and first-call costs are not timed
        names = [f"metric_{k}" for k in range(keys)]
        start = time.perf_counter()
        for i in range(points):
            api.log_metric(names[i % keys], i * 0.001, step=i // keys)
        elapsed = time.perf_counter() - start
    return points / elapsed


def batched(api, metric_cls, root: Path, batches: int, batch_size: int, keys: int) -> float:
    """Points per second for log_batch calls of batch_size metrics each."""
    client = api.MlflowClient(tracking_uri=root.as_uri())
    run_id = client.create_run("0").info.run_id
    client.log_metric(run_id, "warmup", 0.0)
    now = int(time.time() * 1000)
    payloads = [
        [metric_cls(f"metric_{j % keys}", (b * batch_size + j) * 0.001, now, b * batch_size + j // keys)
         for j in range(batch_size)]
        for b in range(batches)
    ]
    start = time.perf_counter()
    for payload in payloads:
        client.log_batch(run_id, metrics=payload)
    elapsed = time.perf_counter() - start
    client.set_terminated(run_id)
    return batches * batch_size / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=5000, help="points logged one call each (default 5000)")
    parser.add_argument("--batches", type=int, default=100, help="log_batch calls (default 100)")
    parser.add_argument("--batch-size", type=int, default=1000, help="metrics per log_batch call (default 1000)")
    parser.add_argument("--keys", type=int, default=10, help="distinct metric keys (default 10)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds, best kept (default 2)")
    parser.add_argument("--skip-mlflow", action="store_true", help="measure reportgen only")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)

    import reportgen.tracking as ours
    from reportgen.model import Metric as OurMetric

    contenders = [("reportgen", ours, OurMetric)]
    if not args.skip_mlflow:
        import logging

        import mlflow
        from mlflow.entities import Metric as TheirMetric

        logging.getLogger("mlflow").setLevel(logging.ERROR)
        contenders.append((f"mlflow {mlflow.__version__}", mlflow, TheirMetric))

    # Rounds alternate between the implementations and each keeps its best round, so load from
    # other processes on a shared machine does not favour whichever happened to run first.
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-logging-") as tmp:
        for round_index in range(args.rounds):
            for name, api, metric_cls in contenders:
                point_root = Path(tmp, f"{name.split()[0]}-{round_index}", "per_point")
                batch_root = Path(tmp, f"{name.split()[0]}-{round_index}", "batched")
                figures = results.setdefault(name, {"per_point": 0.0, "batched": 0.0})
                figures["per_point"] = max(figures["per_point"], per_point(api, point_root, args.points, args.keys))
                figures["batched"] = max(figures["batched"], batched(
                    api, metric_cls, batch_root, args.batches, args.batch_size, args.keys))
                figures["lines"] = _count_lines(point_root) + _count_lines(batch_root)
    lines = {r["lines"] for r in results.values()}
    if len(lines) != 1:
        print(f"line counts differ between implementations: {results}", file=sys.stderr)
        return 1

    print(f"workload: {args.points} per-point calls, {args.batches} x log_batch({args.batch_size}), "
          f"{args.keys} keys, file store, best of {args.rounds} alternating rounds")
    print(f"{'implementation':<16}{'per point (pts/s)':>20}{'batched (pts/s)':>20}")
    for name, figures in results.items():
        print(f"{name:<16}{figures['per_point']:>20,.0f}{figures['batched']:>20,.0f}")
    if len(results) == 2:
        (_, mine), (_, theirs) = results.items()
        ratios = {key: mine[key] / theirs[key] for key in ("per_point", "batched")}
        print(f"{'ratio':<16}{ratios['per_point']:>19.1f}x{ratios['batched']:>19.1f}x")
        print("targets: per point >= 10x, batched >= 3x:",
              "met" if ratios["per_point"] >= 10 and ratios["batched"] >= 3 else "NOT met")
        results["ratio"] = ratios
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
