"""MLflow's per-step images: which artifact files `log_image(image, key=..., step=...)` wrote, read back
from their names (key, step, timestamp), and a run's frames per key in step order.

MLflow 3 writes images/<key, "/" as "~">+step+<step>+timestamp+<ms>+<uuid>.png and a 256-pixel preview
beside it (...+compressed.webp); MLflow 2 wrote the same with "%" between the parts and "#" for "/".
The previews are left to the artifact tree: the site makes its own thumbnails (artifacts.thumbnails).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from reportgen.site.artifacts.preview import preview_kind

IMAGES_DIR = "images/"
# The key is whatever comes before the last "+step+": MLflow's keys cannot hold "+" or "%", but another
# writer's can, and the parts after it are fixed.
_NAME_RE = re.compile(
    r"(?P<key>.+?)(?P<sep>[+%])step(?P=sep)(?P<step>-?\d{1,19})(?P=sep)timestamp(?P=sep)(?P<ts>\d{1,19})"
    r"(?P=sep)(?P<uuid>[^/+%]+?)(?P<compressed>(?P=sep)compressed)?\.(?P<ext>[A-Za-z0-9]+)"
)


@dataclass(frozen=True)
class StepImage:
    """One full-size image logged with a key and a step."""

    key: str
    step: int
    timestamp: int
    path: str  # the artifact path


def step_image(path: str) -> StepImage | None:
    """The key, step and timestamp of an image log_image wrote with a key; None for any other file,
    MLflow's compressed previews included."""
    if not path.startswith(IMAGES_DIR) or "/" in path[len(IMAGES_DIR):]:
        return None
    match = _NAME_RE.fullmatch(path[len(IMAGES_DIR):])
    if match is None or match["compressed"] or preview_kind(path) != "image":
        return None
    key = match["key"].replace("~", "/") if match["sep"] == "+" else match["key"].replace("#", "/")
    return StepImage(key=key, step=int(match["step"]), timestamp=int(match["ts"]), path=path)


def is_step_file(path: str) -> bool:
    """True for a full-size step image and for MLflow's compressed preview of one."""
    if not path.startswith(IMAGES_DIR):
        return False
    match = _NAME_RE.fullmatch(path[len(IMAGES_DIR):])
    return match is not None


def frames_by_key(paths: Iterable[str]) -> dict[str, list[StepImage]]:
    """key -> its images in step order, one per step (the last logged when a step was logged twice);
    keys in name order."""
    latest: dict[tuple[str, int], StepImage] = {}
    for path in paths:
        image = step_image(path)
        if image is None:
            continue
        seen = latest.get((image.key, image.step))
        if seen is None or (image.timestamp, image.path) > (seen.timestamp, seen.path):
            latest[(image.key, image.step)] = image
    frames: dict[str, list[StepImage]] = {}
    for (key, _step), image in sorted(latest.items()):
        frames.setdefault(key, []).append(image)
    return frames
