"""Reading many small files at once: a few threads, each reading a contiguous slice of the list.

File reads release the GIL, so threads overlap the waiting on a cold cache or a network file system;
one task per slice (not per file) keeps the executor's per-task overhead out of the hot path.
"""
from __future__ import annotations

import contextlib
import gc
import errno
import os
import stat
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


class Refused(OSError):
    """A file not read because of what lstat/fstat says of it (not a regular file, over its cap); its
    strerror says why, as an OSError's does, so callers report it like any unreadable file."""

    def __init__(self, reason: str, path: str | os.PathLike[str]) -> None:
        super().__init__(errno.EINVAL, reason, os.fspath(path))


def read_bytes(path: str | os.PathLike[str], limit: int | None = None, *,
               cap: int | None = None) -> bytes | OSError:
    """The file's bytes (at most `limit`), or the OSError that stopped the read (the caller reports it).

    Only a regular file is read (a FIFO, a device such as /dev/zero behind a symlink, a folder is
    Refused), and with `cap` only one of at most that many bytes: both are checked on the open file
    (fstat) before any byte is read, and the read stops at cap + 1 bytes should it grow meanwhile.

    os.open/os.read rather than open(): no file object per file, which is most of the cost of many
    small files, and the GIL is released for longer."""
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        return exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return Refused("not a regular file", path)
        if cap is not None:
            if st.st_size > cap:
                return Refused(f"{st.st_size} bytes, over the cap of {cap}", path)
            limit = cap + 1 if limit is None else min(limit, cap + 1)
        chunks = []
        total = 0
        while limit is None or total < limit:
            chunk = os.read(fd, _BLOCK if limit is None else min(_BLOCK, limit - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if cap is not None and total > cap:
            return Refused(f"over the cap of {cap} bytes (it grew while read)", path)
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


def read_many(paths: Sequence[str | Path], cap: int | None = None) -> list[bytes | OSError]:
    """read_bytes of each path (each at most `cap` bytes, else Refused), in a few threads."""
    if cap is None:
        return map_slices(read_bytes, paths)
    return map_slices(lambda path: read_bytes(path, cap=cap), paths)


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
