"""Logged models read from every store kind, against real MLflow 3.17 reading the same store: a file store and
SQLite written by mlflow.sklearn.log_model, a real `mlflow server`, and stores written by reportgen.tracking's
own log_model. A malformed model folder or row is skipped with a problem naming it."""
from __future__ import annotations

import math
import shutil
import sqlite3

import pytest

import mlruns_builder as mb
from model_stores import log_with_mlflow, log_with_reportgen, mlflow_at, write_model
from reportgen.model import LoggedModelStatus
from reportgen.stores import open_store

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("sklearn")
pytestmark = [pytest.mark.oracle, pytest.mark.filterwarnings("ignore::reportgen.stores.base.ReadWarning")]


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """The same workload logged by real MLflow to a file store and to SQLite."""
    root = tmp_path_factory.mktemp("model-stores")
    file_ids = log_with_mlflow((root / "mlruns").as_uri())
    sqlite_uri = f"sqlite:///{root / 'mlflow.db'}"
    sqlite_ids = log_with_mlflow(sqlite_uri)
    return {"file": (str(root / "mlruns"), (root / "mlruns").as_uri(), file_ids),
            "sqlite": (sqlite_uri, sqlite_uri, sqlite_ids)}


def _mlflow_models(tracking_uri: str, experiment_id: str) -> dict[str, object]:
    with mlflow_at(tracking_uri) as mlflow_:
        return {m.model_id: m for m in mlflow_.MlflowClient().search_logged_models(experiment_ids=[experiment_id])}


def _same_as_mlflow(ours, theirs) -> None:
    # (MLflow's REST client gives "" for what its other stores give as None)
    assert (ours.name, ours.source_run_id, ours.model_type, ours.experiment_id) == (
        theirs.name, theirs.source_run_id or None, theirs.model_type or None, theirs.experiment_id)
    assert ours.status == str(theirs.status) == LoggedModelStatus.READY
    assert (ours.creation_timestamp, ours.last_updated_timestamp) == (theirs.creation_timestamp,
                                                                      theirs.last_updated_timestamp)
    assert ours.artifact_location == theirs.artifact_location
    assert dict(ours.params) == theirs.params and dict(ours.tags) == theirs.tags
    assert sorted((m.key, m.value, m.step, m.timestamp, m.run_id) for m in ours.metrics) == sorted(
        (m.key, m.value, m.step, m.timestamp, m.run_id) for m in theirs.metrics or ())


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_models_read_as_mlflow_reads_them(stores, kind):
    store_uri, tracking_uri, ids = stores[kind]
    store = open_store(store_uri)
    models = store.logged_models([ids["experiment_id"]])
    theirs = _mlflow_models(tracking_uri, ids["experiment_id"])
    assert {m.model_id for m in models} == set(theirs) == {ids["model_id"], ids["loose_model_id"]}
    for model in models:
        _same_as_mlflow(model, theirs[model.model_id])
    trained = next(m for m in models if m.model_id == ids["model_id"])
    # log_model links the run's metrics of its step (0) to the model, with the run's id.
    assert [(m.key, m.value, m.step, m.run_id) for m in trained.metrics] == [("acc", 0.9, 0, ids["run_id"])]
    assert trained.params == {"C": "1.0", "solver": "lbfgs"} and trained.tags["team"] == "vision"
    loose = next(m for m in models if m.model_id == ids["loose_model_id"])
    assert loose.source_run_id is None and loose.metrics == ()
    assert store.problems == []


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_model_files_are_listed_and_read_as_mlflow_downloads_them(stores, kind, tmp_path):
    store_uri, tracking_uri, ids = stores[kind]
    store = open_store(store_uri)
    model = next(m for m in store.logged_models([ids["experiment_id"]]) if m.model_id == ids["model_id"])
    with mlflow_at(tracking_uri) as mlflow_:
        local = mlflow_.artifacts.download_artifacts(f"models:/{model.model_id}", dst_path=str(tmp_path))
    from pathlib import Path

    expected = {p.relative_to(local).as_posix(): p.read_bytes() for p in Path(local).rglob("*") if p.is_file()}
    expected.pop("registered_model_meta", None)  # written by the download itself
    listed = store.walk_model_artifacts(model)
    assert {f.path: f.file_size for f in listed} == {path: len(data) for path, data in expected.items()}
    assert "MLmodel" in expected and any(path.startswith("model.") for path in expected)
    for info in listed:
        with store.open_model_artifact(model, info.path) as handle:
            assert handle.read() == expected[info.path]


def test_run_of_another_kind_of_store_has_no_models(tmp_path):
    store = open_store(mb.experiment(tmp_path / "mlruns", "1", "old").parent)
    assert store.logged_models(["1"]) == []


