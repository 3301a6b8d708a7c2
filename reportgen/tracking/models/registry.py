"""The model registry as log_model(registered_model_name=...) uses it: the registered model (created when
missing), a new version pointing at the logged model, and the logged model's mlflow.modelVersions tag.

File stores get MLflow 3.17's layout (<root>/models/<name>/meta.yaml, version-<n>/meta.yaml and tags/), SQLite
its registered_models and model_versions tables, tracking servers the registered-models and model-versions
endpoints.
"""
from __future__ import annotations

import json
import os
import posixpath
import sys
from pathlib import Path
from typing import Any, Mapping

from reportgen import mlruns, validation
from reportgen.errors import InvalidParameterValue, UnsupportedError
from reportgen.rest.http import ServerError
from reportgen.tracking import _env, _files
from reportgen.tracking._logged_models import FileModels, LoggedModel, RestModels, SqlModels

MODEL_VERSIONS_TAG = "mlflow.modelVersions"
WORKSPACE = "default"  # MLflow 3.17's file registry records the (only) workspace


def validate_name(name: str) -> None:
    """MLflow's _validate_model_name: non-empty, no '/' or ':', one spelling of the path."""
    if not name or not name.strip():
        raise InvalidParameterValue("Missing value for required parameter 'name'.")
    if "/" in name or ":" in name:
        raise InvalidParameterValue(f"Invalid model name '{name}'. Names cannot contain '/' or ':'.")
    normal = posixpath.normpath(name)
    if normal != name or normal == "." or normal.startswith(".."):
        raise InvalidParameterValue(f"Invalid value '{name}' for parameter 'name': not a unique path name")


def registry_for(store: Any) -> "_FileRegistry | _SqlRegistry | _RestRegistry":
    """The registry beside a logged-model store; checked before the model is logged."""
    if isinstance(store, FileModels):
        return _FileRegistry(store)
    if isinstance(store, SqlModels):
        return _SqlRegistry(store)
    if isinstance(store, RestModels):
        return _RestRegistry(store)
    raise UnsupportedError("registered_model_name is not supported yet for this tracking store: use a file store, "
                           "SQLite or a tracking server")


def register(store: Any, model: LoggedModel, name: str, tags: Mapping[str, str]) -> int:
    """Register `model` under `name` and return the new version (MLflow prints the same two lines)."""
    validate_name(name)
    for key, value in tags.items():
        validation.validate_tag(key, value)
    registry = registry_for(store)
    if registry.create_registered_model(name):
        print(f"Successfully registered model '{name}'.", file=sys.stderr)
    else:
        print(f"Registered model '{name}' already exists. Creating a new version of this model...", file=sys.stderr)
    version = registry.create_version(name, model, dict(tags))
    print(f"Created version '{version}' of model '{name}'.", file=sys.stderr)
    linked = json.loads(model.tags.get(MODEL_VERSIONS_TAG, "[]")) + [{"name": name, "version": version}]
    store.set_tag(model, MODEL_VERSIONS_TAG, json.dumps(linked))
    return version


class _FileRegistry:
    def __init__(self, store: FileModels) -> None:
        self.root = store.root / mlruns.MODELS_DIR

    def create_registered_model(self, name: str) -> bool:
        folder = self.root / name
        if (folder / mlruns.META_FILE).exists():
            return False
        _files.makedirs(folder)
        now = _env.now_ms()
        meta = {"aliases": {}, "creation_timestamp": now, "deployment_job_id": None, "deployment_job_state": None,
                "description": None, "last_updated_timestamp": now, "name": name, "workspace": WORKSPACE}
        # Another process may have registered it meanwhile: theirs stands, as in MLflow.
        return _files.create_exclusive(folder / mlruns.META_FILE, mlruns.dump_meta(meta).encode(), temp_dir=folder)

    def create_version(self, name: str, model: LoggedModel, tags: dict[str, str]) -> int:
        folder = self.root / name
        while True:
            version = 1 + max((int(entry.name[8:]) for entry in os.scandir(folder)
                               if entry.name.startswith("version-") and entry.name[8:].isdigit()), default=0)
            try:
                os.mkdir(folder / f"version-{version}")  # exclusive: a concurrent writer takes the next number
                break
            except FileExistsError:
                continue
            except OSError as exc:
                raise _files.disk_error(folder, exc, "create folder") from None
        now = _env.now_ms()
        meta = {
            "creation_timestamp": now, "current_stage": "None", "deployment_job_state": None, "description": None,
            "last_updated_timestamp": now, "model_id": model.model_id, "name": name, "run_id": model.source_run_id,
            "run_link": None, "source": model.model_uri, "status": "READY", "status_message": None,
            "storage_location": model.artifact_location, "user_id": None, "version": version, "workspace": WORKSPACE,
        }
        version_dir = folder / f"version-{version}"
        for key, value in tags.items():
            _files.makedirs((version_dir / mlruns.TAGS_DIR / key).parent)
            _files.atomic_write(version_dir / mlruns.TAGS_DIR / key, value.encode("utf-8"))
        _files.atomic_write(version_dir / mlruns.META_FILE, mlruns.dump_meta(meta).encode())
        self._touch(folder, now)
        return version

    @staticmethod
    def _touch(folder: Path, now: int) -> None:
        meta = mlruns.load_meta((folder / mlruns.META_FILE).read_bytes())
        meta["last_updated_timestamp"] = now
        _files.atomic_write(folder / mlruns.META_FILE, mlruns.dump_meta(meta).encode())


class _SqlRegistry:
    def __init__(self, store: SqlModels) -> None:
        self.writer = store.writer

    def create_registered_model(self, name: str) -> bool:
        return self.writer.create_registered_model(name)

    def create_version(self, name: str, model: LoggedModel, tags: dict[str, str]) -> int:
        return self.writer.create_model_version(name, source=model.model_uri, storage_location=model.artifact_location,
                                                run_id=model.source_run_id, tags=tags)


class _RestRegistry:
    def __init__(self, store: RestModels) -> None:
        self.store = store

    def create_registered_model(self, name: str) -> bool:
        try:
            self.store.call("POST", "registered-models/create", {"name": name})
        except ServerError as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return False
        return True

    def create_version(self, name: str, model: LoggedModel, tags: dict[str, str]) -> int:
        body: dict[str, Any] = {"name": name, "source": model.model_uri, "model_id": model.model_id,
                                "tags": [{"key": k, "value": v} for k, v in tags.items()]}
        if model.source_run_id:
            body["run_id"] = model.source_run_id
        return int(self.store.call("POST", "model-versions/create", body)["model_version"]["version"])
