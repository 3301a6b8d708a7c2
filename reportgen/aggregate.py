"""The frames a report shows, pure pandas: runs tables with a metric summary, params that vary,
best run per metric. Seed groups and parent roll-ups live in reportgen.rollups, history
downsampling in reportgen.histories; all are re-exported here as the one entry point.
"""
from __future__ import annotations

import fnmatch
import re
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from reportgen.analysis import varies as varies_rule
from reportgen.errors import ReportgenError
from reportgen.frames import RunsLike, as_runs_frame, metric_columns, param_columns
from reportgen.numbers import settled
from reportgen.histories import HISTORY_COLUMNS, downsample_histories, series_codes, series_order, with_times

Directions = Mapping[str, str]

SUMMARIES = ("last", "first", "min", "max", "mean", "best", "best_step", "count")
SUMMARY_COLUMNS = ["run_id", "key", "count", "first", "last", "min", "max", "mean", "direction",
                   "best", "best_step", "last_step"]
BEST_COLUMNS = ["key", "direction", "run_id", "run_name", "value", "n_runs"]
PARAM_COLUMNS = ["key", "varies", "n_values", "n_missing", "value"]

# Name tokens that say which way a metric improves. Checked right to left, so "val_loss" is a loss
# and "loss_weight_accuracy" an accuracy; a leading "neg" (scikit-learn's neg_mean_squared_error) flips.
LOWER_IS_BETTER = frozenset({
    "loss", "losses", "error", "errors", "err", "rmse", "mse", "mae", "mape", "smape", "rmsle", "msle",
    "medae", "perplexity", "ppl", "nll", "logloss", "wer", "cer", "ter", "fid", "ece", "brier", "regret",
    "divergence", "kl", "bpd", "bpc", "latency", "duration", "runtime", "fpr", "fnr", "cost", "hinge",
    "distance", "risk", "mad",
})
HIGHER_IS_BETTER = frozenset({
    "accuracy", "acc", "auc", "auroc", "roc", "rocauc", "prauc", "f1", "fscore", "fbeta", "r2", "precision",
    "recall", "map", "ndcg", "bleu", "rouge", "rougel", "meteor", "chrf", "iou", "miou", "dice", "reward",
    "return", "sharpe", "mrr", "hitrate", "hits", "top1", "top5", "ap", "tpr", "tnr", "specificity",
    "sensitivity", "kappa", "mcc", "jaccard", "psnr", "ssim", "throughput", "coverage", "spearman",
    "pearson", "score", "elbo", "likelihood", "exact", "em",
})
_NEGATION = frozenset({"neg", "negative", "minus"})
_DIRECTION_WORDS = {"min": "min", "max": "max", "lower": "min", "higher": "max", "minimize": "min",
                    "maximize": "max", "asc": "min", "desc": "max"}


# -- directions -----------------------------------------------------------------------------------
def _name_tokens(key: str) -> list[str]:
    tokens: list[str] = []
    for part in re.split(r"[^0-9A-Za-z]+", key):
        if part:
            tokens.append(part.lower())
            pieces = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", part)
            if len(pieces) > 1:  # camelCase: valLoss -> val, loss
                tokens.extend(p.lower() for p in pieces)
    return tokens


def metric_direction(key: str, overrides: Directions | None = None) -> str | None:
    """'min' when lower is better, 'max' when higher is better, None when the name does not say.

    `overrides` maps a key or a glob ("val_*") to min/max (or lower/higher); an exact key wins.
    """
    for pattern, word in _override_items(overrides, key):
        if fnmatch.fnmatchcase(key, pattern):
            return word
    tokens = _name_tokens(key)
    negated = any(t in _NEGATION for t in tokens)
    for token in reversed(tokens):
        found = "min" if token in LOWER_IS_BETTER else "max" if token in HIGHER_IS_BETTER else None
        if found:
            return {"min": "max", "max": "min"}[found] if negated else found
    # Run-together names such as "valloss" or "trainacc": a known word at the end.
    squashed = key.lower()
    for word in sorted(LOWER_IS_BETTER | HIGHER_IS_BETTER, key=len, reverse=True):
        if len(word) >= 3 and squashed.endswith(word):
            found = "min" if word in LOWER_IS_BETTER else "max"
            return {"min": "max", "max": "min"}[found] if negated else found
    return None


