"""The logging client writing sqlite:/// stores: read back by real MLflow 3.17 and by reportgen's reader,
written into a database MLflow made, unknown schema versions refused, several processes at once."""
from __future__ import annotations

import importlib.util
import math
import multiprocessing
import os
import re
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from reportgen.errors import (
    InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist, StoreError,
)
from reportgen.model import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from reportgen.stores import open_store
from reportgen.tracking import fluent, sqlconn, sqlstore
from reportgen.tracking.client import TrackingClient

T0 = 1_700_000_000_000


@pytest.fixture(autouse=True)
def sqlite_client(monkeypatch, tmp_path):
    """The working folder (MLflow's artifact root ./mlruns) is the test's; every writer is closed afterwards."""
    monkeypatch.chdir(tmp_path)
    # No experiment made active by an earlier test (its id would not exist in this test's database).
    monkeypatch.setattr(fluent, "_active_experiment_id", None)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    yield
    sqlstore.close_all()
    sqlstore._writers.clear()


def _uri(path: Path) -> str:
    return f"sqlite:///{path}"


# -- one script, run by MLflow's client and by ours ------------------------------------------------
def _script(client, kinds) -> None:
    """Calls that exercise each write path; `kinds` gives the Metric/Param/RunTag classes of the client."""
    Metric_, Param_, RunTag_ = kinds
    exp = client.create_experiment("sweep", tags={"team": "x", "purpose": "oracle"})
    other = client.create_experiment("other")
    client.set_experiment_tag(exp, "note", "first")
    client.rename_experiment(other, "renamed")
    first = client.create_run(exp, start_time=T0, tags={"mlflow.user": "ann", "kind": "a"}, run_name="first")
    rid = first.info.run_id
    client.log_param(rid, "alpha", 0.5)
    client.log_param(rid, "alpha", "0.5")  # the same value again is allowed
    for step, value in enumerate([1.0, 0.5, math.nan, math.inf, -math.inf, 0.25]):
        client.log_metric(rid, "loss", value, timestamp=T0 + step, step=step)
    # latest_metrics: a lower step later in time does not win; a higher value at the same step and time does.
    client.log_metric(rid, "acc", 0.7, timestamp=T0 + 50, step=5)
    client.log_metric(rid, "acc", 0.9, timestamp=T0 + 99, step=3)
    client.log_metric(rid, "acc", 0.8, timestamp=T0 + 50, step=5)
    client.log_metric(rid, "acc", 0.6, timestamp=T0 + 50, step=5)
    client.log_metric(rid, "acc", 0.8, timestamp=T0 + 50, step=5)  # an exact duplicate is dropped
    client.log_batch(
        rid,
        metrics=[Metric_("batch", float(i), T0 + i, i) for i in range(30)] + [Metric_("loss", 0.1, T0 + 9, 9)],
        params=[Param_("depth", "3"), Param_("optimizer", "adam")],
        tags=[RunTag_("stage", "one"), RunTag_("stage", "two"), RunTag_("mlflow.runName", "first-renamed")],
    )
    client.set_tag(rid, "doomed", "x")
    client.delete_tag(rid, "doomed")
    client.set_terminated(rid, "FINISHED", end_time=T0 + 1000)
    second = client.create_run(other, start_time=T0 + 5, tags={"kind": "b"})
    client.log_metric(second.info.run_id, "loss", 3.0, timestamp=T0 + 6, step=0)
    client.update_run(second.info.run_id, name="second")
    client.set_terminated(second.info.run_id, "KILLED", end_time=T0 + 7)
    client.delete_run(second.info.run_id)
    third = client.create_run(exp, start_time=T0 + 8, run_name="third")
    client.delete_run(third.info.run_id)
    client.restore_run(third.info.run_id)


def _mlflow_client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _plain(value):
    return "NaN" if isinstance(value, float) and math.isnan(value) else value


