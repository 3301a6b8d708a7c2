"""Which artifact files a site lists and copies, decided while gathering: each run's listing (publishable
paths only, a bounded walk) and the copies that fit under --max-artifact-size and --max-site-size, taken
in the site's run order, so that every build of the same store makes the same copies.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from reportgen.errors import ReportgenError
from reportgen.site.artifacts.preview import preview_kind
from reportgen.site.artifacts.steps import is_step_file, step_image
from reportgen.site.artifacts.thumbnails import reservation
from reportgen.stores.artifacts import unpublishable

# Walk bounds: a run with a million files or a deep tree must not stall the build.
MAX_DEPTH = 16
MAX_ENTRIES_PER_RUN = 2000
MAX_PREVIEWS_PER_RUN = 40
MAX_COMPARE_IMAGES = 12

TOO_LARGE = "too large to copy"
OVER_SITE_LIMIT = "not copied (site size limit)"

Warn = Callable[[str, str], None]


@dataclass
class Budget:
    """Bytes the site may take in copied artifacts: per file, and what is left of the whole."""

    per_file: int
    remaining: int
    hit: bool = False  # a file was left out because the site size limit was reached


@dataclass(frozen=True)
class PlannedFile:
    """One listed artifact file: whether it is copied, and if not, why (`note`)."""

    path: str
    size: int | None
    copy: bool
    note: str = ""
    preview: bool = False  # one of the run's first MAX_PREVIEWS_PER_RUN files with a preview kind
    thumb: int = 0  # a copied per-step image (log_image with a key): the bytes its thumbnail may take


def where(run_id: str, path: str) -> str:
    return f"run {run_id} artifact {path!r}"  # repr: control characters and surrogates escaped


def plan_run(store: Any, run_id: str, budget: Budget, warn: Warn) -> list[PlannedFile]:
    """The run's artifact files in path order, each with its copy decision."""
    try:
        infos = store.walk_artifacts(run_id, max_files=MAX_ENTRIES_PER_RUN)
    except ReportgenError as exc:
        warn(where(run_id, ""), f"cannot list artifacts: {exc}")
        return []
    planned = []
    previews = 0
    for info in sorted(infos, key=lambda item: item.path):
        if not _listable(run_id, info.path, warn):
            continue
        thumb = reservation(info.file_size) if step_image(info.path) else 0
        copy, note = _decide(run_id, info.path, info.file_size, budget, warn, thumb=thumb)
        # Per-step images show as thumbnails in the page's strips, not as full images in the tree.
        preview = (previews < MAX_PREVIEWS_PER_RUN and preview_kind(info.path) != "download"
                   and not is_step_file(info.path))
        previews += preview
        planned.append(PlannedFile(info.path, info.file_size, copy, note, preview, thumb if copy else 0))
    return planned


def _listable(run_id: str, path: str, warn: Warn) -> bool:
    """False (with a problem) for a path with a hidden or non-UTF-8 part (a local store's walk leaves
    those out already; a server's listing is checked here), or one too deep."""
    parts = path.split("/")
    for part in parts:
        reason = unpublishable(part)
        if reason:
            warn(where(run_id, path), reason)
            return False
    if len(parts) > MAX_DEPTH:
        warn(where(run_id, path), f"deeper than {MAX_DEPTH} folders; not listed")
        return False
    return True


def _decide(run_id: str, path: str, size: int | None, budget: Budget, warn: Warn, *,
            thumb: int = 0) -> tuple[bool, str]:
    # A size the listing does not give counts as the largest a copy may be: the limits hold either way.
    # A per-step image's thumbnail counts with it: both are copied or neither.
    needed = budget.per_file if size is None else size
    if needed > budget.per_file:
        warn(where(run_id, path), "not copied: larger than --max-artifact-size")
        return False, TOO_LARGE
    needed += thumb
    if needed > budget.remaining:
        if budget.remaining > 0:  # once the budget is spent, the files after it are noted on the page only
            warn(where(run_id, path), "not copied: site size limit reached")
        budget.hit = True
        return False, OVER_SITE_LIMIT
    budget.remaining -= needed
    return True, ""


def compare_images(planned: list[PlannedFile]) -> list[str]:
    """The paths of the copied images the compare page shows for a run, in the run page's tree order
    (folders first), at most MAX_COMPARE_IMAGES."""
    images = [item.path for item in planned  # (per-step images have no preview: they are in the grid)
              if item.copy and item.preview and item.size and preview_kind(item.path) == "image"]
    return sorted(images, key=_tree_order)[:MAX_COMPARE_IMAGES]


def _tree_order(path: str) -> list[tuple[bool, str]]:
    """Sort key of a path in a tree listed folders first, then by name, at every level."""
    parts = path.split("/")
    return [(False, part) for part in parts[:-1]] + [(True, parts[-1])]
