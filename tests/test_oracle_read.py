"""Oracle tests: a store written by real MLflow reads the same through reportgen's readers (file store
and, after `mlflow migrate-filestore`, SQLite) as through MlflowClient: experiments, runs, params,
tags, latest metrics, every history, artifact listings and the search_runs frame."""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("mlflow")
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning", "ignore::DeprecationWarning")

T0 = 1_700_000_000_000


def _build(root: Path) -> None:
    import mlflow
    from mlflow.entities import Metric, Param, RunTag, ViewType  # noqa: F401
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=root.as_uri())
    exp_a = client.create_experiment("oracle a", tags={"team/area": "vision", "mlflow.note.content": "# Notes"})
    exp_b = client.create_experiment("oracle b")
    parent = client.create_run(exp_a, run_name="parent", start_time=T0)
    pid = parent.info.run_id
    client.log_batch(pid, metrics=[
        Metric("train/loss", v, T0 + s, s) for s, v in enumerate([1.0, 0.5, math.nan, 0.25])
    ] + [Metric("ünï/métric", math.inf, T0, 0), Metric("neg", -math.inf, T0, 0), Metric("big", 1e308, T0, 3),
         Metric("same_step", 2.0, T0 + 5, 1), Metric("same_step", 3.0, T0 + 1, 1)],
        params=[Param("lr", "0.01"), Param("model/depth", "3"), Param("empty", "")],
        tags=[RunTag("stage/name", "train"), RunTag("ünï", "cödé")])
    import pandas as pd_

    dataset = mlflow.data.from_pandas(pd_.DataFrame({"x": [1, 2]}), source="data.csv", name="train-set")
    from mlflow.entities import DatasetInput, InputTag

    client.log_inputs(pid, datasets=[DatasetInput(dataset._to_mlflow_entity(), [InputTag("mlflow.data.context", "training")])])
    art = root.parent / "art"
    (art / "sub" / "deeper").mkdir(parents=True)
    (art / "a.txt").write_text("hello")
    (art / "sub" / "b.json").write_text("{}")
    (art / "sub" / "deeper" / "c.bin").write_bytes(b"\x00" * 10)
    client.log_artifacts(pid, str(art))
    client.set_terminated(pid, "FINISHED", end_time=T0 + 100)
    for i, status in enumerate(["FINISHED", "FAILED", "KILLED", "RUNNING"]):
        child = client.create_run(exp_a, run_name=f"child-{i}", start_time=T0 + 10 + i,
                                  tags={"mlflow.parentRunId": pid})
        client.log_batch(child.info.run_id, metrics=[Metric("acc", 0.5 + i / 10, T0 + s, s) for s in range(3)],
                         params=[Param("seed", str(i))])
        if status != "RUNNING":
            client.set_terminated(child.info.run_id, status, end_time=T0 + 50 + i)
    gone = client.create_run(exp_b, run_name="deleted one", start_time=T0 + 30)
    client.log_metric(gone.info.run_id, "m", 1.0, timestamp=T0, step=0)
    client.delete_run(gone.info.run_id)
    other = client.create_run(exp_b, run_name="old-format", start_time=T0 + 40)
    client.log_metric(other.info.run_id, "m", 1.0, timestamp=T0, step=0)
    metric_file = root / exp_b / other.info.run_id / "metrics" / "m"
    with open(metric_file, "a") as handle:  # lines MLflow 1.x wrote: 2 fields; and 5 fields (step 0 only:
        handle.write(f"{T0 + 1} 2.5\n{T0 + 2} 3.5 0 eval-set abc123\n")  # MLflow 3.17 reads 0 for them)
    client.set_terminated(other.info.run_id, "FINISHED", end_time=T0 + 60)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """(kind, reportgen store, MlflowClient) for the file store and its SQLite migration."""
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    from mlflow.store.fs2db import migrate
    from mlflow.tracking import MlflowClient

    from reportgen import open_store

    base = tmp_path_factory.mktemp("oracle")
    root = base / "mlruns"
    _build(root)
    db = base / "mlflow.db"
    migrate(root, f"sqlite:///{db}", progress=False)
    return {
        "file": (open_store(root), MlflowClient(tracking_uri=root.as_uri())),
        "sqlite": (open_store(f"sqlite:///{db}"), MlflowClient(tracking_uri=f"sqlite:///{db}")),
    }


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.fixture(params=["file", "sqlite"])
def pair(request, stores):
    return stores[request.param]


def _experiment_ids(client):
    from mlflow.entities import ViewType

    return [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]


def test_experiments_match(pair):
    from mlflow.entities import ViewType

    ours, client = pair
    theirs = {e.experiment_id: e for e in client.search_experiments(view_type=ViewType.ALL)}
    mine = {e.experiment_id: e for e in ours.search_experiments(view_type=3)}
    assert sorted(mine) == sorted(theirs)
    for exp_id, exp in theirs.items():
        got = mine[exp_id]
        assert (got.name, got.artifact_location, got.lifecycle_stage) == (exp.name, exp.artifact_location, exp.lifecycle_stage)
        assert dict(got.tags) == dict(exp.tags)


