"""Runs as pandas frames (mlflow.search_runs' columns) and MLflow-style search over Run objects.

`search` builds a small frame of only the columns a filter and order_by read, evaluates the parsed
filter to one boolean mask and sorts with one lexsort, so thousands of runs take milliseconds.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence, Union

import numpy as np
import pandas as pd

from reportgen.errors import QueryError
from reportgen.model import Run
from reportgen.query import (
    ATTRIBUTE, DATASET, METRIC, PARAM, TAG, OrderBy, parse_filter, parse_order_by, referenced_columns,
)
from reportgen.query_eval import filter_mask, order_positions

# The leading columns of mlflow.search_runs, in order; metrics.*, params.*, tags.* follow.
INFO_COLUMNS = ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]
DATASET_CONTEXT_TAG = "mlflow.data.context"
# What the aggregate functions take: Run objects, or a frame with runs_frame's columns.
RunsLike = Union[Sequence[Run], pd.DataFrame]


# Beyond this many ms from 1970 a time does not fit datetime64[us]; such a corrupt time becomes NaT.
_MAX_MILLIS = 9_000_000_000_000_000


def _timestamps(millis: list[int | None]) -> list | pd.DatetimeIndex:
    """Epoch ms as UTC datetimes, like MLflow's pd.to_datetime(ms, unit="ms", utc=True) per run,
    except that an absurd time becomes NaT instead of failing the whole frame."""
    if not millis or all(m is None for m in millis):
        # What MLflow's per-run pd.to_datetime(None) gives: NaT, which pandas types datetime64[s].
        return [pd.NaT] * len(millis)
    return millis_to_utc(np.array([math.nan if m is None else float(m) for m in millis], dtype="float64"))


def millis_to_utc(values: np.ndarray) -> pd.DatetimeIndex:
    """Epoch milliseconds (NaN for none) as datetime64[us, UTC]; NaN and absurd values become NaT."""
    values = np.asarray(values, dtype="float64")
    bad = ~np.isfinite(values) | (np.abs(values) > _MAX_MILLIS)
    stamps = np.where(bad, 0, values).astype("int64").astype("datetime64[ms]").astype("datetime64[us]")
    stamps[bad] = np.datetime64("NaT")
    return pd.DatetimeIndex(stamps).tz_localize("UTC")


def runs_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run, with mlflow.search_runs' columns and dtypes, in the runs' order.

    run_id, experiment_id, status, artifact_uri, start_time, end_time (UTC datetimes), then
    metrics.<key> (float64, NaN when missing), params.<key>, tags.<key> (strings, missing as NA).
    Unlike MLflow, whose key order follows Python set iteration, keys are sorted within each group.
    """
    data: dict[str, object] = {
        "run_id": [r.info.run_id for r in runs],
        "experiment_id": [r.info.experiment_id for r in runs],
        "status": [r.info.status for r in runs],
        "artifact_uri": [r.info.artifact_uri for r in runs],
        "start_time": _timestamps([r.info.start_time for r in runs]),
        "end_time": _timestamps([r.info.end_time for r in runs]),
    }
    count = len(runs)
    metric_keys = sorted({k for r in runs for k in r.data.metrics})
    metrics = {k: np.full(count, np.nan) for k in metric_keys}
    for i, run in enumerate(runs):
        for key, value in run.data.metrics.items():
            metrics[key][i] = value
    for key in metric_keys:
        data[f"metrics.{key}"] = metrics[key]
    for prefix, attr in (("params", "params"), ("tags", "tags")):
        keys = sorted({k for r in runs for k in getattr(r.data, attr)})
        for key in keys:
            data[f"{prefix}.{key}"] = [getattr(r.data, attr).get(key) for r in runs]
    return pd.DataFrame(data)


def as_runs_frame(runs: RunsLike, *, experiment_id: str | None = None) -> pd.DataFrame:
    """runs_frame(runs) for Run objects, or a copy of a frame; rows of one experiment when asked,
    dropping metric/param/tag columns that none of those rows has."""
    frame = runs.copy() if isinstance(runs, pd.DataFrame) else runs_frame(list(runs))
    if experiment_id is not None:
        frame = frame[frame["experiment_id"].astype(str) == str(experiment_id)].reset_index(drop=True)
        prefixes = ("metrics.", "params.", "tags.")
        frame = frame.drop(columns=[c for c in frame.columns if c.startswith(prefixes) and frame[c].isna().all()])
    return frame


def metric_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("metrics.")]


def param_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("params.")]


def _dataset_values(run: Run, key: str) -> tuple[str, ...]:
    if key == "context":
        return tuple(
            tag.value
            for dataset_input in run.inputs.dataset_inputs
            for tag in dataset_input.tags
            if tag.key == DATASET_CONTEXT_TAG
        )
    return tuple(getattr(dataset_input.dataset, key) for dataset_input in run.inputs.dataset_inputs)


def search_frame(
    runs: Sequence[Run], columns: Iterable[tuple[str, str]]
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """A frame of run_id, start_time (epoch ms) and the (entity, key) columns asked for, and for each
    metric column the rows that really have the metric (a logged NaN is not a missing metric)."""
    data: dict[str, object] = {
        "run_id": [r.info.run_id for r in runs],
        "start_time": np.array(
            [math.nan if r.info.start_time is None else r.info.start_time for r in runs], dtype="float64"
        ),
    }
    present: dict[str, np.ndarray] = {}
    for entity, key in columns:
        name = f"{entity}.{key}"
        if entity == METRIC:
            values = [r.data.metrics.get(key) for r in runs]
            present[name] = np.array([v is not None for v in values], dtype=bool)
            data[name] = np.array([math.nan if v is None else v for v in values], dtype="float64")
        elif entity in (PARAM, TAG):
            data[name] = pd.array(
                [getattr(r.data, entity).get(key) for r in runs], dtype=object
            )
        elif entity == ATTRIBUTE:
            values = [getattr(r.info, key) for r in runs]
            if key in ("start_time", "end_time"):
                values = [math.nan if v is None else v for v in values]
                data[name] = np.array(values, dtype="float64")
            else:
                data[name] = pd.array(values, dtype=object)
        elif entity == DATASET:
            data[name] = pd.array([_dataset_values(r, key) for r in runs], dtype=object)
        else:
            raise QueryError(f"Unknown entity {entity!r}")
    return pd.DataFrame(data), present


def search(
    runs: Sequence[Run],
    *,
    filter_string: str | None = None,
    order_by: str | Sequence[str] | None = None,
    max_results: int | None = None,
) -> list[Run]:
    """The runs matching filter_string, ordered like MLflow's search_runs, at most max_results."""
    parsed = parse_filter(filter_string)
    orders: tuple[OrderBy, ...] = parse_order_by(order_by)
    if max_results is not None and max_results < 0:
        raise QueryError(f"max_results must be at least 0, got {max_results}")
    frame, present = search_frame(runs, referenced_columns(parsed, orders))
    keep = filter_mask(parsed, frame, present=present).to_numpy()
    positions = np.flatnonzero(keep)
    ordered = positions[order_positions(frame.iloc[positions], orders, present={
        name: mask[positions] for name, mask in present.items()
    })]
    if max_results is not None:
        ordered = ordered[:max_results]
    return [runs[i] for i in ordered]
