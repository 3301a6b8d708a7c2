"""The tutorial examples: what they log with reportgen.tracking, that real MLflow reads it, and that the
same scripts with `import mlflow` as their only change write an equivalent store."""
from __future__ import annotations

import itertools
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from mlflow_oracle import BLOCK_MLFLOW
from reportgen.tracking import MlflowClient
from reportgen.uri import path_to_file_uri

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SCRIPTS = ("hello_world", "logistic_regression", "elastic_net_wine")
IMPORT_LINE = "import reportgen.tracking as mlflow"


def _env(store: Path | str) -> dict[str, str]:
    """The environment of a script logging to `store` (a folder, or a tracking URI)."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID")}
    env["MLFLOW_TRACKING_URI"] = store if isinstance(store, str) else path_to_file_uri(store)
    env["MLFLOW_ALLOW_FILE_STORE"] = "true"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _run_all(scripts: list[Path], store: Path, cwd: Path) -> None:
    """Run the scripts side by side (each logs to its own experiment) and fail on any error."""
    procs = [
        subprocess.Popen([sys.executable, str(script)], env=_env(store), cwd=cwd,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for script in scripts
    ]
    for script, proc in zip(scripts, procs):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{script.name} failed:\n{out}\n{err}"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("examples")
    store = root / "mlruns"
    _run_all([EXAMPLES / f"{name}.py" for name in SCRIPTS], store, root)
    return store


@pytest.fixture(scope="module")
def client(store: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=path_to_file_uri(store))


def _runs(client: MlflowClient, experiment_name: str):
    experiment = client.get_experiment_by_name(experiment_name)
    assert experiment is not None, f"no experiment {experiment_name!r}"
    return client.search_runs([experiment.experiment_id])


def test_hello_world_logs_a_param_metrics_and_a_text_file(client, store):
    (run,) = _runs(client, "hello-world")
    assert run.info.status == "FINISHED"
    assert 0 <= int(run.data.params["param1"]) <= 100
    assert 0 <= run.data.metrics["foo"] < 1
    history = client.get_metric_history(run.info.run_id, "foo_history")
    assert [point.step for point in history] == [0, 1, 2]
    assert [f.path for f in client.list_artifacts(run.info.run_id)] == ["output.txt"]
    local = Path(client.download_artifacts(run.info.run_id, "output.txt", str(store.parent)))
    assert local.read_text(encoding="utf-8") == "Hello world!\n"


def test_logistic_regression_logs_one_run_per_c(client):
    runs = _runs(client, "logistic-regression")
    assert sorted(float(run.data.params["C"]) for run in runs) == [0.001, 0.01, 0.1, 1.0, 10.0]
    for run in runs:
        metrics = run.data.metrics
        assert run.info.status == "FINISHED"
        # Breast cancer is easy: any sane C scores well above chance (63% is the majority class).
        assert 0.85 < metrics["accuracy"] <= 1.0, run.info.run_name
        assert 0.9 < metrics["roc_auc"] <= 1.0
        assert 0 < metrics["log_loss"] < 0.7
        assert 0 < metrics["f1"] <= 1.0
        assert {f.path for f in client.list_artifacts(run.info.run_id)} == {"coefficients.json"}
    # Stronger regularisation shrinks the model: C=0.001 fits the training data worse than C=10.
    by_c = {float(run.data.params["C"]): run.data.metrics for run in runs}
    assert by_c[0.001]["train_accuracy"] < by_c[10.0]["train_accuracy"]


def test_elastic_net_logs_the_whole_grid_with_histories_model_and_plot(client, store):
    runs = _runs(client, "elastic-net-wine")
    grid = {(float(run.data.params["alpha"]), float(run.data.params["l1_ratio"])) for run in runs}
    assert len(runs) == 9
    assert grid == set(itertools.product((0.01, 0.1, 0.5), (0.1, 0.5, 0.9)))
    for run in runs:
        metrics = run.data.metrics
        assert all(math.isfinite(value) for value in metrics.values()), run.info.run_name
        assert 0 < metrics["mae"] <= metrics["rmse"] < 1.5  # alcohol is 11-15 %
        assert -0.5 < metrics["r2"] < 1
        history = client.get_metric_history(run.info.run_id, "test/rmse")
        assert [point.step for point in history] == list(range(1, int(metrics["passes"]) + 1))
        # The final rmse is the test rmse after the last pass: the history ends where the run ends.
        assert history[-1].value == pytest.approx(metrics["rmse"])
        assert len(client.get_metric_history(run.info.run_id, "train/rmse")) == len(history)
        paths = {f.path for f in client.list_artifacts(run.info.run_id)}
        assert paths == {"model", "plots"}
        plot = store / run.info.experiment_id / run.info.run_id / "artifacts" / "plots" / "fit.png"
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Heavier regularisation fits worse: the best r2 is not at alpha=0.5, l1_ratio=0.9.
    by_point = {(float(r.data.params["alpha"]), float(r.data.params["l1_ratio"])): r for r in runs}
    assert by_point[(0.5, 0.9)].data.metrics["r2"] < by_point[(0.01, 0.5)].data.metrics["r2"]


def test_elastic_net_model_artifact_reproduces_the_logged_rmse(client, store):
    sys.path.insert(0, str(EXAMPLES))
    try:
        import elastic_net_wine
    finally:
        sys.path.remove(str(EXAMPLES))
    run = _runs(client, "elastic-net-wine")[0]
    model_path = store / run.info.experiment_id / run.info.run_id / "artifacts" / "model" / "model.pkl"
    with model_path.open("rb") as handle:
        model = pickle.load(handle)  # noqa: S301 - written by the example in this test
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split

    frame = load_wine(as_frame=True).frame
    target = frame.pop("alcohol").to_numpy()
    _, x_test, _, y_test = train_test_split(
        frame.drop(columns="target").to_numpy(), target, test_size=0.25, random_state=int(run.data.params["seed"])
    )
    assert elastic_net_wine.rmse(y_test, model.predict(x_test)) == pytest.approx(run.data.metrics["rmse"])


def _summary(mlflow_module, store: Path) -> dict:
    """Run name -> (status, params, latest metrics, metric step counts, tag keys minus git, artifact paths)."""
    client = mlflow_module.MlflowClient(tracking_uri=path_to_file_uri(store))
    summary = {}
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id]):
            steps = {key: len(client.get_metric_history(run.info.run_id, key)) for key in run.data.metrics}
            artifacts = sorted(_walk(client, run.info.run_id, None))
            tags = sorted(key for key in run.data.tags if not key.startswith("mlflow.source.git."))
            # Same seeds, same code: the values agree too (rounded: BLAS may differ in the last bit).
            latest = {key: round(value, 9) for key, value in run.data.metrics.items()}
            summary[(experiment.name, run.info.run_name)] = (
                run.info.status, dict(run.data.params), latest, steps, tags, artifacts
            )
    return summary


def _walk(client, run_id: str, path: str | None):
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            yield from _walk(client, run_id, info.path)
        else:
            yield info.path


@pytest.mark.oracle
def test_real_mlflow_reads_the_examples_store_as_reportgen_does(store, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    ours = _summary(sys.modules["reportgen.tracking"], store)
    assert len(ours) == 15
    assert _summary(mlflow, store) == ours
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(path_to_file_uri(store))
    try:
        frame = mlflow.search_runs(experiment_names=["elastic-net-wine"])
    finally:
        mlflow.set_tracking_uri(previous)
    assert len(frame) == 9
    grid = set(zip(frame["params.alpha"].astype(float), frame["params.l1_ratio"].astype(float)))
    assert grid == set(itertools.product((0.01, 0.1, 0.5), (0.1, 0.5, 0.9)))
    assert frame["metrics.rmse"].between(0, 1.5).all()


@pytest.mark.oracle
def test_the_examples_with_import_mlflow_write_an_equivalent_store(store, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    scripts = []
    for name in SCRIPTS:
        source = (EXAMPLES / f"{name}.py").read_text(encoding="utf-8")
        assert source.count(IMPORT_LINE) == 1, f"{name}.py must import reportgen.tracking exactly once"
        script = tmp_path / f"{name}.py"
        script.write_text(source.replace(IMPORT_LINE, "import mlflow"), encoding="utf-8")
        scripts.append(script)
    mlflow_store = tmp_path / "mlruns"
    _run_all(scripts, mlflow_store, tmp_path)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    assert _summary(mlflow, mlflow_store) == _summary(sys.modules["reportgen.tracking"], store)


def test_tracking_uri_option_wins_over_the_environment(tmp_path):
    chosen, ignored = tmp_path / "chosen", tmp_path / "ignored"
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "hello_world.py"), "--tracking-uri", str(chosen), "--experiment", "hi"],
        env=_env(ignored), cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert not ignored.exists()
    (run,) = _runs(MlflowClient(tracking_uri=path_to_file_uri(chosen)), "hi")
    assert run.info.run_name == "hello-world"


# -- the tutorial's three tasks as MLflow's docs write them (examples/tutorial/), imports swapped ------------
TUTORIAL = EXAMPLES / "tutorial"
BLOCK_MLFLOW_AND_RUN = BLOCK_MLFLOW + (
    "import runpy\n"
    "sys.argv = [sys.argv[1]]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)
SKLEARN_TASKS = ("sklearn_elasticnet_wine", "sklearn_logistic_regression")


def _as_written_for_mlflow(source: str) -> str:
    """The tutorial file with its swapped import lines turned back into MLflow's."""
    source = source.replace("import reportgen.tracking as mlflow", "import mlflow")
    source = source.replace("import reportgen.tracking.sklearn", "import mlflow.sklearn")
    return source.replace("from reportgen.tracking", "from mlflow")


