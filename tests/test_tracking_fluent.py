"""The fluent API (import reportgen.tracking as mlflow): run stack, context manager, every log call."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

import reportgen.tracking as mlflow
from reportgen.errors import InvalidParameterValue, ReportgenError, ResourceDoesNotExist
from reportgen.model import RunStatus
from reportgen.tracking import _uri, context

REPO = Path(__file__).resolve().parents[1]


def test_tracking_uri_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _uri.set_tracking_uri(None)
    monkeypatch.chdir(tmp_path)
    assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"  # MLflow 3's default
    assert not mlflow.is_tracking_uri_set()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "file:///from/env")
    assert mlflow.get_tracking_uri() == "file:///from/env"
    mlflow.set_tracking_uri("elsewhere")
    try:
        assert mlflow.get_tracking_uri() == "elsewhere"
        mlflow.set_tracking_uri(tmp_path / "as_path")
        assert mlflow.get_tracking_uri() == (tmp_path / "as_path").as_uri()
    finally:
        mlflow.set_tracking_uri(None)


def test_default_store_is_mlruns_in_cwd_when_it_holds_experiments(tmp_path, monkeypatch, tracking_root):
    """As MLflow 3: ./mlruns with an experiment in it stays the default; else sqlite:///mlflow.db."""
    mlflow.set_tracking_uri(None)
    (tmp_path / "mlruns" / "0").mkdir(parents=True)
    (tmp_path / "mlruns" / "0" / "meta.yaml").write_text("experiment_id: '0'\nname: Default\n"
                                                         "artifact_location: mlruns/0\nlifecycle_stage: active\n")
    monkeypatch.chdir(tmp_path)
    with mlflow.start_run() as run:
        mlflow.log_metric("m", 1.0)
    assert (tmp_path / "mlruns" / "0" / run.info.run_id / "metrics" / "m").is_file()


def test_default_store_is_sqlite_mlflow_db_in_cwd(tmp_path, monkeypatch, tracking_root):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    mlflow.set_tracking_uri(None)
    monkeypatch.chdir(tmp_path)
    try:
        with mlflow.start_run() as run:
            mlflow.log_metric("m", 2.0)
        client = mlflow.TrackingClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
        assert client.get_run(run.info.run_id).data.metrics == {"m": 2.0}
    finally:
        from reportgen.tracking import sqlstore

        sqlstore.close_all()


def test_start_run_context_manager_finishes(tracking_root):
    with mlflow.start_run(run_name="hello", tags={"k": 1}, description="*notes*") as run:
        assert mlflow.active_run() is run
        assert run.info.status == RunStatus.RUNNING
    assert mlflow.active_run() is None
    stored = mlflow.get_run(run.info.run_id)
    assert stored.info.status == RunStatus.FINISHED and stored.info.end_time >= stored.info.start_time
    assert stored.info.run_name == "hello"
    tags = stored.data.tags
    assert tags["k"] == "1" and tags["mlflow.note.content"] == "*notes*" and tags["mlflow.runName"] == "hello"
    assert tags["mlflow.source.type"] == "LOCAL" and tags["mlflow.user"] == stored.info.user_id
    assert tags["mlflow.source.name"] == sys.argv[0]
    assert mlflow.last_active_run().info.status == RunStatus.FINISHED


def test_error_in_block_marks_failed_and_propagates(tracking_root):
    with pytest.raises(ZeroDivisionError):
        with mlflow.start_run() as run:
            1 / 0
    assert mlflow.get_run(run.info.run_id).info.status == RunStatus.FAILED


def test_nested_runs_get_parent_tag(tracking_root):
    with mlflow.start_run() as parent:
        with mlflow.start_run(nested=True) as child:
            assert mlflow.active_run().info.run_id == child.info.run_id
        assert mlflow.active_run().info.run_id == parent.info.run_id
        with pytest.raises(ReportgenError, match="is already active"):
            mlflow.start_run()
    assert mlflow.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert "mlflow.parentRunId" not in mlflow.get_run(parent.info.run_id).data.tags
    assert mlflow.get_parent_run(child.info.run_id).info.run_id == parent.info.run_id