def test_runs_match(pair):
    from mlflow.entities import ViewType

    ours, client = pair
    ids = _experiment_ids(client)
    theirs = {r.info.run_id: r for r in client.search_runs(ids, run_view_type=ViewType.ALL)}
    mine = {r.info.run_id: r for r in ours.get_runs(ids, 3)}
    assert sorted(mine) == sorted(theirs) and len(mine) == 7
    for run_id, run in theirs.items():
        got = mine[run_id]
        for field in ("run_id", "experiment_id", "run_name", "user_id", "status", "start_time", "end_time",
                      "artifact_uri", "lifecycle_stage"):
            assert getattr(got.info, field) == getattr(run.info, field), field
        assert dict(got.data.params) == run.data.params
        assert dict(got.data.tags) == run.data.tags
        assert sorted(got.data.metrics) == sorted(run.data.metrics)
        for key, value in run.data.metrics.items():
            assert _same(got.data.metrics[key], value), key
        assert sorted((m.key, m.step, m.timestamp) for m in got.data.metric_objs) == sorted(
            (m.key, m.step, m.timestamp) for m in run.data._metric_objs)
        assert [(d.dataset.name, d.dataset.digest, d.dataset.source, d.dataset.schema, d.dataset.profile,
                 sorted((t.key, t.value) for t in d.tags)) for d in got.inputs.dataset_inputs] == [
            (d.dataset.name, d.dataset.digest, d.dataset.source, d.dataset.schema, d.dataset.profile,
             sorted((t.key, t.value) for t in d.tags)) for d in (run.inputs.dataset_inputs if run.inputs else [])]
        assert ours.get_run(run_id) == got


def test_every_history_matches(pair):
    from mlflow.entities import ViewType

    ours, client = pair
    ids = _experiment_ids(client)
    runs = client.search_runs(ids, run_view_type=ViewType.ALL)
    frame = ours.metric_histories([r.info.run_id for r in runs])
    checked = 0
    for run in runs:
        for key in run.data.metrics:
            expected = sorted(((m.step, m.timestamp, m.value) for m in client.get_metric_history(run.info.run_id, key)),
                              key=lambda p: (p[0], p[1], -math.inf if math.isnan(p[2]) else p[2]))
            direct = [(m.step, m.timestamp, m.value) for m in ours.get_metric_history(run.info.run_id, key)]
            part = frame[(frame.run_id == run.info.run_id) & (frame.key == key)]
            bulk = list(zip(part.step.tolist(), part.timestamp.tolist(), part.value.tolist()))
            for got in (direct, bulk):
                assert [(s, t) for s, t, _ in got] == [(s, t) for s, t, _ in expected], key
                assert all(_same(a[2], b[2]) for a, b in zip(got, expected)), key
            checked += 1
    assert checked == 11


def test_artifact_listings_match(stores):
    ours, client = stores["file"]
    run = next(r for r in ours.get_runs() if r.info.run_name == "parent")

    def listing(lister, path=None):
        found = []
        for info in lister(run.info.run_id, path):
            found.append((info.path, info.is_dir, info.file_size))
            if info.is_dir:
                found.extend(listing(lister, info.path))
        return found

    theirs = listing(client.list_artifacts)
    assert listing(ours.list_artifacts) == theirs and len(theirs) == 5
    assert [(f.path, f.file_size) for f in ours.walk_artifacts(run.info.run_id)] == sorted(
        (p, s) for p, is_dir, s in theirs if not is_dir)
    sqlite_store, _ = stores["sqlite"]  # the migrated database points at the same artifact folders
    assert listing(sqlite_store.list_artifacts) == theirs


def test_search_runs_frame_matches(pair):
    import mlflow

    ours, client = pair
    ids = [e for e in _experiment_ids(client)]
    mlflow.set_tracking_uri(client.tracking_uri if hasattr(client, "tracking_uri") else client._tracking_client.tracking_uri)
    theirs = mlflow.search_runs(ids).sort_values("run_id").reset_index(drop=True)
    mine = ours.search_runs(ids).sort_values("run_id").reset_index(drop=True)
    assert sorted(mine.columns) == sorted(theirs.columns)
    mine = mine[theirs.columns]
    for column in theirs.columns:
        a, b = mine[column], theirs[column]
        if column.startswith("metrics."):
            assert np.array_equal(a.to_numpy(float), b.to_numpy(float), equal_nan=True), column
        elif column in ("start_time", "end_time"):
            assert list(pd.to_datetime(a, utc=True)) == list(pd.to_datetime(b, utc=True)), column
        else:
            assert [None if pd.isna(x) else x for x in a] == [None if pd.isna(x) else x for x in b], column
