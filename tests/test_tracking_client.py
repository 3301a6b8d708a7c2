"""TrackingClient (MlflowClient): every method, on a fresh file store, read back through reportgen's reader."""
from __future__ import annotations

import math
import os

import pytest

from reportgen import mlruns
from reportgen.errors import (
    InvalidParameterValue,
    ReportgenError,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    UnsupportedError,
)
from reportgen.model import LifecycleStage, Metric, Param, RunStatus, RunTag, ViewType
from reportgen.tracking import MlflowClient, TrackingClient


@pytest.fixture
def client(tracking_root):
    return TrackingClient(str(tracking_root))


def test_mlflow_client_is_the_tracking_client():
    assert MlflowClient is TrackingClient


def test_first_use_creates_root_trash_and_default_experiment(client, tracking_root):
    experiments = client.search_experiments()
    assert [(e.experiment_id, e.name) for e in experiments] == [("0", "Default")]
    assert (tracking_root / ".trash").is_dir()
    meta = mlruns.load_meta((tracking_root / "0" / "meta.yaml").read_bytes())
    assert meta["artifact_location"] == (tracking_root / "0").as_uri()


def test_create_and_get_experiment(client, tracking_root):
    experiment_id = client.create_experiment("demo", tags={"team": "ml", "n": 3})
    assert experiment_id.isdigit() and len(experiment_id) == 18
    experiment = client.get_experiment(experiment_id)
    assert experiment.name == "demo"
    assert experiment.tags == {"team": "ml", "n": "3"}
    assert experiment.lifecycle_stage == LifecycleStage.ACTIVE
    assert experiment.artifact_location == (tracking_root / experiment_id).as_uri()
    assert client.get_experiment_by_name("demo").experiment_id == experiment_id
    assert client.get_experiment_by_name("missing") is None
    with pytest.raises(ResourceAlreadyExists, match="Experiment 'demo' already exists."):
        client.create_experiment("demo")


