"""Safe access to a run's local artifact files, shared by every store reader.

Nothing here follows a symlink, opens a FIFO or device, or reads outside the run's artifact root,
and that root must itself lie inside an allowed folder (the store's) and belong to the run (see
resolve_root). Hidden names (.git, .env, .ssh) and names that are not UTF-8 are never listed by a walk.
Object store roots (s3://, gs://, Azure) are read through stores/objectstore.py, under the same rules
(the run's id in the prefix, no '..' key); other remote URIs (http://, mlflow-artifacts:) are never
fetched: they are "unavailable" (a server's mlflow-artifacts: are read from its --artifacts-destination:
stores/server_artifacts.py).
"""
from __future__ import annotations

import functools
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator
from urllib.parse import unquote, urlsplit

from reportgen.errors import InvalidParameterValue, ResourceDoesNotExist
from reportgen.model import FileInfo
from reportgen.stores import objectstore
from reportgen.stores._artifact_names import clean_relpath, shown_name, unpublishable  # noqa: F401 - re-exported
from reportgen.stores.objectstore import ObjectRoot
from reportgen.uri import scheme_of

# A walk stops after this many files: a report never needs more, a hostile tree could hold millions.
MAX_WALK_FILES = 100_000
# Outside a file store, a folder belongs to a run when the run's id is one of its path's folder names;
# MLflow's ids are 32 hex digits, an id shorter than this is never taken for one.
MIN_RUN_ID_CHARS = 8


def _inside(path: Path, root: Path) -> bool:
    """Whether path is root or below it (both real, normalised paths): compared as text, which is what
    Path.parents would do at many times the cost (once per run of a build)."""
    text, prefix = str(path), str(root)
    return text == prefix or text.startswith(prefix.rstrip(os.sep) + os.sep)


@dataclass(frozen=True)
class ArtifactRoot:
    """Where a run's artifacts are: a local folder or an object store folder (`path`), or why they are
    unavailable (`reason`); `remote` is the artifact URI when it names no local folder (s3:,
    mlflow-artifacts:)."""

    path: Path | ObjectRoot | None
    reason: str = ""
    remote: str = ""


def local_artifact_dir(uri: str) -> Path | None:
    """The local folder of a file: URI or a plain path; None for a remote scheme."""
    if not uri:
        return None
    if scheme_of(uri) != "file":
        return None
    if uri.lower().startswith("file:"):
        parts = urlsplit(uri)
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            return None  # '#' and '?' in a file URI are not part of the path: refuse, do not guess
        return Path(unquote(parts.path))
    return Path(uri)


@functools.lru_cache(maxsize=64)
def real_root(path: str) -> Path:
    """The real path of an allowed root: a store's folder does not move during a read or a build, and
    resolving it for each of thousands of runs cost more than the rest of resolve_root."""
    return Path(os.path.realpath(path))


def _refusal(real: Path, *, allowed: list[Path], own: Path | None, own_roots: list[Path], run_id: str) -> str:
    """Why the run may not read artifacts from `real` ('' when it may): the folder must be inside an
    allowed root, must not be one of them or hold one (the store root, the database's folder, or a
    folder above them), and must belong to the run: inside its own <exp>/<run>/artifacts in the root
    that holds that folder (a file store), elsewhere a folder with the run's id in its path below the
    root (MLflow's <root>/<exp>/<run>/artifacts). Anything else could be another run's folder or
    the store's raw params/ and meta.yaml files, which redaction never sees."""
    homes = [a for a in allowed if _inside(real, a)]
    if not homes:
        return f"artifact folder {shown_name(str(real))} is outside the store; not read"
    if any(_inside(a, real) for a in allowed):
        return (f"artifact folder {shown_name(str(real))} is the store's (or the database's) folder or holds it; "
                "only the run's own folder is read")
    if own is not None and _inside(real, own):
        return ""
    if any(_inside(home, root) or _inside(root, home) for home in homes for root in own_roots):
        return (f"artifact folder {shown_name(str(real))} is not this run's <exp>/<run>/artifacts "
                "(another run's or the store's files); not read")
    below = real.parts[len(max(homes, key=lambda a: len(str(a))).parts):]
    if any(part.startswith(".") for part in below):
        return f"artifact folder {shown_name(str(real))} is inside a hidden folder (.git, ...); not read"
    # An id as short as a folder name ('1', 'mlruns') would match folders that are not the run's.
    if len(run_id) >= MIN_RUN_ID_CHARS and run_id in below:
        return ""
    return (f"artifact folder {shown_name(str(real))} is not this run's folder "
            f"(no {run_id or 'run id'} in its path); not read")


