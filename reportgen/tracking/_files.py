"""Crash- and concurrency-safe file primitives of the file store writer.

Whole-line appends with one os.write on an O_APPEND descriptor, atomic replaces (temp file in the
target's folder, fsync, os.replace), exclusive creation with content (temp file + os.link), a store
lock (flock on the store's root folder, so no extra file lands in mlruns/), and OSError turned into
a ReportgenError naming the path.
"""
from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path
from typing import Iterator

from reportgen.errors import ReportgenError

try:  # POSIX only; elsewhere the lock is a no-op (documented limitation).
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
_EXCL_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


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
    """An O_APPEND descriptor on `path`, creating the file and its folders as needed."""
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
    """Append `data` with a single write: concurrent appenders never interleave inside it."""
    try:
        _write_all(fd, data, path)
    except OSError as exc:
        raise disk_error(path, exc) from None


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