def _run_tutorial(script: Path, store: Path | str, cwd: Path, *, block_mlflow: bool) -> str:
    command = [sys.executable, "-c", BLOCK_MLFLOW_AND_RUN, str(script)] if block_mlflow else [sys.executable, str(script)]
    env = _env(store)
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{script.name} failed:\n{done.stdout}\n{done.stderr[-3000:]}"
    return done.stdout


def _uri(backend: str, folder: Path) -> str:
    """The tracking URI a tutorial task logs to: a file store, or an SQLite database (MLflow 3's default)."""
    return path_to_file_uri(folder / "mlruns") if backend == "file" else f"sqlite:///{folder / 'mlflow.db'}"


@pytest.mark.parametrize("backend", ["file", "sqlite"])
def test_tutorial_hello_world_runs_without_mlflow(backend, tmp_path):
    uri = _uri(backend, tmp_path)
    out = _run_tutorial(TUTORIAL / "hello_world.py", uri, tmp_path, block_mlflow=True)
    assert f"Tracking URI: {uri}" in out
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs(["0"])
    assert 0 <= int(run.data.params["param1"]) <= 100
    assert [m.step for m in client.get_metric_history(run.info.run_id, "foo")] == [0, 0, 0]
    assert set(run.data.metrics) == {"foo", "accuracy 2"}
    assert sorted(_walk(client, run.info.run_id, None)) == ["outputs/test.txt", "test.txt"]


