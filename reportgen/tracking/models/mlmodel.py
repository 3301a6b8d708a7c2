"""The MLmodel file: which flavors a saved model has, its signature, example and the logged model's ids."""
from __future__ import annotations

import datetime as dt
import os
import platform
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reportgen.tracking.models.signature import ModelSignature

MLMODEL_FILE = "MLmodel"


@dataclass
class Model:
    """What MLflow's Model.to_dict() writes; mlflow_version is left out, as this is not MLflow."""

    artifact_path: str | None = None
    run_id: str | None = None
    model_id: str | None = None
    model_uuid: str = field(default_factory=lambda: uuid.uuid4().hex)
    utc_time_created: str = field(
        # MLflow writes a naive UTC time (str of datetime.utcnow()).
        default_factory=lambda: str(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
    )
    flavors: dict[str, dict[str, Any]] = field(default_factory=dict)
    signature: ModelSignature | None = None
    saved_input_example_info: dict[str, str] | None = None
    metadata: dict[str, Any] | None = None
    model_size_bytes: int | None = None

    def add_pyfunc_flavor(self, *, loader_module: str, model_path: str, predict_fn: str,
                          conda_file: str, python_env_file: str, code: str | None = None) -> None:
        flavor: dict[str, Any] = {
            "model_path": model_path,
            "predict_fn": predict_fn,
            "loader_module": loader_module,
            "python_version": platform.python_version(),
        }
        if code:
            flavor["code"] = code
        flavor["env"] = {"conda": conda_file, "virtualenv": python_env_file}
        self.flavors["python_function"] = flavor

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "utc_time_created": self.utc_time_created,
            "flavors": self.flavors,
            "model_uuid": self.model_uuid,
            "model_id": self.model_id,
            "prompts": None,
        }
        if self.artifact_path is not None:
            result["artifact_path"] = self.artifact_path
        if self.run_id is not None:
            result["run_id"] = self.run_id
        if self.signature is not None:
            result["signature"] = self.signature.to_dict()
            result["is_signature_from_type_hint"] = False
            result["type_hint_from_example"] = False
        for key in ("saved_input_example_info", "metadata", "model_size_bytes"):
            if getattr(self, key) is not None:
                result[key] = getattr(self, key)
        return result

    def save(self, folder: Path) -> None:
        (folder / MLMODEL_FILE).write_text(yaml.safe_dump(self.to_dict(), default_flow_style=False))


def folder_size(folder: Path) -> int:
    """Bytes of all files under folder (MLflow's model_size_bytes, taken before MLmodel is written)."""
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(folder) for name in names)


@dataclass(frozen=True)
class ModelInfo:
    """What log_model returns (MLflow's ModelInfo fields; mlflow_version is None: not written by MLflow)."""

    artifact_path: str
    flavors: dict[str, dict[str, Any]]
    model_uri: str
    model_uuid: str
    run_id: str | None
    saved_input_example_info: dict[str, str] | None
    signature: ModelSignature | None
    utc_time_created: str
    metadata: dict[str, Any] | None
    model_id: str
    name: str
    params: dict[str, str]
    tags: dict[str, str]
    creation_timestamp: int
    mlflow_version: str | None = None
    registered_model_version: int | None = None
    env_vars: list[str] | None = None
    prompts: list[str] | None = None
