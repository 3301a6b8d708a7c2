"""SqliteStore on databases with MLflow's schema: runs, latest metrics, and histories through both
the bulk scan (many runs) and the per-run index path (few runs, or data the scan cannot pack)."""
from __future__ import annotations

import math
import random
import sqlite3

import numpy as np
import pytest

from mlruns_builder import T0, mlflow_sqlite
from reportgen import open_store
from reportgen.errors import ResourceDoesNotExist, StoreError
from reportgen.model import ViewType
from reportgen.stores._sqlbase import SqlSchemaStore
from reportgen.stores.sqlite import SCAN_MIN_RUNS, SqliteStore, sqlite_path

MAX = 1.7976931348623157e308  # MLflow stores +-inf clamped to this
pytestmark = pytest.mark.filterwarnings("ignore::reportgen.stores.base.ReadWarning")


def _fill(db, n_runs, *, seed=0, negative_step=False, wide_time=False):
    """Runs with 3 metrics each, points inserted in shuffled order; returns {(run, key): [(s, t, v)]}."""
    rng = random.Random(seed)
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage) "
                 "VALUES (1, 'e', 'mlartifacts/1', 'active')")
    expected: dict[tuple[str, str], list] = {}
    rows = []
    for i in range(n_runs):
        run_id = f"{rng.getrandbits(128):032x}"
        stage = "deleted" if i == 3 else "active"
        conn.execute("INSERT INTO runs (run_uuid, name, status, start_time, end_time, lifecycle_stage, artifact_uri, "
                     "experiment_id, source_type, user_id) VALUES (?, ?, 'FINISHED', ?, ?, ?, '', 1, 'LOCAL', 'u')",
                     (run_id, f"r{i}", T0 + i, T0 + i + 9, stage))
        conn.execute("INSERT INTO params VALUES ('p', ?, ?)", (str(i), run_id))
        conn.execute("INSERT INTO tags VALUES ('mlflow.runName', ?, ?)", (f"r{i}", run_id))
        for key in ("loss", "acc/top1", "ünï"):
            points = []
            for step in range(rng.randint(0, 12)):
                stamp = T0 + rng.randint(0, 10**6) + (2**52 if wide_time and step == 1 else 0)
                value = rng.choice([rng.uniform(-1e6, 1e6), math.nan, MAX, -MAX, 0.0, 1e-300])
                the_step = -step if negative_step else step
                points.append((the_step, stamp, value))
                if rng.random() < 0.2:  # same step twice, another timestamp
                    points.append((the_step, stamp + 1, rng.uniform(0, 1)))
            if not points:
                continue
            expected[(run_id, key)] = points
            for s, t, v in points:
                rows.append((key, 0.0 if math.isnan(v) else v, t, run_id, s, int(math.isnan(v))))
            s, t, v = max(points, key=lambda p: (p[0], p[1], -math.inf if math.isnan(p[2]) else p[2]))
            conn.execute("INSERT INTO latest_metrics VALUES (?, ?, ?, ?, ?, ?)",
                         (key, 0.0 if math.isnan(v) else v, t, s, int(math.isnan(v)), run_id))
    rng.shuffle(rows)
    conn.executemany("INSERT OR IGNORE INTO metrics VALUES (?, ?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()
    return expected


def _as_points(frame, run_id, key):
    part = frame[(frame.run_id == run_id) & (frame.key == key)]
    return list(zip(part.step.tolist(), part.timestamp.tolist(), part.value.tolist()))


def _check(frame, expected):
    assert list(frame.columns) == ["run_id", "key", "step", "timestamp", "value"]
    assert [str(frame[c].dtype) for c in ("step", "timestamp", "value")] == ["int64", "int64", "float64"]
    order = list(zip(frame.run_id.astype(str), frame.key.astype(str), frame.step, frame.timestamp))
    assert order == sorted(order)
    assert len(frame) == sum(len(p) for p in expected.values())
    for (run_id, key), points in expected.items():
        got = _as_points(frame, run_id, key)
        want = sorted(points, key=lambda p: (p[0], p[1]))
        assert [(s, t) for s, t, _ in got] == [(s, t) for s, t, _ in want]
        assert np.array_equal(np.array([v for *_, v in got]), np.array([v for *_, v in want]), equal_nan=True)


@pytest.mark.parametrize("options", [{}, {"negative_step": True}, {"wide_time": True}])
def test_bulk_scan_equals_per_run_path(tmp_path, options):
    db = mlflow_sqlite(tmp_path / "m.db")
    expected = _fill(db, SCAN_MIN_RUNS + 10, **options)
    store = open_store(db)
    ids = sorted({r for r, _ in expected})
    scanned = store.metric_histories(ids)
    _check(scanned, expected)
    exact = SqlSchemaStore._history_frame(store, ids, None)
    assert scanned.equals(exact)
    some_keys = store.metric_histories(ids, ["ünï", "loss"])
    assert set(some_keys.key.astype(str)) == {"ünï", "loss"}
    _check(some_keys, {k: v for k, v in expected.items() if k[1] != "acc/top1"})
    few = store.metric_histories(ids[:2])
    _check(few, {k: v for k, v in expected.items() if k[0] in ids[:2]})


def test_runs_latest_and_lookups(tmp_path):
    db = mlflow_sqlite(tmp_path / "m.db")
    expected = _fill(db, 8, seed=3)
    store = SqliteStore(db)
    runs = store.get_runs()
    assert len(runs) == 7 and len(store.get_runs(["1"], ViewType.ALL)) == 8
    for run in runs:
        assert run.data.params == {"p": run.info.run_name[1:]}
        for key, value in run.data.metrics.items():
            points = expected[(run.run_id, key)]
            s, t, v = max(points, key=lambda p: (p[0], p[1], -math.inf if math.isnan(p[2]) else p[2]))
            assert (math.isnan(v) and math.isnan(value)) or v == value
        assert repr(store.get_run(run.run_id)) == repr(run)  # repr: NaN != NaN
    run_id, key = next(iter(expected))
    history = store.get_metric_history(run_id, key)
    assert [(m.step, m.timestamp) for m in history] == sorted((s, t) for s, t, _ in expected[(run_id, key)])
    assert store.get_metric_history(run_id, "nope") == []
    with pytest.raises(ResourceDoesNotExist):
        store.get_run("f" * 32)
    with pytest.raises(ResourceDoesNotExist):
        store.metric_histories(["f" * 32])
    with pytest.raises(ResourceDoesNotExist):
        store.get_experiment("42")
    assert store.search_experiments()[1].name == "e"


def test_sqlite_uris(tmp_path, monkeypatch):
    db = mlflow_sqlite(tmp_path / "m.db")
    assert isinstance(open_store(f"sqlite:///{db}"), SqliteStore)
    assert isinstance(open_store(str(db)), SqliteStore)
    monkeypatch.chdir(tmp_path)
    assert isinstance(open_store("sqlite:///m.db"), SqliteStore)
    assert sqlite_path("sqlite:////abs/x.db").as_posix() == "/abs/x.db"
    with pytest.raises(StoreError):
        sqlite_path("sqlite://")
    (tmp_path / "empty.db").write_bytes(b"")
    with pytest.raises(StoreError, match="not an MLflow tracking database"):
        open_store(tmp_path / "empty.db")


def test_artifacts_beside_the_database(tmp_path):
    db = mlflow_sqlite(tmp_path / "m.db")
    # Read only from the run's own folder (its id in the path): see tests/test_artifact_safety.py.
    (tmp_path / "mlartifacts" / "1" / ("a" * 32) / "artifacts").mkdir(parents=True)
    (tmp_path / "mlartifacts" / "1" / ("a" * 32) / "artifacts" / "f.txt").write_text("x")
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage) VALUES (1, 'e', '', 'active')")
    for run_id, uri in [("a" * 32, f"mlartifacts/1/{'a' * 32}/artifacts"), ("b" * 32, "mlflow-artifacts:/1/abc/artifacts"),
                        ("c" * 32, "file:///etc")]:
        conn.execute("INSERT INTO runs (run_uuid, name, status, lifecycle_stage, artifact_uri, experiment_id, "
                     "source_type, user_id) VALUES (?, 'r', 'FINISHED', 'active', ?, 1, 'LOCAL', 'u')", (run_id, uri))
    conn.commit()
    conn.close()
    store = open_store(db)
    assert [f.path for f in store.walk_artifacts("a" * 32)] == ["f.txt"]
    assert store.list_artifacts("b" * 32) == [] and store.list_artifacts("c" * 32) == []
    assert [p.message.split(":")[0] for p in store.problems] == ["artifacts unavailable"] * 2


