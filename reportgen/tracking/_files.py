"""Crash- and concurrency-safe file primitives of the file store writer.

Whole-line appends with one os.write on an O_APPEND descriptor (whole lines or nothing: a short write
is undone before the error, a torn tail left by a crash is sealed before the next append), atomic
replaces (temp file in the target's folder, fsync, os.replace), exclusive creation with content
(temp file + os.link), clean-up of temp files a killed writer left, a store lock (flock on the
store's root folder, so no extra file lands in mlruns/), and OSError turned into a ReportgenError
naming the path.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Iterator

from reportgen.errors import ReportgenError

try:  # POSIX only; elsewhere the lock is a no-op (documented limitation).
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
_EXCL_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)

# The names temp_path() gives: ".<name>.<pid>.<8 hex>.tmp".
TEMP_RE = re.compile(r"^\..+\.[0-9]+\.[0-9a-f]{8}\.tmp$")
# A temp file lives for milliseconds (write, fsync, rename); one this old belongs to a killed writer.
STALE_TEMP_SECONDS = 600
# A metric line is under 100 bytes; an unterminated tail longer than this is no torn metric line.
MAX_TORN_TAIL = 4096
# How long a tail must stay the same to count as torn (not a whole line another process is writing).
TORN_SETTLE_SECONDS = 0.02
_TORN_TRIES = 50


def disk_error(path: str | os.PathLike[str], exc: OSError, action: str = "write") -> ReportgenError:
    """One-line error for a failed file operation, naming the path and the OS reason."""
    reason = exc.strerror or type(exc).__name__
    return ReportgenError(f"cannot {action} {os.fspath(path)}: {reason}")


def temp_path(folder: str | os.PathLike[str], name: str) -> str:
    """A unique hidden temp file name in `folder` (same file system as the target, so rename is atomic)."""
    return os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _write_all(fd: int, data: bytes, path: str | os.PathLike[str]) -> None:
    written = os.write(fd, data)
    if written != len(data):  # a regular file only writes short when the disk is full
        raise ReportgenError(f"cannot write {os.fspath(path)}: short write ({written} of {len(data)} bytes)")


def atomic_write(
    path: str | os.PathLike[str], data: bytes, *, temp_dir: str | os.PathLike[str] | None = None,
    fsync: bool = False,
) -> None:
    """Replace `path` with `data` so readers see the old or the new content, never a part.

    The temp file lives in `temp_dir` (default: the target's folder), which must be on the same
    file system; with fsync the data is on disk before the rename.
    """
    path = os.fspath(path)
    folder = os.fspath(temp_dir) if temp_dir is not None else os.path.dirname(path)
    tmp = temp_path(folder, os.path.basename(path))
    try:
        fd = os.open(tmp, _EXCL_FLAGS, 0o666)
        try:
            _write_all(fd, data, path)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise disk_error(path, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def create_exclusive(path: str | os.PathLike[str], data: bytes, *, temp_dir: str | os.PathLike[str]) -> bool:
    """Create `path` holding `data` only if it does not exist; False when it already existed.

    Written to a temp file and then hard-linked into place, so a concurrent reader or creator sees
    either no file or the whole content (never an empty file that is still being written).
    """
    path = os.fspath(path)
    tmp = temp_path(os.fspath(temp_dir), os.path.basename(path))
    try:
        fd = os.open(tmp, _EXCL_FLAGS, 0o666)
        try:
            _write_all(fd, data, path)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            # File systems without hard links: fall back to O_EXCL creation (a brief empty window).
            return _create_excl_direct(path, data)
        return True
    except OSError as exc:
        raise disk_error(path, exc) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _create_excl_direct(path: str, data: bytes) -> bool:
    try:
        fd = os.open(path, _EXCL_FLAGS, 0o666)
    except FileExistsError:
        return False
    try:
        _write_all(fd, data, path)
    finally:
        os.close(fd)
    return True


def open_append(path: str | os.PathLike[str]) -> int:
    """An O_APPEND descriptor on the line file `path`, creating the file and its folders as needed.

    A torn last line found on opening is sealed (seal_torn_tail). Checked once per open descriptor,
    not per append: this process's own appends end whole or are undone (append), and the caller
    reopens after a failed one.
    """
    fd = _open_append(path)
    try:
        seal_torn_tail(path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_append(path: str | os.PathLike[str]) -> int:
    try:
        return os.open(path, _APPEND_FLAGS, 0o666)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise disk_error(path, exc, "open") from None
    try:
        os.makedirs(os.path.dirname(os.fspath(path)), exist_ok=True)
        return os.open(path, _APPEND_FLAGS, 0o666)
    except OSError as exc:
        raise disk_error(path, exc, "open") from None


def append(fd: int, data: bytes, path: str | os.PathLike[str]) -> None:
    """Append `data` (whole lines) with a single write: concurrent appenders never interleave inside it.

    Whole lines or nothing: a short write (full disk, quota) is undone before the error is raised, so
    no later append can glue its line onto a torn one (which reads back as a valid line with a wrong
    timestamp, in MLflow as here).
    """
    try:
        written = os.write(fd, data)
    except OSError as exc:
        # write(2) fails only when it wrote nothing: the file is as it was.
        raise ReportgenError(
            f"cannot write {os.fspath(path)}: {exc.strerror or type(exc).__name__}; nothing was written"
        ) from None
    if written == len(data):
        return
    what = f"short write ({written} of {len(data)} bytes: the disk is full or over quota)"
    try:
        _undo_append(fd, written, path)
    except OSError as exc:
        raise ReportgenError(
            f"cannot write {os.fspath(path)}: {what}, and the partial line could not be removed"
            f" ({exc.strerror or type(exc).__name__}); the file ends with a torn line"
        ) from None
    raise ReportgenError(f"cannot write {os.fspath(path)}: {what}; the partial line was removed, nothing was kept")


def _undo_append(fd: int, written: int, path: str | os.PathLike[str]) -> None:
    """Take back the `written` bytes the last append on `fd` wrote (the caller holds the fd alone).

    On an O_APPEND descriptor the offset after a write is the end of that write, so those bytes are
    [end - written, end). If nothing followed them, cut the file there (it ends with the last whole
    line again). If another process appended after them, cutting would lose its lines: blank the bytes
    with spaces instead, which both readers (and MLflow's, which strips the line) take as leading
    blanks of the next whole line. Neither needs new disk space.
    """
    end = os.lseek(fd, 0, os.SEEK_CUR)
    start = end - written
    # A whole line appended by another process between fstat and ftruncate would be cut: a window of
    # microseconds, on a disk that is full at that moment (its append most likely failed too).
    if os.fstat(fd).st_size == end:
        os.ftruncate(fd, start)
    else:
        _blank(path, start, written)


def _blank(path: str | os.PathLike[str], start: int, length: int) -> None:
    # A descriptor without O_APPEND: on Linux pwrite on an O_APPEND descriptor appends instead.
    fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        if os.pwrite(fd, b" " * length, start) != length:
            raise OSError(errno.ENOSPC, "short write while blanking")
    finally:
        os.close(fd)


def seal_torn_tail(path: str | os.PathLike[str]) -> None:
    """Make sure the next append to the line file `path` starts a line of its own.

    A line file that does not end with a newline holds a torn line (a writer killed or out of space
    mid-write; concurrent appenders write a whole line in one write) or, for microseconds, a whole
    line another process is still writing; the tail must stay the same for TORN_SETTLE_SECONDS to
    count as torn. Its bytes are then blanked with spaces, not cut and not ended with a newline:
    ending it would keep a torn line that may still parse ("<ts> <value" of "<ts> <value> <step>"),
    cutting could race with another appender's whole line, while spaces only become leading blanks
    of whatever whole line comes next, whoever writes it. A whole line is never lost.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise disk_error(path, exc, "read") from None
    try:
        seen = _torn_tail(fd, path)
        for _ in range(_TORN_TRIES):
            if seen is None:
                return
            time.sleep(TORN_SETTLE_SECONDS)
            again = _torn_tail(fd, path)
            if again == seen:
                start, fragment = seen
                if fragment.strip(b" "):
                    try:
                        _blank(path, start, len(fragment))
                    except OSError as exc:
                        raise disk_error(path, exc, "seal the torn last line of") from None
                return
            seen = again
    finally:
        os.close(fd)
    raise ReportgenError(f"cannot write {os.fspath(path)}: its last line never became whole; not appending to it")


def _torn_tail(fd: int, path: str | os.PathLike[str]) -> tuple[int, bytes] | None:
    """(offset, bytes) of the unterminated last line of the file, or None when it ends with a newline."""
    try:
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return None
        take = min(size, MAX_TORN_TAIL + 1)
        tail = os.pread(fd, take, size - take)
    except OSError as exc:
        raise disk_error(path, exc, "read") from None
    cut = tail.rfind(b"\n")
    if cut < 0 and take == MAX_TORN_TAIL + 1:
        raise ReportgenError(
            f"cannot write {os.fspath(path)}: it ends with over {MAX_TORN_TAIL} bytes that are not a"
            " whole line, so it is no metric file; not appending to it"
        )
    return size - take + cut + 1, tail[cut + 1 :]


def clean_stale_temps(folder: str | os.PathLike[str], *, max_age: float = STALE_TEMP_SECONDS) -> None:
    """Remove temp files and staging folders (temp_path names) older than `max_age` seconds.

    Only a writer killed mid-write (kill -9, power loss) leaves them; readers skip them by name. A
    younger one may belong to a live writer about to rename it, so it stays. Best effort: a failure
    here never fails the write that called it.
    """
    cutoff = time.time() - max_age
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not TEMP_RE.match(entry.name):
            continue
        with contextlib.suppress(OSError):
            if entry.stat(follow_symlinks=False).st_mtime >= cutoff:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)


def read_text(path: str | os.PathLike[str]) -> str:
    with open(path, encoding="utf-8", newline="") as handle:
        return handle.read()


def makedirs(path: str | os.PathLike[str]) -> None:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise disk_error(path, exc, "create folder") from None


@contextlib.contextmanager
def locked(folder: str | os.PathLike[str]) -> Iterator[None]:
    """An exclusive inter-process lock on `folder` (flock on the folder itself; no lock file)."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise disk_error(folder, exc, "lock") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def is_within(path: Path, root: Path) -> bool:
    """True when `path` (resolved) is `root` or inside it."""
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True
