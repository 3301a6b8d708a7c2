"""Images per step on the pages: a strip per key on the run page, and a grid (runs as columns, keys as
rows) on the compare and experiment pages, from the copies the gather planned (artifacts.steps names the
files, artifacts.thumbnails places their thumbnails).

The data for static/js/images.js, per run: {"files": URL of the run's copied files folder, "thumbs": URL
of its thumbnails folder, "keys": {key: [[step, name], ...] in step order}}; a frame's full image is
files + name and its thumbnail thumbs + name + ".webp". URLs are relative to the page.
"""
from __future__ import annotations

from typing import Any, Sequence

from reportgen.site.artifacts.copy import safe_file_name
from reportgen.site.artifacts.steps import StepImage, frames_by_key
from reportgen.site.artifacts.thumbnails import THUMBS_DIR, thumb_href
from reportgen.site.gather import ExperimentData
from reportgen.site.pages.common import run_href, run_label

GRID_RUNS = 8  # columns of the experiment page's grid (the compare page shows the runs chosen there)
# Frames a page carries: the compare page holds every run of its experiment; past this, each key of each
# run keeps evenly spaced steps, its first and last among them.
MAX_PAGE_FRAMES = 10_000  # about 1 MB of JSON
MAX_FRAMES_PER_KEY = 1_000


def run_frames(exp: ExperimentData, run_id: str) -> dict[str, list[StepImage]]:
    """The run's per-step images that are copied with a thumbnail, by key."""
    return frames_by_key(item.path for item in exp.artifacts.get(run_id, []) if item.copy and item.thumb)


def _thin(frames: list[StepImage], keep: int) -> list[StepImage]:
    if len(frames) <= keep:
        return frames
    if keep < 2:
        return frames[-1:]
    return [frames[round(i * (len(frames) - 1) / (keep - 1))] for i in range(keep)]


def _frame(exp: ExperimentData, run_id: str, image: StepImage, root: str) -> dict[str, Any]:
    run_dir = f"r/{exp.run_keys[run_id]}"
    name = safe_file_name(image.path)
    return {"step": image.step, "path": image.path, "full": f"{root}{run_dir}/files/{name}",
            "thumb": root + thumb_href(run_dir, name)}


def frames_data(exp: ExperimentData, run_id: str, frames: dict[str, list[StepImage]], root: str,
                keep: int = MAX_FRAMES_PER_KEY) -> dict[str, Any]:
    """One run's frames as images.js reads them (see the module's docstring)."""
    run_dir = f"{root}r/{exp.run_keys[run_id]}"
    return {"files": f"{run_dir}/files/", "thumbs": f"{run_dir}/{THUMBS_DIR}/",
            "keys": {key: [[image.step, safe_file_name(image.path)] for image in _thin(images, keep)]
                     for key, images in frames.items()}}


def run_strips(exp: ExperimentData, run_id: str) -> list[dict[str, Any]]:
    """The run page's strips, one per key: its steps, the last step's frame (shown without JavaScript)
    and the data of the slider."""
    root = "../"  # run pages are r/KEY.html
    strips = []
    for key, images in run_frames(exp, run_id).items():
        images = _thin(images, MAX_FRAMES_PER_KEY)
        strips.append({"key": key, "count": len(images), "last": _frame(exp, run_id, images[-1], root),
                       "data": frames_data(exp, run_id, {key: images}, root)})
    return strips


def per_key_budget(counts: Sequence[int]) -> int:
    """How many frames each (run, key) may keep so that a page carries at most about MAX_PAGE_FRAMES."""
    total = sum(counts)
    if total <= MAX_PAGE_FRAMES:
        return MAX_FRAMES_PER_KEY
    return max(1, min(MAX_FRAMES_PER_KEY, MAX_PAGE_FRAMES // max(1, len(counts))))


def compare_frames(exp: ExperimentData, root: str) -> dict[str, dict[str, Any]]:
    """run id -> its frames data, for every run of the experiment that has per-step images (the compare
    page's JSON, from which the browser builds the grid of the runs chosen there)."""
    frames = {run.info.run_id: run_frames(exp, run.info.run_id) for run in exp.runs}
    frames = {run_id: found for run_id, found in frames.items() if found}
    keep = per_key_budget([len(images) for found in frames.values() for images in found.values()])
    return {run_id: frames_data(exp, run_id, found, root, keep) for run_id, found in frames.items()}


def image_grid(exp: ExperimentData, run_ids: Sequence[str], root: str, *, limit: int | None = None,
               with_data: bool = False) -> dict[str, Any] | None:
    """The grid of the given runs that have per-step images (at most `limit`) at their last step: what
    pages show without JavaScript. with_data: also the frames for images.js (the experiment page; the
    compare page carries them in its own JSON). None when no run has any."""
    chosen = []
    for run_id in run_ids:
        found = run_frames(exp, run_id)
        if found:
            chosen.append((run_id, found))
        if limit is not None and len(chosen) >= limit:
            break
    if not chosen:
        return None
    runs = {run.info.run_id: run for run in exp.runs}
    keys = sorted({key for _run_id, found in chosen for key in found})
    last = max(images[-1].step for _run_id, found in chosen for images in found.values())
    grid: dict[str, Any] = {
        "step": last,
        "runs": [{"id": run_id, "name": run_label(runs[run_id]), "href": root + run_href(exp, run_id)}
                 for run_id, _found in chosen],
        "rows": [{"key": key, "cells": [_frame(exp, run_id, found[key][-1], root) if key in found else None
                                        for run_id, found in chosen]}
                 for key in keys],
        "data": None,
    }
    if with_data:
        keep = per_key_budget([len(images) for _run_id, found in chosen for images in found.values()])
        grid["data"] = {"runs": [{"run_id": run["id"], "name": run["name"], "url": run["href"],
                                  "image_steps": frames_data(exp, run["id"], found, root, keep)}
                                 for run, (_run_id, found) in zip(grid["runs"], chosen)]}
    return grid
