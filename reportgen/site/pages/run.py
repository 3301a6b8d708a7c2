"""The run page's context: attributes, note, params, metrics, tags, datasets, parent and children.
"""
from __future__ import annotations

from typing import Any

from reportgen.limits import FULL_VALUE_MAX_CHARS
from reportgen.model import Run
from reportgen.site import fmt
from reportgen.site.gather import ExperimentData
from reportgen.site.markdown_html import render_markdown
from reportgen.site.pages.common import NOTE_TAG, SYSTEM_TAG_PREFIX, run_href, run_label, summary_cells, value_cell
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