def test_artifact_location_is_resolved_like_mlflow(client, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    relative = client.create_experiment("rel", artifact_location="store/art")
    assert client.get_experiment(relative).artifact_location == str(tmp_path / "store" / "art")
    uri = client.create_experiment("uri", artifact_location="file:///somewhere/else")
    assert client.get_experiment(uri).artifact_location == "file:///somewhere/else"
    with pytest.raises(InvalidParameterValue, match="runs:/"):
        client.create_experiment("bad", artifact_location="runs:/abc/x")


def test_delete_restore_rename_experiment(client, tracking_root):
    experiment_id = client.create_experiment("gone")
    run = client.create_run(experiment_id)
    client.delete_experiment(experiment_id)
    assert (tracking_root / ".trash" / experiment_id / "meta.yaml").is_file()
    assert not (tracking_root / experiment_id).exists()
    assert client.get_experiment(experiment_id).lifecycle_stage == LifecycleStage.DELETED
    assert client.get_run(run.info.run_id).info.lifecycle_stage == LifecycleStage.DELETED
    assert [e.name for e in client.search_experiments(ViewType.DELETED_ONLY)] == ["gone"]
    with pytest.raises(ResourceAlreadyExists, match="already exists in deleted state"):
        client.create_experiment("gone")
    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == LifecycleStage.ACTIVE
    assert client.get_run(run.info.run_id).info.lifecycle_stage == LifecycleStage.ACTIVE
    client.rename_experiment(experiment_id, "back")
    assert client.get_experiment(experiment_id).name == "back"
    with pytest.raises(ReportgenError, match="Cannot delete the default experiment"):
        client.delete_experiment("0")
    with pytest.raises(ResourceDoesNotExist):
        client.delete_experiment("123")


def test_experiment_tags(client):
    experiment_id = client.create_experiment("t")
    client.set_experiment_tag(experiment_id, "mlflow.note.content", "# notes")
    assert client.get_experiment(experiment_id).description == "# notes"
    client.delete_experiment_tag(experiment_id, "mlflow.note.content")
    assert client.get_experiment(experiment_id).tags == {}
    with pytest.raises(ResourceDoesNotExist, match="No tag with name: nope"):
        client.delete_experiment_tag(experiment_id, "nope")


def test_search_and_list_experiments(client):
    ids = [client.create_experiment(name, tags={"kind": kind})
           for name, kind in [("alpha", "a"), ("beta", "b"), ("alphabet", "a")]]
    names = lambda experiments: [e.name for e in experiments]  # noqa: E731
    assert set(names(client.search_experiments())) == {"alpha", "beta", "alphabet", "Default"}
    assert names(client.search_experiments(filter_string="name LIKE 'alpha%'", order_by=["name ASC"])) == [
        "alpha", "alphabet"]
    assert names(client.search_experiments(filter_string="tags.kind = 'b'")) == ["beta"]
    assert names(client.search_experiments(filter_string="name ILIKE 'ALPHA' AND tags.kind = 'a'")) == ["alpha"]
    page = client.search_experiments(max_results=2, order_by=["name DESC"])
    assert names(page) == ["beta", "alphabet"] and page.token
    rest = client.search_experiments(max_results=2, order_by=["name DESC"], page_token=page.token)
    assert names(rest) == ["alpha", "Default"] and rest.token is None
    listed = client.list_experiments()
    assert [e.experiment_id for e in listed] == sorted(["0", *ids], key=int)
    with pytest.raises(InvalidParameterValue):
        client.search_experiments(filter_string="colour = 'red'")


def test_create_run_writes_mlflow_layout(client, tracking_root):
    run = client.create_run("0", start_time=1234, tags={"mlflow.user": "ada", "k": 1}, run_name="first")
    info = run.info
    assert len(info.run_id) == 32 and info.status == RunStatus.RUNNING
    assert (info.run_name, info.user_id, info.start_time, info.end_time) == ("first", "ada", 1234, None)
    assert run.data.tags == {"mlflow.user": "ada", "k": "1", "mlflow.runName": "first"}
    run_dir = tracking_root / "0" / info.run_id
    assert sorted(p.name for p in run_dir.iterdir()) == ["artifacts", "meta.yaml", "metrics", "params", "tags"]
    meta = mlruns.load_meta((run_dir / "meta.yaml").read_bytes())
    assert meta["deleted_time"] is None and meta["status"] == 1 and meta["source_type"] == 4
    assert meta["artifact_uri"] == (run_dir / "artifacts").as_uri()
    assert (run_dir / "tags" / "mlflow.runName").read_text() == "first"
    again = client.get_run(info.run_id)
    assert again.info == info and again.data.tags == run.data.tags


def test_create_run_defaults(client):
    run = client.create_run("0")
    assert run.info.user_id == "unknown"  # MLflow's client takes the user from the mlflow.user tag only
    assert run.info.run_name and run.data.tags["mlflow.runName"] == run.info.run_name
    with pytest.raises(InvalidParameterValue, match="Both 'run_name' argument and 'mlflow.runName' tag"):
        client.create_run("0", run_name="a", tags={"mlflow.runName": "b"})
    with pytest.raises(ResourceDoesNotExist):
        client.create_run("424242")


def test_terminate_update_delete_restore_run(client, tracking_root):
    run_id = client.create_run("0").info.run_id
    client.set_terminated(run_id, "FAILED", end_time=99)
    info = client.get_run(run_id).info
    assert (info.status, info.end_time) == (RunStatus.FAILED, 99)
    client.update_run(run_id, name="renamed")
    run = client.get_run(run_id)
    assert run.info.run_name == "renamed" and run.data.tags["mlflow.runName"] == "renamed"
    client.delete_run(run_id)
    meta = mlruns.load_meta((tracking_root / "0" / run_id / "meta.yaml").read_bytes())
    assert meta["lifecycle_stage"] == "deleted" and isinstance(meta["deleted_time"], int)
    assert client.search_runs(["0"]) == []
    assert [r.info.run_id for r in client.search_runs(["0"], run_view_type=ViewType.DELETED_ONLY)] == [run_id]
    with pytest.raises(InvalidParameterValue, match="must be in 'active' lifecycle_stage"):
        client.log_metric(run_id, "m", 1.0)
    client.restore_run(run_id)
    meta = mlruns.load_meta((tracking_root / "0" / run_id / "meta.yaml").read_bytes())
    assert meta["lifecycle_stage"] == "active" and "deleted_time" not in meta
    client.log_metric(run_id, "m", 1.0)


def test_log_param_is_immutable(client):
    run_id = client.create_run("0").info.run_id
    assert client.log_param(run_id, "lr", 0.1) == 0.1
    client.log_param(run_id, "lr", "0.1")  # the same text again is fine
    with pytest.raises(InvalidParameterValue, match="Changing param values is not allowed. Param with key='lr'"):
        client.log_param(run_id, "lr", 0.2)
    client.log_param(run_id, "nested/key", "x")
    assert client.get_run(run_id).data.params == {"lr": "0.1", "nested/key": "x"}


def test_log_metric_and_history(client, tracking_root):
    run_id = client.create_run("0").info.run_id
    client.log_metric(run_id, "loss", 3, timestamp=10, step=0)
    client.log_metric(run_id, "loss", 2.5, timestamp=11, step=1)
    client.log_metric(run_id, "loss", float("nan"), timestamp=12, step=2)
    client.log_metric(run_id, "train/acc", -0.0, timestamp=13)
    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.timestamp) for m in history] == [(0, 10), (1, 11), (2, 12)]
    assert history[0].value == 3.0 and math.isnan(history[2].value)
    lines = (tracking_root / "0" / run_id / "metrics" / "loss").read_text().splitlines()
    assert lines == ["10 3.0 0", "11 2.5 1", "12 nan 2"]
    assert (tracking_root / "0" / run_id / "metrics" / "train" / "acc").read_text() == "13 -0.0 0\n"
    with pytest.raises(InvalidParameterValue, match="Please specify value as a valid double"):
        client.log_metric(run_id, "loss", "high")
    with pytest.raises(ResourceDoesNotExist, match="not found"):
        client.log_metric("f" * 32, "loss", 1.0)