@pytest.mark.parametrize("backend", ["file", "sqlite"])
@pytest.mark.parametrize("task", SKLEARN_TASKS)
def test_tutorial_sklearn_tasks_run_without_mlflow(task, backend, tmp_path):
    uri = _uri(backend, tmp_path)
    _run_tutorial(TUTORIAL / f"{task}.py", uri, tmp_path, block_mlflow=True)
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs(["0"])
    assert run.info.status == "FINISHED"
    assert run.data.metrics


def _tutorial_summary(mlflow_module, uri: str, *, deterministic: bool) -> list:
    client = mlflow_module.MlflowClient(tracking_uri=uri)
    summary = []
    for run in client.search_runs(["0"]):
        histories = {key: len(client.get_metric_history(run.info.run_id, key)) for key in run.data.metrics}
        tags = sorted(key for key in run.data.tags if not key.startswith("mlflow.source."))
        params = dict(run.data.params) if deterministic else sorted(run.data.params)
        metrics = {k: round(v, 9) for k, v in run.data.metrics.items()} if deterministic else None
        summary.append((run.info.status, params, metrics, histories, tags, sorted(_walk(client, run.info.run_id, None))))
    return summary


@pytest.mark.oracle
@pytest.mark.parametrize("backend", ["file", "sqlite"])
@pytest.mark.parametrize("task", ("hello_world", *SKLEARN_TASKS))
def test_tutorial_task_reads_the_same_in_mlflow_as_when_mlflow_wrote_it(task, backend, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    ours_dir, real_dir = tmp_path / "ours", tmp_path / "real"
    ours_dir.mkdir()
    real_dir.mkdir()
    ours_uri, real_uri = _uri(backend, ours_dir), _uri(backend, real_dir)
    _run_tutorial(TUTORIAL / f"{task}.py", ours_uri, ours_dir, block_mlflow=True)
    as_written = real_dir / f"{task}.py"
    as_written.write_text(_as_written_for_mlflow((TUTORIAL / f"{task}.py").read_text(encoding="utf-8")), encoding="utf-8")
    _run_tutorial(as_written, real_uri, real_dir, block_mlflow=False)
    deterministic = task != "hello_world"  # hello world logs random numbers
    ours = _tutorial_summary(mlflow, ours_uri, deterministic=deterministic)
    assert len(ours) == 1
    assert ours == _tutorial_summary(mlflow, real_uri, deterministic=deterministic)
    if task != "hello_world":
        assert len(mlflow.MlflowClient(ours_uri).search_logged_models(["0"])) == 1