def _snapshot(uri: str) -> dict:
    """Everything MLflow reads from the store, keyed by names (ids and clocks differ between stores)."""
    from mlflow.entities import ViewType

    client = _mlflow_client(uri)
    experiments = {}
    for exp in client.search_experiments(ViewType.ALL):
        runs = {}
        for run in client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL):
            info = run.info
            assert info.artifact_uri == f"{exp.artifact_location}/{info.run_id}/artifacts"
            history = {key: [(m.step, m.timestamp, _plain(m.value))
                             for m in client.get_metric_history(info.run_id, key)] for key in run.data.metrics}
            runs[info.run_name] = dict(
                user=info.user_id, status=info.status, stage=info.lifecycle_stage, start=info.start_time,
                end=info.end_time,
                metrics={k: _plain(v) for k, v in run.data.metrics.items()}, params=run.data.params,
                tags=run.data.tags, history=history,
                latest={m.key: (m.step, m.timestamp, _plain(m.value)) for m in run.data._metric_objs},
            )
        experiments[exp.name] = dict(stage=exp.lifecycle_stage, tags=exp.tags, runs=runs,
                                     location=exp.artifact_location.rsplit("/", 1)[0])
    return experiments


@pytest.mark.oracle
def test_same_calls_read_the_same_through_mlflow(tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.entities import Metric as MMetric, Param as MParam, RunTag as MRunTag

    theirs, ours = tmp_path / "mlflow.db", tmp_path / "ours.db"
    _script(_mlflow_client(_uri(theirs)), (MMetric, MParam, MRunTag))
    _script(TrackingClient(_uri(ours)), (Metric, Param, RunTag))
    expected, got = _snapshot(_uri(theirs)), _snapshot(_uri(ours))
    assert got == expected
    assert got["sweep"]["runs"]["first-renamed"]["latest"]["acc"] == (5, T0 + 50, 0.8)
    assert got["Default"]["location"] == str(tmp_path / "mlruns")
    # Experiments numbered as MLflow's SQL store numbers them.
    assert sorted(e.experiment_id for e in TrackingClient(_uri(ours)).search_experiments(3)) == ["0", "1", "2"]


@pytest.mark.oracle
def test_reportgen_reader_reads_what_we_wrote(tmp_path):
    pytest.importorskip("mlflow")
    db = tmp_path / "ours.db"
    client = TrackingClient(_uri(db))
    _script(client, (Metric, Param, RunTag))
    exp = client.get_experiment_by_name("sweep")
    run = client.search_runs([exp.experiment_id], filter_string="tags.kind = 'a'")[0]
    theirs = _mlflow_client(_uri(db)).get_run(run.info.run_id)
    store = open_store(_uri(db))
    try:
        mine = store.get_run(run.info.run_id)
    finally:
        store.close()
    assert mine.info.run_name == theirs.info.run_name == "first-renamed"
    assert {k: _plain(v) for k, v in mine.data.metrics.items()} == {
        k: _plain(v) for k, v in theirs.data.metrics.items()}
    assert mine.data.params == theirs.data.params and mine.data.tags == theirs.data.tags
    assert [(m.step, _plain(m.value)) for m in client.get_metric_history(run.info.run_id, "loss")] == [
        (m.step, _plain(m.value)) for m in _mlflow_client(_uri(db)).get_metric_history(run.info.run_id, "loss")]


@pytest.mark.oracle
def test_dataset_inputs_read_by_mlflow(tmp_path):
    pytest.importorskip("mlflow")
    db = tmp_path / "ours.db"
    client = TrackingClient(_uri(db))
    rid = client.create_run("0").info.run_id
    writer = sqlstore.writer_for(_uri(db))
    iris = Dataset("iris", "abc123", "local", '{"uri": "/data/iris.csv"}', '{"cols": 4}', '{"rows": 150}')
    items = [DatasetInput(iris, (InputTag("mlflow.data.context", "training"),)),
             DatasetInput(iris, (InputTag("mlflow.data.context", "again"),))]
    writer.log_inputs(rid, items)
    writer.log_inputs(rid, items)  # already linked: nothing more
    inputs = _mlflow_client(_uri(db)).get_run(rid).inputs.dataset_inputs
    assert len(inputs) == 1
    assert (inputs[0].dataset.name, inputs[0].dataset.digest, inputs[0].dataset.schema) == ("iris", "abc123",
                                                                                          '{"cols": 4}')
    assert [(t.key, t.value) for t in inputs[0].tags] == [("mlflow.data.context", "training")]


# -- a database MLflow made ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def mlflow_made(tmp_path_factory) -> Path:
    """A database MLflow 3.17 created (it runs its migrations: ~10 s, so once per module) with one run."""
    pytest.importorskip("mlflow")
    path = tmp_path_factory.mktemp("mlflow-made") / "mlflow.db"
    client = _mlflow_client(_uri(path))
    run = client.create_run("0", run_name="theirs")
    client.log_metric(run.info.run_id, "loss", 1.0, timestamp=T0, step=0)
    client.log_param(run.info.run_id, "lr", "0.1")
    return path


def _normalized(sql: str) -> str:
    """A CREATE statement with its whitespace collapsed and, for a table, its columns and constraints
    sorted: MLflow's migrations write a table's constraints in an order that varies from run to run."""
    sql = re.sub(r"\s+", " ", sql).strip()
    if not sql.startswith("CREATE TABLE"):
        return sql
    head, body = sql.split("(", 1)
    body, depth, items, item = body.rsplit(")", 1)[0], 0, [], ""
    for char in body:
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            items.append(item.strip())
            item = ""
        else:
            item += char
    return f"{head}({', '.join(sorted([*items, item.strip()]))})"


def _schema(path: Path) -> set[tuple[str, str, str]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
    return {(kind, name, _normalized(sql)) for kind, name, sql in rows}


@pytest.mark.oracle
def test_schema_is_mlflows(mlflow_made, tmp_path):
    """Our database has MLflow's tables, indexes and triggers, and MLflow's current alembic head."""
    from mlflow.store.db.utils import _get_latest_schema_revision

    if os.environ.get("REPORTGEN_REGEN_SCHEMA"):
        _regenerate_schema_file(mlflow_made)
    ours = tmp_path / "ours.db"
    sqlstore.writer_for(_uri(ours)).ensure_root()
    assert _schema(ours) == _schema(mlflow_made)
    assert _get_latest_schema_revision() == sqlconn.SCHEMA_VERSION
    with sqlite3.connect(ours) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(sqlconn.SCHEMA_VERSION,)]
        default = conn.execute("SELECT experiment_id, name, artifact_location, workspace FROM experiments").fetchall()
    assert default == [(0, "Default", str(tmp_path / "mlruns" / "0"), "default")]


def _regenerate_schema_file(source: Path) -> None:
    with sqlite3.connect(source) as conn:
        rows = conn.execute("SELECT type, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid").fetchall()
        head = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        workspaces = conn.execute("SELECT name, description FROM workspaces").fetchall()
    order = {"table": 0, "index": 1, "trigger": 2, "view": 3}
    import mlflow

    lines = [f"-- MLflow {mlflow.__version__}'s SQLite tracking schema at alembic revision {head}: sqlite_master "
             "of a database", *sqlconn.SCHEMA_FILE.read_text().splitlines()[1:3], ""]
    for _, sql in sorted(rows, key=lambda row: order[row[0]]):
        lines += [re.sub(r"[ \t]+$", "", sql.strip(), flags=re.M) + ";", ""]
    lines += [f"INSERT INTO workspaces (name, description) VALUES ('{n}', '{d}');" for n, d in workspaces]
    sqlconn.SCHEMA_FILE.write_text("\n".join(lines) + "\n")


@pytest.mark.oracle
def test_write_into_a_database_mlflow_made(mlflow_made, tmp_path):
    db = tmp_path / "mlflow.db"
    shutil.copy(mlflow_made, db)
    client = TrackingClient(_uri(db))
    theirs = client.search_runs(["0"])[0]
    assert theirs.info.run_name == "theirs" and theirs.data.params == {"lr": "0.1"}
    client.log_metric(theirs.info.run_id, "loss", 0.5, timestamp=T0 + 1, step=1)
    client.set_tag(theirs.info.run_id, "touched", "by reportgen")
    exp = client.create_experiment("ours")
    assert exp == "1"
    rid = client.create_run(exp, run_name="mine").info.run_id
    client.log_metric(rid, "acc", 0.9, timestamp=T0, step=0)
    client.set_terminated(rid)

    mlflow_client = _mlflow_client(_uri(db))
    assert [(m.step, m.value) for m in mlflow_client.get_metric_history(theirs.info.run_id, "loss")] == [
        (0, 1.0), (1, 0.5)]
    again = mlflow_client.get_run(theirs.info.run_id)
    assert again.data.metrics == {"loss": 0.5} and again.data.tags["touched"] == "by reportgen"
    mine = mlflow_client.get_run(rid)
    assert (mine.info.status, mine.info.run_name, mine.data.metrics) == ("FINISHED", "mine", {"acc": 0.9})
    assert mlflow_client.get_experiment_by_name("ours").experiment_id == "1"


# -- refusals and errors -------------------------------------------------------------------------
def test_unknown_schema_version_is_refused(tmp_path):
    db = tmp_path / "x.db"
    sqlstore.writer_for(_uri(db)).ensure_root()
    sqlstore.close_all()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    sqlstore._writers.clear()
    with pytest.raises(StoreError) as caught:
        TrackingClient(_uri(db)).create_experiment("x")
    message = caught.value.message
    assert "ffffffffffff" in message and sqlconn.SCHEMA_VERSION in message and "\n" not in message
    with sqlite3.connect(db) as conn:  # nothing was written
        assert conn.execute("SELECT count(*) FROM experiments").fetchone() == (1,)


def test_other_sqlite_databases_are_refused(tmp_path):
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    with pytest.raises(StoreError, match="not an MLflow tracking database"):
        TrackingClient(_uri(db)).create_experiment("x")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="garbage.db"):
        TrackingClient(_uri(garbage)).create_experiment("x")


