"""Models logged by reportgen.tracking.sklearn, read by real MLflow 3: loaded through models:/ and runs:/
URIs they predict as the original, the logged model is listed with its run, the signature and input
example read back equal MLflow's own inference, and the files match those MLflow's log_model writes."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("sklearn")

from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer, StandardScaler  # noqa: E402

import reportgen.tracking as rg  # noqa: E402
from reportgen.errors import InvalidParameterValue, ReportgenError  # noqa: E402
from reportgen.tracking import sklearn as rg_sklearn  # noqa: E402
from reportgen.tracking.models import infer_signature  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.oracle


@pytest.fixture(autouse=True)
def _mlflow_reads_files(monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")  # MLflow 3.17 refuses to load otherwise
    yield
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    mlflow.tracking.fluent._active_experiment_id = None


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=40), "b": rng.integers(0, 3, size=40)})
    y = (X.a + X.b > 1).astype(int)
    return X, y, LogisticRegression().fit(X, y)


def _log(X, model, **kwargs):
    with rg.start_run() as run:
        rg.log_param("C", 1.0)
        rg.log_metric("acc", 0.75, step=0)
        rg.log_metric("acc", 0.8, step=1)
        info = rg_sklearn.log_model(model, **kwargs)
    return run.info.run_id, info


@pytest.mark.parametrize("fmt", ["skops", "pickle", "cloudpickle"])
def test_mlflow_loads_our_model_and_predicts_the_same(tracking_root, data, fmt):
    X, _, model = data
    run_id, info = _log(X, model, name="clf", serialization_format=fmt)
    mlflow.set_tracking_uri(tracking_root.as_uri())
    expected = model.predict(X)
    for uri in (f"models:/{info.model_id}", f"runs:/{run_id}/clf", info.model_uri):
        np.testing.assert_array_equal(mlflow.sklearn.load_model(uri).predict(X), expected)
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(f"runs:/{run_id}/clf").predict(X), expected)
    # Requirements: mlflow first, then the packages the pickle names and the serialization library.
    lines = (Path(mlflow.artifacts.download_artifacts(info.model_uri)) / "requirements.txt").read_text().splitlines()
    import sklearn

    assert lines[0].startswith("mlflow") and f"scikit-learn=={sklearn.__version__}" in lines
    assert f"numpy=={np.__version__}" in lines
    assert any(line.startswith(f"{fmt}==") for line in lines) == (fmt != "pickle")


def test_mlflow_lists_the_logged_model_with_its_run(tracking_root, data):
    X, _, model = data
    experiment = rg.set_experiment("models")
    run_id, info = _log(X, model, name="clf", params={"extra": 3}, tags={"team": "x"}, model_type="classifier")
    mlflow.set_tracking_uri(tracking_root.as_uri())
    client = mlflow.MlflowClient()
    [listed] = client.search_logged_models(experiment_ids=[experiment.experiment_id])
    assert (listed.model_id, listed.name, listed.source_run_id, listed.model_type) == (
        info.model_id, "clf", run_id, "classifier")
    assert str(listed.status) == "READY"
    assert listed.params == {"C": "1.0", "extra": "3"}
    assert listed.tags["team"] == "x" and listed.tags["mlflow.source.type"] == "LOCAL"
    # The run's metrics at step 0 (log_model's default step) go to the model, with the run's id.
    assert [(m.key, m.value, m.step, m.run_id) for m in listed.metrics] == [("acc", 0.75, 0, run_id)]
    assert client.get_logged_model(info.model_id).artifact_location == info.artifact_path
    outputs = client.get_run(run_id).outputs.model_outputs
    assert [(o.model_id, o.step) for o in outputs] == [(info.model_id, 0)]


@pytest.mark.parametrize("kind", ["dataframe", "ndarray"])
def test_signature_and_example_read_back_as_mlflow_infers_them(tracking_root, data, kind):
    X, y, _ = data
    inputs = X if kind == "dataframe" else X.to_numpy()
    model = LogisticRegression().fit(inputs, y)
    signature = infer_signature(inputs, model.predict(inputs))
    _, info = _log(X, model, name="clf", signature=signature, input_example=inputs[:3])
    mlflow.set_tracking_uri(tracking_root.as_uri())
    read = mlflow.models.get_model_info(info.model_uri)
    assert read.signature == mlflow.models.infer_signature(inputs, model.predict(inputs))
    example = mlflow.models.Model.load(info.model_uri).load_input_example(
        mlflow.artifacts.download_artifacts(info.model_uri))
    if kind == "dataframe":
        pd.testing.assert_frame_equal(example, X[:3].reset_index(drop=True))
    else:
        np.testing.assert_array_equal(example, inputs[:3])


SIGNATURE_CASES = {
    "frame": lambda: pd.DataFrame({
        "a": [1.0, 2.0], "b": [1, 2], "s": ["x", "y"], "f": np.array([1, 2], dtype="float32"),
        "i32": np.array([1, 2], dtype="int32"), "u8": np.array([1, 2], dtype="uint8"), "bo": [True, False],
        "dt": pd.to_datetime(["2020-01-01", "2020-01-02"]), "nan": [1.0, np.nan], "by": [b"a", b"b"],
        "snone": ["a", None], "obj": pd.Series(["a", "b"], dtype=object), "cat": pd.Categorical(["a", "b"]),
        "lists": [[1, 2], [3]]}),
    "int-columns": lambda: pd.DataFrame({1: [1.0], 2: [2.0]}),
    "series": lambda: pd.Series([1, 2], name="y"),
    "unnamed-series": lambda: pd.Series([1.0, 2.0]),
    "matrix": lambda: np.zeros((3, 4)),
    "vector": lambda: np.array([1, 2, 3]),
    "strings": lambda: np.array(["a", "bb"]),
    "tensors": lambda: {"x": np.zeros((2, 3), dtype="float32"), "y": np.array([1, 2])},
    "sparse": lambda: __import__("scipy.sparse").sparse.csr_matrix(np.eye(3)),
    "floats": lambda: [1.0, 2.0],
    "nested-lists": lambda: [[1, 2], [3]],
    "records": lambda: [{"a": 1, "b": "x"}, {"a": 2, "b": None}],
    "json-object": lambda: {"a": 1, "b": "s", "c": [1.5]},
    "scalar": lambda: 3,
    "text": lambda: "hi",
    "mixed": lambda: pd.DataFrame({"a": [1, "x"]}),  # MLflow falls back to one column of any type
}


@pytest.mark.parametrize("case", sorted(SIGNATURE_CASES))
def test_signatures_and_examples_equal_mlflows(case):
    from mlflow.models.utils import _Example

    from reportgen.tracking.models.example import make_example

    value = SIGNATURE_CASES[case]()
    params = {"p": 1, "q": [1.0, 2.0], "r": "s", "t": True}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both warn about integer columns
        assert infer_signature(value, value, params).to_dict() == mlflow.models.infer_signature(
            value, value, params).to_dict()
    try:
        theirs = _Example((value, params))
    except mlflow.exceptions.MlflowException:  # not an example MLflow takes (a Series): ours refuses too
        with pytest.raises(InvalidParameterValue):
            make_example((value, params))
        return
    ours = make_example((value, params))
    assert (ours.info, ours.example_json, ours.serving_json) == (
        theirs.info, theirs.json_input_example, theirs.json_serving_input)


def _mlflow_log(store: Path, X, model, **kwargs):
    mlflow.set_tracking_uri(store.as_uri())
    with mlflow.start_run() as run:
        mlflow.log_param("C", 1.0)
        mlflow.log_metric("acc", 0.75, step=0)
        mlflow.log_metric("acc", 0.8, step=1)
        info = mlflow.sklearn.log_model(model, **kwargs)
    mlflow.set_tracking_uri(None)
    return run.info.run_id, info


def _tree(root: Path, ids: dict[str, str]) -> dict[str, object]:
    """Every file of the store with ids and volatile values replaced, parsed where it is YAML."""
    found = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        text = path.read_text(errors="replace")
        for real, placeholder in ids.items():
            rel, text = rel.replace(real, placeholder), text.replace(real, placeholder)
        text = re.sub(r"\b1[0-9]{12}\b", "<ms>", text)
        if path.name in ("meta.yaml", "MLmodel", "conda.yaml", "python_env.yaml"):
            parsed = yaml.safe_load(text)
            for volatile in ("utc_time_created", "mlflow_version", "run_name", "model_size_bytes"):
                parsed.pop(volatile, None)
            found[rel] = parsed
        elif path.suffix in (".skops", ".pkl"):
            found[rel] = "<model>"
        elif "/tags/" in rel and path.name in ("mlflow.runName", "mlflow.source.name"):
            found[rel] = "<volatile>"
        else:
            found[rel] = text
    return found


def _options(tmp_path: Path, kind: str) -> dict[str, object]:
    if kind == "example":
        return {"input_example": "X[:3]", "pip_requirements": ["scikit-learn"]}
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "features.py").write_text("SCALE = 2\n")
    (tmp_path / "notes.txt").write_text("read me")
    return {
        "serialization_format": "cloudpickle", "code_paths": [str(tmp_path / "helpers")],
        "extra_files": [str(tmp_path / "notes.txt")], "metadata": {"owner": "me"},
        "registered_model_name": "quick", "tags": {"team": "x"},
        "conda_env": {"name": "env", "channels": ["defaults"], "dependencies": ["python=3.11", {"pip": ["scikit-learn"]}]},
    }


@pytest.mark.parametrize("kind", ["example", "files"])
def test_files_equal_those_mlflow_log_model_writes(tmp_path, tracking_root, data, kind):
    X, _, model = data
    kwargs = {"name": "clf", **_options(tmp_path, kind)}
    if "input_example" in kwargs:
        kwargs["input_example"] = X[:3]
    ours_run, ours = _log(X, model, **kwargs)
    theirs_root = tmp_path / "theirs"
    theirs_run, theirs = _mlflow_log(theirs_root, X, model, **kwargs)
    ours_tree = _tree(tracking_root, {ours_run: "<run>", ours.model_id: "<model>", tracking_root.as_uri(): "<root>"})
    theirs_tree = _tree(theirs_root, {theirs_run: "<run>", theirs.model_id: "<model>", theirs_root.as_uri(): "<root>"})
    assert ours_tree.keys() == theirs_tree.keys()
    for rel in ours_tree:
        assert ours_tree[rel] == theirs_tree[rel], rel


def test_save_model_writes_the_folder_mlflow_save_model_writes(tmp_path, data):
    X, _, model = data
    kwargs = {"input_example": X[:2], "pip_requirements": ["scikit-learn"], "pyfunc_predict_fn": "predict_proba"}
    rg_sklearn.save_model(model, tmp_path / "ours", **kwargs)
    mlflow.sklearn.save_model(model, tmp_path / "theirs", **kwargs)
    ours, theirs = _tree(tmp_path / "ours", {}), _tree(tmp_path / "theirs", {})
    for tree in (ours, theirs):
        assert tree["MLmodel"].pop("model_uuid")  # random in both
    assert ours == theirs
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(str(tmp_path / "ours")).predict(X), model.predict_proba(X))
    with pytest.raises(InvalidParameterValue, match="already exists and is not empty"):
        rg_sklearn.save_model(model, tmp_path / "ours")


def test_signature_inferred_from_the_example_as_mlflow_does(tmp_path, tracking_root, data):
    X, _, model = data
    _, ours = _log(X, model, name="clf", input_example=X[:5])
    _, theirs = _mlflow_log(tmp_path / "theirs", X, model, name="clf", input_example=X[:5],
                            pip_requirements=["scikit-learn"])
    assert ours.signature.to_dict() == theirs.signature.to_dict()
    assert ours.saved_input_example_info == theirs.saved_input_example_info


def test_registered_versions_load_through_mlflows_registry(tracking_root, data):
    X, _, model = data
    run_id, first = _log(X, model, name="clf", registered_model_name="quick", tags={"team": "x"})
    _, second = _log(X, model, name="clf", registered_model_name="quick")
    assert (first.registered_model_version, second.registered_model_version) == (1, 2)
    mlflow.set_tracking_uri(tracking_root.as_uri())
    client = mlflow.MlflowClient()
    version = client.get_model_version("quick", "1")
    assert (version.source, version.run_id, version.model_id, version.tags) == (
        first.model_uri, run_id, first.model_id, {"team": "x"})
    assert str(client.get_registered_model("quick").latest_versions[0].version) == "2"
    assert client.get_logged_model(first.model_id).tags["mlflow.modelVersions"] == '[{"name": "quick", "version": 1}]'
    np.testing.assert_array_equal(mlflow.pyfunc.load_model("models:/quick/1").predict(X), model.predict(X))


def test_model_logged_without_a_run_belongs_to_the_active_experiment(tracking_root, data):
    X, _, model = data
    experiment = rg.set_experiment("no-run")
    info = rg_sklearn.log_model(model, artifact_path="clf")  # MLflow 2's spelling of name
    assert rg.active_run() is None and info.run_id is None
    mlflow.set_tracking_uri(tracking_root.as_uri())
    listed = mlflow.MlflowClient().get_logged_model(info.model_id)
    assert (listed.experiment_id, listed.name, listed.source_run_id) == (experiment.experiment_id, "clf", None)
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(info.model_uri).predict(X), model.predict(X))


def test_name_and_artifact_path_together_are_refused(tracking_root, data):
    with pytest.raises(InvalidParameterValue, match="Both `artifact_path`"):
        rg_sklearn.log_model(data[2], artifact_path="a", name="b")


def test_a_model_that_cannot_be_saved_is_marked_failed(tracking_root, data):
    X, y, _ = data
    # skops refuses a lambda; the logged model is then FAILED, as MLflow leaves it.
    model = make_pipeline(FunctionTransformer(lambda v: v), StandardScaler(), LogisticRegression()).fit(X, y)
    with rg.start_run():
        with pytest.raises(ReportgenError, match="skops"):
            rg_sklearn.log_model(model, name="clf")
    mlflow.set_tracking_uri(tracking_root.as_uri())
    [listed] = mlflow.MlflowClient().search_logged_models(experiment_ids=["0"])
    assert str(listed.status) == "FAILED"


def test_reportgen_builds_a_store_holding_models_without_problems(tmp_path, tracking_root, data):
    import reportgen

    X, _, model = data
    run_id, _ = _log(X, model, name="clf", registered_model_name="quick")
    assert rg.MlflowClient(tracking_root.as_uri()).get_run(run_id).data.params == {"C": "1.0"}
    result = reportgen.build_site([str(tracking_root)], tmp_path / "site", static_charts=False, strict=True)
    assert result.runs == 1 and not result.problems


# MLflow 3's tracking quickstart as its docs write it, with only the import lines swapped.
QUICKSTART = textwrap.dedent(
    """
    import sys, warnings

    class Blocked:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("mlflow", "skops"):
                raise ImportError(name + " is blocked in this test")
            return None

    sys.meta_path.insert(0, Blocked())
    warnings.simplefilter("ignore")

    import reportgen.tracking as mlflow
    import reportgen.tracking.sklearn
    from reportgen.tracking.models import infer_signature
    from sklearn import datasets
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split

    X, y = datasets.load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
    params = {"solver": "lbfgs", "max_iter": 1000, "multi_class": "auto", "random_state": 8888}
    lr = LogisticRegression(**{k: v for k, v in params.items() if k != "multi_class"})
    lr.fit(X_train, y_train)
    accuracy = accuracy_score(y_test, lr.predict(X_test))

    mlflow.set_tracking_uri(sys.argv[1])
    mlflow.set_experiment("MLflow Quickstart")
    with mlflow.start_run():
        mlflow.log_params(params)
        mlflow.log_metric("accuracy", accuracy)
        mlflow.set_tag("Training Info", "Basic LR model for iris data")
        signature = infer_signature(X_train, lr.predict(X_train))
        model_info = mlflow.sklearn.log_model(
            sk_model=lr,
            name="iris_model",
            signature=signature,
            input_example=X_train,
            registered_model_name="tracking-quickstart",
        )
    assert not any(name.split(".")[0] in ("mlflow", "skops") for name in sys.modules)
    print(model_info.model_uri)
    """
)


def test_quickstart_without_mlflow_or_skops_then_loaded_by_mlflow(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MLFLOW_TRACKING_URI", None)
    store = tmp_path / "mlruns"
    done = subprocess.run([sys.executable, "-c", QUICKSTART, str(store)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    model_uri = done.stdout.split()[-1]
    mlflow.set_tracking_uri(store.as_uri())
    from sklearn import datasets

    X, y = datasets.load_iris(return_X_y=True)
    for uri in (model_uri, "models:/tracking-quickstart/1"):
        loaded = mlflow.pyfunc.load_model(uri)
        assert (loaded.predict(X) == y).mean() > 0.9
    assert loaded.metadata.flavors["sklearn"]["serialization_format"] == "pickle"  # skops was not there
    [run] = mlflow.search_runs(experiment_names=["MLflow Quickstart"], output_format="list")
    assert run.data.tags["Training Info"] == "Basic LR model for iris data"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from mlflow_server import running

    root = tmp_path_factory.mktemp("models-server")
    with running(f"sqlite:///{root / 'mlflow.db'}", root) as server:
        yield server


def test_model_logged_to_a_server_loads_through_it(server, data, monkeypatch):
    for name in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    X, _, model = data
    rg.set_tracking_uri(server.url)
    try:
        rg.set_experiment("served-models")
        run_id, info = _log(X, model, name="clf", input_example=X[:3], params={"extra": 3},
                            registered_model_name="served")
    finally:
        rg.set_tracking_uri(None)
    mlflow.set_tracking_uri(server.url)
    for uri in (info.model_uri, f"runs:/{run_id}/clf"):
        np.testing.assert_array_equal(mlflow.pyfunc.load_model(uri).predict(X), model.predict(X))
    client = mlflow.MlflowClient()
    listed = client.get_logged_model(info.model_id)
    assert (str(listed.status), listed.source_run_id, listed.params) == ("READY", run_id, {"C": "1.0", "extra": "3"})
    assert [(m.key, m.value, m.step) for m in listed.metrics] == [("acc", 0.75, 0)]
    assert [o.model_id for o in client.get_run(run_id).outputs.model_outputs] == [info.model_id]
    assert mlflow.models.get_model_info(info.model_uri).signature.to_dict() == info.signature.to_dict()
    version = client.get_model_version("served", str(info.registered_model_version))
    assert (version.source, version.run_id) == (info.model_uri, run_id)  # the server keeps no model_id
    assert client.get_logged_model(info.model_id).tags["mlflow.modelVersions"] == json.dumps(
        [{"name": "served", "version": info.registered_model_version}])
    np.testing.assert_array_equal(mlflow.pyfunc.load_model("models:/served/1").predict(X), model.predict(X))


def test_mlflow_signature_objects_are_accepted(tracking_root, data):
    X, _, model = data
    theirs = mlflow.models.infer_signature(X, model.predict(X))
    _, info = _log(X, model, name="clf", signature=theirs)
    mlflow.set_tracking_uri(tracking_root.as_uri())
    assert mlflow.models.get_model_info(info.model_uri).signature == theirs


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "a/b"}, "Invalid model name"),
    ({"name": "m", "serialization_format": "joblib"}, "Unrecognized serialization format"),
    ({"name": "m", "registered_model_name": "a:b"}, "Names cannot contain"),
    ({"name": "m", "model_id": "m-1"}, "not supported yet: model_id"),
])
def test_bad_arguments_are_one_line_errors(tracking_root, data, kwargs, message):
    with pytest.raises(ReportgenError, match=message) as caught:
        rg_sklearn.log_model(data[2], **kwargs)
    assert "\n" not in caught.value.message


def test_model_logged_to_sqlite_and_registered_loads_in_mlflow(tmp_path, data, monkeypatch):
    """log_model(registered_model_name=...) on SQLite, as the tutorial's elastic-net task does when its
    tracking URI is not a folder: MLflow lists the logged model, the registered model and its versions."""
    X, _, model = data
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root for a database is ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    rg.set_tracking_uri(uri)
    try:
        run_id, info = _log(X, model, name="clf", registered_model_name="quick")
        _, again = _log(X, model, name="clf", registered_model_name="quick")
    finally:
        rg.set_tracking_uri(None)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    listed = {m.model_id: m for m in client.search_logged_models(experiment_ids=["0"])}
    assert set(listed) == {info.model_id, again.model_id}
    assert (listed[info.model_id].source_run_id, str(listed[info.model_id].status)) == (run_id, "READY")
    versions = sorted(client.search_model_versions("name='quick'"), key=lambda v: int(v.version))
    assert (versions[0].source, versions[0].run_id) == (f"models:/{info.model_id}", run_id)
    assert [int(v.version) for v in versions] == [1, 2]
    assert json.loads(listed[info.model_id].tags["mlflow.modelVersions"]) == [{"name": "quick", "version": 1}]
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(f"runs:/{run_id}/clf").predict(X), model.predict(X))
    np.testing.assert_array_equal(mlflow.pyfunc.load_model("models:/quick/2").predict(X), model.predict(X))