def test_sqlalchemy_reader_reads_the_same(tmp_path):
    pytest.importorskip("sqlalchemy")
    from reportgen.stores.sql import SqlStore

    db = mlflow_sqlite(tmp_path / "m.db")
    _fill(db, 6, seed=5)
    stdlib, through_sqlalchemy = SqliteStore(db), SqlStore(f"sqlite:///{db}")
    assert repr(through_sqlalchemy.get_runs(None, ViewType.ALL)) == repr(stdlib.get_runs(None, ViewType.ALL))
    assert through_sqlalchemy.metric_histories().equals(stdlib.metric_histories())
    with pytest.raises(StoreError) as failed:
        SqlStore("postgresql+nosuchdriver://u:secret@127.0.0.1:1/x")
    assert "127.0.0.1" in str(failed.value) and "secret" not in str(failed.value)


def test_bulk_scan_equals_what_mlflow_reads(tmp_path, monkeypatch):
    """A database MLflow wrote (its file store, then `migrate-filestore`), with enough runs for the bulk
    scan: every run and every history equal what MlflowClient reads, and the scan served them."""
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.store.fs2db import migrate

    root, db = tmp_path / "mlruns", tmp_path / "mlflow.db"
    client = mlflow.MlflowClient(tracking_uri=root.as_uri())
    experiment_id = client.create_experiment("scan")
    rng = random.Random(7)
    for i in range(SCAN_MIN_RUNS + 5):
        run_id = client.create_run(experiment_id, run_name=f"r{i}", start_time=T0 + i).info.run_id
        metrics = []
        for key in ("loss", "acc/top1", "ünï"):
            for step in rng.sample(range(40), rng.randint(1, 12)):
                value = rng.choice([rng.uniform(-1e6, 1e6), math.nan, math.inf, -math.inf, 1e308, 0.0])
                metrics.append(Metric(key, value, T0 + rng.randint(0, 10**9), step))
                if rng.random() < 0.2:  # the same step again, another timestamp
                    metrics.append(Metric(key, rng.random(), T0 + rng.randint(0, 10**9), step))
        client.log_batch(run_id, metrics=metrics, params=[Param("i", str(i))], tags=[RunTag("t", str(i % 3))])
    migrate(root, f"sqlite:///{db}", progress=False)

    theirs = mlflow.MlflowClient(tracking_uri=f"sqlite:///{db}")
    monkeypatch.setattr(SqlSchemaStore, "_history_frame", lambda *a: pytest.fail("the scan was not used"))
    runs, frame = open_store(db).read_all([experiment_id])
    their_runs = {r.info.run_id: r for r in theirs.search_runs([experiment_id], max_results=1000)}
    assert sorted(r.run_id for r in runs) == sorted(their_runs)
    for run in runs:
        expected = their_runs[run.run_id]
        assert (run.data.params, run.data.tags) == (expected.data.params, expected.data.tags)
        assert repr(run.data.metrics) == repr(dict(sorted(expected.data.metrics.items())))
    rows = []
    for run_id in sorted(their_runs):
        for key in sorted(their_runs[run_id].data.metrics):
            history = theirs.get_metric_history(run_id, key)
            rows += [(run_id, key, m.step, m.timestamp, m.value)
                     for m in sorted(history, key=lambda m: (m.step, m.timestamp))]
    assert len(frame) == len(rows)
    assert list(zip(frame.run_id.astype(str), frame.key.astype(str), frame.step, frame.timestamp)) == [r[:4] for r in rows]
    assert np.array_equal(frame.value.to_numpy(), np.array([r[4] for r in rows]), equal_nan=True)