def test_mlflow_errors(tmp_path):
    client = TrackingClient(_uri(tmp_path / "e.db"))
    client.create_experiment("dup")
    with pytest.raises(ResourceAlreadyExists):
        client.create_experiment("dup")
    with pytest.raises(InvalidParameterValue, match="valid integer"):
        client.create_run("abc")
    with pytest.raises(ResourceDoesNotExist, match="No Experiment with id=42"):
        client.create_run("42")
    rid = client.create_run("0").info.run_id
    client.log_param(rid, "p", "1")
    with pytest.raises(InvalidParameterValue, match="Changing param values is not allowed"):
        client.log_param(rid, "p", "2")
    with pytest.raises(InvalidParameterValue, match="Changing param values is not allowed"):
        client.log_batch(rid, params=[Param("q", "1"), Param("p", "3")])
    assert client.get_run(rid).data.params == {"p": "1"}  # the batch was written whole or not at all
    with pytest.raises(ResourceDoesNotExist):
        client.delete_tag(rid, "missing")
    client.delete_run(rid)
    with pytest.raises(InvalidParameterValue, match="must be in the 'active' state"):
        client.log_metric(rid, "m", 1.0)
    with pytest.raises(ResourceDoesNotExist):
        client.log_metric("0" * 32, "m", 1.0)


