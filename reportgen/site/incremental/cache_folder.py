"""Whose folder a cache folder is: reportgen prunes and overwrites its cache, so it only ever writes into a
folder that is absent, empty, or tagged as reportgen's cache (CACHEDIR.TAG, https://bford.info/cachedir/).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from reportgen.errors import ReportgenError

_TAG_FILE = "CACHEDIR.TAG"
_TAG = ("Signature: 8a477f597d28d172789f06886806bc55\n"
        "# This file is a cache directory tag created by reportgen: https://bford.info/cachedir/\n")


class CacheFolderError(ReportgenError):
    """A --cache-dir that is not reportgen's cache: a build would delete and overwrite files in it."""


def is_reportgen_cache(folder: Path) -> bool:
    """Whether folder carries reportgen's own CACHEDIR.TAG: a regular file (not a link) starting with
    its two lines. Another tool's tag (cargo, pip) has the same signature, not our line."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)  # a FIFO never hangs
    try:
        handle = os.open(folder / _TAG_FILE, flags)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            return False
        head = os.read(handle, len(_TAG) + 1)
    except OSError:
        return False
    finally:
        os.close(handle)
    return head.startswith(_TAG.encode("utf-8"))


def check_cache_folder(folder: str | Path) -> Path:
    """The resolved cache folder, when a build may write and prune it: absent, empty, or tagged by
    reportgen (CACHEDIR.TAG); else CacheFolderError, and nothing in it is touched."""
    given = Path(folder).expanduser()
    resolved = given.resolve()
    if not os.path.lexists(resolved):
        return resolved
    if not resolved.is_dir():
        raise CacheFolderError(f"--cache-dir {given} exists and is not a folder; choose another cache folder")
    try:
        with os.scandir(resolved) as entries:
            empty = next(entries, None) is None
    except OSError as exc:
        raise CacheFolderError(f"--cache-dir {given}: cannot be read ({exc.strerror})") from None
    if not empty and not is_reportgen_cache(resolved):
        raise CacheFolderError(
            f"--cache-dir {given} is not empty and is not a reportgen cache (no reportgen {_TAG_FILE}); "
            "choose an empty or new folder, or --no-cache")
    return resolved


def claim_cache_folder(folder: Path) -> Path:
    """check_cache_folder(folder), made and tagged before anything is written into it: a build that fails
    halfway leaves a folder the next build still knows as its own."""
    resolved = check_cache_folder(folder)
    try:
        resolved.mkdir(parents=True, exist_ok=True)
        tag_cache_folder(resolved)
    except OSError:
        pass  # an unwritable cache costs only time: the build goes on and its notes say why nothing was kept
    return resolved


def tag_cache_folder(folder: Path) -> None:
    """Tag folder as reportgen's cache (and keep it out of git), unless it is tagged already."""
    if not is_reportgen_cache(folder):
        _write_new(folder / _TAG_FILE, _TAG)
        _write_new(folder / ".gitignore", "# created by reportgen\n*\n")


def _write_new(path: Path, text: str) -> None:
    """Write a file that is not there yet; one that is (the user's) is left as it is."""
    try:
        with open(path, "x", encoding="utf-8") as stream:
            stream.write(text)
    except FileExistsError:
        pass
