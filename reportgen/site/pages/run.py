"""The run page's context: attributes, note, params, metrics, tags, datasets, parent and children.
"""
from __future__ import annotations

from typing import Any, Callable

from reportgen.limits import FULL_VALUE_MAX_CHARS
from reportgen.model import Run
from reportgen.site import fmt
from reportgen.site.artifacts.copy import safe_file_name
from reportgen.site.gather import ExperimentData
from reportgen.site.markdown_html import LocalLinks, render_markdown
from reportgen.site.pages.models import run_models
from reportgen.site.pages.common import NOTE_TAG, SYSTEM_TAG_PREFIX, run_href, run_label, summary_cells, value_cell
from reportgen.site.pages.image_steps import run_strips
from reportgen.site.render import root_of
from reportgen.site.schemas import schema_columns
from reportgen.site.summary import direction

SOURCE_TAGS = ("mlflow.source.name", "mlflow.source.type", "mlflow.source.git.commit",
               "mlflow.source.git.repoURL", "mlflow.source.git.branch", "mlflow.project.entryPoint")
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


def _note(exp: ExperimentData, run_id: str, note: str, warn: Callable[[str, str], None] | None) -> Any:
    """The note as HTML, its relative links and images pointing at the run's copied artifacts (the copies
    the gather planned, at the site path write_artifacts gives them); one that names no copied file is
    shown as text, with a warning."""
    page = run_href(exp, run_id)
    files = f"{root_of(page)}r/{exp.run_keys[run_id]}/files/"
    links = LocalLinks({item.path: files + safe_file_name(item.path)
                        for item in exp.artifacts.get(run_id, []) if item.copy})
    html = render_markdown(note, max_chars=MAX_NOTE_CHARS, links=links)
    for target in links.missed if warn else ():
        warn(f"run {run_id} note", f"note links to {target!r}, which is not among the run's copied artifacts")
    return html


def run_context(exp: ExperimentData, run: Run, summaries: dict, children_map: dict[str, list[Run]],
                names: dict[str, str], *, warn: Callable[[str, str], None] | None = None) -> dict[str, Any]:
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
        "note": _note(exp, info.run_id, note, warn) if note else None,
        "params": _pairs(run.data.params),
        "metrics": metrics,
        "tags": _pairs({k: v for k, v in tags.items() if not k.startswith(SYSTEM_TAG_PREFIX)}),
        "system_tags": _pairs({k: v for k, v in tags.items()
                               if k.startswith(SYSTEM_TAG_PREFIX) and k != NOTE_TAG}),
        "datasets": [
            {"name": item.dataset.name, "digest": item.dataset.digest, "source_type": item.dataset.source_type,
             "source": fmt.clip(item.dataset.source, 500),
             "context": ", ".join(tag.value for tag in item.tags if tag.key == "mlflow.data.context"),
             "schema": schema_columns(item.dataset.schema)}
            for item in run.inputs.dataset_inputs
        ],
        "models": run_models(exp, info.run_id),  # MLflow 3's logged models of this run
        "parent": parent_link,
        "image_strips": run_strips(exp, info.run_id),
        "children": [{"name": run_label(child), "href": run_href(exp, child.info.run_id), "status": child.info.status}
                     for child in children],
        "experiment": {"name": exp.experiment.name, "href": f"e/{exp.key}/index.html"},
    }