def test_log_batch(client, tracking_root):
    run_id = client.create_run("0").info.run_id
    metrics = [Metric("m", float(i), 100 + i, i) for i in range(2500)] + [Metric("other", 1.0, 5, 0)]
    client.log_batch(run_id, metrics=metrics, params=[Param("p", "1")], tags=[RunTag("t", "v")])
    lines = (tracking_root / "0" / run_id / "metrics" / "m").read_text().splitlines()
    assert len(lines) == 2500 and lines[0] == "100 0.0 0" and lines[-1] == "2599 2499.0 2499"
    run = client.get_run(run_id)
    assert run.data.metrics == {"m": 2499.0, "other": 1.0}
    assert run.data.params == {"p": "1"} and run.data.tags["t"] == "v"
    with pytest.raises(InvalidParameterValue, match="Duplicate parameter keys"):
        client.log_batch(run_id, params=[Param("q", "1"), Param("q", "2")])
    with pytest.raises(InvalidParameterValue, match=r"metrics\[1\]"):
        client.log_batch(run_id, metrics=[Metric("ok", 1.0, 1, 0), Metric("bad", "x", 1, 0)])
    with pytest.raises(InvalidParameterValue, match="Changing param values"):
        client.log_batch(run_id, params=[Param("p", "2")])


def test_many_params_and_tags_in_one_batch_are_split_like_mlflow(client):
    run_id = client.create_run("0").info.run_id
    client.log_batch(run_id, params=[Param(f"p{i}", str(i)) for i in range(250)],
                     tags=[RunTag(f"t{i}", str(i)) for i in range(150)])
    run = client.get_run(run_id)
    assert len(run.data.params) == 250 and len([t for t in run.data.tags if t.startswith("t")]) == 150


def test_tags(client):
    run_id = client.create_run("0").info.run_id
    client.set_tag(run_id, "k", 5)
    client.set_tag(run_id, "mlflow.runName", "via-tag")
    run = client.get_run(run_id)
    assert run.data.tags["k"] == "5" and run.info.run_name == "via-tag"
    client.delete_tag(run_id, "k")
    assert "k" not in client.get_run(run_id).data.tags
    with pytest.raises(ResourceDoesNotExist, match="No tag with name: k"):
        client.delete_tag(run_id, "k")
    with pytest.raises(InvalidParameterValue):
        client.set_tag(run_id, "../escape", "x")


