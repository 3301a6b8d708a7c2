"""Many processes logging to one store at once, and processes killed mid-run (the concurrent-sweep
failure classes): one experiment per name, no lost or torn metric line, params decided once,
meta.yaml never seen half written, and a killed run left RUNNING in a readable store."""
from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reportgen import mlruns
from reportgen.errors import InvalidParameterValue
from reportgen.model import Metric, RunStatus
from reportgen.stores.file import FileStore
from reportgen.tracking import TrackingClient

REPO = Path(__file__).resolve().parents[1]
PROCESSES = 8
CTX = multiprocessing.get_context("fork")


def _run_all(target, args_list):
    processes = [CTX.Process(target=target, args=args) for args in args_list]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert all(p.exitcode == 0 for p in processes), [p.exitcode for p in processes]


def _create_same_experiment(root, barrier, worker):
    import reportgen.tracking as mlflow

    mlflow.set_tracking_uri(root)
    barrier.wait()
    experiment = mlflow.set_experiment("sweep")
    with mlflow.start_run(run_name=f"worker-{worker}") as run:
        mlflow.log_param("worker", worker)
    assert run.info.experiment_id == experiment.experiment_id


def test_same_experiment_name_from_many_processes(tmp_path):
    root = str(tmp_path / "mlruns")
    barrier = CTX.Barrier(PROCESSES)
    _run_all(_create_same_experiment, [(root, barrier, i) for i in range(PROCESSES)])
    store = FileStore(root, strict=True)
    named = [e for e in store.search_experiments() if e.name == "sweep"]
    assert len(named) == 1
    runs = store.get_runs([named[0].experiment_id])
    assert sorted(r.data.params["worker"] for r in runs) == [str(i) for i in range(PROCESSES)]
    assert [e.name for e in store.search_experiments()].count("Default") == 1


def _append_points(root, run_id, barrier, worker, points):
    client = TrackingClient(root)
    barrier.wait()
    half = points // 2
    for i in range(half):
        client.log_metric(run_id, "shared", worker * 1_000_000 + i + 0.5, timestamp=1000 + i, step=i)
    batch = [Metric("shared", worker * 1_000_000 + i + 0.5, 1000 + i, i) for i in range(half, points)]
    client.log_batch(run_id, metrics=batch)


def test_concurrent_appends_to_one_metric_file_lose_nothing(tmp_path):
    root = str(tmp_path / "mlruns")
    run_id = TrackingClient(root).create_run("0").info.run_id
    points = 600
    barrier = CTX.Barrier(PROCESSES)
    _run_all(_append_points, [(root, run_id, barrier, w, points) for w in range(PROCESSES)])
    lines = (Path(root) / "0" / run_id / "metrics" / "shared").read_text().splitlines()
    assert len(lines) == PROCESSES * points
    seen = set()
    for line in lines:
        timestamp, value, step = mlruns.parse_metric_line(line)  # every line whole and well formed
        worker, index = divmod(value - 0.5, 1_000_000)
        assert step == index and timestamp == 1000 + index
        seen.add((int(worker), int(index)))
    assert seen == {(w, i) for w in range(PROCESSES) for i in range(points)}
    history = TrackingClient(root).get_metric_history(run_id, "shared")
    assert len(history) == PROCESSES * points


def _log_param_race(root, run_id, barrier, worker, results):
    client = TrackingClient(root)
    barrier.wait()
    try:
        client.log_param(run_id, "lr", f"value-{worker}")
        results.put(("ok", worker))
    except InvalidParameterValue as exc:
        results.put(("refused", str(exc)))


def test_one_param_value_wins_a_race(tmp_path):
    root = str(tmp_path / "mlruns")
    run_id = TrackingClient(root).create_run("0").info.run_id
    barrier = CTX.Barrier(PROCESSES)
    results = CTX.Queue()
    _run_all(_log_param_race, [(root, run_id, barrier, w, results) for w in range(PROCESSES)])
    outcomes = [results.get(timeout=5) for _ in range(PROCESSES)]
    winners = [worker for kind, worker in outcomes if kind == "ok"]
    assert len(winners) == 1
    stored = (Path(root) / "0" / run_id / "params" / "lr").read_text()
    assert stored == f"value-{winners[0]}"
    assert all("Changing param values is not allowed" in message for kind, message in outcomes if kind == "refused")
    leftovers = [p.name for p in (Path(root) / "0" / run_id).iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def _rewrite_meta(root, run_id, stop_at):
    client = TrackingClient(root)
    i = 0
    while time.time() < stop_at:
        client.set_tag(run_id, "mlflow.runName", f"name-{i}-" + "x" * (i % 50))
        i += 1


def test_meta_yaml_is_never_seen_half_written(tmp_path):
    root = str(tmp_path / "mlruns")
    run_id = TrackingClient(root).create_run("0").info.run_id
    meta_path = Path(root) / "0" / run_id / "meta.yaml"
    writer = CTX.Process(target=_rewrite_meta, args=(root, run_id, time.time() + 1.5))
    writer.start()
    reads = 0
    names = set()
    while writer.is_alive():
        info = mlruns.run_from_meta(mlruns.load_meta(meta_path.read_bytes()))  # raises on a torn file
        names.add(info.run_name)
        reads += 1
    writer.join()
    assert writer.exitcode == 0
    assert reads > 50 and len(names) > 5


_KILLED_SCRIPT = """
import os, signal, sys
import reportgen.tracking as mlflow
mlflow.set_tracking_uri(sys.argv[1])
run = mlflow.start_run(run_name="doomed")
mlflow.log_param("p", 1)
for i in range(2000):
    mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
print(run.info.run_id, flush=True)
if sys.argv[2] == "exit":
    os._exit(3)
while True:
    mlflow.log_metric("loss", 0.5, step=9999)
    mlflow.set_tag("mlflow.runName", "doomed")  # keep rewriting meta.yaml while being killed
"""


@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_killed_process_leaves_a_readable_store(tmp_path, how):
    root = str(tmp_path / "mlruns")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PYTHONPATH"] = str(REPO)
    process = subprocess.Popen([sys.executable, "-c", _KILLED_SCRIPT, root, how], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_id = process.stdout.readline().strip()
    if how == "sigkill":
        time.sleep(0.3)
        process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == (3 if how == "exit" else -signal.SIGKILL), stderr
    store = FileStore(root, strict=True)  # strict: any unreadable file would raise
    run = store.get_run(run_id)
    assert run.info.status == RunStatus.RUNNING and run.info.end_time is None
    assert run.info.run_name == "doomed" and run.data.params == {"p": "1"}
    history = store.get_metric_history(run_id, "loss")
    assert len(history) >= 2000
    assert [m.step for m in history[:2000]] == list(range(2000))
    text = (Path(root) / "0" / run_id / "metrics" / "loss").read_text()
    assert text.endswith("\n")  # no torn last line
