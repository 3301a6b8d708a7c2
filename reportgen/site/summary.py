"""Per-run metric summaries for the pages (last, min, max, step of the best value), from
reportgen.aggregate, in the shape the page contexts look up: (run_id, key) -> MetricSummary.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import pandas as pd

from reportgen.aggregate import metric_direction, metric_summaries


@functools.lru_cache(maxsize=4096)
def direction(key: str) -> str | None:
    """"min" when a smaller value is better, "max" when larger is better, None when the name does not say."""
    return metric_direction(key)


@dataclass(frozen=True)
class MetricSummary:
    last: float
    min: float
    max: float
    best_step: int | None
    count: int


def summarize(history: pd.DataFrame) -> dict[tuple[str, str], MetricSummary]:
    """(run_id, key) -> summary of every series in a metric_histories() frame."""
    frame = metric_summaries(history)
    result: dict[tuple[str, str], MetricSummary] = {}
    for row in frame.itertuples(index=False):
        best_step = None if pd.isna(row.best_step) else int(row.best_step)
        result[(str(row.run_id), str(row.key))] = MetricSummary(
            last=float(row.last), min=float(row.min), max=float(row.max), best_step=best_step, count=int(row.count)
        )
    return result


def best_run(values: dict[str, float], key: str) -> str | None:
    """The run id with the best finite value of a metric (ties to the smaller run id); None when the
    metric's direction is unknown or no value is finite."""
    way = direction(key)
    finite = [(value, run_id) for run_id, value in values.items() if isinstance(value, float) and math.isfinite(value)]
    if way is None or not finite:
        return None
    if way == "min":
        return min(finite)[1]
    return min((-value, run_id) for value, run_id in finite)[1]
