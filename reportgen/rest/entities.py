"""MLflow's REST JSON shapes to reportgen's model (and back for logging): experiments, runs, metrics.

Tolerant like the file reader: missing fields take MLflow's defaults; numbers may come as strings
(protobuf int64), metric values as numbers, "NaN", "Infinity" or "-Infinity".
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from reportgen.model import (
    Dataset, DatasetInput, Experiment, InputTag, Metric, Run, RunData, RunInfo, RunInputs, RunStatus,
)

_FLOAT_WORDS = {"nan": math.nan, "infinity": math.inf, "-infinity": -math.inf, "inf": math.inf,
                "-inf": -math.inf}


def to_float(value: Any) -> float:
    """A metric value as JSON carries it: a number, or "NaN", "Infinity", "-Infinity" (any case)."""
    if isinstance(value, str):
        word = _FLOAT_WORDS.get(value.strip().lower())
        if word is not None:
            return word
    return float(value)


def float_to_json(value: float) -> float | str:
    """What MLflow's client sends: protobuf's JSON spelling of non-finite values."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def _pairs(items: Any) -> dict[str, str]:
    return {str(i["key"]): "" if i.get("value") is None else str(i["value"]) for i in items or ()}


def experiment(data: Mapping[str, Any]) -> Experiment:
    return Experiment(
        experiment_id=str(data["experiment_id"]),
        name=str(data.get("name", "")),
        artifact_location=str(data.get("artifact_location", "")),
        lifecycle_stage=str(data.get("lifecycle_stage") or "active"),
        tags=dict(sorted(_pairs(data.get("tags")).items())),
        creation_time=_int(data.get("creation_time")),
        last_update_time=_int(data.get("last_update_time")),
    )


def metric(data: Mapping[str, Any]) -> Metric:
    return Metric(key=str(data["key"]), value=to_float(data.get("value", 0.0)),
                  timestamp=int(data.get("timestamp") or 0), step=int(data.get("step") or 0))


def run_info(data: Mapping[str, Any], tags: Mapping[str, str] | None = None) -> RunInfo:
    tags = tags or {}
    return RunInfo(
        run_id=str(data.get("run_id") or data["run_uuid"]),
        experiment_id=str(data.get("experiment_id", "")),
        run_name=str(data.get("run_name") or tags.get("mlflow.runName") or ""),
        user_id=str(data.get("user_id") or ""),
        status=RunStatus.to_string(data.get("status") or RunStatus.RUNNING),
        start_time=_int(data.get("start_time")),
        end_time=_int(data.get("end_time")),
        artifact_uri=str(data.get("artifact_uri") or ""),
        lifecycle_stage=str(data.get("lifecycle_stage") or "active"),
        deleted_time=_int(data.get("deleted_time")),
    )


def _inputs(data: Mapping[str, Any] | None) -> RunInputs:
    found = []
    for item in (data or {}).get("dataset_inputs") or ():
        ds = item.get("dataset") or {}
        dataset = Dataset(
            name=str(ds.get("name", "")), digest=str(ds.get("digest", "")),
            source_type=str(ds.get("source_type") or ""), source=str(ds.get("source") or ""),
            schema=ds.get("schema"), profile=ds.get("profile"),
        )
        tags = tuple(InputTag(str(t["key"]), str(t.get("value") or "")) for t in item.get("tags") or ())
        found.append(DatasetInput(dataset, tags))
    # The server's order is its database's (random uuids in MLflow's SQL schema): sorted, so that
    # the same run reads the same every time.
    found.sort(key=lambda d: (d.dataset.name, d.dataset.digest, d.dataset.source_type, d.dataset.source))
    return RunInputs(tuple(found))


def run(data: Mapping[str, Any]) -> Run:
    """A Run from runs/get or runs/search JSON (metrics there are the latest values only)."""
    payload = data.get("data") or {}
    tags = dict(sorted(_pairs(payload.get("tags")).items()))
    metrics = tuple(sorted((metric(m) for m in payload.get("metrics") or ()), key=lambda m: m.key))
    return Run(
        info=run_info(data["info"], tags),
        data=RunData(
            metrics={m.key: m.value for m in metrics},
            params=dict(sorted(_pairs(payload.get("params")).items())),
            tags=tags,
            metric_objs=metrics,
        ),
        inputs=_inputs(data.get("inputs")),
    )
