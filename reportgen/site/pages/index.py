"""The index page: every experiment with its runs, last activity and best runs of its key metrics.
"""
from __future__ import annotations

from typing import Any

from reportgen.site import fmt
from reportgen.site.gather import ExperimentData, SiteData
from reportgen.site.markdown_html import render_markdown
from reportgen.site.pages.common import exp_href, key_metrics, run_href, run_label
from reportgen.site.summary import best_run, direction

INDEX_KEY_METRICS = 3


def index_item(exp: ExperimentData) -> dict[str, Any]:
    """What the index shows of one experiment (made before its runs are released)."""
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
    return {
        "name": exp.experiment.name, "id": exp.experiment.experiment_id, "href": exp_href(exp),
        "runs": len(exp.runs), "last_activity": fmt.timestamp(max(times)) if times else "",
        "best": best, "store": exp.store_label,
        "description": render_markdown(description[:5000]) if description else None,
    }


def index_context(site: SiteData, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"experiments": items, "stores": site.store_labels, "run_count": site.run_count}
