"""MLflow 3's logged-model record: created PENDING with params and tags, linked to its run as an output
(with the run's metrics of that step), given the model files, then finalized READY or FAILED.

In a file store it is the experiment's models/m-<id>/ folder as MLflow 3.17's FileStore writes it; in SQLite,
MLflow's logged_models tables; on a tracking server, the logged-model REST endpoints and the mlflow-artifacts
upload.
"""
from __future__ import annotations

import json
import mimetypes
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote, urlsplit

from reportgen import mlruns, validation
from reportgen.errors import InvalidParameterValue, ReportgenError, UnsupportedError
from reportgen.model import LifecycleStage, Metric, Run
from reportgen.rest import entities
from reportgen.tracking import _env, _files, artifacts
from reportgen.tracking.client import TrackingClient
from reportgen.tracking.experiments import join_uri
from reportgen.uri import HTTP_SCHEMES, local_path, scheme_of

PENDING, READY, FAILED = "PENDING", "READY", "FAILED"
# meta.yaml holds the status as MLflow's LoggedModelStatus.to_int(); the REST API names the proto enum.
_STATUS_INT = {PENDING: 1, READY: 2, FAILED: 3}
_STATUS_PROTO = {PENDING: "LOGGED_MODEL_PENDING", READY: "LOGGED_MODEL_READY", FAILED: "LOGGED_MODEL_UPLOAD_FAILED"}
_BAD_NAME_CHARS = ("/", ":", ".", "%", '"', "'")
API = "/api/2.0/mlflow"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"
PARAMS_PER_REQUEST = 100  # MLflow's client sends a logged model's params in batches of 100


@dataclass
class LoggedModel:
    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_timestamp: int
    last_updated_timestamp: int
    source_run_id: str | None = None
    model_type: str | None = None
    status: str = PENDING
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_id}"

    def meta(self) -> dict[str, Any]:
        return {
            "artifact_location": self.artifact_location, "creation_timestamp": self.creation_timestamp,
            "experiment_id": self.experiment_id, "last_updated_timestamp": self.last_updated_timestamp,
            "model_id": self.model_id, "model_type": self.model_type, "name": self.name,
            "source_run_id": self.source_run_id, "status": _STATUS_INT[self.status], "status_message": None,
        }


def validate_name(name: str | None) -> None:
    if name is not None and (not name or any(c in name for c in _BAD_NAME_CHARS)):
        raise InvalidParameterValue(
            f"Invalid model name ({name!r}) provided. Model name must be a non-empty string and cannot "
            f"contain the following characters: {_BAD_NAME_CHARS}"
        )


def store_for(client: TrackingClient) -> "FileModels | RestModels | SqlModels":
    scheme = scheme_of(client.tracking_uri)
    if scheme == "file":
        return FileModels(client)
    if scheme == "sqlite":
        return SqlModels(client)
    if scheme in HTTP_SCHEMES:
        return RestModels(client)
    raise UnsupportedError(
        f"logging models to a {scheme} tracking store is not supported yet: use a file store, SQLite or a "
        "tracking server"
    )


def _checked(params: Mapping[str, str], tags: Mapping[str, str]) -> None:
    for key, value in params.items():
        validation.validate_param(key, value)
    for key, value in tags.items():
        validation.validate_tag(key, value)


def step_metrics(client: TrackingClient, run: Run, step: int) -> list[Metric]:
    """The run's metric points at `step`: MLflow logs them to the model as it links the two."""
    return [point for key in run.data.metrics for point in client.get_metric_history(run.info.run_id, key)
            if point.step == step]