def test_malformed_model_folders_are_skipped_with_a_problem_naming_them(stores, tmp_path):
    source, _, ids = stores["file"]
    root = tmp_path / "mlruns"
    shutil.copytree(source, root)
    experiment = root / ids["experiment_id"]
    bad_meta = write_model(experiment, run_id=ids["run_id"], name="bad-meta")
    (experiment / "models" / bad_meta / "meta.yaml").write_text("model_id: [unclosed\n")
    no_meta = write_model(experiment, run_id=ids["run_id"], name="no-meta")
    (experiment / "models" / no_meta / "meta.yaml").unlink()
    bad_status = write_model(experiment, run_id=ids["run_id"], name="bad-status", status=42)
    bad_line = write_model(experiment, run_id=ids["run_id"], name="bad-line", metrics={"loss": "0.5"})
    with open(experiment / "models" / bad_line / "metrics" / "loss", "a") as out:
        out.write("not a metric line\n")
    (experiment / "models" / "junk.txt").write_text("not a model")
    outside = tmp_path / "elsewhere"
    shutil.copytree(experiment / "models" / ids["model_id"], outside)
    linked = experiment / "models" / ("m-" + "f" * 32)
    linked.symlink_to(outside)  # never followed: what it holds is not the store's
    store = open_store(root)
    models = {m.name: m for m in store.logged_models([ids["experiment_id"]])}
    assert set(models) == {"clf", "loose", "bad-line"}
    assert [(m.key, m.value) for m in models["bad-line"].metrics] == [("loss", 0.5)]
    problems = {p.path: p.message for p in store.problems}
    assert any(bad_meta in path and "meta.yaml" in path for path in problems)
    assert any(no_meta in path and "missing" in message for path, message in problems.items())
    assert any(bad_status in path and "status" in message for path, message in problems.items())
    assert any(bad_line in path and path.endswith(":2") for path in problems)
    assert problems[str(linked)].startswith("logged model folder is a symlink")
    assert len(problems) == 5


