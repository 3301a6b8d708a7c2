"""Reading many small files at once: a few threads, each reading a contiguous slice of the list.

File reads release the GIL, so threads overlap the waiting on a cold cache or a network file system;
one task per slice (not per file) keeps the executor's per-task overhead out of the hot path.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence, TypeVar

READ_THREADS = 8
# Below this many files, threads cost more than they save.
THREADED_MIN = 64

T = TypeVar("T")


def read_bytes(path: str | os.PathLike[str]) -> bytes | OSError:
    """The file's bytes, or the OSError that stopped the read (the caller reports it)."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        return exc


def map_slices(func: Callable[[str | Path], T], items: Sequence[str | Path]) -> list[T]:
    """[func(item) for item in items], run in a few threads over contiguous slices, order kept."""
    if len(items) < THREADED_MIN:
        return [func(item) for item in items]
    n = min(READ_THREADS, len(items))
    bounds = [len(items) * i // n for i in range(n + 1)]

    def work(i: int) -> list[T]:
        return [func(item) for item in items[bounds[i] : bounds[i + 1]]]

    with ThreadPoolExecutor(max_workers=n) as pool:
        parts = list(pool.map(work, range(n)))
    return [value for part in parts for value in part]


def read_many(paths: Sequence[str | Path]) -> list[bytes | OSError]:
    return map_slices(read_bytes, paths)
