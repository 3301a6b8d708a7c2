"""The full read of issue 18 on PostgreSQL: store A (1M points, bench/stores/A.db) copied into a
throwaway cluster started as the tests start it (tests/pg_cluster.py), then read by reportgen
(open_store + read_all + runs_frame), by MLflow's client (search_runs and every get_metric_history),
and by the floor: one binary COPY of the metrics table's five columns into memory, nothing decoded.
Each reader runs in its own subprocess (peak memory is its ru_maxrss); rounds alternate the readers.

    python bench/make_stores.py --stores A
    python bench/bench_postgres.py [--repeat N] [--mlflow-sample N]

Measured 2026-12-07 09:43 UTC, PostgreSQL 15, best of 3 alternating rounds, load average 2.8-3.2:
reportgen 0.77 s (222 MB), MLflow 28.54 s (538 MB), 37.1x; floor 0.42 s. Most of reportgen's time is
the server's (index scan and aggregation, ~0.45 s); one COPY row per point instead (a join on run and
key positions) took 0.6-1.1 s, a fifth of it psycopg2 calling write() once per row.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

SOURCE = HERE / "stores" / "A.db"
# Parents first, for the foreign keys.
TABLES = ("experiments", "experiment_tags", "runs", "params", "tags", "latest_metrics", "metrics")
READERS = ("reportgen", "mlflow", "floor")


def load(uri: str) -> None:
    """MLflow makes its schema; the rows of A.db are then copied in with COPY FROM (seconds, where
    logging them through MLflow would take many minutes). Experiment ids are renumbered 0, 1, ...:
    the file store's 18-digit ids do not fit PostgreSQL's integer column."""
    import psycopg2
    import sqlalchemy
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    with tempfile.TemporaryDirectory() as artifacts:
        SqlAlchemyStore(uri, artifacts)
    source = sqlite3.connect(f"file:{SOURCE}?mode=ro", uri=True)
    url = sqlalchemy.engine.make_url(uri)
    target = psycopg2.connect(host=url.host, port=url.port, user=url.username, dbname=url.database)
    new_id = {old: new for new, (old,) in enumerate(source.execute("SELECT experiment_id FROM experiments ORDER BY 1"))}
    with target, target.cursor() as cursor:
        cursor.execute("DELETE FROM experiments")  # the Default experiment MLflow made; A.db has its own
        for table in TABLES:
            cursor.execute(f"SELECT * FROM {table} LIMIT 0")
            wanted = [d.name for d in cursor.description]
            have = {row[1] for row in source.execute(f"PRAGMA table_info({table})")}
            columns = [c for c in wanted if c in have]
            quoted = ", ".join(f'"{c}"' for c in columns)
            text = io.StringIO()
            writer = csv.writer(text)
            at = columns.index("experiment_id") if "experiment_id" in columns else None
            for row in source.execute(f"SELECT {quoted} FROM {table}"):
                row = list(row)
                if at is not None:
                    row[at] = new_id[row[at]]
                writer.writerow(["\\N" if v is None else repr(v) if isinstance(v, float) else v for v in row])
            text.seek(0)
            cursor.copy_expert(f"COPY {table} ({quoted}) FROM STDIN (FORMAT csv, NULL '\\N')", text)
    target.autocommit = True
    target.cursor().execute("VACUUM ANALYZE")
    target.close()


# -- the readers (each in a worker process) ------------------------------------------------------
def read_reportgen(uri: str, sample: int | None) -> dict:
    from reportgen import open_store
    from reportgen.frames import runs_frame

    began = time.perf_counter()
    store = open_store(uri)
    runs, histories = store.read_all()
    frame = runs_frame(runs)
    return {"seconds": time.perf_counter() - began, "runs": len(frame), "points": len(histories)}


def read_floor(uri: str, sample: int | None) -> dict:
    import psycopg2
    import sqlalchemy

    url = sqlalchemy.engine.make_url(uri)
    began = time.perf_counter()
    conn = psycopg2.connect(host=url.host, port=url.port, user=url.username, dbname=url.database)
    buffer = io.BytesIO()
    with conn.cursor() as cursor:
        cursor.copy_expert('COPY (SELECT run_uuid, "key", step, timestamp, value, is_nan FROM metrics) '
                           "TO STDOUT (FORMAT binary)", buffer)
        cursor.execute("SELECT count(*) FROM runs")
        runs = cursor.fetchone()[0]
    seconds = time.perf_counter() - began
    conn.close()
    return {"seconds": seconds, "runs": runs, "points": 0, "bytes": buffer.tell()}


def read_mlflow(uri: str, sample: int | None) -> dict:
    from bench_read import read_mlflow_uri

    return read_mlflow_uri(uri, sample)


def worker(reader: str, uri: str, sample: int | None) -> None:
    import resource

    result = {"reportgen": read_reportgen, "mlflow": read_mlflow, "floor": read_floor}[reader](uri, sample)
    result["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(reader: str, uri: str, sample: int | None) -> dict:
    command = [sys.executable, __file__, "--worker", reader, "--uri", uri]
    if sample is not None and reader == "mlflow":
        command += ["--mlflow-sample", str(sample)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines()[-1:] or ["?"])[0]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readers", nargs="+", default=list(READERS), choices=READERS)
    parser.add_argument("--repeat", type=int, default=1, help="rounds over the readers (MLflow reads once)")
    parser.add_argument("--mlflow-sample", type=int, default=None,
                        help="MLflow reads the histories of this many runs only; its time is extrapolated")
    parser.add_argument("--worker", choices=(*READERS, "load"), help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "load":
        load(args.uri)
    elif args.worker:
        worker(args.worker, args.uri, args.mlflow_sample)
    if args.worker:
        return
    if not SOURCE.exists():
        sys.exit(f"missing {SOURCE}: run python bench/make_stores.py --stores A first")
    import pg_cluster

    if pg_cluster.missing():
        sys.exit(pg_cluster.missing())
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    with pg_cluster.cluster() as uri:
        began = time.perf_counter()
        # In a child: a driver grown by the copy would hand its peak memory on to every worker it forks.
        subprocess.run([sys.executable, __file__, "--worker", "load", "--uri", uri], check=True)
        print(f"A.db copied into PostgreSQL in {time.perf_counter() - began:.1f} s")
        best: dict[str, dict] = {}
        for round_ in range(args.repeat):
            for reader in args.readers:
                if round_ and (reader == "mlflow" or "error" in best[reader]):
                    continue
                result = measure(reader, uri, args.mlflow_sample)
                if reader not in best or "error" in result or result["seconds"] < best[reader]["seconds"]:
                    best[reader] = result
    ours = best.get("reportgen", {})
    print(f"{'reader':10} {'seconds':>9} {'peak MB':>8} {'runs':>6} {'points':>9}  vs reportgen")
    for reader in args.readers:
        result = best[reader]
        if "error" in result:
            print(f"{reader:10} failed: {result['error']}")
            continue
        ratio = f"{result['seconds'] / ours['seconds']:.1f}x slower" if "seconds" in ours and reader != "reportgen" else ""
        if result.get("extrapolated"):
            ratio += f" (extrapolated from {result['sampled_runs']} runs)"
        if reader == "floor":
            ratio += f"; {result['bytes'] / 1e6:.0f} MB of COPY rows, not decoded"
        print(f"{reader:10} {result['seconds']:9.2f} {result['maxrss_mb']:8.0f} {result['runs']:6} "
              f"{result['points']:9}  {ratio}", flush=True)
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
