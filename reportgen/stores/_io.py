"""Reading many small files at once: a few threads, each reading a contiguous slice of the list.

File reads release the GIL, so threads overlap the waiting on a cold cache or a network file system;
one task per slice (not per file) keeps the executor's per-task overhead out of the hot path.
"""
from __future__ import annotations

import contextlib
import gc
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator, Sequence, TypeVar

# Two threads overlap the system calls on two cores; more only add contention on the GIL.
READ_THREADS = max(2, min(4, os.cpu_count() or 2))
# Never block on a FIFO someone left where a file should be: it reads as empty instead.
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
_BLOCK = 1 << 18
# Below this many files, threads cost more than they save.
THREADED_MIN = 64

T = TypeVar("T")


def read_bytes(path: str | os.PathLike[str], limit: int | None = None) -> bytes | OSError:
    """The file's bytes (at most `limit`), or the OSError that stopped the read (the caller reports it).

    os.open/os.read rather than open(): no file object per file, which is most of the cost of many
    small files, and the GIL is released for longer."""
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        return exc
    try:
        chunks = []
        total = 0
        while limit is None or total < limit:
            chunk = os.read(fd, _BLOCK if limit is None else min(_BLOCK, limit - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    except BlockingIOError:
        return b""  # a FIFO without a writer
    except OSError as exc:
        return exc
    finally:
        os.close(fd)


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


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: a read makes ~100k small objects (runs, metrics, dicts) and
    none of them forms a cycle, yet each 700 allocations set off a collection that walks them all
    again (a third of a 2000-run read, or of unpickling it)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Inline:
    """A ThreadPoolExecutor's submit/result run at once in the caller's thread: for work too small to
    be worth a thread."""

    def __enter__(self) -> "Inline":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, func: Callable[..., T], *args: object) -> "Future[T]":
        future: Future[T] = Future()
        future.set_result(func(*args))
        return future