def test_search_runs_filters_and_orders(client):
    experiment_id = client.create_experiment("s")
    for i in range(5):
        run_id = client.create_run(experiment_id, run_name=f"r{i}").info.run_id
        client.log_metric(run_id, "acc", i / 10)
        client.log_param(run_id, "i", i)
    runs = client.search_runs([experiment_id], "metrics.acc > 0.15", order_by=["metrics.acc DESC"])
    assert [r.info.run_name for r in runs] == ["r4", "r3", "r2"]
    first = client.search_runs(experiment_id, max_results=2, order_by=["params.i ASC"])
    assert [r.info.run_name for r in first] == ["r0", "r1"] and first.token


def test_get_run_unknown(client):
    client.search_experiments()
    with pytest.raises(ResourceDoesNotExist):
        client.get_run("a" * 32)
    with pytest.raises(InvalidParameterValue):
        client.get_run("../../etc")


def test_sql_uris_other_than_sqlite_refuse_logging():
    # SQLite is written directly (tests/test_tracking_sqlite.py); other databases through a tracking server.
    with pytest.raises(UnsupportedError, match="not supported yet"):
        TrackingClient("postgresql://user@localhost/mlflow").create_run("0")


def test_file_uri_forms(tmp_path):
    for uri in (f"file://{tmp_path}/a", f"file:{tmp_path}/b", str(tmp_path / "c")):
        client = TrackingClient(uri)
        client.create_experiment("x")
    for name in "abc":
        assert (tmp_path / name / "0" / "meta.yaml").is_file()


def test_disk_errors_name_the_path(tmp_path):
    if os.geteuid() == 0:
        blocker = tmp_path / "file"
        blocker.write_text("not a folder")
        with pytest.raises(ReportgenError, match=str(blocker)):
            TrackingClient(str(blocker / "mlruns")).create_experiment("x")
        return
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ReportgenError, match=str(locked)):
            TrackingClient(str(locked / "mlruns")).create_experiment("x")
    finally:
        locked.chmod(0o700)


def test_store_removed_and_recreated_in_the_same_process(tmp_path):
    import shutil

    root = tmp_path / "mlruns"
    client = TrackingClient(str(root))
    run_id = client.create_run(client.create_experiment("first")).info.run_id
    client.log_metric(run_id, "m", 1.0)
    shutil.rmtree(root)
    with pytest.raises(ResourceDoesNotExist):
        client.log_metric(run_id, "m", 2.0)  # never written into the removed files
    again = TrackingClient(str(root))
    experiment_id = again.create_experiment("first")
    assert [e.name for e in again.search_experiments()] == ["first", "Default"]
    assert again.create_run(experiment_id).info.experiment_id == experiment_id


def test_windows_style_file_uri_parses(tmp_path):
    client = TrackingClient("file:///C:/Users/me/mlruns")
    assert client.tracking_uri == "file:///C:/Users/me/mlruns"
    from reportgen.uri import local_path

    assert str(local_path(client.tracking_uri)) == "C:/Users/me/mlruns"


def test_experiment_search_by_time_and_bad_order(client, monkeypatch):
    from reportgen.tracking import _env

    times = iter(range(1000, 100000, 1000))
    monkeypatch.setattr(_env, "now_ms", lambda: next(times))
    first = client.create_experiment("first")
    second = client.create_experiment("second")
    newer = client.search_experiments(filter_string=f"creation_time > {client.get_experiment(first).creation_time}")
    assert [e.experiment_id for e in newer] == [second]
    assert [e.name for e in client.search_experiments(order_by=["last_update_time ASC"])][-2:] == ["first", "second"]
    for bad in (["colour ASC"], ["name SIDEWAYS"]):
        with pytest.raises(InvalidParameterValue):
            client.search_experiments(order_by=bad)
    with pytest.raises(ResourceAlreadyExists):
        client.rename_experiment(first, "second")
    client.delete_experiment(second)
    with pytest.raises(ReportgenError, match="non-active"):
        client.rename_experiment(second, "third")
