"""Evaluation of parsed filters and order_by clauses on a runs frame, vectorised, with MLflow's semantics.

A frame has runs_frame columns (run_id, status, start_time, metrics.*, params.*, tags.*, ...), and
optionally attributes.run_name, attributes.user_id and datasets.{name,digest,context} (tuples per run).
"""
from __future__ import annotations

import re
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from reportgen.errors import QueryError
from reportgen.query import (
    ATTRIBUTE, DATASET, METRIC, NUMERIC_ATTRIBUTES, BoolOp, Comparison, Filter, OrderBy,
)

Present = Mapping[str, np.ndarray]
# Where a bare frame keeps an attribute when no attributes.<key> column exists.
_ATTRIBUTE_FALLBACKS = {"run_name": "tags.mlflow.runName", "user_id": "tags.mlflow.user"}


def like_regex(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """MLflow's LIKE: % is any run of characters, _ one character, anchored unless the pattern
    starts or ends with % (mlflow.utils.search_utils._convert_like_pattern_to_regex)."""
    regex = re.escape(pattern).replace("%", ".*").replace("_", ".")
    if not pattern.startswith("%"):
        regex = "^" + regex
    if not pattern.endswith("%"):
        regex = regex + "$"
    return re.compile(regex, re.IGNORECASE if ignore_case else 0)


def column_name(frame: pd.DataFrame, entity: str, key: str) -> str | None:
    """The frame column holding (entity, key), or None when no run has it."""
    name = f"{entity}.{key}"
    if name in frame.columns:
        return name
    if entity == ATTRIBUTE:
        for candidate in (key, _ATTRIBUTE_FALLBACKS.get(key)):
            if candidate is not None and candidate in frame.columns:
                return candidate
        raise QueryError(f"The runs frame has no column for attribute {key!r}")
    return None


def _numbers(series: pd.Series) -> np.ndarray:
    """float64 values; datetimes become epoch milliseconds so start_time compares like MLflow's ints."""
    if pd.api.types.is_datetime64_any_dtype(series):
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            series = series.dt.tz_convert(None)
        stamps = series.to_numpy().astype("datetime64[ms]")
        millis = stamps.view("int64").astype("float64")
        millis[np.isnat(stamps)] = np.nan
        return millis
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _presence(frame: pd.DataFrame, name: str, present: Present | None) -> np.ndarray:
    if present is not None and name in present:
        return np.asarray(present[name], dtype=bool)
    return frame[name].notna().to_numpy()


_NUMERIC: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "=": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
    ">": np.greater, ">=": np.greater_equal,
}


def _string_predicate(op: str, value: object) -> Callable[[str], bool]:
    if op == "=":
        return lambda text: text == value
    if op == "!=":
        return lambda text: text != value
    if op in ("LIKE", "ILIKE"):
        regex = like_regex(str(value), ignore_case=op == "ILIKE")
        return lambda text: regex.match(text) is not None
    if op == "IN":
        return lambda text: text in value  # type: ignore[operator]
    if op == "NOT IN":
        return lambda text: text not in value  # type: ignore[operator]
    raise QueryError(f"Comparator {op} cannot compare strings")


def comparison_mask(comparison: Comparison, frame: pd.DataFrame, present: Present | None = None) -> np.ndarray:
    """One clause as a boolean array: a run lacking the key never matches (except IS NULL)."""
    name = column_name(frame, comparison.entity, comparison.key)
    rows = len(frame)
    if name is None:
        return np.full(rows, comparison.op == "IS NULL")
    has = _presence(frame, name, present)
    if comparison.op == "IS NULL":
        return ~has
    if comparison.op == "IS NOT NULL":
        return has
    series = frame[name]
    if comparison.entity == METRIC or (comparison.entity == ATTRIBUTE and comparison.key in NUMERIC_ATTRIBUTES):
        with np.errstate(invalid="ignore"):
            # A logged NaN compares like Python floats (only != is true), a missing metric never matches.
            return _NUMERIC[comparison.op](_numbers(series), float(comparison.value)) & has  # type: ignore[arg-type]
    predicate = _string_predicate(comparison.op, comparison.value)
    if comparison.entity == DATASET:
        # Any of the run's dataset inputs matching is enough (MLflow's any(...) over inputs).
        cells = series.to_numpy(dtype=object)
        return np.fromiter(
            (bool(has[i]) and any(predicate(str(v)) for v in cells[i]) for i in range(rows)), bool, rows
        )
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    # Evaluate once per distinct value: params and tags repeat a lot across a sweep.
    table = np.fromiter((predicate(str(u)) for u in uniques), bool, len(uniques))
    result = np.zeros(rows, dtype=bool)
    known = codes >= 0
    result[known] = table[codes[known]]
    return result & has


def _node_mask(node, frame: pd.DataFrame, present: Present | None) -> np.ndarray:
    if isinstance(node, Comparison):
        return comparison_mask(node, frame, present)
    assert isinstance(node, BoolOp)
    masks = [_node_mask(part, frame, present) for part in node.parts]
    combine = np.logical_and if node.op == "AND" else np.logical_or
    return combine.reduce(masks)


def filter_mask(filter_: Filter, frame: pd.DataFrame, *, present: Present | None = None) -> pd.Series:
    """Which rows of frame match. `present` maps a column to the rows that really have the key;
    without it a NaN metric counts as missing (runs_frame cannot tell a logged NaN from no metric)."""
    if filter_.root is None:
        return pd.Series(np.ones(len(frame), dtype=bool), index=frame.index)
    return pd.Series(_node_mask(filter_.root, frame, present), index=frame.index)


def _ranks(series: pd.Series) -> np.ndarray:
    """Dense ranks of values (Python order for strings, numeric for numbers); nulls get 0."""
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series):
        values = _numbers(series)
        return np.where(np.isnan(values), 0.0, values)
    codes, _ = pd.factorize(series, sort=True, use_na_sentinel=True)
    return codes.astype("float64")


def order_positions(
    frame: pd.DataFrame, order_by: Sequence[OrderBy] = (), *, present: Present | None = None
) -> np.ndarray:
    """Row positions in MLflow's order: the order_by clauses, then start_time DESC, then run_id ASC.

    Per clause, values come first, then NaN metrics, then runs lacking the key (MLflow's
    SearchUtils._get_value_for_sort), whichever the direction; ties keep the default order.
    """
    rows = len(frame)
    start = _numbers(frame["start_time"]) if "start_time" in frame.columns else np.full(rows, np.nan)
    run_ids = _ranks(frame["run_id"]) if "run_id" in frame.columns else np.zeros(rows)
    # np.lexsort takes its primary key last.
    keys: list[np.ndarray] = [run_ids, np.where(np.isnan(start), np.inf, -start)]
    for clause in reversed(tuple(order_by)):
        name = column_name(frame, clause.entity, clause.key)
        if name is None:
            continue  # no run has the key: every run ties
        series = frame[name]
        has = _presence(frame, name, present)
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series):
            isnan = np.isnan(_numbers(series))
        else:
            isnan = np.zeros(rows, dtype=bool)
        null_rank = np.where(~has, 2, np.where(isnan, 1, 0))
        values = _ranks(series)
        keys.append(values if clause.ascending else -values)
        keys.append(null_rank)
    return np.lexsort(keys)
