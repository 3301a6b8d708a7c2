"""The one model of reportgen: what the logging client returns and what every store reader yields.

Attribute names follow MLflow's entities (run.info.run_id, run.data.params, Metric.step, ...) so code
written against MlflowClient reads the same. All classes are frozen; stores build them, nobody edits them.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Mapping


class LifecycleStage:
    ACTIVE = "active"
    DELETED = "deleted"


class ViewType(enum.IntEnum):
    """Which experiments or runs a search returns (MLflow's ViewType)."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    @classmethod
    def coerce(cls, value: "ViewType | int | str | None") -> "ViewType":
        if value is None:
            return cls.ACTIVE_ONLY
        if isinstance(value, str):
            return cls[value.upper()]
        return cls(int(value))

    def admits(self, lifecycle_stage: str) -> bool:
        if self is ViewType.ALL:
            return True
        if self is ViewType.ACTIVE_ONLY:
            return lifecycle_stage == LifecycleStage.ACTIVE
        return lifecycle_stage == LifecycleStage.DELETED


class RunStatus:
    """Run statuses as MLflow names them; the file store keeps them as ints (RUNNING 1 ... KILLED 5)."""

    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    _BY_INT = {1: RUNNING, 2: SCHEDULED, 3: FINISHED, 4: FAILED, 5: KILLED}
    _TO_INT = {name: number for number, name in _BY_INT.items()}
    ALL = (RUNNING, SCHEDULED, FINISHED, FAILED, KILLED)
    TERMINATED = (FINISHED, FAILED, KILLED)

    @classmethod
    def to_string(cls, value: int | str) -> str:
        """The status name for an int or a name; raises ValueError for anything else."""
        if isinstance(value, str):
            name = value.strip().upper()
            if name in cls._TO_INT:
                return name
            if name.isdigit():
                value = int(name)
            else:
                raise ValueError(f"unknown run status {value!r}")
        if isinstance(value, bool) or int(value) not in cls._BY_INT:
            raise ValueError(f"unknown run status {value!r}")
        return cls._BY_INT[int(value)]

    @classmethod
    def to_int(cls, name: str) -> int:
        return cls._TO_INT[cls.to_string(name)]

    @classmethod
    def is_terminated(cls, name: str) -> bool:
        return name in cls.TERMINATED


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str = LifecycleStage.ACTIVE
    tags: Mapping[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None

    @property
    def description(self) -> str | None:
        return self.tags.get("mlflow.note.content")


@dataclass(frozen=True)
class Metric:
    key: str
    value: float
    timestamp: int
    step: int = 0

    def sort_key(self) -> tuple[int, int, float]:
        """MLflow's order for "latest": max by (step, timestamp, value), NaN counted as smallest."""
        value = self.value
        return (self.step, self.timestamp, -math.inf if math.isnan(value) else value)


@dataclass(frozen=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True)
class RunTag:
    key: str
    value: str


@dataclass(frozen=True)
class ExperimentTag:
    key: str
    value: str


@dataclass(frozen=True)
class FileInfo:
    path: str
    is_dir: bool
    file_size: int | None = None


@dataclass(frozen=True)
class Dataset:
    name: str
    digest: str
    source_type: str = ""
    source: str = ""
    schema: str | None = None
    profile: str | None = None


@dataclass(frozen=True)
class InputTag:
    key: str
    value: str


@dataclass(frozen=True)
class DatasetInput:
    dataset: Dataset
    tags: tuple[InputTag, ...] = ()


@dataclass(frozen=True)
class RunInputs:
    dataset_inputs: tuple[DatasetInput, ...] = ()


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str = LifecycleStage.ACTIVE
    deleted_time: int | None = None

    @property
    def run_uuid(self) -> str:
        return self.run_id


@dataclass(frozen=True)
class RunData:
    """Latest metric values, params and tags of a run, as dicts (MLflow's RunData)."""

    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    # The latest Metric of each key, with its step and timestamp (MLflow keeps these as _metric_objs).
    metric_objs: tuple[Metric, ...] = ()


@dataclass(frozen=True)
class Run:
    info: RunInfo
    data: RunData
    inputs: RunInputs = field(default_factory=RunInputs)

    @property
    def run_id(self) -> str:
        return self.info.run_id

    @property
    def parent_run_id(self) -> str | None:
        return self.data.tags.get("mlflow.parentRunId")

    @property
    def note(self) -> str | None:
        return self.data.tags.get("mlflow.note.content")


@dataclass(frozen=True)
class Problem:
    """One thing a reader skipped or could not use: shown on the report's problems page."""

    path: str
    message: str
    kind: str = "warning"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def latest_metrics(points: "list[Metric] | tuple[Metric, ...]") -> dict[str, Metric]:
    """The latest point of each key by MLflow's rule (max by step, timestamp, value)."""
    latest: dict[str, Metric] = {}
    for point in points:
        current = latest.get(point.key)
        if current is None or point.sort_key() > current.sort_key():
            latest[point.key] = point
    return latest


def as_plain(value: Any) -> Any:
    """A dataclass tree as plain dicts and lists (for JSON output and tests)."""
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value):
        return asdict(value)
    return value


class LoggedModelStatus:
    """A logged model's status as MLflow names it; stores keep an int (meta.yaml, SQL) or a proto name (REST)."""

    UNSPECIFIED = "UNSPECIFIED"
    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"

    _BY_INT = {0: UNSPECIFIED, 1: PENDING, 2: READY, 3: FAILED}
    _BY_PROTO = {"LOGGED_MODEL_STATUS_UNSPECIFIED": UNSPECIFIED, "LOGGED_MODEL_PENDING": PENDING,
                 "LOGGED_MODEL_READY": READY, "LOGGED_MODEL_UPLOAD_FAILED": FAILED}

    @classmethod
    def to_string(cls, value: int | str | None) -> str:
        """The status name for an int, a name or a proto name; raises ValueError for anything else."""
        if value is None:
            return cls.UNSPECIFIED
        if isinstance(value, str):
            name = value.strip().upper()
            if name in cls._BY_INT.values():
                return name
            if name in cls._BY_PROTO:
                return cls._BY_PROTO[name]
            if not name.isdigit():
                raise ValueError(f"unknown logged model status {value!r}")
            value = int(name)
        if isinstance(value, bool) or int(value) not in cls._BY_INT:
            raise ValueError(f"unknown logged model status {value!r}")
        return cls._BY_INT[int(value)]


@dataclass(frozen=True)
class ModelMetric:
    """A metric of a logged model (MLflow keeps the latest point per key and dataset)."""

    key: str
    value: float
    timestamp: int
    step: int = 0
    run_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


@dataclass(frozen=True)
class LoggedModel:
    """An MLflow 3 logged model (mlflow.entities.LoggedModel): its files are at artifact_location, not
    among its source run's artifacts."""

    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    source_run_id: str | None = None
    model_type: str | None = None
    status: str = LoggedModelStatus.UNSPECIFIED
    status_message: str | None = None
    lifecycle_stage: str = LifecycleStage.ACTIVE
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    metrics: tuple[ModelMetric, ...] = ()

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_id}"
