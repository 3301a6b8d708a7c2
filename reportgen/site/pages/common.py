"""Shared by every page kind: how a run is named and linked, table cells, the metric keys and
params an experiment's pages show, and the run tree they follow.
"""
from __future__ import annotations

from collections import Counter
from itertools import chain
from typing import Any, Sequence

from reportgen.analysis import split_params, tree_order
from reportgen.limits import CLIP_CHARS, TABLE_FULL_CHARS
from reportgen.model import Run
from reportgen.site import fmt
from reportgen.site.gather import ExperimentData
from reportgen.site.summary import MetricSummary

NOTE_TAG = "mlflow.note.content"
# Tags MLflow sets itself; shown as attributes, not in the user tag columns.
SYSTEM_TAG_PREFIX = "mlflow."
ROWS_PER_PAGE = 250
MAX_CELL_CHARS = CLIP_CHARS
RUNS_TABLE_CELL_CHARS = 60  # the runs table is wide already; longer values open in place
MAX_VALUE_CHARS = TABLE_FULL_CHARS  # in tables of many runs; a run page opens up to FULL_VALUE_MAX_CHARS


def run_label(run: Run) -> str:
    """A run's name as pages, charts and images show it (clipped: a name may be a megabyte long)."""
    return fmt.cut(run.info.run_name) if run.info.run_name else run.info.run_id[:8]


def exp_href(exp: ExperimentData) -> str:
    return f"e/{exp.key}/index.html"


def run_href(exp: ExperimentData, run_id: str) -> str:
    """A run's page: one file, r/KEY.html (its copied artifacts go under r/KEY/files/): no folder a run,
    which an incremental build would make again for every cached page."""
    return f"r/{exp.run_keys[run_id]}.html"


def value_cell(value: Any, limit: int = MAX_CELL_CHARS, full_limit: int = MAX_VALUE_CHARS) -> dict[str, Any]:
    """A table cell: shown text (cut at `limit`), the longer text opened in place (cut at
    `full_limit`), and a sort value (numbers sort as numbers)."""
    if value is None:
        return {"text": "", "sort": "", "full": ""}
    if isinstance(value, float):
        shown, sort = fmt.number_and_sort(value)
        return {"text": shown, "sort": sort, "full": shown}
    text = str(value)
    # fmt.clip at both lengths, with one pass for invisible characters (of no more than is shown)
    seen = fmt.visible(text[:full_limit + 1])
    return {"text": fmt.cut(seen, limit), "sort": text[:MAX_CELL_CHARS], "full": fmt.cut(seen, full_limit)}


def key_metrics(exp: ExperimentData) -> list[str]:
    """Metric keys ordered by how many runs have them, then by name (made once per experiment)."""
    if "key_metrics" not in exp.derived:
        counts = Counter(chain.from_iterable(run.data.metrics for run in exp.runs))
        exp.derived["key_metrics"] = sorted(counts, key=lambda key: (-counts[key], key))
    return list(exp.derived["key_metrics"])


def varying_params(runs: Sequence[Run]) -> tuple[list[str], list[str]]:
    """(param keys whose values differ between runs, param keys every run has with one value): the
    analysis layer's rule (analysis.varies), the one `reportgen summary` applies."""
    return split_params([run.data.params for run in runs])


def experiment_varying(exp: ExperimentData) -> tuple[list[str], list[str]]:
    """varying_params of the experiment's runs, made once (the table and two charts ask)."""
    if "varying" not in exp.derived:
        exp.derived["varying"] = varying_params(exp.runs)
    return exp.derived["varying"]


def experiment_tree(exp: ExperimentData) -> list[tuple[Run, int]]:
    """run_tree of the experiment's runs, made once (the table's pages and rows ask)."""
    if "run_tree" not in exp.derived:
        exp.derived["run_tree"] = run_tree(exp.runs)
    return exp.derived["run_tree"]


def run_tree(runs: Sequence[Run]) -> list[tuple[Run, int]]:
    """Runs in display order with nesting depth (capped at 8 for indentation): each parent followed by
    its children, recursively (analysis.tree_order, the order of rollups.run_tree)."""
    ordered, _ = tree_order([run.info.run_id for run in runs], [run.parent_run_id for run in runs])
    return [(runs[i], min(depth, 8)) for i, depth, _ in ordered]


def summary_cells(summary: MetricSummary | None, latest: float | None) -> dict[str, Any]:
    last = latest if latest is not None else (summary.last if summary else None)
    return {
        "last": value_cell(last),
        "min": value_cell(summary.min if summary else None),
        "max": value_cell(summary.max if summary else None),
        "best_step": "" if summary is None or summary.best_step is None else str(summary.best_step),
        "count": summary.count if summary else 0,
    }