def test_explicit_parent_run_id(tracking_root):
    parent = mlflow.start_run()
    mlflow.end_run()
    with mlflow.start_run(parent_run_id=parent.info.run_id) as child:
        pass
    assert mlflow.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id


def test_logging_without_run_starts_one(tracking_root):
    mlflow.log_param("p", 1)
    run = mlflow.active_run()
    assert run is not None
    mlflow.end_run()
    assert mlflow.get_run(run.info.run_id).data.params == {"p": "1"}


def test_resume_run(tracking_root):
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_metric("m", 1.0, step=0)
    with mlflow.start_run(run_id=run.info.run_id, tags={"again": "yes"}) as resumed:
        assert resumed.info.status == RunStatus.RUNNING
        assert mlflow.get_run(run.info.run_id).info.status == RunStatus.RUNNING
        mlflow.log_metric("m", 2.0, step=1)
    stored = mlflow.get_run(run.info.run_id)
    assert stored.info.status == RunStatus.FINISHED and stored.data.tags["again"] == "yes"
    assert [m.value for m in mlflow.MlflowClient().get_metric_history(run.info.run_id, "m")] == [1.0, 2.0]


def test_resume_from_environment(tracking_root, monkeypatch):
    with mlflow.start_run() as run:
        pass
    monkeypatch.setenv("MLFLOW_RUN_ID", run.info.run_id)
    with mlflow.start_run() as resumed:
        assert resumed.info.run_id == run.info.run_id
    assert "MLFLOW_RUN_ID" not in os.environ


def test_resume_deleted_run_fails(tracking_root):
    with mlflow.start_run() as run:
        pass
    mlflow.delete_run(run.info.run_id)
    with pytest.raises(ReportgenError, match="deleted state"):
        mlflow.start_run(run_id=run.info.run_id)
    mlflow.restore_run(run.info.run_id)
    with mlflow.start_run(run_id=run.info.run_id):
        pass


def test_end_run_status_and_noop(tracking_root):
    mlflow.end_run()  # nothing active: nothing happens
    run = mlflow.start_run()
    mlflow.end_run("KILLED")
    assert mlflow.get_run(run.info.run_id).info.status == RunStatus.KILLED


def test_set_experiment_by_name_and_id(tracking_root):
    experiment = mlflow.set_experiment("tutorial")
    again = mlflow.set_experiment("tutorial")
    assert experiment.experiment_id == again.experiment_id
    with mlflow.start_run() as run:
        pass
    assert run.info.experiment_id == experiment.experiment_id
    mlflow.set_experiment(experiment_id="0")
    with mlflow.start_run() as run:
        pass
    assert run.info.experiment_id == "0"
    with pytest.raises(InvalidParameterValue, match="exactly one"):
        mlflow.set_experiment()
    with pytest.raises(ResourceDoesNotExist):
        mlflow.set_experiment(experiment_id="999")
    mlflow.delete_experiment(experiment.experiment_id)
    with pytest.raises(InvalidParameterValue, match="Cannot set a deleted experiment"):
        mlflow.set_experiment("tutorial")
    mlflow.restore_experiment(experiment.experiment_id)
    assert mlflow.set_experiment("tutorial").experiment_id == experiment.experiment_id


def test_experiment_from_environment(tracking_root, monkeypatch):
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    with mlflow.start_run() as run:
        pass
    assert mlflow.get_experiment(run.info.experiment_id).name == "from-env"


def test_experiment_functions(tracking_root):
    experiment_id = mlflow.create_experiment("e", tags={"a": "b"})
    assert mlflow.get_experiment(experiment_id).tags == {"a": "b"}
    assert mlflow.get_experiment_by_name("e").experiment_id == experiment_id
    mlflow.set_experiment("e")
    mlflow.set_experiment_tags({"mlflow.note.content": "about e"})
    assert mlflow.get_experiment(experiment_id).description == "about e"
    assert {e.name for e in mlflow.search_experiments()} == {"e", "Default"}
    assert [e.name for e in mlflow.search_experiments(filter_string="name = 'e'")] == ["e"]


