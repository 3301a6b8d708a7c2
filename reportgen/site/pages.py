"""Page contexts: plain dicts for each page kind (index, experiment, run, compare, problems), built from
the gathered data. No HTML here (templates escape everything they print), except the runs table's rows,
which runs_rows writes ready-escaped.
"""
from __future__ import annotations

from collections import Counter
from itertools import chain
from typing import Any, Sequence

from markupsafe import Markup

from reportgen.analysis import split_params, tree_order
from reportgen.limits import CLIP_CHARS, TABLE_FULL_CHARS
from reportgen.model import Problem, Run
from reportgen.site import fmt
from reportgen.site.collect import ExperimentData, SiteData
from reportgen.site.markdown_html import render_markdown
from reportgen.site.runs_rows import RowWriter
from reportgen.site.summary import MetricSummary, best_run, direction

NOTE_TAG = "mlflow.note.content"
# Tags MLflow sets itself; shown as attributes, not in the user tag columns.
SYSTEM_TAG_PREFIX = "mlflow."
ROWS_PER_PAGE = 250
MAX_CELL_CHARS = CLIP_CHARS
RUNS_TABLE_CELL_CHARS = 60  # the runs table is wide already; longer values open in place
MAX_VALUE_CHARS = TABLE_FULL_CHARS  # in tables of many runs; a run page opens up to FULL_VALUE_MAX_CHARS
INDEX_KEY_METRICS = 3


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


def experiment_columns(exp: ExperimentData) -> dict[str, Any]:
    varying, constant = experiment_varying(exp)
    user_tags = sorted({key for run in exp.runs for key in run.data.tags if not key.startswith(SYSTEM_TAG_PREFIX)})
    first = {key: next((run.data.params[key] for run in exp.runs if key in run.data.params), None) for key in constant}
    return {"params": varying + constant, "varying": set(varying), "constant": constant,
            "constant_values": [{"key": key, **value_cell(first[key])} for key in constant],
            "metrics": key_metrics(exp), "tags": user_tags}


def experiment_rows(exp: ExperimentData, summaries: dict, columns: dict[str, Any], *,
                    root: str = "../../", rows: slice = slice(None)) -> list[Markup]:
    """The runs table's body rows, parents before their children, as HTML (one `<tr>` each; see
    runs_rows). root: the way from the experiment pages (e/KEY/) back to the site root. rows: which of
    them (each row is made alone: slice(0, ROWS_PER_PAGE) is the first page's, byte for byte)."""
    writer = RowWriter(columns, root=root, limit=RUNS_TABLE_CELL_CHARS, cell_limit=MAX_CELL_CHARS,
                       full_limit=MAX_VALUE_CHARS)
    items = [(run, depth, run_href(exp, run.info.run_id), run_label(run))
             for run, depth in experiment_tree(exp)[rows]]
    return writer.rows(items, summaries)


def index_context(site: SiteData) -> dict[str, Any]:
    items = []
    for exp in site.experiments:
        times = [t for run in exp.runs for t in (run.info.start_time, run.info.end_time) if t]
        best = []
        for key in key_metrics(exp):
            if len(best) >= INDEX_KEY_METRICS:
                break
            if direction(key) is None:
                continue  # best_run has no best without a direction (asked before every run's value)
            values = {run.info.run_id: run.data.metrics[key] for run in exp.runs if key in run.data.metrics}
            winner = best_run(values, key)
            if winner is not None:
                run = next(r for r in exp.runs if r.info.run_id == winner)
                best.append({"key": key, "direction": direction(key), "value": fmt.number(values[winner]),
                             "run": run_label(run), "href": run_href(exp, winner)})
        description = exp.experiment.description
        items.append({
            "name": exp.experiment.name, "id": exp.experiment.experiment_id, "href": exp_href(exp),
            "runs": len(exp.runs), "last_activity": fmt.timestamp(max(times)) if times else "",
            "best": best, "store": exp.store_label,
            "description": render_markdown(description[:5000]) if description else None,
        })
    return {"experiments": items, "stores": site.store_labels, "run_count": site.run_count}


def problems_context(problems: Sequence[Problem]) -> dict[str, Any]:
    rows = [{"path": fmt.clip(p.path, 500), "message": fmt.clip(p.message, 2000), "kind": p.kind} for p in problems]
    return {"problems": rows}


def experiment_info(exp: ExperimentData) -> dict[str, Any]:
    """The experiment's heading on its table pages: name, id, link, store, description, user tags."""
    description = exp.experiment.description
    return {
        "name": exp.experiment.name, "id": exp.experiment.experiment_id, "href": exp_href(exp),
        "store": exp.store_label, "description": render_markdown(description) if description else None,
        "tags": [{"key": k, **value_cell(v)} for k, v in sorted(exp.experiment.tags.items())
                 if not k.startswith(SYSTEM_TAG_PREFIX)],
    }
