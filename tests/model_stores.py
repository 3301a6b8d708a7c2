"""Stores holding MLflow 3 logged models for the model tests: written by real MLflow 3.17's
mlflow.sklearn.log_model (file store, SQLite, a server), by reportgen.tracking's log_model, or by hand (a
model folder as MLflow's FileStore writes it, for hostile and malformed content)."""
from __future__ import annotations

import contextlib
import json
import os
import uuid
import warnings
from pathlib import Path
from typing import Iterator

import mlruns_builder as mb
from reportgen import mlruns

T0 = mb.T0


def _workdir(tracking_uri: str) -> contextlib.AbstractContextManager:
    """Beside a SQLite database: MLflow (and reportgen.tracking) put its artifacts in ./mlruns of the working
    folder, which must not be the repository's."""
    if tracking_uri.startswith("sqlite:///"):
        return contextlib.chdir(Path(tracking_uri[len("sqlite:///"):]).parent)
    return contextlib.nullcontext()


@contextlib.contextmanager
def mlflow_at(tracking_uri: str) -> Iterator[object]:
    """Real MLflow logging to `tracking_uri` (file stores allowed), its globals restored on leaving."""
    import mlflow

    saved = {name: os.environ.get(name) for name in ("MLFLOW_ALLOW_FILE_STORE", "MLFLOW_EXPERIMENT_ID")}
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    mlflow.set_tracking_uri(tracking_uri)
    try:
        with warnings.catch_warnings(), _workdir(tracking_uri):
            warnings.simplefilter("ignore")
            yield mlflow
    finally:
        while mlflow.active_run():
            mlflow.end_run()
        mlflow.set_tracking_uri(None)
        mlflow.tracking.fluent._active_experiment_id = None
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def log_with_mlflow(tracking_uri: str, *, experiment: str = "models") -> dict[str, str]:
    """One experiment: run "trained" logs a param, a metric at steps 0 and 1 and an sklearn model (with a
    signature from its input example, model params, tags, a type); run "plain" logs no model; a model is
    logged outside any run. Returns the ids."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    X = np.random.default_rng(0).normal(size=(30, 2))
    y = (X[:, 0] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    with mlflow_at(tracking_uri) as mlflow:
        experiment_id = mlflow.set_experiment(experiment).experiment_id
        with mlflow.start_run(run_name="plain") as plain:
            mlflow.log_metric("acc", 0.5, step=0)
        with mlflow.start_run(run_name="trained") as run:
            mlflow.log_param("C", 1.0)
            mlflow.log_metric("acc", 0.9, step=0)
            mlflow.log_metric("acc", 0.95, step=1)
            info = mlflow.sklearn.log_model(model, name="clf", input_example=X[:2], params={"solver": "lbfgs"},
                                            tags={"team": "vision"}, model_type="classifier",
                                            pip_requirements=["scikit-learn"])
        loose = mlflow.sklearn.log_model(model, name="loose", pip_requirements=["scikit-learn"])
    return {"experiment_id": experiment_id, "run_id": run.info.run_id, "plain_run_id": plain.info.run_id,
            "model_id": info.model_id, "loose_model_id": loose.model_id}


def log_with_reportgen(tracking_uri: str) -> dict[str, str]:
    """The same model logged by reportgen.tracking (MLflow not used to write)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    import reportgen.tracking as rg
    from reportgen.tracking import sklearn as rg_sklearn

    X = np.random.default_rng(0).normal(size=(30, 2))
    model = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    rg.set_tracking_uri(tracking_uri)
    try:
        with _workdir(tracking_uri):
            experiment_id = rg.set_experiment("ours").experiment_id
            with rg.start_run(run_name="trained") as run:
                rg.log_param("C", 1.0)
                rg.log_metric("acc", 0.9, step=0)
                info = rg_sklearn.log_model(model, name="clf", input_example=X[:2], params={"solver": "lbfgs"},
                                            tags={"team": "vision"}, model_type="classifier")
    finally:
        rg.set_tracking_uri(None)
    return {"experiment_id": experiment_id, "run_id": run.info.run_id, "model_id": info.model_id}


MLMODEL = """artifact_path: {location}
flavors:
  {flavor}:
    loader_module: {loader}
    python_version: 3.11.7
mlflow_version: 3.17.2
model_id: {model_id}
signature:
  inputs: '{inputs}'
  outputs: '[{{"type": "long"}}]'
  params: null
utc_time_created: '2026-01-01 00:00:00.000000'
"""


def write_model(experiment_folder: Path, *, run_id: str | None, name: str = "clf", params: dict | None = None,
                tags: dict | None = None, metrics: dict | None = None, flavor: str = "sklearn",
                inputs: list | None = None, files: dict | None = None, status: int = 2,
                example: object = None) -> str:
    """A logged model folder as MLflow 3.17's FileStore writes one (with `example` as its input_example.json,
    named by the MLmodel); returns its id."""
    model_id = f"m-{uuid.uuid4().hex}"
    folder = experiment_folder / mlruns.MODELS_DIR / model_id
    location = (folder / "artifacts").as_uri()
    meta = {"artifact_location": location, "creation_timestamp": T0, "experiment_id": experiment_folder.name,
            "last_updated_timestamp": T0 + 5, "model_id": model_id, "model_type": None, "name": name,
            "source_run_id": run_id, "status": status, "status_message": None}
    mb.write(folder / "meta.yaml", mlruns.dump_meta(meta))
    for sub, values in (("params", params or {}), ("tags", tags or {})):
        for key, value in values.items():
            mb.write(folder / sub / key, value)
    for key, value in (metrics or {}).items():
        mb.write(folder / "metrics" / key, f"{T0} {value} 0 {run_id or 'none'}\n")
    columns = inputs if inputs is not None else [{"type": "double", "name": "x", "required": True}]
    text = json.dumps(columns).replace("'", "''")  # a single-quoted YAML scalar
    mlmodel = MLMODEL.format(location=location, flavor=json.dumps(flavor), loader=json.dumps(f"mlflow.{flavor}"),
                             model_id=model_id, inputs=text)
    if example is not None:
        mlmodel += "saved_input_example_info:\n  artifact_path: input_example.json\n  type: dataframe\n"
        mb.write(folder / "artifacts" / "input_example.json", json.dumps(example))
    mb.write(folder / "artifacts" / "MLmodel", mlmodel)
    for path, content in (files or {"model.pkl": b"\x80\x04N."}).items():
        mb.write(folder / "artifacts" / path, content)
    return model_id
