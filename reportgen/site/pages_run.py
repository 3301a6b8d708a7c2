"""Contexts of the run page and the compare page (the compare page carries every run of its experiment
as JSON so the browser can diff any selection; without JavaScript it shows a diff of the top runs).
"""
from __future__ import annotations

from typing import Any, Sequence

from reportgen.limits import FULL_VALUE_MAX_CHARS
from reportgen.model import Run
from reportgen.site import fmt
from reportgen.site.collect import ExperimentData
from reportgen.site.jsonblock import finite
from reportgen.site.markdown_html import render_markdown
from reportgen.site.pages import (
    MAX_VALUE_CHARS, NOTE_TAG, SYSTEM_TAG_PREFIX, key_metrics, run_href, run_label, summary_cells, value_cell,
)
from reportgen.site.summary import best_run, direction

SOURCE_TAGS = ("mlflow.source.name", "mlflow.source.type", "mlflow.source.git.commit",
               "mlflow.source.git.repoURL", "mlflow.source.git.branch", "mlflow.project.entryPoint")
COMPARE_DEFAULT_RUNS = 5
MAX_NOTE_CHARS = 100_000


def _pairs(values: dict[str, str]) -> list[dict[str, Any]]:
    # One run's page: the whole value opens in place, up to FULL_VALUE_MAX_CHARS.
    return [{"key": fmt.clip(key, FULL_VALUE_MAX_CHARS), **value_cell(value, full_limit=FULL_VALUE_MAX_CHARS)}
            for key, value in sorted(values.items())]


def children_of(exp: ExperimentData) -> dict[str, list[Run]]:
    """parent run id -> its child runs, in the experiment's order (one pass, not one scan per run)."""
    children: dict[str, list[Run]] = {}
    for other in exp.runs:
        if other.parent_run_id:
            children.setdefault(other.parent_run_id, []).append(other)
    return children


def run_context(exp: ExperimentData, run: Run, summaries: dict, children_map: dict[str, list[Run]],
                names: dict[str, str]) -> dict[str, Any]:
    info, tags = run.info, run.data.tags
    children = children_map.get(info.run_id, [])
    parent = run.parent_run_id
    parent_link = None
    if parent:
        known = parent in exp.run_keys
        parent_link = {"id": parent, "href": run_href(exp, parent) if known else None,
                       "name": names.get(parent, parent)}
    metrics = []
    for key in sorted(run.data.metrics):
        summary = summaries.get((info.run_id, key))
        metrics.append({"key": fmt.visible(key), "raw_key": key, "direction": direction(key),
                        **summary_cells(summary, run.data.metrics.get(key))})
    repo = tags.get("mlflow.source.git.repoURL", "")
    source = tags.get("mlflow.source.name", "")
    note = tags.get(NOTE_TAG)
    return {
        "run": {
            "id": info.run_id, "name": run_label(run), "status": info.status, "user": info.user_id,
            "start": fmt.timestamp(info.start_time), "end": fmt.timestamp(info.end_time),
            "duration": fmt.duration(info.start_time, info.end_time),
            "lifecycle": info.lifecycle_stage, "artifact_uri": fmt.clip(info.artifact_uri, 500),
            "source": fmt.clip(source, 500), "source_href": fmt.http_url(source),
            "source_type": tags.get("mlflow.source.type", ""),
            "git_commit": tags.get("mlflow.source.git.commit", ""),
            "git_repo": fmt.clip(repo, 500), "git_repo_href": fmt.http_url(repo),
            "git_branch": tags.get("mlflow.source.git.branch", ""),
        },
        "note": render_markdown(note, max_chars=MAX_NOTE_CHARS) if note else None,
        "params": _pairs(run.data.params),
        "metrics": metrics,
        "tags": _pairs({k: v for k, v in tags.items() if not k.startswith(SYSTEM_TAG_PREFIX)}),
        "system_tags": _pairs({k: v for k, v in tags.items()
                               if k.startswith(SYSTEM_TAG_PREFIX) and k != NOTE_TAG}),
        "datasets": [
            {"name": item.dataset.name, "digest": item.dataset.digest, "source_type": item.dataset.source_type,
             "source": fmt.clip(item.dataset.source, 500),
             "context": ", ".join(tag.value for tag in item.tags if tag.key == "mlflow.data.context")}
            for item in run.inputs.dataset_inputs
        ],
        "parent": parent_link,
        "children": [{"name": run_label(child), "href": run_href(exp, child.info.run_id), "status": child.info.status}
                     for child in children],
        "experiment": {"name": exp.experiment.name, "href": f"e/{exp.key}/index.html"},
    }


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
    tags, images ([{path, url}] of copied image artifacts, at most 12). "histories" is added by the build."""
    firsts = {run.info.run_id for run in first}
    ordered = list(first) + [run for run in exp.runs if run.info.run_id not in firsts]
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
                        for image in images.get(run.info.run_id, [])]}
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
        "image_rows": [{"path": path, "cells": [by_run[run.info.run_id].get(path) for run in chosen]}
                       for path in paths],
        "selected": [{"id": run.info.run_id, "name": run_label(run), "href": run_href(exp, run.info.run_id)}
                     for run in chosen],
        "sections": [(title, diff_rows(chosen, section))
                     for title, section in (("Params", "params"), ("Metrics", "metrics"), ("Tags", "tags"))],
        "data": compare_data(exp, chosen, images),
        "experiment": {"name": exp.experiment.name, "href": f"e/{exp.key}/index.html"},
    }
