"""Against a REAL `mlflow server` (SQLite backend, proxied artifacts, one per test session): our client
logs over REST and MLflow's client reads the same runs; our REST reader reads what the server's own
SQLite file holds; a report built from the server equals the report built from that file."""
from __future__ import annotations

import filecmp
import math
import uuid
from pathlib import Path

import pandas as pd
import pytest

from mlflow_server import log_workload, mlflow_missing, running
from reportgen.errors import ResourceDoesNotExist
from reportgen.stores import open_store
from reportgen.stores import artifacts as local_artifacts

pytestmark = pytest.mark.skipif(mlflow_missing() is not None, reason=str(mlflow_missing()))


@pytest.fixture(scope="session")
def sqlite_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow-server")
    db = root / "mlflow.db"
    with running(f"sqlite:///{db}", root) as server:
        server.db = db
        yield server


@pytest.fixture
def tracking(sqlite_server, monkeypatch):
    """Our fluent API pointed at the server (and reset afterwards)."""
    import reportgen.tracking as ours

    for name in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    ours.set_tracking_uri(sqlite_server.url)
    yield ours
    while ours.active_run():
        ours.end_run()
    ours.set_tracking_uri(None)


def _mlflow_tree(client, run_id: str, path: str | None = None) -> list[tuple[str, bool, int | None]]:
    found = []
    for info in client.list_artifacts(run_id, path):
        found.append((info.path, info.is_dir, info.file_size))
        if info.is_dir:
            found.extend(_mlflow_tree(client, run_id, info.path))
    return sorted(found)


def test_runs_logged_by_us_read_identically_through_mlflow(tracking, sqlite_server, tmp_path):
    import mlflow

    experiment_id, run_ids = log_workload(tracking, tmp_path, many_metrics=True)
    theirs = mlflow.MlflowClient(tracking_uri=sqlite_server.url)
    reader = open_store(sqlite_server.url)
    assert theirs.get_experiment(experiment_id).name == reader.get_experiment(experiment_id).name
    for run_id in run_ids:
        expected, got = theirs.get_run(run_id), reader.get_run(run_id)
        assert got.data.params == expected.data.params
        assert got.data.tags == expected.data.tags
        assert got.data.metrics == pytest.approx(expected.data.metrics, nan_ok=True)
        assert (got.info.status, got.info.start_time, got.info.end_time, got.info.run_name, got.info.artifact_uri) == (
            expected.info.status, expected.info.start_time, expected.info.end_time, expected.info.run_name,
            expected.info.artifact_uri)
        assert got.info.status == "FINISHED"
        # Every stepped key, and two of the 1100 single-point ones (MLflow takes ~70 ms a history).
        for key in [k for k in expected.data.metrics if not k[1:].isdigit()] + ["m0", "m1099"]:
            if key not in expected.data.metrics:
                continue
            mine = [repr((m.step, m.timestamp, m.value)) for m in reader.get_metric_history(run_id, key)]
            mlflows = [repr((m.step, m.timestamp, m.value)) for m in theirs.get_metric_history(run_id, key)]
            assert mine == mlflows, key
        tree = _mlflow_tree(theirs, run_id)
        walked = reader.walk_artifacts(run_id)
        assert [(f.path, False, f.file_size) for f in walked] == [t for t in tree if not t[1]]
        for info in walked:
            downloaded = Path(theirs.download_artifacts(run_id, info.path, str(tmp_path)))
            with reader.open_artifact(run_id, info.path) as handle:
                assert handle.read() == downloaded.read_bytes()
    parent = theirs.get_run(run_ids[0])
    assert parent.data.params == {"lr": "0.01", "layers": "3", "name": "x" * 300}
    assert len(parent.data.metrics) == 1102 and parent.data.tags["team"] == "vision"
    odd = theirs.get_metric_history(run_ids[0], "odd")
    assert math.isnan(odd[0].value) and odd[1].value > 1e308
    assert theirs.get_run(run_ids[1]).data.tags["mlflow.parentRunId"] == run_ids[0]
    assert _mlflow_tree(theirs, run_ids[0], "data") == [
        ("data/a.txt", False, 5), ("data/deep", True, None), ("data/deep/b.bin", False, 256)]


def test_our_client_downloads_what_it_uploaded(tracking, sqlite_server, tmp_path):
    _, run_ids = log_workload(tracking, tmp_path)
    client = tracking.MlflowClient()
    out = Path(client.download_artifacts(run_ids[0], "data", str(tmp_path)))
    assert (out / "a.txt").read_text() == "alpha"
    assert (out / "deep" / "b.bin").read_bytes() == bytes(range(256))
    frame = tracking.search_runs(experiment_ids=[client.get_run(run_ids[0]).info.experiment_id])
    assert set(frame["run_id"]) == set(run_ids)


