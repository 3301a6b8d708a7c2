"""A report of a REAL `mlflow server` experiment of 300+ runs, built with the default -j: the run pages are
rendered by forked workers, each of which must read the server over its own connections (sharing the
parent's keep-alive sockets gave a JSONDecodeError traceback, 4 builds out of 4)."""
from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from mlflow_server import mlflow_missing, running

pytestmark = pytest.mark.skipif(mlflow_missing() is not None, reason=str(mlflow_missing()))

RUNS = 320  # PARALLEL_FROM_RUNS is 300: the default -j forks workers from there


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow-server-forks")
    with running(f"sqlite:///{root / 'mlflow.db'}", root) as server:
        yield server


def _log_runs(url: str, folder) -> tuple[str, list[str]]:
    from reportgen.tracking.client import TrackingClient

    client = TrackingClient(tracking_uri=url)
    experiment_id = client.create_experiment(f"forks-{uuid.uuid4().hex[:8]}")
    (folder / "a.txt").write_text("alpha\n")
    (folder / "b.csv").write_text("x,y\n1,2\n")

    def one(index: int) -> str:
        run = client.create_run(experiment_id, run_name=f"run-{index:03d}")
        run_id = run.info.run_id
        client.log_batch(run_id, params=_params(index), metrics=_metrics(index))
        client.log_artifact(run_id, str(folder / "a.txt"))
        client.log_artifact(run_id, str(folder / "b.csv"), "data")
        client.log_text(run_id, f"run {index}", "notes/n.txt")
        client.set_terminated(run_id)
        return run_id

    with ThreadPoolExecutor(8) as pool:  # the server answers one request at a time; 8 keep it busy
        run_ids = list(pool.map(one, range(RUNS)))
    return experiment_id, run_ids


def _params(index: int):
    from reportgen.model import Param

    return [Param("lr", str(0.001 * (index % 7 + 1))), Param("seed", str(index))]


def _metrics(index: int):
    from reportgen.model import Metric

    stamp = int(time.time() * 1000)
    return [Metric("loss", 1.0 / (step + 1 + index % 5), stamp + step, step) for step in range(5)]


def test_default_jobs_build_of_a_300_run_server_experiment_has_every_run_page(server, tmp_path):
    from reportgen.site.build import build_site
    from reportgen.site.parallel import capped_workers, default_workers

    (tmp_path / "files").mkdir()
    started = time.monotonic()
    experiment_id, run_ids = _log_runs(server.url, tmp_path / "files")
    logged = time.monotonic() - started
    workers = capped_workers(default_workers(RUNS), RUNS)
    if workers < 2:
        pytest.skip("one CPU: the default -j renders in this process, no worker is forked")

    forks: list[int] = []
    os.register_at_fork(after_in_parent=lambda: forks.append(1))  # counts stay 0 outside this test
    before = len(forks)
    result = build_site([server.url], tmp_path / "site", experiments=[experiment_id], static_charts=False)
    assert len(forks) - before >= workers, "the default -j forked no run-page workers: the test proves nothing"
    assert result.runs == RUNS
    pages = list((tmp_path / "site" / "r").glob("*.html"))
    assert len(pages) == RUNS
    text = "".join(page.read_text(encoding="utf-8") for page in pages)
    assert all(run_id in text for run_id in run_ids)
    assert text.count("a.txt") >= RUNS and text.count("n.txt") >= RUNS, "every run page lists its artifacts"
    assert not [p for p in result.problems if "server" in p.message.lower() or "json" in p.message.lower()]
    print(f"logged {RUNS} runs in {logged:.1f} s; built in {result.seconds:.1f} s with {workers} workers")