def test_fluent_api_logs_to_sqlite(tmp_path):
    import reportgen.tracking as rg

    rg.set_tracking_uri(_uri(tmp_path / "fluent.db"))
    try:
        rg.set_experiment("fluent")
        with rg.start_run(run_name="outer") as run:
            rg.log_param("p", 1)
            rg.log_metrics({"a": 1.0, "b": 2.0}, step=1)
            with rg.start_run(nested=True, run_name="inner"):
                rg.log_metric("c", 3.0)
        runs = rg.search_runs(experiment_names=["fluent"], output_format="list")
    finally:
        rg.set_tracking_uri(None)
    assert sorted(r.info.run_name for r in runs) == ["inner", "outer"]
    outer = next(r for r in runs if r.info.run_id == run.info.run_id)
    assert outer.info.status == "FINISHED" and outer.data.metrics == {"a": 1.0, "b": 2.0}


# -- several processes at once -------------------------------------------------------------------
WORKERS = 4
POINTS = 150


def _worker(uri: str, index: int, barrier, shared_run: str) -> None:
    client = TrackingClient(uri)
    barrier.wait()
    try:
        exp = client.create_experiment("race")
    except ResourceAlreadyExists:
        exp = client.get_experiment_by_name("race").experiment_id
    rid = client.create_run(exp, run_name=f"worker-{index}").info.run_id
    for step in range(POINTS):
        client.log_metric(rid, "loss", 1.0 / (step + 1), timestamp=T0 + step, step=step)
        client.log_metric(shared_run, "shared", float(index), timestamp=T0 + step, step=index * POINTS + step)
        if step % 50 == 0:
            client.log_batch(rid, metrics=[Metric("b", float(step), T0, step)],
                             params=[Param(f"p{step}", str(step))], tags=[RunTag(f"t{step}", "x")])
    client.set_terminated(rid)


