"""The compare page's context: it carries every run of its experiment as JSON so the browser can diff
any selection; without JavaScript it shows a diff of the top runs.
"""
from __future__ import annotations

from typing import Any, Sequence

from reportgen.model import Run
from reportgen.site import fmt
from reportgen.site.gather import ExperimentData
from reportgen.site.jsonblock import finite
from reportgen.site.pages.common import MAX_VALUE_CHARS, SYSTEM_TAG_PREFIX, key_metrics, run_href, run_label, value_cell
from reportgen.site.pages.image_steps import compare_frames, image_grid
from reportgen.site.summary import best_run

COMPARE_DEFAULT_RUNS = 5


def _default_selection(exp: ExperimentData) -> list[Run]:
    """Without JavaScript the compare page diffs the best runs of the main metric (else the newest)."""
    keys = key_metrics(exp)
    if keys:
        key = keys[0]
        values = {run.info.run_id: run.data.metrics[key] for run in exp.runs if key in run.data.metrics}
        picked: list[str] = []
        while values and len(picked) < COMPARE_DEFAULT_RUNS:
            winner = best_run(values, key)
            if winner is None:
                break
            picked.append(winner)
            values.pop(winner)
        chosen = [run for run_id in picked for run in exp.runs if run.info.run_id == run_id]
        if len(chosen) >= 2:
            return chosen
    return list(exp.runs[:COMPARE_DEFAULT_RUNS])


def diff_rows(runs: Sequence[Run], section: str) -> list[dict[str, Any]]:
    """One row per key of params/metrics/tags with each run's value and whether they differ."""
    def values_of(run: Run) -> dict[str, Any]:
        if section == "params":
            return dict(run.data.params)
        if section == "metrics":
            return dict(run.data.metrics)
        return {k: v for k, v in run.data.tags.items() if not k.startswith(SYSTEM_TAG_PREFIX)}

    per_run = [values_of(run) for run in runs]
    keys = sorted({key for values in per_run for key in values})
    rows = []
    for key in keys:
        cells = [value_cell(values.get(key)) for values in per_run]
        baseline = per_run[0].get(key) if per_run else None
        deltas = []
        for values in per_run:
            value = values.get(key)
            if section == "metrics" and isinstance(value, float) and isinstance(baseline, float):
                deltas.append(fmt.number(value - baseline) if value is not baseline else "")
            else:
                deltas.append("")
        rows.append({"key": fmt.visible(key), "cells": cells, "deltas": deltas,
                     "differs": len({cell["full"] for cell in cells}) > 1})
    return rows


def compare_order(exp: ExperimentData) -> list[str]:
    """Run ids in the compare page's order (compare_data's): the default selection first, then the rest."""
    first = [run.info.run_id for run in _default_selection(exp)]
    chosen = set(first)
    return first + [run.info.run_id for run in exp.runs if run.info.run_id not in chosen]


def compare_data(exp: ExperimentData, first: Sequence[Run], images: dict[str, list[dict[str, str]]]) -> dict[str, Any]:
    """Every run of the experiment for static/js/compare.js (default selection first): run_id, name, url
    (relative to the compare page), status, params, metrics (NaN and infinities as finite() names them),
    tags, images ([{path, url}] of copied image artifacts, at most 12), image_steps (per-step images, as
    pages.image_steps describes; only runs that have some). "histories" is added by the build."""
    firsts = {run.info.run_id for run in first}
    ordered = list(first) + [run for run in exp.runs if run.info.run_id not in firsts]
    steps = compare_frames(exp, "../../")
    return {
        "experiment": exp.experiment.name,
        "runs": [
            {"run_id": run.info.run_id, "name": run_label(run), "url": "../../" + run_href(exp, run.info.run_id),
             "status": run.info.status,
             "params": {k: v[:MAX_VALUE_CHARS] for k, v in run.data.params.items()},
             "metrics": _finite_metrics(run.data.metrics),
             "tags": {k: v[:MAX_VALUE_CHARS] for k, v in run.data.tags.items()
                      if not k.startswith(SYSTEM_TAG_PREFIX)},
             "images": [{"path": image["path"], "url": "../../" + image["href"]}
                        for image in images.get(run.info.run_id, [])],
             **({"image_steps": steps[run.info.run_id]} if run.info.run_id in steps else {})}
            for run in ordered
        ],
    }


def _finite_metrics(metrics: dict[str, float]) -> dict[str, Any]:
    if all(type(value) is float and value - value == 0 for value in metrics.values()):
        return dict(metrics)
    return finite(metrics)


def compare_context(exp: ExperimentData, images: dict[str, list[dict[str, str]]]) -> dict[str, Any]:
    chosen = _default_selection(exp)
    paths = sorted({image["path"] for run in chosen for image in images.get(run.info.run_id, [])})
    by_run = {run.info.run_id: {image["path"]: image["href"] for image in images.get(run.info.run_id, [])}
              for run in chosen}
    return {
        # Image artifacts side by side: one row per path, one cell per selected run (None when it has none).
        "image_grid": image_grid(exp, [run.info.run_id for run in chosen], "../../"),
        "image_rows": [{"path": path, "cells": [by_run[run.info.run_id].get(path) for run in chosen]}
                       for path in paths],
        "selected": [{"id": run.info.run_id, "name": run_label(run), "href": run_href(exp, run.info.run_id)}
                     for run in chosen],
        "sections": [(title, diff_rows(chosen, section))
                     for title, section in (("Params", "params"), ("Metrics", "metrics"), ("Tags", "tags"))],
        "data": compare_data(exp, chosen, images),
        "experiment": {"name": exp.experiment.name, "href": f"e/{exp.key}/index.html"},
    }