def test_log_calls(tracking_root):
    with mlflow.start_run() as run:
        mlflow.log_params({"a": 1, "b": [1, 2]})
        mlflow.log_metric("loss", 0.5)
        mlflow.log_metric("loss", 0.25, step=1, timestamp=5)
        mlflow.log_metrics({"x": 1, "y": 2.5}, step=3)
        mlflow.set_tags({"t1": "v", "t2": 2})
        mlflow.set_tag("gone", "x")
        mlflow.delete_tag("gone")
    stored = mlflow.get_run(run.info.run_id)
    assert stored.data.params == {"a": "1", "b": "[1, 2]"}
    assert stored.data.metrics == {"loss": 0.25, "x": 1.0, "y": 2.5}
    assert {"t1": "v", "t2": "2"}.items() <= stored.data.tags.items() and "gone" not in stored.data.tags
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "x")
    assert [(m.step, m.value) for m in history] == [(3, 1.0)]


def test_log_metric_to_explicit_run(tracking_root):
    with mlflow.start_run() as run:
        pass
    mlflow.log_metric("m", 3.0, run_id=run.info.run_id)
    assert mlflow.active_run() is None
    assert mlflow.get_run(run.info.run_id).data.metrics == {"m": 3.0}


def test_artifacts_text_dict_figure(tracking_root, tmp_path):
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "a.csv").write_text("x,y\n1,2\n")
    (source / "sub" / "b.md").write_text("# b")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(source / "a.csv"))
        mlflow.log_artifact(str(source / "a.csv"), artifact_path="data")
        mlflow.log_artifacts(str(source), artifact_path="tree")
        mlflow.log_text("hello ü", "notes/readme.txt")
        mlflow.log_dict({"b": 1, "a": [1, 2]}, "cfg.json")
        mlflow.log_dict({"b": 1, "a": [1, 2]}, "cfg.yaml")
        uri = mlflow.get_artifact_uri()
        assert mlflow.get_artifact_uri("cfg.json") == uri + "/cfg.json"
    root = Path(uri.removeprefix("file://"))
    assert (root / "a.csv").read_text() == "x,y\n1,2\n"
    assert (root / "data" / "a.csv").is_file() and (root / "tree" / "sub" / "b.md").read_text() == "# b"
    assert (root / "notes" / "readme.txt").read_text(encoding="utf-8") == "hello ü"
    assert json.loads((root / "cfg.json").read_text()) == {"b": 1, "a": [1, 2]}
    assert (root / "cfg.json").read_text() == json.dumps({"b": 1, "a": [1, 2]}, indent=2)
    assert yaml.safe_load((root / "cfg.yaml").read_text()) == {"a": [1, 2], "b": 1}
    listed = mlflow.MlflowClient().list_artifacts(run.info.run_id)
    assert [(f.path, f.is_dir) for f in listed] == [
        ("a.csv", False), ("cfg.json", False), ("cfg.yaml", False), ("data", True), ("notes", True), ("tree", True)]


def test_log_figure(tracking_root):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots()
    axes.plot([1, 2, 3])
    with mlflow.start_run():
        mlflow.log_figure(figure, "plots/line.png")
        mlflow.log_figure(figure, "plots/line.svg")
        uri = mlflow.get_artifact_uri()
    plt.close(figure)
    root = Path(uri.removeprefix("file://"))
    assert (root / "plots" / "line.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (root / "plots" / "line.svg").read_bytes()[:500]
    with mlflow.start_run(), pytest.raises(InvalidParameterValue, match="Unsupported figure"):
        mlflow.log_figure(object(), "x.png")


def test_search_runs_frame(tracking_root):
    mlflow.set_experiment("frame")
    for i in range(3):
        with mlflow.start_run(run_name=f"r{i}"):
            mlflow.log_param("i", i)
            mlflow.log_metric("acc", i / 10)
    frame = mlflow.search_runs(order_by=["metrics.acc DESC"])
    assert list(frame["tags.mlflow.runName"]) == ["r2", "r1", "r0"]
    assert {"run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time",
            "metrics.acc", "params.i"} <= set(frame.columns)
    listed = mlflow.search_runs(filter_string="params.i = '1'", output_format="list")
    assert [r.info.run_name for r in listed] == ["r1"]
    assert len(mlflow.search_runs(experiment_names=["frame"])) == 3
    assert len(mlflow.search_runs(search_all_experiments=True)) == 3
    with pytest.raises(InvalidParameterValue):
        mlflow.search_runs(experiment_ids=["0"], experiment_names=["frame"])


def test_threads_have_their_own_run_stack(tracking_root):
    seen = {}

    def work(name):
        with mlflow.start_run(run_name=name) as run:
            seen[name] = run.info.run_id
            mlflow.log_metric("m", 1.0)

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen.values())) == 4
    for run_id in seen.values():
        assert mlflow.get_run(run_id).info.status == RunStatus.FINISHED


