"""The output folder: built in a temp folder beside the target, then swapped in; a non-empty target that
is not a previous report (no marker file) is refused, and so is a target inside or around a store, or
around the cache. Whatever reportgen writes (site, cache, summary) stays out of the stores it reads.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from reportgen.errors import ReportgenError

MARKER_FILE = ".reportgen-site"
MARKER_TEXT = "This folder is a report built by reportgen; `reportgen build` may replace it.\n"


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
    except ValueError:
        return False
    return True


class PlacementError(ReportgenError):
    """An output, cache or summary file that would be written into a store, or a cache into the site."""


def _real(path: str | Path) -> Path:
    return Path(path).expanduser().resolve()  # symlinks followed: a link into the store is the store


def _overlap(one: Path, other: Path) -> bool:
    return _inside(one, other) or _inside(other, one)


def check_cache_placement(cache: str | Path, *, target: str | Path, store_roots: Iterable[Path] = ()) -> None:
    """Refuses a cache folder inside, equal to or around the output (its pickles would be published, or
    the swap would replace it) or a store (reportgen never writes there)."""
    real = _real(cache)
    if _overlap(real, _real(target)):
        raise PlacementError(f"--cache-dir {cache} overlaps the output {target}; keep the cache outside the site")
    for root in store_roots:
        if _overlap(real, _real(root)):
            raise PlacementError(f"--cache-dir {cache} overlaps the store {root}; keep the cache outside the store")


def check_summary_paths(store_uri: str | None, *, output: str | Path | None, images: str | Path | None) -> None:
    """`reportgen summary`: its -o file and --images folder never go into the store it reads (-o there
    overwrote an experiment's meta.yaml)."""
    from reportgen.selection import default_store_uris

    if output is not None or images is not None:
        check_outside_stores([("-o", output), ("--images", images)], [store_uri or default_store_uris()[0]])


def check_outside_stores(paths: Sequence[tuple[str, str | Path | None]], store_uris: Sequence[str]) -> None:
    """Refuses any (option, path) whose path is a store root or lies inside one."""
    from reportgen.site.gather import store_root

    roots = [root for root in map(store_root, store_uris) if root is not None]
    for option, path in paths:
        if path is None:
            continue
        real = _real(path)
        for root in roots:
            if _inside(real, _real(root)):
                raise PlacementError(f"{option} {path} is inside the store {root}; write it outside the store")


def check_target(target: Path, *, store_roots: Iterable[Path] = ()) -> Path:
    """The resolved target, or a ReportgenError saying why the report must not be written there."""
    resolved = target.expanduser().resolve()
    if resolved.exists() and not resolved.is_dir():
        raise ReportgenError(f"output {target} exists and is not a folder")
    for root in store_roots:
        root = _real(root)
        if _overlap(resolved, root):
            raise PlacementError(f"output {target} overlaps the store {root}; choose a folder outside it")
    if resolved.is_dir() and any(resolved.iterdir()) and not (resolved / MARKER_FILE).is_file():
        raise ReportgenError(
            f"output {target} is not empty and is not a previous report ({MARKER_FILE} missing); "
            "choose an empty or new folder"
        )
    return resolved


def new_staging(target: Path) -> Path:
    """An empty temp folder on the same file system as target, so the final swap is a rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    (staging / MARKER_FILE).write_text(MARKER_TEXT, encoding="utf-8")
    return staging


def _umask_mode(mode: int) -> int:
    current = os.umask(0)
    os.umask(current)
    return mode & ~current


def swap_in(staging: Path, target: Path) -> None:
    """Replace target by staging; the old report is removed only after the new one is in place."""
    os.chmod(staging, _umask_mode(0o777))  # mkdtemp makes it 0700; a published site must be readable
    old: Path | None = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.rmdir(old)
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def tree_size(folder: Path, known: dict[str, int] | None = None) -> int:
    """Bytes of the regular files under folder (os.scandir: Path.rglob + stat cost 0.2 s a big site).
    known: sizes of subfolders (relative paths, '/'-separated) counted already; they are not walked."""
    known = known or {}
    total, stack = 0, [(str(folder), "")]
    while stack:
        path, relative = stack.pop()
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    child = f"{relative}{entry.name}"
                    if child in known:
                        total += known[child]
                    else:
                        stack.append((entry.path, child + "/"))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
    return total