def test_concurrent_writers_lose_nothing(tmp_path):
    uri = _uri(tmp_path / "race.db")
    shared = TrackingClient(uri).create_run("0", run_name="shared").info.run_id  # the parent opened the db
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(WORKERS)
    workers = [context.Process(target=_worker, args=(uri, i, barrier, shared)) for i in range(WORKERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [0] * WORKERS
    client = TrackingClient(uri)
    experiments = [e for e in client.search_experiments() if e.name == "race"]
    assert len(experiments) == 1
    runs = client.search_runs([experiments[0].experiment_id])
    assert sorted(r.info.run_name for r in runs) == [f"worker-{i}" for i in range(WORKERS)]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert len(client.get_metric_history(run.info.run_id, "loss")) == POINTS
        assert len(run.data.params) == len(run.data.tags) - 1 == POINTS // 50
    points = client.get_metric_history(shared, "shared")
    assert sorted(m.step for m in points) == list(range(WORKERS * POINTS))
    # latest_metrics holds the highest step of all processes' points
    assert client.get_run(shared).data.metrics == {"shared": float(WORKERS - 1)}
    if importlib.util.find_spec("mlflow"):
        assert len(_mlflow_client(uri).get_metric_history(shared, "shared")) == WORKERS * POINTS


def _hold_write_lock(db: Path, seconds: float) -> threading.Thread:
    """Another connection holding the write lock for `seconds` (started before this returns)."""
    locked = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        locked.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=hold)
    thread.start()
    locked.wait()
    return thread


def test_a_lock_held_past_the_busy_timeout_is_waited_out(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlconn, "BUSY_TIMEOUT_MS", 20)
    monkeypatch.setattr(sqlconn, "FIRST_PAUSE_S", 0.02)
    db = tmp_path / "busy.db"
    client = TrackingClient(_uri(db))
    rid = client.create_run("0").info.run_id
    holder = _hold_write_lock(db, 0.4)
    client.log_metric(rid, "m", 1.0)  # busy timeout passes several times: retried with pauses
    holder.join()
    assert [m.value for m in client.get_metric_history(rid, "m")] == [1.0]


def test_a_lock_never_released_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlconn, "BUSY_TIMEOUT_MS", 20)
    monkeypatch.setattr(sqlconn, "FIRST_PAUSE_S", 0.01)
    monkeypatch.setattr(sqlconn, "RETRIES", 2)
    db = tmp_path / "stuck.db"
    client = TrackingClient(_uri(db))
    rid = client.create_run("0").info.run_id
    holder = _hold_write_lock(db, 1.0)
    with pytest.raises(StoreError, match="still locked by another process") as caught:
        client.log_metric(rid, "m", 1.0)
    holder.join()
    assert "\n" not in caught.value.message
    client.log_metric(rid, "m", 2.0)  # the connection is usable again
    assert [m.value for m in client.get_metric_history(rid, "m")] == [2.0]