def test_deleted_models_are_left_out_as_mlflow_leaves_them_out(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ids = log_with_mlflow(uri)
    with mlflow_at(uri) as mlflow_:
        mlflow_.MlflowClient().delete_logged_model(ids["loose_model_id"])
    assert [m.model_id for m in open_store(uri).logged_models([ids["experiment_id"]])] == [ids["model_id"]]


def test_malformed_sql_row_is_skipped_with_a_problem(stores, tmp_path):
    _, _, ids = stores["sqlite"]
    path = tmp_path / "mlflow.db"
    shutil.copy(stores["sqlite"][0].split("sqlite:///", 1)[1], path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE logged_models SET status = 42 WHERE model_id = ?", (ids["loose_model_id"],))
        conn.execute("UPDATE logged_model_metrics SET metric_value = NULL WHERE model_id = ?", (ids["model_id"],))
    store = open_store(f"sqlite:///{path}")
    [model] = store.logged_models([ids["experiment_id"]])
    assert model.model_id == ids["model_id"] and math.isnan(model.metrics[0].value)
    [problem] = store.problems
    assert ids["loose_model_id"] in problem.path and "status" in problem.message


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_models_logged_by_reportgen_tracking_read_the_same(tmp_path, kind):
    uri = (tmp_path / "mlruns").as_uri() if kind == "file" else f"sqlite:///{tmp_path / 'rg.db'}"
    ids = log_with_reportgen(uri)
    store = open_store(uri)
    [model] = store.logged_models([ids["experiment_id"]])
    assert (model.model_id, model.name, model.source_run_id, model.model_type, model.status) == (
        ids["model_id"], "clf", ids["run_id"], "classifier", "READY")
    assert model.params == {"C": "1.0", "solver": "lbfgs"} and model.tags["team"] == "vision"
    assert [(m.key, m.value, m.step, m.run_id) for m in model.metrics] == [("acc", 0.9, 0, ids["run_id"])]
    assert "MLmodel" in {f.path for f in store.walk_model_artifacts(model)}
    _same_as_mlflow(model, _mlflow_models(uri, ids["experiment_id"])[model.model_id])


def test_server_models_read_as_the_database_behind_it(tmp_path):
    from mlflow_server import running

    db = tmp_path / "server.db"
    with running(f"sqlite:///{db}", tmp_path) as server:
        ids = log_with_mlflow(server.url)
        store = open_store(server.url)
        models = store.logged_models([ids["experiment_id"]])
        theirs = _mlflow_models(server.url, ids["experiment_id"])
        assert {m.model_id for m in models} == set(theirs) == {ids["model_id"], ids["loose_model_id"]}
        for model in models:
            _same_as_mlflow(model, theirs[model.model_id])
        model = next(m for m in models if m.model_id == ids["model_id"])
        listed = {f.path: f.file_size for f in store.walk_model_artifacts(model)}
        with store.open_model_artifact(model, "MLmodel") as handle:
            mlmodel = handle.read()
        assert store.problems == []
    # The same files the server keeps under its --artifacts-destination.
    local = open_store(f"sqlite:///{db}", artifacts_destination=server.artifacts)
    [mirror] = [m for m in local.logged_models([ids["experiment_id"]]) if m.model_id == ids["model_id"]]
    assert {f.path: f.file_size for f in local.walk_model_artifacts(mirror)} == listed
    with local.open_model_artifact(mirror, "MLmodel") as handle:
        assert handle.read() == mlmodel
    assert b"sklearn" in mlmodel and "MLmodel" in listed


def test_a_copied_store_reads_its_own_model_files_not_the_original(stores, tmp_path):
    """meta.yaml names the original store's absolute folder (still there): the copy's files are read."""
    source, _, ids = stores["file"]
    root = tmp_path / "copy"
    shutil.copytree(source, root)
    mlmodel = root / ids["experiment_id"] / "models" / ids["model_id"] / "artifacts" / "MLmodel"
    mlmodel.write_bytes(mlmodel.read_bytes() + b"# the copy\n")
    store = open_store(root)
    model = next(m for m in store.logged_models([ids["experiment_id"]]) if m.model_id == ids["model_id"])
    assert str(root) not in model.artifact_location
    with store.open_model_artifact(model, "MLmodel") as handle:
        assert handle.read().endswith(b"# the copy\n")
    assert store.problems == []


def test_postgresql_models_read_as_mlflow_reads_them(tmp_path, monkeypatch):
    """SqlStore (SQLAlchemy) over a real PostgreSQL that MLflow logged to: the same models, files beside."""
    import pg_cluster

    if pg_cluster.missing() is not None:
        pytest.skip(str(pg_cluster.missing()))
    monkeypatch.chdir(tmp_path)  # MLflow puts the artifacts of a database store in ./mlruns
    try:
        with pg_cluster.cluster() as uri:
            ids = log_with_mlflow(uri)
            store = open_store(uri, artifact_roots=[tmp_path / "mlruns"])
            models = store.logged_models([ids["experiment_id"]])
            theirs = _mlflow_models(uri, ids["experiment_id"])
            assert {m.model_id for m in models} == set(theirs) == {ids["model_id"], ids["loose_model_id"]}
            for model in models:
                _same_as_mlflow(model, theirs[model.model_id])
                assert "MLmodel" in {f.path for f in store.walk_model_artifacts(model)}
            assert store.problems == []
    except pg_cluster.ClusterFailed as exc:
        pytest.fail(str(exc))


def test_a_hostile_or_older_server_costs_only_its_bad_models_and_paths():
    """A fake server: an unreadable model in the search is skipped with a problem, listed paths that leave
    their folder are refused, and a server without the endpoints (MLflow 2) simply has no models."""
    from test_rest_fake import API, FakeServer, _json, store as rest_store

    model_id = "m-" + "a" * 32
    info = {"model_id": model_id, "experiment_id": "1", "name": "good", "artifact_uri": "mlflow-artifacts:/x",
            "creation_timestamp_ms": 5, "last_updated_timestamp_ms": 6, "status": "LOGGED_MODEL_READY",
            "source_run_id": "b" * 32, "tags": [{"key": "t", "value": "v"}]}
    found = {"models": [{"info": info, "data": {"params": [{"key": "p", "value": "1"}],
                                                "metrics": [{"key": "acc", "value": "NaN", "step": 2, "timestamp": 9}]}},
                        {"info": {**info, "model_id": "m-" + "c" * 32, "status": "SHINY"}},
                        {"info": {**info, "model_id": "../../etc"}}]}
    fake = FakeServer()
    try:
        fake.route("POST", f"{API}/logged-models/search", _json(200, found))
        listing = {"": [{"path": "MLmodel", "is_dir": False, "file_size": 3}, {"path": "../up", "is_dir": False},
                        {"path": "sub", "is_dir": True}],
                   "sub": [{"path": "sub/ok.txt", "is_dir": False, "file_size": 1}, {"path": "elsewhere/x", "is_dir": False}]}
        fake.route("GET", f"{API}/logged-models/{model_id}/artifacts/directories",
                   lambda request: _json(200, {"files": listing[request["query"].get("artifact_directory_path", [""])[0]]}))
        store = rest_store(fake.url)
        [model] = store.logged_models(["1"])
        assert (model.model_id, model.name, model.status, dict(model.params), dict(model.tags)) == (
            model_id, "good", "READY", {"p": "1"}, {"t": "v"})
        assert math.isnan(model.metrics[0].value) and model.metrics[0].step == 2
        assert [f.path for f in store.walk_model_artifacts(model)] == ["MLmodel", "sub/ok.txt"]
        messages = " | ".join(f"{p.path}: {p.message}" for p in store.problems)
        assert "status 'SHINY'" in messages and "'../../etc' is not a model id" in messages
        assert "'../up'" in messages and "'elsewhere/x' is not inside sub" in messages and len(store.problems) == 4
    finally:
        fake.close()
    older = FakeServer()
    try:
        store = rest_store(older.url)
        assert store.logged_models(["1"]) == [] and store.problems == []
    finally:
        older.close()
