"""Logged models on the pages: the run page's Models section, the experiment page's models table, the runs
table's marker, the models' copied files (under e/<experiment>/models/<model>/files/) and their share of
the build cache's unit keys.
"""
from __future__ import annotations

import math
import pickle
from typing import Any, Callable

from reportgen.limits import FULL_VALUE_MAX_CHARS
from reportgen.site import fmt
from reportgen.site.artifacts.copy import ArtifactNode, file_node, file_tree, safe_file_name, write_artifacts
from reportgen.site.gather import ExperimentData
from reportgen.site.logged_models import ModelEntry, ModelFiles
from reportgen.site.pages.common import SYSTEM_TAG_PREFIX, run_href, run_label, value_cell

ANCHOR_PREFIX = "model-"
TABLE_METRICS = 4  # key metrics a row of the experiment's models table shows


def files_folder(exp: ExperimentData, entry: ModelEntry) -> str:
    """The model's folder in the site (relative to its root): its copies go under files/."""
    return f"e/{exp.key}/models/{entry.key}"


def anchor(entry: ModelEntry) -> str:
    return ANCHOR_PREFIX + entry.key


def _pairs(values: dict[str, str]) -> list[dict[str, Any]]:
    return [{"key": fmt.clip(key, FULL_VALUE_MAX_CHARS), **value_cell(value, full_limit=FULL_VALUE_MAX_CHARS)}
            for key, value in sorted(values.items())]


def _metric_text(value: float) -> str:
    return fmt.number(value) if not math.isnan(value) else "NaN"


def _files_tree(exp: ExperimentData, entry: ModelEntry) -> list[ArtifactNode]:
    """The model's files as the artifacts partial shows a run's: folders first, copies linked."""
    base = files_folder(exp, entry)
    return file_tree(file_node(item, href=f"{base}/files/{safe_file_name(item.path)}" if item.copy else None)
                     for item in entry.files)


def model_context(exp: ExperimentData, entry: ModelEntry) -> dict[str, Any]:
    """One model as the run page's Models section shows it."""
    model = entry.model
    tags = dict(model.tags)
    return {
        "anchor": anchor(entry), "name": fmt.clip(model.name or model.model_id, 500), "id": model.model_id,
        "status": model.status, "status_message": fmt.clip(model.status_message or "", 500),
        "type": fmt.clip(model.model_type or "", 200), "created": fmt.timestamp(model.creation_timestamp),
        "uri": model.model_uri, "location": fmt.clip(model.artifact_location, 500),
        "flavors": entry.flavors, "card": entry.card,
        "params": _pairs(dict(model.params)),
        "metrics": [{"key": fmt.clip(m.key, 500), "value": _metric_text(m.value), "step": m.step,
                     "dataset": fmt.clip(m.dataset_name or "", 200)} for m in model.metrics],
        "tags": _pairs({k: v for k, v in tags.items() if not k.startswith(SYSTEM_TAG_PREFIX)}),
        "system_tags": _pairs({k: v for k, v in tags.items() if k.startswith(SYSTEM_TAG_PREFIX)}),
        "files": _files_tree(exp, entry), "files_listed": entry.files_listed,
    }


def run_models(exp: ExperimentData, run_id: str) -> list[dict[str, Any]]:
    """The run page's Models section: the models whose source run is this run."""
    return [model_context(exp, entry) for entry in exp.models.of_run(run_id)]


def models_table(exp: ExperimentData) -> list[dict[str, Any]]:
    """The experiment page's models table: one row a model, newest first, its name linking to the model
    on its run's page."""
    names = {run.info.run_id: run_label(run) for run in exp.runs}
    rows = []
    entries = sorted(exp.models.entries, key=lambda e: (-(e.model.creation_timestamp or 0), e.model.model_id))
    for entry in entries:
        model, run_id = entry.model, entry.model.source_run_id
        page = run_href(exp, run_id) if run_id in exp.run_keys else None
        rows.append({
            "name": fmt.clip(model.name or model.model_id, 500), "id": model.model_id, "status": model.status,
            "href": f"{page}#{anchor(entry)}" if page else None,
            "run": {"name": names.get(run_id, ""), "href": page} if page else None,
            "flavors": entry.flavors, "created": fmt.timestamp(model.creation_timestamp),
            "metrics": [{"key": fmt.clip(m.key, 200), "value": _metric_text(m.value)}
                        for m in model.metrics[:TABLE_METRICS]],
            "more_metrics": max(0, len(model.metrics) - TABLE_METRICS),
        })
    return rows


def run_model_names(exp: ExperimentData) -> dict[str, list[str]]:
    """run_id -> the names of its logged models (the runs table marks those runs)."""
    found: dict[str, list[str]] = {}
    for entry in exp.models.entries:
        if entry.model.source_run_id:
            found.setdefault(entry.model.source_run_id, []).append(entry.model.name or entry.model.model_id)
    return found


def write_model_files(exp: ExperimentData, out_dir: Any, warn: Callable[[str, str], None]) -> None:
    """Copies every model's planned files into its folder of the experiment's (as a run's are copied)."""
    for entry in exp.models.entries:
        if entry.files and entry.read_as is not None:
            write_artifacts(ModelFiles(exp.store, entry.read_as), entry.model.model_id, list(entry.files),
                            out_dir=out_dir, run_dir=files_folder(exp, entry), warn=warn)


# -- the build cache: what a unit's pages show of the models must be in its key -------------------------

def run_key_part(exp: ExperimentData, run_id: str) -> bytes:
    """The run's models as read, summarised and planned (b"" when it has none: its key is as before)."""
    entries = exp.models.of_run(run_id)
    return pickle.dumps(entries, protocol=5) if entries else b""


def experiment_key_part(exp: ExperimentData) -> bytes:
    """The models of no run (their rows are on the experiment's pages only; the others are in run keys)."""
    entries = exp.models.of_run(None)
    return pickle.dumps(entries, protocol=5) if entries else b""
