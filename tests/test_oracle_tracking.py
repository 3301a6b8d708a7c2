"""Oracle tests: stores written by reportgen.tracking read identically through real MLflow, stores
written by real MLflow read identically through TrackingClient, and both write the same files."""
from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow")

import reportgen.tracking as rg  # noqa: E402
from reportgen import mlruns  # noqa: E402

pytestmark = pytest.mark.oracle


@pytest.fixture(autouse=True)
def _allow_file_store(monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    yield
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    # mlflow.set_experiment records the experiment in the environment and in module state.
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    mlflow.tracking.fluent._active_experiment_id = None


def _plain(value):
    """NaN-safe comparable value."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


def _artifacts(client, run_id, path=None):
    listed = []
    for item in client.list_artifacts(run_id, path):
        listed.append((item.path, item.is_dir, item.file_size))
        if item.is_dir:
            listed.extend(_artifacts(client, run_id, item.path))
    return listed


def snapshot(client, view_all) -> dict:
    """Everything a report reads, through either MLflow's client or reportgen's (same method names)."""
    experiments = {
        e.experiment_id: (e.name, e.lifecycle_stage, e.artifact_location, dict(e.tags), e.creation_time,
                          e.last_update_time)
        for e in client.search_experiments(view_type=view_all)
    }
    runs = {}
    for run in client.search_runs(list(experiments), run_view_type=view_all, max_results=1000):
        info = run.info
        run_id = info.run_id
        runs[run_id] = {
            "info": (info.experiment_id, info.run_name, info.user_id, info.status, info.start_time,
                     info.end_time, info.artifact_uri, info.lifecycle_stage),
            "params": dict(run.data.params),
            "tags": dict(run.data.tags),
            "metrics": {k: _plain(v) for k, v in run.data.metrics.items()},
            "history": {
                key: [(m.key, _plain(m.value), m.timestamp, m.step) for m in client.get_metric_history(run_id, key)]
                for key in run.data.metrics
            },
            "artifacts": sorted(_artifacts(client, run_id)),
        }
        assert client.get_run(run_id).info.run_id == run_id
    return {"experiments": experiments, "runs": runs}


def write_with(api, root: Path, source_dir: Path) -> None:
    """The same rich workload through either mlflow or reportgen.tracking (same fluent API)."""
    api.set_tracking_uri(root.as_uri())
    api.set_experiment("tutorial")
    with api.start_run(run_name="parent", description="# Parent\nsome *markdown*", tags={"team": "ml"}):
        api.log_params({"alpha": 0.5, "layers": [1, 2], "name": "ü-net"})
        for step in range(5):
            api.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=1_700_000_000_000 + step)
        api.log_metric("odd", float("nan"), step=1, timestamp=1_700_000_000_100)
        api.log_metric("odd", float("inf"), step=2, timestamp=1_700_000_000_101)
        api.log_metric("odd", -float("inf"), step=3, timestamp=1_700_000_000_102)
        api.log_metric("zero", -0.0, step=2**40, timestamp=1_700_000_000_103)
        api.log_metric("train/acc", 0.75, step=7, timestamp=1_700_000_000_104)
        api.log_metrics({"a": 1, "b": 2.5}, step=9, timestamp=1_700_000_000_105)
        api.set_tags({"stage": "dev", "mlflow.note.content": "# Parent\nedited"})
        api.log_artifact(str(source_dir / "data.csv"))
        api.log_artifacts(str(source_dir), artifact_path="copy")
        api.log_text("plain text ü", "notes/readme.md")
        api.log_dict({"z": 1, "a": {"b": [1, 2]}}, "config.json")
        api.log_dict({"z": 1, "a": {"b": [1, 2]}}, "config.yaml")
        for seed in range(2):
            with api.start_run(run_name=f"child-{seed}", nested=True):
                api.log_param("seed", seed)
                api.log_metric("loss", 0.1 * seed, step=0, timestamp=1_700_000_000_200)
    try:
        with api.start_run(run_name="broken"):
            api.log_metric("loss", 5.0, timestamp=1_700_000_000_300)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with api.start_run(run_name="deleted") as doomed:
        pass
    api.delete_run(doomed.info.run_id)
    gone = api.create_experiment("to-delete", tags={"k": "v"})
    api.set_experiment(experiment_id=gone)
    with api.start_run(run_name="in-deleted"):
        api.log_param("p", "x")
    api.delete_experiment(gone)
    api.set_experiment("tutorial")


@pytest.fixture
def source_dir(tmp_path):
    folder = tmp_path / "source"
    (folder / "sub").mkdir(parents=True)
    (folder / "data.csv").write_text("a,b\n1,2\n")
    (folder / "sub" / "deep.txt").write_text("deep")
    return folder


def test_reportgen_store_reads_identically_through_mlflow(tracking_root, source_dir):
    write_with(rg, tracking_root, source_dir)
    uri = tracking_root.as_uri()
    theirs = snapshot(mlflow.MlflowClient(tracking_uri=uri), mlflow.entities.ViewType.ALL)
    ours = snapshot(rg.TrackingClient(uri), rg.ViewType.ALL)
    assert theirs == ours
    # What was logged is there (so the comparison is not between two empty views).
    parent = next(r for r in ours["runs"].values() if r["info"][1] == "parent")
    assert parent["params"] == {"alpha": "0.5", "layers": "[1, 2]", "name": "ü-net"}
    assert parent["metrics"]["odd"] == -math.inf and parent["metrics"]["zero"] == 0.0
    assert parent["history"]["zero"] == [("zero", -0.0, 1_700_000_000_103, 2**40)]
    assert ("copy/sub/deep.txt", False, 4) in parent["artifacts"]
    statuses = sorted((r["info"][1], r["info"][3], r["info"][7]) for r in ours["runs"].values())
    assert ("broken", "FAILED", "active") in statuses and ("deleted", "FINISHED", "deleted") in statuses
    assert len(ours["runs"]) == 6 and len(ours["experiments"]) == 3


def test_mlflow_store_reads_identically_through_tracking_client(tracking_root, source_dir):
    write_with(mlflow, tracking_root, source_dir)
    uri = tracking_root.as_uri()
    theirs = snapshot(mlflow.MlflowClient(tracking_uri=uri), mlflow.entities.ViewType.ALL)
    ours = snapshot(rg.TrackingClient(uri), rg.ViewType.ALL)
    assert ours == theirs
    assert len(ours["runs"]) == 6


def test_search_runs_frames_match(tracking_root, source_dir):
    write_with(rg, tracking_root, source_dir)
    mlflow.set_tracking_uri(tracking_root.as_uri())
    theirs = mlflow.search_runs(experiment_names=["tutorial"], order_by=["attributes.run_name ASC"])
    ours = rg.search_runs(experiment_names=["tutorial"], order_by=["attributes.run_name ASC"])
    assert sorted(theirs.columns) == sorted(ours.columns)
    assert list(theirs["run_id"]) == list(ours["run_id"])
    for column in theirs.columns:
        left = [_plain(v) if v == v else None for v in theirs[column]]
        right = [_plain(v) if v == v else None for v in ours[column]]
        assert left == right, column


def _normalised_tree(root: Path) -> dict[str, object]:
    """Every file of a store, with ids, times and the root path replaced, so two stores compare."""
    # Ids are random: name each experiment and run by its (fixed) name instead.
    ids: dict[str, str] = {}
    for meta_path in root.rglob("meta.yaml"):
        meta = mlruns.load_meta(meta_path.read_bytes())
        if "run_id" in meta:
            ids[meta["run_id"]] = f"<run:{meta['run_name']}>"
        elif meta.get("experiment_id") not in (None, "0"):
            ids[str(meta["experiment_id"])] = f"<experiment:{meta['name']}>"

    def name_of(part: str) -> str:
        return ids.get(part, part)

    tree: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        relative = "/".join(name_of(p) for p in path.relative_to(root).parts)
        if path.is_dir():
            tree[relative + "/"] = None
        elif path.name == "meta.yaml":
            meta = mlruns.load_meta(path.read_bytes())
            normal = {}
            for key, value in meta.items():
                if key.endswith("_time") and isinstance(value, int):
                    value = "<time>"
                elif isinstance(value, str):
                    value = value.replace(root.as_uri(), "<root>")
                    for real, fake in ids.items():
                        value = value.replace(real, fake)
                normal[key] = value
            tree[relative] = normal
        elif "/tags/mlflow.source" in "/" + relative or relative.endswith("tags/mlflow.user"):
            tree[relative] = "<context>"
        elif "/metrics/" in "/" + relative:
            tree[relative] = [" ".join(["<ts>", *line.split()[1:]]) for line in path.read_text().splitlines()]
        else:
            data = path.read_bytes()
            for real, fake in ids.items():  # e.g. mlflow.parentRunId holds a run id
                data = data.replace(real.encode(), fake.encode())
            tree[relative] = data
    return tree


def test_both_write_the_same_files(tmp_path):
    """Same client calls, with fixed run names: the same folders, meta.yaml fields and file contents."""
    trees = []
    for api, name in ((mlflow, "theirs"), (rg, "ours")):
        root = tmp_path / name
        client = api.MlflowClient(tracking_uri=root.as_uri()) if api is mlflow else rg.TrackingClient(root.as_uri())
        experiment_id = client.create_experiment("exp", tags={"mlflow.note.content": "about"})
        run = client.create_run(experiment_id, run_name="one", tags={"mlflow.user": "ada", "k": "v"})
        run_id = run.info.run_id
        client.log_param(run_id, "lr", 0.01)
        client.log_metric(run_id, "loss", 0.5, timestamp=1, step=3)
        client.log_metric(run_id, "loss", float("nan"), timestamp=2, step=4)
        client.log_metric(run_id, "deep/key", 1e-300, timestamp=3)
        client.set_tag(run_id, "nested/tag", "x")
        client.log_text(run_id, "text", "a/b.txt")
        client.set_terminated(run_id, "FAILED")
        second = client.create_run(experiment_id, run_name="two").info.run_id
        client.delete_run(second)
        doomed = client.create_experiment("doomed", tags={"x": "y"})
        client.delete_experiment(doomed)
        trees.append(_normalised_tree(root))
    theirs, ours = trees
    assert sorted(theirs) == sorted(ours)
    assert theirs == ours


def test_each_client_continues_the_others_run(tracking_root):
    uri = tracking_root.as_uri()
    ours = rg.TrackingClient(uri)
    theirs = mlflow.MlflowClient(tracking_uri=uri)
    run_id = ours.create_run("0", run_name="shared").info.run_id
    ours.log_metric(run_id, "m", 1.0, timestamp=10, step=0)
    theirs.log_metric(run_id, "m", 2.0, timestamp=11, step=1)
    theirs.log_param(run_id, "p", "x")
    with pytest.raises(rg.MlflowException, match="Changing param values"):
        ours.log_param(run_id, "p", "y")
    theirs.set_terminated(run_id, "FINISHED")
    ours.log_metric(run_id, "m", 3.0, timestamp=12, step=2)  # MLflow allows logging to a finished run
    assert [m.value for m in theirs.get_metric_history(run_id, "m")] == [1.0, 2.0, 3.0]
    assert ours.get_run(run_id).info.status == "FINISHED"
    theirs.delete_run(run_id)
    with pytest.raises(rg.MlflowException, match="must be in 'active' lifecycle_stage"):
        ours.log_metric(run_id, "m", 4.0)


def test_fluent_workload_writes_the_same_files(tmp_path, source_dir):
    """The rich fluent workload through both libraries: identical trees (ids, times, paths normalised)."""
    trees = []
    for api, name in ((mlflow, "theirs"), (rg, "ours")):
        root = tmp_path / name
        write_with(api, root, source_dir)
        api.set_tracking_uri(None)
        trees.append(_normalised_tree(root))
    theirs, ours = trees
    assert sorted(theirs) == sorted(ours)
    for path in theirs:
        assert theirs[path] == ours[path], path


def test_logging_benchmark_runs_and_checks_line_counts(tracking_root, tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_logging", Path(__file__).parents[1] / "bench" / "bench_logging.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "figures.json"
    assert bench.main(["--points", "40", "--batches", "2", "--batch-size", "20", "--rounds", "1",
                       "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "reportgen" in printed and "mlflow" in printed and "ratio" in printed
    import json

    figures = json.loads(out.read_text())
    lines = {name: f["lines"] for name, f in figures.items() if name != "ratio"}
    assert len(lines) == 2 and set(lines.values()) == {40 + 1 + 2 * 20 + 1}  # points and batches, a warm-up each