# -- logged models (MLflow 3) --------------------------------------------------------------------
@pytest.mark.oracle
def test_logged_model_records_read_by_mlflow(tmp_path):
    pytest.importorskip("mlflow")
    db = tmp_path / "models.db"
    client = TrackingClient(_uri(db))
    rid = client.create_run("0").info.run_id
    client.log_metric(rid, "acc", 0.9, timestamp=T0, step=2)
    client.log_metric(rid, "acc", 0.5, timestamp=T0, step=1)
    writer = sqlstore.writer_for(_uri(db))
    model_id, experiment_id, name, location, _ = writer.create_logged_model(
        "0", name="clf", source_run_id=rid, params={"C": "1.0"}, tags={"team": "x"}, model_type="sklearn")
    writer.log_outputs(rid, model_id, 2)
    writer.log_model_metrics(rid, model_id, [("acc", 0.9, T0, 2)])
    writer.finalize_logged_model(model_id, "READY")

    mlflow_client = _mlflow_client(_uri(db))
    model = mlflow_client.get_logged_model(model_id)
    assert (model.name, model.experiment_id, model.source_run_id, model.model_type) == ("clf", "0", rid, "sklearn")
    assert str(model.status) == "READY" and model.params == {"C": "1.0"} and model.tags == {"team": "x"}
    assert model.artifact_location == location == f"{tmp_path / 'mlruns' / '0'}/models/{model_id}/artifacts"
    assert [(m.key, m.value, m.step, m.run_id) for m in model.metrics] == [("acc", 0.9, 2, rid)]
    assert [m.model_id for m in mlflow_client.search_logged_models(experiment_ids=["0"])] == [model_id]
    outputs = mlflow_client.get_run(rid).outputs.model_outputs
    assert [(o.model_id, o.step) for o in outputs] == [(model_id, 2)]
    # The run's own history is unchanged: the point it already had is kept once.
    assert len(mlflow_client.get_metric_history(rid, "acc")) == 2


@pytest.mark.oracle
def test_sklearn_model_logged_to_sqlite_loads_in_mlflow(tmp_path):
    mlflow = pytest.importorskip("mlflow")
    pytest.importorskip("sklearn")
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    import reportgen.tracking as rg

    uri = _uri(tmp_path / "sk.db")
    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 0.9], [1.0, 0.1]])
    y = np.array([0, 1, 0, 1])
    model = LogisticRegression().fit(X, y)
    rg.set_tracking_uri(uri)
    try:
        with rg.start_run() as run:
            rg.log_metric("acc", 1.0)
            info = rg.sklearn.log_model(model, name="clf")
    finally:
        rg.set_tracking_uri(None)
    mlflow.set_tracking_uri(uri)
    try:
        loaded = mlflow.sklearn.load_model(info.model_uri)
        listed = mlflow.MlflowClient().search_logged_models(experiment_ids=[run.info.experiment_id])
    finally:
        mlflow.set_tracking_uri(None)
    assert (loaded.predict(X) == model.predict(X)).all()
    assert [(m.model_id, m.name, str(m.status)) for m in listed] == [(info.model_id, "clf", "READY")]
