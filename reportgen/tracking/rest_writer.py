"""The writer for a tracking server: FileStoreWriter's methods, sent as MLflow REST calls.

TrackingClient picks it for http(s) URIs; it validates like the file writer where the server would
only say "bad request", splits log-batch requests to MLflow's 1 MB limit (the client already splits
by count), and uploads artifacts through the server's proxy (mlflow-artifacts: URIs).
"""
from __future__ import annotations

import json
import mimetypes
import os
import threading
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import quote, urlsplit

from reportgen import validation
from reportgen.errors import InvalidParameterValue, ReportgenError, ResourceAlreadyExists, UnsupportedError
from reportgen.model import DatasetInput, LifecycleStage, RunInfo, RunStatus
from reportgen.rest import entities
from reportgen.rest.http import HttpSession, NotFound, ServerError

API = "/api/2.0/mlflow"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"
MAX_REQUEST_BYTES = 1_000_000  # MLflow's log-batch request limit (utils/validation.py)


def _kv(items: Sequence[tuple[str, str]] | Mapping[str, str]) -> list[dict[str, str]]:
    pairs = items.items() if isinstance(items, Mapping) else items
    return [{"key": key, "value": value} for key, value in pairs]


class RestWriter:
    """Writes to one tracking server (share one per URI within a process: see writer_for)."""

    def __init__(self, uri: str, *, session: HttpSession | None = None) -> None:
        self.uri = uri
        self.session = session or HttpSession(uri)
        self._artifact_uris: dict[str, str] = {}

    def ensure_root(self) -> None:
        """Nothing to create: the server owns its store."""

    # -- calls -----------------------------------------------------------------------------------
    def _post(self, endpoint: str, body: Mapping[str, Any]) -> Any:
        try:
            return self.session.post_json(f"{API}/{endpoint}", body)
        except NotFound:
            raise
        except ServerError as exc:
            # The server's own words for what MLflow's client would raise as MlflowException.
            message = exc.server_message or exc.message
            if exc.error_code == "INVALID_PARAMETER_VALUE":
                raise InvalidParameterValue(message) from None
            if exc.error_code == "RESOURCE_ALREADY_EXISTS":
                raise ResourceAlreadyExists(message) from None
            if exc.status is not None and exc.status < 500 and exc.status not in (401, 403):
                raise ReportgenError(message, error_code=exc.error_code) from None
            raise

    # -- experiments -----------------------------------------------------------------------------
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Mapping[str, Any] | None = None
    ) -> str:
        validation.validate_experiment_name(name)
        validation.validate_artifact_location(artifact_location)
        tag_items = {key: value if isinstance(value, str) else str(value) for key, value in (tags or {}).items()}
        for key, value in tag_items.items():
            validation.validate_experiment_tag(key, value)
        body: dict[str, Any] = {"name": name, "tags": _kv(tag_items)}
        if artifact_location:
            body["artifact_location"] = artifact_location
        return str(self._post("experiments/create", body)["experiment_id"])

    def delete_experiment(self, experiment_id: str) -> None:
        self._post("experiments/delete", {"experiment_id": experiment_id})

    def restore_experiment(self, experiment_id: str) -> None:
        self._post("experiments/restore", {"experiment_id": experiment_id})

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        validation.validate_experiment_name(new_name)
        self._post("experiments/update", {"experiment_id": experiment_id, "new_name": new_name})

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        text = value if isinstance(value, str) else str(value)
        validation.validate_experiment_tag(key, text)
        self._post("experiments/set-experiment-tag", {"experiment_id": experiment_id, "key": key, "value": text})

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._post("experiments/delete-experiment-tag", {"experiment_id": experiment_id, "key": key})

    # -- runs ------------------------------------------------------------------------------------
    def create_run(
        self, experiment_id: str, *, user_id: str, start_time: int, tags: Mapping[str, str], run_name: str | None
    ) -> RunInfo:
        for key, value in tags.items():
            validation.validate_tag(key, value)
        body: dict[str, Any] = {
            "experiment_id": experiment_id, "user_id": user_id, "start_time": start_time, "tags": _kv(tags),
        }
        if run_name:
            body["run_name"] = run_name
        run = entities.run(self._post("runs/create", body)["run"])
        self._artifact_uris[run.run_id] = run.info.artifact_uri
        return run.info

    def run_info(self, run_id: str) -> RunInfo:
        validation.validate_run_id(run_id)
        try:
            data = self.session.get_json(f"{API}/runs/get", {"run_id": run_id})
        except NotFound:
            raise ReportgenError(f"Run '{run_id}' not found", error_code="RESOURCE_DOES_NOT_EXIST") from None
        return entities.run(data["run"]).info

    def update_run_info(
        self, run_id: str, *, status: str | None = None, end_time: int | None = None, run_name: str | None = None
    ) -> RunInfo:
        body: dict[str, Any] = {"run_id": run_id}
        if status is not None:
            body["status"] = RunStatus.to_string(status)
        if end_time is not None:
            body["end_time"] = end_time
        if run_name:
            body["run_name"] = run_name
        return entities.run_info(self._post("runs/update", body)["run_info"])

    def set_lifecycle(self, run_id: str, stage: str) -> None:
        self._post("runs/delete" if stage == LifecycleStage.DELETED else "runs/restore", {"run_id": run_id})

    # -- metrics, params, tags -------------------------------------------------------------------
    def log_metric(self, run_id: str, key: str, value: float, timestamp: int, step: int) -> None:
        self._post("runs/log-metric", {"run_id": run_id, "key": key, "value": entities.float_to_json(value),
                                       "timestamp": timestamp, "step": step})

    def log_batch(
        self, run_id: str, metrics: Sequence[tuple[str, float, int, int]],
        params: Sequence[tuple[str, str]], tags: Sequence[tuple[str, str]],
    ) -> None:
        """One log-batch call, or several when the request would pass MLflow's 1 MB limit."""
        body = {
            "run_id": run_id,
            "metrics": [{"key": k, "value": entities.float_to_json(v), "timestamp": t, "step": s}
                        for k, v, t, s in metrics],
            "params": _kv(params),
            "tags": _kv(tags),
        }
        for part in _split(body):
            self._post("runs/log-batch", part)

    def log_param(self, run_id: str, key: str, value: str) -> None:
        self._post("runs/log-parameter", {"run_id": run_id, "key": key, "value": value})

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self._post("runs/set-tag", {"run_id": run_id, "key": key, "value": value})

    def delete_tag(self, run_id: str, key: str) -> None:
        self._post("runs/delete-tag", {"run_id": run_id, "key": key})

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        """Dataset inputs of a run (runs/log-inputs); the server validates names, digests and sizes."""
        items = []
        for item in datasets:
            dataset = {"name": item.dataset.name, "digest": item.dataset.digest,
                       "source_type": item.dataset.source_type, "source": item.dataset.source}
            for optional in ("schema", "profile"):
                if getattr(item.dataset, optional) is not None:
                    dataset[optional] = getattr(item.dataset, optional)
            items.append({"dataset": dataset, "tags": [{"key": t.key, "value": t.value} for t in item.tags]})
        if items:
            self._post("runs/log-inputs", {"run_id": run_id, "datasets": items})

    # -- artifacts -------------------------------------------------------------------------------
    def artifact_uri(self, run_id: str) -> str:
        uri = self._artifact_uris.get(run_id)
        if uri is None:
            uri = self._artifact_uris[run_id] = self.run_info(run_id).artifact_uri
        return uri

    def upload_artifacts(self, run_id: str, local_dir: Path) -> None:
        """PUT every file under local_dir (a staging folder the client filled) to the run's artifacts."""
        base = self._proxy_path(self.artifact_uri(validation.validate_run_id(run_id)))
        for dirpath, _, filenames in os.walk(local_dir):
            for name in sorted(filenames):
                source = Path(dirpath) / name
                rel = source.relative_to(local_dir).as_posix()
                content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
                self.session.request("PUT", f"{ARTIFACTS_API}/{quote(f'{base}/{rel}', safe='/')}",
                                     data=source, content_type=content_type)  # from disk, in blocks

    def _proxy_path(self, artifact_uri: str) -> str:
        parts = urlsplit(artifact_uri)
        if parts.scheme != "mlflow-artifacts":
            raise UnsupportedError(
                f"artifacts of this run live at a {parts.scheme or 'local'}: URI the server does not proxy; "
                "start the server with --artifacts-destination (mlflow-artifacts:) to log artifacts through it"
            )
        if parts.netloc and parts.netloc != urlsplit(self.uri).netloc.rsplit("@", 1)[-1]:
            raise UnsupportedError(f"artifacts of this run are proxied by another server ({parts.netloc})")
        return parts.path.strip("/")

    def close(self) -> None:
        self.session.close()


def _split(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The batch as requests under MAX_REQUEST_BYTES, halving the entity lists until each fits."""
    if len(json.dumps(body)) <= MAX_REQUEST_BYTES:
        return [body]
    entities_ = [("metrics", m) for m in body["metrics"]] + [("params", p) for p in body["params"]] + [
        ("tags", t) for t in body["tags"]]
    if len(entities_) <= 1:
        return [body]  # one entity too large: let the server say why
    half = len(entities_) // 2
    parts = []
    for chunk in (entities_[:half], entities_[half:]):
        part: dict[str, Any] = {"run_id": body["run_id"], "metrics": [], "params": [], "tags": []}
        for kind, item in chunk:
            part[kind].append(item)
        parts.extend(_split(part))
    return parts


_writers: dict[str, RestWriter] = {}
_writers_lock = threading.Lock()


def writer_for(uri: str) -> RestWriter:
    """The process-wide writer of a server URI (one connection cache and artifact-URI cache each)."""
    with _writers_lock:
        writer = _writers.get(uri)
        if writer is None:
            writer = _writers[uri] = RestWriter(uri)
        return writer