class FileModels:
    """Logged models of a file store, in <experiment>/models/<model id>/."""

    def __init__(self, client: TrackingClient) -> None:
        self.client = client
        self.root = local_path(client.tracking_uri)

    def _dir(self, model: LoggedModel) -> Path:
        return self.root / model.experiment_id / mlruns.MODELS_DIR / model.model_id

    def create(self, experiment_id: str, *, name: str, source_run_id: str | None, params: dict[str, str],
               tags: dict[str, str], model_type: str | None) -> LoggedModel:
        validate_name(name)
        _checked(params, tags)
        experiment = self.client.get_experiment(experiment_id)
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise ReportgenError(f"Could not create model under non-active experiment with ID {experiment_id}.",
                                 error_code="INVALID_STATE")
        model_id = f"m-{uuid.uuid4().hex}"
        now = _env.now_ms()
        model = LoggedModel(
            model_id, experiment.experiment_id, name,
            join_uri(experiment.artifact_location, mlruns.MODELS_DIR, model_id, mlruns.ARTIFACTS_DIR),
            now, now, source_run_id, model_type, PENDING, dict(params), dict(tags),
        )
        folder = self._dir(model)
        _files.makedirs(folder.parent)
        # Built under a hidden name and renamed into place, so a reader never sees half a model.
        staging = Path(_files.temp_path(folder.parent, model_id))
        try:
            for sub in (mlruns.METRICS_DIR, mlruns.PARAMS_DIR):
                _files.makedirs(staging / sub)
            self._write_meta(staging, {**model.meta(), "lifecycle_stage": LifecycleStage.ACTIVE})
            for sub, values in ((mlruns.PARAMS_DIR, params), (mlruns.TAGS_DIR, tags)):
                for key, value in values.items():
                    _files.makedirs((staging / sub / key).parent)
                    _files.atomic_write(staging / sub / key, value.encode("utf-8"))  # no newline, as MLflow
            os.rename(staging, folder)
        except OSError as exc:
            raise _files.disk_error(folder, exc, "create folder") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return model

    def link_run(self, model: LoggedModel, run_id: str, step: int) -> None:
        """The run's outputs/<model id>/meta.yaml, and the run's metrics of `step` logged to the model."""
        run = self.client.get_run(run_id)
        outputs = self.root / run.info.experiment_id / run_id / mlruns.OUTPUTS_DIR / model.model_id
        if not outputs.exists():
            _files.makedirs(outputs)
            # MLflow 3.17 writes the model id as destination_id too (its reader then takes the model id from it).
            self._write_meta(outputs, {"destination_id": model.model_id, "destination_type": "MODEL_OUTPUT",
                                       "source_id": model.model_id, "source_type": "RUN_OUTPUT",
                                       "step": step, "tags": {}})
        points = step_metrics(self.client, run, step)
        if not points:
            return
        # MLflow's FileStore.log_batch appends metrics that carry a model id to the run's files as well.
        self.client.log_batch(run_id, metrics=points)
        lines: dict[str, list[str]] = {}
        for point in points:
            line = mlruns.format_metric_line(point.timestamp, point.value, point.step)
            lines.setdefault(point.key, []).append(f"{line[:-1]} {run_id}\n")
        for key, key_lines in lines.items():
            path = self._dir(model) / mlruns.METRICS_DIR / key
            _files.makedirs(path.parent)
            with open(path, "a", encoding="utf-8") as out:
                out.write("".join(key_lines))

    def upload(self, model: LoggedModel, local_dir: Path) -> None:
        artifacts.log_tree(model.artifact_location, local_dir)

    def set_tag(self, model: LoggedModel, key: str, value: str) -> None:
        validation.validate_tag(key, value)
        path = self._dir(model) / mlruns.TAGS_DIR / key
        _files.makedirs(path.parent)
        _files.atomic_write(path, value.encode("utf-8"))
        model.tags[key] = value

    def finalize(self, model: LoggedModel, status: str) -> None:
        model.status = status
        model.last_updated_timestamp = _env.now_ms()
        # MLflow rewrites meta.yaml from the entity, which has no lifecycle_stage: the key goes.
        self._write_meta(self._dir(model), model.meta())

    @staticmethod
    def _write_meta(folder: Path, meta: dict[str, Any]) -> None:
        _files.atomic_write(folder / mlruns.META_FILE, mlruns.dump_meta(meta).encode("utf-8"))


class SqlModels:
    """Logged models of a SQLite store: MLflow's logged_models tables (reportgen.tracking.sqlmodels), files
    in the experiment's local artifact folder (models/<model id>/artifacts)."""

    def __init__(self, client: TrackingClient) -> None:
        self.client = client
        self.writer = client._writer()

    def create(self, experiment_id: str, *, name: str, source_run_id: str | None, params: dict[str, str],
               tags: dict[str, str], model_type: str | None) -> LoggedModel:
        validate_name(name)
        _checked(params, tags)
        model_id, experiment_id, name, location, now = self.writer.create_logged_model(
            experiment_id, name=name, source_run_id=source_run_id, params=params, tags=tags, model_type=model_type)
        return LoggedModel(model_id, experiment_id, name, location, now, now, source_run_id, model_type, PENDING,
                           dict(params), dict(tags))

    def link_run(self, model: LoggedModel, run_id: str, step: int) -> None:
        self.writer.log_outputs(run_id, model.model_id, step)
        points = step_metrics(self.client, self.client.get_run(run_id), step)
        if points:
            self.writer.log_model_metrics(run_id, model.model_id,
                                          [(p.key, p.value, p.timestamp, p.step) for p in points])

    def upload(self, model: LoggedModel, local_dir: Path) -> None:
        artifacts.log_tree(model.artifact_location, local_dir)

    def set_tag(self, model: LoggedModel, key: str, value: str) -> None:
        validation.validate_tag(key, value)
        self.writer.set_logged_model_tag(model.model_id, key, value)
        model.tags[key] = value

    def finalize(self, model: LoggedModel, status: str) -> None:
        model.status = status
        model.last_updated_timestamp = self.writer.finalize_logged_model(model.model_id, status)