def test_server_reads_equal_its_sqlite_file(tracking, sqlite_server, tmp_path):
    experiment_id, _ = log_workload(tracking, tmp_path)
    remote = open_store(sqlite_server.url)
    local = open_store(f"sqlite:///{sqlite_server.db}")
    assert remote.search_experiments() == local.search_experiments()
    remote_runs, remote_history = remote.read_all([experiment_id])
    local_runs, local_history = local.read_all([experiment_id])
    assert remote_runs == local_runs
    pd.testing.assert_frame_equal(remote.search_runs([experiment_id]), local.search_runs([experiment_id]))
    pd.testing.assert_frame_equal(remote_history, local_history)
    paged = open_store(sqlite_server.url, history_mode="paged").metric_histories([r.run_id for r in remote_runs])
    pd.testing.assert_frame_equal(paged, local_history)
    # Artifacts: the server's listing equals the files under its --artifacts-destination.
    for run in remote_runs:
        folder = sqlite_server.artifacts / run.info.artifact_uri.split(":", 1)[1].strip("/")
        on_disk = local_artifacts.walk(folder, on_skip=lambda *a: None)
        assert remote.walk_artifacts(run.run_id) == on_disk and on_disk


def test_sampled_histories_keep_first_and_last(tracking, sqlite_server, tmp_path):
    experiment_id, run_ids = log_workload(tracking, tmp_path)
    full = open_store(sqlite_server.url).metric_histories(run_ids, ["loss"])
    sampled = open_store(sqlite_server.url).metric_histories(run_ids, ["loss"], max_points=10)
    assert len(full) == 50 and 2 <= len(sampled) <= 10
    assert sampled["step"].iloc[0] == 0 and sampled["step"].iloc[-1] == 49
    merged = sampled.merge(full, on=["run_id", "key", "step", "timestamp", "value"], how="left", indicator=True)
    assert (merged["_merge"] == "both").all()


def test_sampled_histories_with_the_step_range_equal_those_without(tracking, sqlite_server, tmp_path):
    _, run_ids = log_workload(tracking, tmp_path)
    with tracking.start_run(run_name="big-steps") as run:
        for step in (-(2**62), -1, 0, 2**31, 2**40, 2**62):  # steps outside 32 bits too
            tracking.log_metric("loss", float(step % 7), step=step)
    run_ids.append(run.info.run_id)
    ranged = open_store(sqlite_server.url)
    plain = open_store(sqlite_server.url)
    plain._histories.step_range = False  # as after a server refused the range
    for points in (3, 10, 2500):
        got = ranged.metric_histories(run_ids, max_points=points)
        pd.testing.assert_frame_equal(got, plain.metric_histories(run_ids, max_points=points))
    assert ranged._histories.step_range  # the real server took the 64-bit range
    assert got[got["run_id"] == run.info.run_id]["step"].tolist() == [-(2**62), -1, 0, 2**31, 2**40, 2**62]


def test_report_from_server_equals_report_from_its_sqlite(tracking, sqlite_server, tmp_path):
    from reportgen.site.build import build_site

    experiment_id, _ = log_workload(tracking, tmp_path)
    from_server = build_site([sqlite_server.url], tmp_path / "server-site", experiments=[experiment_id],
                             artifacts=False, static_charts=False)
    from_file = build_site([f"sqlite:///{sqlite_server.db}"], tmp_path / "file-site", experiments=[experiment_id],
                           artifacts=False, static_charts=False)
    assert (from_server.runs, from_server.experiments, from_server.pages) == (
        from_file.runs, from_file.experiments, from_file.pages)
    assert from_server.runs == 2 and from_server.pages >= 3
    differing = _differing_files(tmp_path / "server-site", tmp_path / "file-site")
    # The store URI is printed on the pages; everything else must be byte-identical.
    for rel in differing:
        a = (tmp_path / "server-site" / rel).read_text().replace(sqlite_server.url, "STORE")
        b = (tmp_path / "file-site" / rel).read_text().replace(f"sqlite:///{sqlite_server.db}", "STORE")
        assert a == b, rel


