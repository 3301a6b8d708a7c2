"""Runs rolled up into groups: repeats that differ only by seed (or a chosen param) with mean, std
and count per metric, and parent runs with their children (mlflow.parentRunId) in tree order."""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from reportgen.analysis import SEED_PARAMS, is_seed, tree_order
from reportgen.errors import ReportgenError
from reportgen.frames import RunsLike, as_runs_frame, metric_columns, param_columns
from reportgen.numbers import mean_std

PARENT_TAG = "tags.mlflow.parentRunId"
TREE_COLUMNS = ["run_id", "parent_run_id", "root_run_id", "depth", "n_children", "tree_order"]


def seed_groups(
    runs: RunsLike,
    *,
    by: str | Sequence[str] | None = None,
    seed_params: Iterable[str] = SEED_PARAMS,
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Groups of runs that share every param except the seed params (or except `by`, a param key or
    keys) within one experiment. One row per group, in order of first appearance:

    group, experiment_id, params.<key> for every grouping param, n_runs, run_ids (tuple), varied
    (tuple of the ignored params' values per run, in run_ids order), then for each metric column
    metrics.<key>.mean, metrics.<key>.std (sample std, NaN for one run), metrics.<key>.count.
    """
    frame = as_runs_frame(runs)
    all_params = param_columns(frame)
    if by is None:
        ignored = [c for c in all_params if is_seed(c[len("params."):], seed_params)]
    else:
        wanted = [by] if isinstance(by, str) else list(by)
        ignored = [c if c.startswith("params.") else f"params.{c}" for c in wanted]
        unknown = [c for c in ignored if c not in frame.columns]
        if unknown:
            raise ReportgenError(f"No run has the param(s) {', '.join(u[len('params.'):] for u in unknown)}")
    keys = ["experiment_id"] + [c for c in all_params if c not in ignored]
    chosen = metric_columns(frame) if metrics is None else [
        m if m.startswith("metrics.") else f"metrics.{m}" for m in metrics
    ]
    chosen = [c for c in chosen if c in frame.columns]
    # A missing param is a value of its own ("<missing>") so such runs group together, not vanish.
    labels = frame[keys].astype(object).where(frame[keys].notna(), "\0missing")
    group_codes = pd.MultiIndex.from_frame(labels).factorize()[0] if len(frame) else np.array([], dtype=int)
    frame = frame.assign(_group=group_codes)
    grouped = frame.groupby("_group", sort=True)
    out = grouped[keys].first()
    out.insert(0, "group", out.index.to_numpy())
    out["n_runs"] = grouped.size()
    out["run_ids"] = grouped["run_id"].agg(tuple)
    if ignored:
        cells = frame[ignored].astype(object).where(frame[ignored].notna(), None)
        out["varied"] = cells.groupby(frame["_group"], sort=True).apply(lambda g: tuple(map(tuple, g.to_numpy())))
    else:
        out["varied"] = [()] * len(out)
    for column in chosen:
        stats = [mean_std(part) for _, part in grouped[column]]
        out[f"{column}.mean"] = [mean for mean, _ in stats]
        out[f"{column}.std"] = [std for _, std in stats]
        out[f"{column}.count"] = grouped[column].count().astype("int64")
    return out.reset_index(drop=True)


def _parents(frame: pd.DataFrame) -> list[str | None]:
    if PARENT_TAG not in frame.columns:
        return [None] * len(frame)
    return [None if pd.isna(p) else str(p) for p in frame[PARENT_TAG]]


def run_tree(runs: RunsLike) -> pd.DataFrame:
    """Runs in tree order: each root (no parent, or a parent not among the runs) followed by its
    children depth-first, siblings in the input's order. Columns: run_id, parent_run_id (the tag,
    even when that run is absent), root_run_id, depth (0 for roots), n_children, tree_order.
    A parent cycle is broken at the first run of the cycle met in input order."""
    frame = as_runs_frame(runs)
    ids = [str(r) for r in frame["run_id"]]
    parents = _parents(frame)
    ordered, n_children = tree_order(ids, parents)
    tree = pd.DataFrame([{"run_id": ids[i], "parent_run_id": parents[i], "root_run_id": ids[root], "depth": depth,
                          "n_children": n_children[i]} for i, depth, root in ordered], columns=TREE_COLUMNS[:-1])
    tree["tree_order"] = np.arange(len(tree))
    return tree


def parent_rollup(
    runs: RunsLike, *, metrics: Sequence[str] | None = None, descendants: bool = False
) -> pd.DataFrame:
    """One row per run that has children, in tree order: run_id, n_children, children (tuple of
    run ids in tree order), then metrics.<key>.mean/.min/.max/.count over the children (or all
    descendants) for each metric column, NaN ignored."""
    frame = as_runs_frame(runs)
    tree = run_tree(frame)
    chosen = metric_columns(frame) if metrics is None else [
        m if m.startswith("metrics.") else f"metrics.{m}" for m in metrics
    ]
    chosen = [c for c in chosen if c in frame.columns]
    # Links followed by run_tree (depth > 0) form a forest: no cycles, every parent present.
    linked = tree[tree["depth"] > 0]
    direct = pd.DataFrame({"parent": linked["parent_run_id"].to_numpy(dtype=object),
                           "member": linked["run_id"].to_numpy(dtype=object)})
    pairs = [direct]
    if descendants:
        parent_of = dict(zip(direct["member"], direct["parent"]))
        level = direct
        while True:
            up = level["parent"].map(parent_of)
            level = pd.DataFrame({"parent": up, "member": level["member"]})[up.notna()]
            if level.empty:
                break
            pairs.append(level)
    members = pd.concat(pairs, ignore_index=True)
    has_children = set(direct["parent"])
    parents = [r for r in tree["run_id"] if r in has_children]
    out = pd.DataFrame({"run_id": parents})
    children = direct.groupby("parent", sort=False)["member"].agg(tuple)
    out["n_children"] = out["run_id"].map(children.map(len)).astype("int64")
    out["children"] = out["run_id"].map(children)
    values = frame.set_index(frame["run_id"].astype(str))[chosen].reindex(members["member"].to_numpy())
    values.index = members["parent"].to_numpy()
    grouped = values.groupby(level=0, sort=False)
    for column in chosen:
        stats = grouped[column].agg(["min", "max", "count"]).reindex(parents)
        means = {parent: mean_std(part)[0] for parent, part in grouped[column]}
        out[f"{column}.mean"] = [means.get(parent, np.nan) for parent in parents]
        for stat in ("min", "max"):
            out[f"{column}.{stat}"] = stats[stat].to_numpy(dtype="float64")
        out[f"{column}.count"] = stats["count"].fillna(0).to_numpy(dtype="int64")
    return out