class RestModels:
    """Logged models on a tracking server: MLflow's logged-model endpoints, artifacts via mlflow-artifacts."""

    def __init__(self, client: TrackingClient) -> None:
        from reportgen.tracking import rest_writer

        self.client = client
        self.session = rest_writer.writer_for(client.tracking_uri).session  # the process's one session per server

    def call(self, method: str, endpoint: str, body: Mapping[str, Any]) -> Any:
        data = json.dumps(body).encode("utf-8")
        return self.session.request(method, f"{API}/{endpoint}", data=data, content_type="application/json").json()

    def create(self, experiment_id: str, *, name: str, source_run_id: str | None, params: dict[str, str],
               tags: dict[str, str], model_type: str | None) -> LoggedModel:
        validate_name(name)
        _checked(params, tags)
        pairs = [{"key": k, "value": v} for k, v in params.items()]
        body: dict[str, Any] = {"experiment_id": experiment_id, "name": name,
                                "params": pairs[:PARAMS_PER_REQUEST],
                                "tags": [{"key": k, "value": v} for k, v in tags.items()]}
        if source_run_id:
            body["source_run_id"] = source_run_id
        if model_type:
            body["model_type"] = model_type
        info = self.call("POST", "logged-models", body)["model"]["info"]
        model_id = info["model_id"]
        for start in range(PARAMS_PER_REQUEST, len(pairs), PARAMS_PER_REQUEST):
            self.call("POST", f"logged-models/{model_id}/params",
                       {"model_id": model_id, "params": pairs[start:start + PARAMS_PER_REQUEST]})
        return LoggedModel(model_id, str(info["experiment_id"]), info.get("name", name), info["artifact_uri"],
                           int(info.get("creation_timestamp_ms", 0)), int(info.get("last_updated_timestamp_ms", 0)),
                           source_run_id, model_type, PENDING, dict(params), dict(tags))

    def link_run(self, model: LoggedModel, run_id: str, step: int) -> None:
        self.call("POST", "runs/outputs", {"run_id": run_id, "models": [{"model_id": model.model_id, "step": step}]})
        points = step_metrics(self.client, self.client.get_run(run_id), step)
        for start in range(0, len(points), validation.MAX_METRICS_PER_BATCH):
            metrics = [{"key": p.key, "value": entities.float_to_json(p.value), "timestamp": p.timestamp, "step": p.step,
                        "model_id": model.model_id} for p in points[start:start + validation.MAX_METRICS_PER_BATCH]]
            self.call("POST", "runs/log-batch", {"run_id": run_id, "metrics": metrics, "params": [], "tags": []})

    def upload(self, model: LoggedModel, local_dir: Path) -> None:
        parts = urlsplit(model.artifact_location)
        if parts.scheme != "mlflow-artifacts":
            raise UnsupportedError(
                f"the server stores this model's artifacts at a {parts.scheme or 'local'}: URI it does not proxy; "
                "start the server with --artifacts-destination (mlflow-artifacts:) to log models through it"
            )
        base = parts.path.strip("/")
        for dirpath, _, names in os.walk(local_dir):
            for name in sorted(names):
                source = Path(dirpath) / name
                target = quote(f"{base}/{source.relative_to(local_dir).as_posix()}", safe="/")
                self.session.request("PUT", f"{ARTIFACTS_API}/{target}", data=source,
                                     content_type=mimetypes.guess_type(name)[0] or "application/octet-stream")

    def set_tag(self, model: LoggedModel, key: str, value: str) -> None:
        validation.validate_tag(key, value)
        self.call("PATCH", f"logged-models/{model.model_id}/tags", {"tags": [{"key": key, "value": value}]})
        model.tags[key] = value

    def finalize(self, model: LoggedModel, status: str) -> None:
        model.status = status
        self.call("PATCH", f"logged-models/{model.model_id}",
                   {"model_id": model.model_id, "status": _STATUS_PROTO[status]})

