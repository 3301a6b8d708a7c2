"""Per-point logging speed to SQLite: `client.log_metric(run_id, key, value, step=i)` in a loop, one
run, through reportgen's TrackingClient and MLflow's MlflowClient, each into its own sqlite:/// file.

Each implementation writes a fresh database (MLflow's a copy of one it migrated beforehand, so its ~10 s
of migrations are not timed; neither is our schema creation); rounds alternate and the best is kept.
The metric rows written are counted and must match.

    python bench/bench_sqlite_logging.py                  # 2,000 points, 2 rounds: well under 2 minutes
    python bench/bench_sqlite_logging.py --points 5000 --rounds 3
"""
from __future__ import annotations

import argparse
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def per_point(client, points: int, keys: int) -> float:
    """Points per second of one log_metric call per point into one run."""
    run_id = client.create_run("0").info.run_id
    client.log_metric(run_id, "warmup", 0.0)  # first-call costs are not timed
    names = [f"metric_{k}" for k in range(keys)]
    start = time.perf_counter()
    for i in range(points):
        client.log_metric(run_id, names[i % keys], i * 0.001, step=i // keys)
    elapsed = time.perf_counter() - start
    client.set_terminated(run_id)
    return points / elapsed


def _rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM metrics").fetchone()[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=2000, help="points logged one call each (default 2000)")
    parser.add_argument("--keys", type=int, default=1, help="distinct metric keys (default 1)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds, best kept (default 2)")
    args = parser.parse_args(argv)

    import logging

    import mlflow
    from mlflow import MlflowClient

    from reportgen.tracking.client import TrackingClient

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    best = {"reportgen": 0.0, f"mlflow {mlflow.__version__}": 0.0}
    rows: dict[str, set[int]] = {name: set() for name in best}
    with tempfile.TemporaryDirectory(prefix="bench-sqlite-") as tmp:
        template = Path(tmp, "mlflow-template.db")
        MlflowClient(tracking_uri=f"sqlite:///{template}").get_experiment("0")  # migrations, untimed
        for round_index in range(args.rounds):
            for name in best:
                db = Path(tmp, f"{name.split()[0]}-{round_index}.db")
                if name == "reportgen":
                    client = TrackingClient(f"sqlite:///{db}")
                else:
                    shutil.copy(template, db)
                    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
                best[name] = max(best[name], per_point(client, args.points, args.keys))
                rows[name].add(_rows(db))
    if len({frozenset(r) for r in rows.values()}) != 1:
        print(f"metric rows differ between implementations: {rows}", file=sys.stderr)
        return 1

    print(f"workload: {args.points} log_metric calls into one run, {args.keys} key(s), sqlite:/// file, "
          f"best of {args.rounds} alternating rounds")
    for name, rate in best.items():
        print(f"{name:<16}{rate:>12,.0f} points/s  {1e6 / rate:>9,.0f} us/point")
    (mine, theirs) = best.values()
    print(f"{'ratio':<16}{mine / theirs:>11.1f}x   target >= 10x: {'met' if mine / theirs >= 10 else 'NOT met'}")
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