def resolve_root(
    artifact_uri: str, *, fallback: Path | None, allowed: Iterable[Path], base: Path | None = None,
    run_id: str | None = None,
) -> ArtifactRoot:
    """Resolve a run's artifact_uri to a folder of that run inside one of `allowed` (see _refusal).

    `fallback` is the run's own <store>/<exp>/<run>/artifacts (a file store; None for SQL stores):
    a stale absolute URI from another machine falls back to it when that exists, and in the root that
    holds it nothing else is read. `run_id` defaults to the run folder's name. A relative path is
    taken relative to `base` (the folder MLflow ran in is unknown; the store's folder is the best
    guess).
    """
    allowed_real = [real_root(str(a)) for a in allowed]
    own = own_roots = None
    if fallback is not None:
        run_id = run_id or fallback.parent.name
        own = Path(os.path.realpath(fallback))
        lexical = Path(os.path.abspath(fallback))
        # The roots holding the run's folder, by its real path or as named (an experiment folder
        # symlinked out of the store leaves the real path outside, but the store is still the store).
        own_roots = [real for real, given in zip(allowed_real, allowed)
                     if _inside(own, real) or _inside(lexical, real) or _inside(lexical, Path(os.path.abspath(given)))]

    def refusal(real: Path) -> str:
        return _refusal(real, allowed=allowed_real, own=own, own_roots=own_roots or [], run_id=run_id or "")

    scheme = scheme_of(artifact_uri) if artifact_uri else "file"
    candidates: list[Path] = []
    local = local_artifact_dir(artifact_uri)
    if local is not None:
        if not local.is_absolute() and base is not None:
            local = base / local
        candidates.append(local)
    if fallback is not None:
        candidates.append(fallback)
    # A store copied on the same machine (cp -r, rsync): the URI still names the original's
    # <exp>/<run>/artifacts, outside this store; this run's own folder of the same name is read instead.
    copied = fallback is not None and local is not None and local.parts[-3:] == fallback.parts[-3:]
    for candidate in candidates:
        try:
            info = os.lstat(candidate)
        except OSError:
            continue
        if stat.S_ISLNK(info.st_mode):
            return ArtifactRoot(None, f"artifact folder {shown_name(str(candidate))} is a symlink; not followed")
        if not stat.S_ISDIR(info.st_mode):
            continue
        real = Path(os.path.realpath(candidate))
        reason = refusal(real)
        if reason and candidate is local and copied and not any(_inside(real, a) for a in allowed_real) \
                and os.path.isdir(fallback):  # type: ignore[arg-type]
            continue
        return ArtifactRoot(None, reason) if reason else ArtifactRoot(real)
    if local is None and artifact_uri:
        if objectstore.is_object_uri(artifact_uri):
            return object_root(artifact_uri, run_id)
        return ArtifactRoot(None, f"remote artifacts ({scheme}:) are not fetched", remote=artifact_uri)
    # Inside the store but not there: a run without artifacts (not created yet, or an empty folder that
    # git or rsync did not carry over when the store was copied: the stale URI then names this very
    # <exp>/<run>/artifacts, and the run's folder is here).
    same_place = (
        fallback is not None and local is not None and fallback.parent.is_dir()
        and local.parts[-3:] == fallback.parts[-3:]
    )
    refused = ""
    for candidate in (local, fallback if same_place else None):
        if candidate is None:
            continue
        real = Path(os.path.realpath(candidate))
        if any(_inside(real, a) for a in allowed_real):
            refused = refusal(real)
            if not refused:
                return ArtifactRoot(real)
    return ArtifactRoot(None, refused or f"artifact folder not found ({shown_name(artifact_uri) or 'no artifact_uri'})")


def object_root(uri: str, run_id: str | None) -> ArtifactRoot:
    """The run's folder in an object store: its prefix must hold the run's id as a folder name, as a
    local folder outside a file store must (a bucket's root, or another run's prefix, is not read; nor
    anything when the caller does not name the run: no request is made for it)."""
    advice = objectstore.missing_extra(uri)
    if advice:
        return ArtifactRoot(None, advice, remote=uri)
    try:
        root = objectstore.parse(uri)
    except InvalidParameterValue as exc:
        return ArtifactRoot(None, f"artifact URI refused: {exc.message}", remote=uri)
    if not root.prefix:
        return ArtifactRoot(None, f"artifact folder {root.uri} is a whole bucket; not read", remote=uri)
    if not run_id or len(run_id) < MIN_RUN_ID_CHARS or run_id not in root.prefix.split("/"):
        return ArtifactRoot(None, f"artifact folder {root.uri} is not this run's folder "
                                  f"(no {run_id or 'run id'} in its path); not read", remote=uri)
    return ArtifactRoot(root, remote=uri)


def _checked_path(root: Path, rel: str) -> Path:
    """root/rel after lstat-checking every component: no symlink anywhere on the way."""
    current = root
    for part in rel.split("/") if rel else []:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            raise ResourceDoesNotExist(f"No artifact at {rel!r}") from None
        if stat.S_ISLNK(info.st_mode):
            raise InvalidParameterValue(f"Artifact {rel!r} is (or passes through) a symlink; not followed")
    return current


def list_dir(root: Path | ObjectRoot, path: str | None) -> list[FileInfo]:
    """One level under `path` like MLflow's list_artifacts; symlinks and special files are left out."""
    if isinstance(root, ObjectRoot):
        return objectstore.list_dir(root, path)
    rel = clean_relpath(path)
    try:
        folder = _checked_path(root, rel)
    except ResourceDoesNotExist:
        return []
    try:
        entries = list(os.scandir(folder))
    except (NotADirectoryError, FileNotFoundError):
        return []
    infos = []
    for entry in entries:
        child = f"{rel}/{entry.name}" if rel else entry.name
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode):
            infos.append(FileInfo(child, True, None))
        elif stat.S_ISREG(info.st_mode):
            infos.append(FileInfo(child, False, info.st_size))
    return sorted(infos, key=lambda f: f.path)


