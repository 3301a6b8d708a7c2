"""The full read a report needs from a tracking server, reportgen's REST reader against MLflow's client,
in one run against one real `mlflow server` (loopback, SQLite backend holding store A: 2 x 100 runs,
5 metrics x 1000 steps, 1M points).

"Full read" = the runs as a search_runs frame plus every metric history of every run: MLflow's client
does what a user would (search_runs, then get_metric_history per run and key); reportgen reads exact
histories (what `reportgen build` uses) and, for comparison, sampled ones at the site's chart budgets
(500 and 200 points per series through get-history-bulk-interval; not the same report: see
docs/tracking-servers.md). reportgen's reads run before and after MLflow's, the slower one counts.

    python bench/bench_rest.py                    # all in full (MLflow takes ~3 minutes here)
    python bench/bench_rest.py --mlflow-sample 20 # MLflow's histories timed on 20 runs, extrapolated
    python bench/bench_rest.py --server-workers 2 # mlflow server --workers 2 (MLflow's default is 4)

Measured here on 26 Nov 2026 (2 cores shared with other jobs, load average 3-8 during the runs;
full runs, no extrapolation; seconds of the slower read, before/after in brackets):

    --workers 1: MLflow 200.1 s; exact 78.4 s [49.3, 78.4] 2.6x; sampled 500: 36.9 s [29.3, 36.9]
                 5.4x; sampled 200: 26.4 s [15.5, 26.4] 7.6x; server floor 79.5 s; SQLite file 3.0 s
    --workers 2: MLflow 154.2 s; exact 49.8 s [43.1, 49.8] 3.1x; sampled 500: 33.3 s [33.3, 22.8]
                 4.6x; sampled 200: 19.4 s [19.4, 15.2] 8.0x; server floor 55.3 s; SQLite file 1.5 s

No read reaches 10x. The server bounds it: an exact history costs it ~30 us per point in ORM objects
(the floor: its cheapest exact endpoint, serial, bodies unparsed), a sampled one ~14 ms per series
(three SQL queries through SQLAlchemy) plus ~40 us per point returned (protobuf's JSON writer).
Reading the server's own database (open_store("sqlite:///..." or "postgresql://...")) takes 1.5-3 s.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

from mlflow_server import start  # noqa: E402
from reportgen.frames import runs_frame  # noqa: E402
from reportgen.stores import open_store  # noqa: E402

STORE_DB = HERE / "stores" / "A.db"
# The site's chart budgets: experiment pages (DEFAULT_MAX_POINTS) and run pages (RUN_PAGE_MAX_POINTS).
SAMPLED_POINTS = (500, 200)


def ensure_store() -> Path:
    if not STORE_DB.exists():
        from make_stores import SHAPES, STORES_DIR, make_file_store, make_sqlite  # type: ignore

        file_store = STORES_DIR / "A-mlruns"
        if not file_store.exists():
            make_file_store(file_store, SHAPES["A"])
        make_sqlite(file_store, STORE_DB)
    return STORE_DB


def read_ours(url: str, mode: str, max_points: int | None = None) -> dict:
    began = time.perf_counter()
    with open_store(url, history_mode=mode, max_points=max_points) as store:
        runs, history = store.read_all()
        frame = runs_frame(runs)
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "runs": len(frame), "points": len(history), "series": int(
        history.groupby(["run_id", "key"], observed=True).ngroups), "problems": len(store.problems)}


def server_floor(url: str, db: Path) -> dict:
    """The server alone: every history through its cheapest exact endpoint, one request at a time,
    bodies read and dropped (no JSON parsing): what any REST client must at least wait for."""
    import sqlite3
    import urllib.request

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    pairs = conn.execute("SELECT DISTINCT key, run_uuid FROM latest_metrics ORDER BY key, run_uuid").fetchall()
    conn.close()
    by_key: dict[str, list[str]] = {}
    for key, run_id in pairs:
        by_key.setdefault(key, []).append(run_id)
    began = time.perf_counter()
    size = 0
    for key, runs in by_key.items():
        for first in range(0, len(runs), 20):  # 20 x 1000 points stays under the 25000 cap
            query = "&".join(f"run_id={r}" for r in runs[first:first + 20])
            with urllib.request.urlopen(
                f"{url}/ajax-api/2.0/mlflow/metrics/get-history-bulk?{query}&metric_key={key}&max_results=25000"
            ) as response:
                size += len(response.read())
    return {"seconds": time.perf_counter() - began, "bytes": size}


def read_database(db: Path) -> dict:
    began = time.perf_counter()
    with open_store(f"sqlite:///{db}") as store:
        runs, history = store.read_all()
        runs_frame(runs)
    return {"seconds": time.perf_counter() - began, "points": len(history)}


def read_mlflow(url: str, sample: int | None) -> dict:
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(url)
    began = time.perf_counter()
    client = MlflowClient(url)
    ids = [e.experiment_id for e in client.search_experiments()]
    frame = mlflow.search_runs(experiment_ids=ids, max_results=50_000)
    searched = time.perf_counter()
    metric_columns = [c for c in frame.columns if c.startswith("metrics.")]
    rows = frame if sample is None else frame.head(sample)
    histories = []
    for _, row in rows.iterrows():
        for column in metric_columns:
            if row[column] == row[column]:
                histories.append(client.get_metric_history(row["run_id"], column[len("metrics."):]))
    done = time.perf_counter()
    result = {"runs": len(frame), "series": len(histories), "points": sum(len(h) for h in histories),
              "search_seconds": round(searched - began, 3)}
    if sample is not None and sample < len(frame):
        scale = len(frame) / max(len(rows), 1)
        result.update(seconds=(searched - began) + (done - searched) * scale, extrapolated=True,
                      sampled_runs=len(rows), points=int(result["points"] * scale),
                      series=int(result["series"] * scale))
    else:
        result.update(seconds=done - began, extrapolated=False)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlflow-sample", type=int, default=None,
                        help="time MLflow's histories on this many runs and extrapolate (labelled as such)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of each of reportgen's reads (best kept)")
    parser.add_argument("--server-workers", type=int, default=1, help="mlflow server --workers")
    parser.add_argument("--sampled", type=int, nargs="*", default=list(SAMPLED_POINTS),
                        help="points per series of the sampled reads (get-history-bulk-interval)")
    parser.add_argument("--paged", action="store_true", help="also time history_mode='paged' (get-history)")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "rest.json")
    args = parser.parse_args()

    db = ensure_store()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-rest-") as tmp:
        work = Path(tmp)
        shutil.copyfile(db, work / "A.db")  # the server may touch its database; never the cached one
        server = start(f"sqlite:///{work / 'A.db'}", work / "artifacts", work / "server.log",
                       workers=args.server_workers)
        try:
            best = lambda *a: min((read_ours(server.url, *a) for _ in range(args.rounds)),  # noqa: E731
                                  key=lambda r: r["seconds"])
            # Ours before and after MLflow's minutes-long read: the machine's load drifts meanwhile,
            # so each speedup uses the slower of the two.
            before = [best("bulk")] + [best("bulk", n) for n in args.sampled]
            ours_paged = read_ours(server.url, "paged") if args.paged else None
            theirs = read_mlflow(server.url, args.mlflow_sample)
            after = [best("bulk")] + [best("bulk", n) for n in args.sampled]
            slower = [max(a, b, key=lambda r: r["seconds"]) | {"seconds_before_and_after": [
                round(a["seconds"], 2), round(b["seconds"], 2)]} for a, b in zip(before, after)]
            ours, sampled = slower[0], dict(zip(args.sampled, slower[1:]))
            floor = server_floor(server.url, work / "A.db")
            database = read_database(work / "A.db")
        finally:
            server.stop()
    result = {
        "store": "A (2 x 100 runs, 5 metrics x 1000 steps) in SQLite behind mlflow server",
        "server_workers": args.server_workers, "cpus": os.cpu_count(),
        "load_average_1_5_15": {"before": load_before, "after": os.getloadavg()},
        "reportgen_exact": ours, "reportgen_sampled": sampled, "reportgen_paged": ours_paged, "mlflow": theirs,
        "server_floor": floor, "reportgen_from_the_servers_database": database,
        "speedup_exact": round(theirs["seconds"] / ours["seconds"], 1),
        "speedup_sampled": {n: round(theirs["seconds"] / r["seconds"], 1) for n, r in sampled.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    label = " (EXTRAPOLATED from a sample)" if theirs.get("extrapolated") else ""
    print(f"mlflow server --workers {args.server_workers}; {os.cpu_count()} CPUs; load average before "
          f"{load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}")
    print(f"MLflow client, full read:     {theirs['seconds']:7.2f} s{label}  {theirs['runs']} runs, {theirs['points']} points")
    print("reportgen (the slower of a read before and one after MLflow's):")
    print(f"  exact read:                 {ours['seconds']:7.2f} s  {result['speedup_exact']}x  "
          f"{ours['runs']} runs, {ours['series']} series, {ours['points']} points  {ours['seconds_before_and_after']}")
    for n, r in sampled.items():
        print(f"  sampled, {n:>4} points/series: {r['seconds']:6.2f} s  {result['speedup_sampled'][n]}x  "
              f"{r['points']} points  {r['seconds_before_and_after']}")
    if ours_paged:
        print(f"reportgen, exact via get-history: {ours_paged['seconds']:.2f} s  {ours_paged['points']} points")
    print(f"server floor (its cheapest exact endpoint, serial, no parsing): {floor['seconds']:.2f} s")
    print(f"reportgen reading the server's own SQLite file: {database['seconds']:.2f} s")
    if ours["points"] != theirs["points"] or (ours_paged and ours_paged["points"] != ours["points"]):
        sys.exit("point counts differ: the reads are not the same")


if __name__ == "__main__":
    main()
