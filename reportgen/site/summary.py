"""Per-run metric summaries for the pages (last, min, max, step of the best value) and the direction
in which a metric is better, guessed from its name.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

# Names of metrics where smaller is better; everything else counts as "higher is better".
_MINIMIZE_RE = re.compile(r"(loss|err|error|mse|mae|rmse|mape|perplexity|ppl|latency|time|duration|cost|regret|wer|cer|fpr|fnr|nll|bpb|bpc)",
                          re.IGNORECASE)


def direction(key: str) -> str:
    """"min" when a smaller value of this metric is better, else "max"."""
    return "min" if _MINIMIZE_RE.search(key) else "max"


@dataclass(frozen=True)
class MetricSummary:
    last: float
    min: float
    max: float
    best_step: int | None
    count: int


def summarize(history: pd.DataFrame) -> dict[tuple[str, str], MetricSummary]:
    """(run_id, key) -> summary of every series in a metric_histories() frame."""
    result: dict[tuple[str, str], MetricSummary] = {}
    if history.empty:
        return result
    frame = history.sort_values(["run_id", "key", "step", "timestamp"], kind="stable")
    for (run_id, key), part in frame.groupby(["run_id", "key"], sort=True):
        values = part["value"].to_numpy(dtype=float)
        steps = part["step"].to_numpy()
        finite = np.isfinite(values)
        if finite.any():
            low, high = float(np.min(values[finite])), float(np.max(values[finite]))
            pick = np.argmin if direction(str(key)) == "min" else np.argmax
            masked = np.where(finite, values, np.inf if direction(str(key)) == "min" else -np.inf)
            best_step: int | None = int(steps[int(pick(masked))])
        else:
            low = high = math.nan
            best_step = None
        result[(str(run_id), str(key))] = MetricSummary(
            last=float(values[-1]), min=low, max=high, best_step=best_step, count=len(values)
        )
    return result


def best_run(values: dict[str, float], key: str) -> str | None:
    """The run id with the best finite value of a metric, ties broken by run id."""
    finite = [(value, run_id) for run_id, value in values.items() if isinstance(value, float) and math.isfinite(value)]
    if not finite:
        return None
    if direction(key) == "min":
        return min(finite)[1]
    return min((-value, run_id) for value, run_id in finite)[1]
