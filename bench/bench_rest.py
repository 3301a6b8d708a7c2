"""The full read a report needs from a tracking server, reportgen's REST reader against MLflow's client,
in one run against one real `mlflow server` (loopback, SQLite backend holding store A: 2 x 100 runs,
5 metrics x 1000 steps, 1M points).

"Full read" = the runs as a search_runs frame plus every metric history of every run.

    python bench/bench_rest.py                    # both in full (MLflow takes ~1-2 minutes here)
    python bench/bench_rest.py --mlflow-sample 20 # MLflow's histories timed on 20 runs, extrapolated
    python bench/bench_rest.py --server-workers 2 # mlflow server --workers 2

Measured here (2 cores, full runs, no extrapolation): --workers 1: reportgen 50.4 s, MLflow 154.1 s
(3.1x); --workers 2: 34.5 s vs 114.4 s (3.3x). The server itself needs ~52 s to send the 1M points
through its cheapest exact endpoint (serial, bodies not even parsed), so no REST client reaches 10x
on this store; reading the server's own database (open_store("sqlite:///..." or "postgresql://..."))
takes 2.1 s.
"""
from __future__ import annotations

import argparse
import json
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


def ensure_store() -> Path:
    if not STORE_DB.exists():
        from make_stores import SHAPES, STORES_DIR, make_file_store, make_sqlite  # type: ignore

        file_store = STORES_DIR / "A-mlruns"
        if not file_store.exists():
            make_file_store(file_store, SHAPES["A"])
        make_sqlite(file_store, STORE_DB)
    return STORE_DB


def read_ours(url: str, mode: str) -> dict:
    began = time.perf_counter()
    with open_store(url, history_mode=mode) as store:
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
    parser.add_argument("--rounds", type=int, default=3, help="rounds of reportgen's read (best kept)")
    parser.add_argument("--server-workers", type=int, default=1, help="mlflow server --workers")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "rest.json")
    args = parser.parse_args()

    db = ensure_store()
    with tempfile.TemporaryDirectory(prefix="bench-rest-") as tmp:
        work = Path(tmp)
        shutil.copyfile(db, work / "A.db")  # the server may touch its database; never the cached one
        server = start(f"sqlite:///{work / 'A.db'}", work / "artifacts", work / "server.log",
                       workers=args.server_workers)
        try:
            ours_paged = read_ours(server.url, "paged")
            ours = min((read_ours(server.url, "bulk") for _ in range(args.rounds)), key=lambda r: r["seconds"])
            theirs = read_mlflow(server.url, args.mlflow_sample)
            floor = server_floor(server.url, work / "A.db")
            database = read_database(work / "A.db")
        finally:
            server.stop()
    result = {
        "store": "A (2 x 100 runs, 5 metrics x 1000 steps) in SQLite behind mlflow server",
        "server_workers": args.server_workers,
        "reportgen_bulk": ours, "reportgen_paged": ours_paged, "mlflow": theirs,
        "server_floor": floor, "reportgen_from_the_servers_database": database,
        "speedup": round(theirs["seconds"] / ours["seconds"], 1),
        "speedup_paged": round(theirs["seconds"] / ours_paged["seconds"], 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    label = " (EXTRAPOLATED from a sample)" if theirs.get("extrapolated") else ""
    print(f"reportgen (bulk):  {ours['seconds']:.2f} s  {ours['runs']} runs, {ours['series']} series, {ours['points']} points")
    print(f"reportgen (paged): {ours_paged['seconds']:.2f} s  {ours_paged['points']} points")
    print(f"MLflow client:     {theirs['seconds']:.2f} s{label}  {theirs['runs']} runs, {theirs['points']} points")
    print(f"speedup: {result['speedup']}x (bulk), {result['speedup_paged']}x (paged)")
    print(f"server floor (its cheapest exact endpoint, serial, no parsing): {floor['seconds']:.2f} s")
    print(f"reportgen reading the server's own SQLite file: {database['seconds']:.2f} s")
    if ours["points"] != theirs["points"] or ours_paged["points"] != ours["points"]:
        sys.exit("point counts differ: the reads are not the same")


if __name__ == "__main__":
    main()