def _override_items(overrides: Directions | None, key: str) -> list[tuple[str, str]]:
    if not overrides:
        return []
    items = []
    for pattern, word in overrides.items():
        direction = _DIRECTION_WORDS.get(str(word).strip().lower())
        if direction is None:
            raise ReportgenError(f"Direction for {pattern!r} must be min or max (lower/higher), got {word!r}")
        items.append((pattern, direction))
    # The exact key first, then globs in the order given.
    return sorted(items, key=lambda item: item[0] != key)


# -- summaries of histories ------------------------------------------------------------------------
def metric_summaries(histories: pd.DataFrame, *, directions: Directions | None = None) -> pd.DataFrame:
    """One row per (run_id, key) of a history frame, sorted by run_id, key: count (non-NaN points),
    first, last (MLflow's latest: max by step, timestamp, value), min, max, mean (NaN skipped),
    direction, best (min or max by direction, NaN when unknown), best_step (first step reaching
    it, NaN when none) and last_step. One sort at most, then reductions over contiguous series."""
    missing = [c for c in HISTORY_COLUMNS if c not in histories.columns]
    if missing:
        raise ReportgenError(f"A history frame needs the columns {HISTORY_COLUMNS}; missing {missing}")
    if histories.empty:
        return pd.DataFrame({c: [] for c in SUMMARY_COLUMNS})
    group, run_ids, keys = series_codes(histories)
    steps = histories["step"].to_numpy(dtype="int64")
    stamps = histories["timestamp"].to_numpy(dtype="int64")
    values = histories["value"].to_numpy(dtype="float64")
    order = series_order(group, steps, stamps)
    if order is not None:
        group, steps, stamps, values = group[order], steps[order], stamps[order], values[order]
    same = (group[1:] == group[:-1]) & (steps[1:] == steps[:-1]) & (stamps[1:] == stamps[:-1])
    if same.any():
        # Points sharing step and timestamp: MLflow's latest is the largest value, NaN the smallest.
        isnan = np.isnan(values)
        tie = np.lexsort((np.where(isnan, -np.inf, values), ~isnan, stamps, steps, group))
        group, steps, stamps, values = group[tie], steps[tie], stamps[tie], values[tie]
    count = len(values)
    starts = np.flatnonzero(np.concatenate(([True], group[1:] != group[:-1])))
    ends = np.append(starts[1:], count) - 1
    isnan = np.isnan(values)
    n_real = np.add.reduceat(~isnan, starts).astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.add.reduceat(np.where(isnan, 0.0, values), starts) / n_real
    lowest, highest = np.fmin.reduceat(values, starts), np.fmax.reduceat(values, starts)
    series = group[starts]
    key_direction = np.array([metric_direction(k, directions) for k in keys], dtype=object)
    direction = key_direction[series % max(len(keys), 1)]
    best = np.where(direction == "min", lowest, np.where(direction == "max", highest, np.nan))
    # The first row (smallest step) of each series equal to its best value.
    series_index = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, count)))
    hit = np.where(values == best[series_index], np.arange(count), count)
    first_hit = np.minimum.reduceat(hit, starts)
    best_step = np.where(first_hit < count, steps[np.minimum(first_hit, count - 1)], np.nan)
    return pd.DataFrame({
        "run_id": run_ids[series // max(len(keys), 1)], "key": keys[series % max(len(keys), 1)],
        "count": n_real, "first": values[starts], "last": values[ends], "min": lowest, "max": highest,
        "mean": settled(np.where(n_real > 0, mean, np.nan)), "direction": direction, "best": best,
        "best_step": best_step.astype("float64"), "last_step": steps[ends],
    }, columns=SUMMARY_COLUMNS)


def runs_table(
    runs: RunsLike,
    histories: pd.DataFrame | None = None,
    *,
    summary: str = "last",
    experiment_id: str | None = None,
    directions: Directions | None = None,
) -> pd.DataFrame:
    """The runs table: runs_frame columns, with each metrics.<key> holding the chosen summary.

    summary is one of SUMMARIES; "last" is the runs' own latest values (what MLflow shows), the
    others come from `histories` (Store.metric_histories), "best_step" is the step of the best value.
    """
    if summary not in SUMMARIES:
        raise ReportgenError(f"Unknown metric summary {summary!r}; choose one of {', '.join(SUMMARIES)}")
    frame = as_runs_frame(runs, experiment_id=experiment_id)
    if summary == "last":
        return frame
    if histories is None:
        raise ReportgenError(f"The {summary!r} metric summary needs the metric histories")
    history = histories[histories["run_id"].isin(frame["run_id"])]
    wide = metric_summaries(history, directions=directions).pivot(index="run_id", columns="key", values=summary)
    for column in metric_columns(frame):
        key = column[len("metrics."):]
        source = wide[key] if key in wide.columns else pd.Series(dtype="float64")
        frame[column] = frame["run_id"].map(source).astype("float64")
    return frame


def runs_tables(
    runs: RunsLike,
    histories: pd.DataFrame | None = None,
    *,
    summary: str = "last",
    directions: Directions | None = None,
) -> dict[str, pd.DataFrame]:
    """runs_table for each experiment id present, in order of first appearance."""
    frame = as_runs_frame(runs)
    return {
        str(experiment_id): runs_table(frame, histories, summary=summary, experiment_id=str(experiment_id),
                                       directions=directions)
        for experiment_id in pd.unique(frame["experiment_id"].astype(str))
    }


# -- params ---------------------------------------------------------------------------------------
def param_summary(runs: RunsLike) -> pd.DataFrame:
    """One row per param: key, varies (analysis.varies: the runs that have it hold two values or more),
    n_values (distinct values), n_missing, value (the shared value of a constant param)."""
    frame = as_runs_frame(runs)
    rows = []
    for column in param_columns(frame):
        values = frame[column]
        n_missing = int(values.isna().sum())
        distinct = values.dropna().unique()
        varies = varies_rule(len(distinct))
        rows.append({
            "key": column[len("params."):], "varies": bool(varies), "n_values": len(distinct),
            "n_missing": n_missing, "value": None if varies or not len(distinct) else distinct[0],
        })
    return pd.DataFrame(rows, columns=PARAM_COLUMNS)


def varying_params(runs: RunsLike) -> list[str]:
    """Keys of the params whose values differ across the runs."""
    summary = param_summary(runs)
    return list(summary.loc[summary["varies"], "key"])


def constant_params(runs: RunsLike) -> dict[str, str]:
    """Params every run has with the same value."""
    summary = param_summary(runs)
    constant = summary[~summary["varies"] & (summary["n_missing"] == 0)]
    return dict(zip(constant["key"], constant["value"]))


# -- best runs ------------------------------------------------------------------------------------
def best_runs(runs: RunsLike, *, directions: Directions | None = None,
              metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """The best run per metric (over a runs table's metrics.* columns, any summary): key, direction,
    run_id, run_name, value, n_runs (runs with a value). Metrics whose direction is unknown (not
    inferable from the name and not in `directions`) are left out; ties go to the earlier row."""
    frame = as_runs_frame(runs)
    names = frame["tags.mlflow.runName"] if "tags.mlflow.runName" in frame.columns else pd.Series([None] * len(frame))
    rows = []
    for column in metric_columns(frame):
        key = column[len("metrics."):]
        if metrics is not None and key not in metrics:
            continue
        direction = metric_direction(key, directions)
        values = frame[column].to_numpy(dtype="float64")
        valid = ~np.isnan(values)
        if direction is None or not valid.any():
            continue
        position = int(np.nanargmin(values) if direction == "min" else np.nanargmax(values))
        rows.append({"key": key, "direction": direction, "run_id": frame["run_id"].iloc[position],
                     "run_name": names.iloc[position], "value": float(values[position]),
                     "n_runs": int(valid.sum())})
    return pd.DataFrame(rows, columns=BEST_COLUMNS)


from reportgen.rollups import parent_rollup, run_tree, seed_groups, SEED_PARAMS  # noqa: E402

__all__ = [
    "SUMMARIES", "SEED_PARAMS", "as_runs_frame", "best_runs", "constant_params", "downsample_histories",
    "metric_direction", "metric_summaries", "param_summary", "parent_rollup", "run_tree", "runs_table", "runs_tables",
    "seed_groups", "varying_params", "with_times",
]