def test_active_run_is_ended_at_interpreter_exit(tmp_path):
    script = "import reportgen.tracking as m; r = m.start_run(); print(r.info.run_id)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_TRACKING_URI=str(tmp_path / "mlruns"), PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    run_id = out.stdout.strip()
    run = mlflow.MlflowClient(str(tmp_path / "mlruns")).get_run(run_id)
    assert run.info.status == RunStatus.FINISHED
    assert run.data.tags["mlflow.source.name"] == "-c"


def test_git_tags_without_gitpython(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git" / "refs" / "heads").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    sha = "0123456789abcdef0123456789abcdef01234567"
    (repo / ".git" / "packed-refs").write_text(f"# pack-refs with: peeled\n{sha} refs/heads/main\n")
    (repo / ".git" / "config").write_text('[core]\n\tbare = false\n[remote "upstream"]\n'
                                          '\turl = https://user:token@example.invalid/r.git\n')
    (repo / "src").mkdir()
    script = repo / "src" / "train.py"
    script.write_text("")
    assert context.git_tags(str(script)) == {
        context.GIT_BRANCH: "main", context.GIT_COMMIT: sha, context.GIT_REPO_URL: "https://example.invalid/r.git"}
    loose = "f" * 40
    (repo / ".git" / "refs" / "heads" / "main").write_text(loose + "\n")
    context._git_cache.clear()
    assert context.git_tags(str(script))[context.GIT_COMMIT] == loose
    (repo / ".git" / "HEAD").write_text("a" * 40 + "\n")  # detached
    context._git_cache.clear()
    assert context.git_tags(str(script)) == {context.GIT_COMMIT: "a" * 40, context.GIT_REPO_URL:
                                            "https://example.invalid/r.git"}
    assert context.git_tags(str(tmp_path / "elsewhere.py")) == {}


def test_git_commit_tag_in_this_checkout(tmp_path):
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("git is not available")
    context._git_cache.clear()
    assert context.git_tags(str(REPO / "reportgen" / "__init__.py"))[context.GIT_COMMIT] == head.stdout.strip()


def test_no_git_tags_for_an_ignored_folder_like_mlflow(tmp_path):
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run([git, "init", "-q", str(repo)], check=True)
    subprocess.run([git, "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                    "--allow-empty", "-m", "init"], check=True)
    (repo / ".gitignore").write_text("ignored/\n")
    (repo / "ignored").mkdir()
    (repo / "kept").mkdir()
    (repo / "ignored" / "train.py").write_text("")
    (repo / "kept" / "train.py").write_text("")
    context._git_cache.clear()
    assert context.git_tags(str(repo / "ignored" / "train.py")) == {}
    assert context.GIT_COMMIT in context.git_tags(str(repo / "kept" / "train.py"))
    assert context.git_tags("-c") == {}


def test_start_run_argument_errors(tracking_root):
    with pytest.raises(InvalidParameterValue, match="Description is already set"):
        mlflow.start_run(description="a", tags={"mlflow.note.content": "b"})
    assert mlflow.active_run() is None
    other = mlflow.start_run()
    mlflow.end_run()
    with mlflow.start_run():
        with pytest.raises(ReportgenError, match="does not match the specified parent_run_id"):
            mlflow.start_run(nested=True, parent_run_id=other.info.run_id)
    mlflow.delete_run(other.info.run_id)
    with pytest.raises(ReportgenError, match="deleted state"):
        mlflow.start_run(parent_run_id=other.info.run_id)
    with mlflow.start_run(experiment_id=0) as run:  # an int id, as older code passes it
        assert run.info.experiment_id == "0"