def open_file(root: Path | ObjectRoot, path: str) -> IO[bytes]:
    """A regular file under root, opened without following symlinks and without blocking on FIFOs."""
    if isinstance(root, ObjectRoot):
        return objectstore.open_file(root, path)
    rel = clean_relpath(path)
    if not rel:
        raise InvalidParameterValue("An artifact path is required")
    target = _checked_path(root, rel)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        info = os.lstat(target)
        if not stat.S_ISREG(info.st_mode):
            raise InvalidParameterValue(f"Artifact {rel!r} is not a regular file")
        fd = os.open(target, flags)
    except OSError as exc:
        raise InvalidParameterValue(f"Artifact {rel!r} cannot be opened: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped between lstat and open
            raise InvalidParameterValue(f"Artifact {rel!r} is not a regular file")
        if not _inside(Path(os.path.realpath(target)), root):
            raise InvalidParameterValue(f"Artifact {rel!r} resolves outside the artifact folder")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _entries(
    root: Path | str, on_error: Callable[[str, OSError], None], leave_out: Callable[[str, str], bool] | None = None,
) -> Iterator[tuple[str, os.stat_result]]:
    """(path relative to root, lstat) of everything under root, depth first, names sorted; folders are
    entered, symlinks never. on_error(relative folder, error) for a folder that cannot be listed;
    an entry for which leave_out(relative path, name) is true is neither given nor entered."""
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            entries = sorted(os.scandir(os.path.join(root, rel)) if rel else os.scandir(root), key=lambda e: e.name)
        except OSError as exc:
            on_error(rel, exc)
            continue
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            if leave_out is not None and leave_out(child, entry.name):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                stack.append(child)
            yield child, info


def walk(
    root: Path | ObjectRoot, *, on_skip: Callable[[str, str], None], max_files: int = MAX_WALK_FILES
) -> list[FileInfo]:
    """Every regular file under root (path relative to root, size), depth first, sorted by path.

    Symlinks, FIFOs, devices and sockets are skipped and reported through on_skip(path, reason);
    directory symlinks are never entered, so loops cannot happen. Hidden and non-UTF-8 names
    (see unpublishable) are reported once each and never entered: a .git folder of thousands of
    objects does not crowd the run's real files out of the walk.
    """
    if isinstance(root, ObjectRoot):
        return objectstore.walk(root, on_skip=on_skip, max_files=max_files)

    def unlisted(rel: str, exc: OSError) -> None:
        if not isinstance(exc, FileNotFoundError):  # missing: no artifacts yet (or deleted meanwhile)
            on_skip(shown_name(str(root / rel)), f"cannot list artifact folder: {exc.strerror}")

    def leave_out(rel: str, name: str) -> bool:
        reason = unpublishable(name)
        if reason:
            on_skip(shown_name(str(root / rel)), reason)
        return bool(reason)

    files: list[FileInfo] = []
    for child, info in _entries(root, unlisted, leave_out):
        if stat.S_ISREG(info.st_mode):
            if len(files) >= max_files:
                on_skip(str(root), f"more than {max_files} artifact files; the rest are left out")
                break
            files.append(FileInfo(child, False, info.st_size))
        elif not stat.S_ISDIR(info.st_mode):
            kind = "symlink" if stat.S_ISLNK(info.st_mode) else "special file"
            on_skip(shown_name(str(root / child)), f"artifact {kind} skipped (not followed or opened)")
    return sorted(files, key=lambda f: f.path)


def signature(root: Path | str | ObjectRoot, *, max_files: int = MAX_WALK_FILES) -> str:
    """A digest of every entry under root (relative path, type, size, mtime), symlinks not followed:
    it changes when an artifact is added, removed or rewritten. For the build cache."""
    if isinstance(root, ObjectRoot):
        return objectstore.signature(root)
    digest = hashlib.blake2b(digest_size=16)

    def unlisted(rel: str, exc: OSError) -> None:
        digest.update(f"{rel}\0!{exc.errno}\0".encode("utf-8", "surrogatepass"))

    for seen, (child, info) in enumerate(_entries(root, unlisted)):
        if seen > max_files:
            break
        digest.update(f"{child}\0{info.st_mode}\0{info.st_size}\0{info.st_mtime_ns}\0"
                      .encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def is_remote(uri: str) -> bool:
    return bool(uri) and local_artifact_dir(uri) is None


__all__ = [
    "ArtifactRoot",
    "ObjectRoot",
    "object_root",
    "signature",
    "MAX_WALK_FILES",
    "clean_relpath",
    "is_remote",
    "list_dir",
    "local_artifact_dir",
    "open_file",
    "resolve_root",
    "shown_name",
    "unpublishable",
    "walk",
]