def _differing_files(left: Path, right: Path) -> list[str]:
    left_files = {p.relative_to(left).as_posix() for p in left.rglob("*") if p.is_file()}
    right_files = {p.relative_to(right).as_posix() for p in right.rglob("*") if p.is_file()}
    assert left_files == right_files
    return sorted(rel for rel in left_files if not filecmp.cmp(left / rel, right / rel, shallow=False))


SEARCH_FILTERS = [
    "metrics.loss < 0.5", "metrics.odd > 1e300", "params.lr = '0.01'", "params.lr != '0.5'",
    "tags.team = 'vision'", "tags.team ILIKE 'VIS%'", "attributes.run_name LIKE 'par%'", "run_name = 'child'",
    "attributes.status = 'FINISHED' AND metrics.loss >= 0", "attributes.start_time > 0", "metrics.acc = 0.5",
    # Ours only: OR, parentheses, IN on a param (evaluated locally).
    "metrics.acc = 0.5 OR params.lr = '0.01'", "(tags.team = 'vision')", "params.seed IN ('7', '8')",
]


def test_search_filters_sent_to_the_server_give_the_local_results(tracking, sqlite_server, tmp_path):
    experiment_id, run_ids = log_workload(tracking, tmp_path)
    remote = open_store(sqlite_server.url)
    local = open_store(f"sqlite:///{sqlite_server.db}")
    sent: list[str | None] = []
    post_json = remote.session.post_json

    def spy(path, body):
        if path.endswith("runs/search"):
            sent.append(body.get("filter"))
        return post_json(path, body)

    remote.session.post_json = spy
    for text in SEARCH_FILTERS:
        sent.clear()
        got = [r.run_id for r in remote.search_run_objects([experiment_id], text)]
        assert got == [r.run_id for r in local.search_run_objects([experiment_id], text)], text
        assert got, text  # every filter above matches a run of the workload
        assert sent == ([None] if "OR" in text or "(" in text else [text]), text
    run_id_filter = f"attributes.run_id IN ('{run_ids[1]}')"
    assert [r.run_id for r in remote.search_run_objects([experiment_id], run_id_filter)] == [run_ids[1]]
    local.close()


def test_dataset_inputs_logged_over_rest_read_back_everywhere(tracking, sqlite_server, tmp_path):
    import mlflow

    from reportgen.model import Dataset, DatasetInput, InputTag
    from reportgen.tracking.rest_writer import writer_for

    experiment_id, run_ids = log_workload(tracking, tmp_path)
    train = DatasetInput(Dataset("train", "d1g3st", "local", '{"uri": "/data/train.csv"}', '{"cols": ["x"]}', None),
                         (InputTag("mlflow.data.context", "training"),))
    evaluation = DatasetInput(Dataset("eval", "e2", "local", '{"uri": "/data/eval.csv"}'), ())
    writer_for(sqlite_server.url).log_inputs(run_ids[0], [train, evaluation])
    theirs = mlflow.MlflowClient(tracking_uri=sqlite_server.url).get_run(run_ids[0]).inputs.dataset_inputs
    assert sorted((d.dataset.name, d.dataset.digest, d.dataset.source, [(t.key, t.value) for t in d.tags])
                  for d in theirs) == [("eval", "e2", '{"uri": "/data/eval.csv"}', []),
                                       ("train", "d1g3st", '{"uri": "/data/train.csv"}', [("mlflow.data.context", "training")])]
    remote = open_store(sqlite_server.url)
    local = open_store(f"sqlite:///{sqlite_server.db}")
    remote_inputs = remote.get_run(run_ids[0]).inputs.dataset_inputs
    assert [d.dataset.name for d in remote_inputs] == ["eval", "train"]  # in a stable order
    # The SQL reader orders inputs by their random uuid: the same inputs, maybe another order.
    assert sorted(remote_inputs, key=repr) == sorted(local.get_run(run_ids[0]).inputs.dataset_inputs, key=repr)
    text = "datasets.name = 'train'"
    assert [r.run_id for r in remote.search_run_objects([experiment_id], text)] == [run_ids[0]] == [
        r.run_id for r in local.search_run_objects([experiment_id], text)]
    local.close()


def test_real_server_errors_are_one_line(sqlite_server):
    reader = open_store(sqlite_server.url)
    with pytest.raises(ResourceDoesNotExist) as caught:
        reader.get_run("0" * 32)
    assert "\n" not in str(caught.value)
    with pytest.raises(ResourceDoesNotExist) as caught:
        reader.metric_histories(["f" * 32])
    assert "\n" not in str(caught.value)
    assert reader.get_experiment_by_name(f"missing-{uuid.uuid4().hex}") is None
