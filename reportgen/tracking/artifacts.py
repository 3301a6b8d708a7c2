"""Copying files into a run's local artifact folder, and out of a store (download_artifacts).

Copies what the user points at, like MLflow, but never hangs or crashes on special files: FIFOs,
sockets and devices are skipped with a warning, and inside a logged folder symlinks that lead out
of it (or to folders) are skipped too. Nothing is written outside the run's artifact root.
"""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
import warnings
from pathlib import Path

from reportgen import validation
from reportgen.errors import InvalidParameterValue, ReportgenError, UnsupportedError
from reportgen.stores import objectstore
from reportgen.tracking import _files
from reportgen.uri import local_path, scheme_of


class ArtifactWarning(UserWarning):
    """A file that log_artifacts skipped (special file, or a symlink leaving the logged folder)."""


def artifact_root(artifact_uri: str) -> Path:
    """The local folder of a run's artifact URI (file: URI or plain path)."""
    if scheme_of(artifact_uri) != "file":
        raise UnsupportedError(
            f"artifact URI {artifact_uri} is not a local path: only local artifact stores are supported yet"
        )
    return local_path(artifact_uri)


def destination(root: Path, artifact_path: str | None) -> Path:
    """root/artifact_path, refusing paths that leave root (.., absolute, through a symlink)."""
    relative = validation.validate_artifact_path(artifact_path)
    target = root if relative is None else root / relative
    if root.exists() and not _files.is_within(target, root):
        raise InvalidParameterValue(f"artifact path {artifact_path!r} leads outside the run's artifacts")
    return target


def _copy_file(source: Path, target: Path) -> None:
    _files.makedirs(target.parent)
    if target.is_symlink():
        target.unlink()  # never write through a link into someone else's file
    try:
        shutil.copyfile(source, target)
        shutil.copymode(source, target)
    except OSError as exc:
        raise _files.disk_error(target, exc, f"copy {source} to") from None


def log_artifact(root: Path, local_path: str | os.PathLike[str], artifact_path: str | None) -> None:
    """Copy one file (a symlink is followed, as MLflow does) into root/artifact_path/; a folder is
    copied whole into root/artifact_path/<its name>/, as MLflow's client does."""
    source = Path(local_path)
    try:
        info = source.stat()
    except OSError as exc:
        raise _files.disk_error(source, exc, "read") from None
    if stat.S_ISDIR(info.st_mode):
        name = os.path.basename(os.path.normpath(source))
        log_artifacts(root, source, f"{artifact_path}/{name}" if artifact_path else name)
        return
    if not stat.S_ISREG(info.st_mode):
        raise InvalidParameterValue(f"{source} is not a regular file (FIFO, socket or device): not logged")
    target = destination(root, artifact_path) / source.name
    _copy_file(source, target)


def log_artifacts(root: Path, local_dir: str | os.PathLike[str], artifact_path: str | None) -> None:
    """Copy a folder's content into root/artifact_path/ (merged with what is there)."""
    source_root = Path(local_dir)
    if not source_root.is_dir():
        raise InvalidParameterValue(f"{source_root} is not a folder")
    target_root = destination(root, artifact_path)
    resolved_source = source_root.resolve()
    if _files.is_within(target_root, resolved_source):
        # Copying a folder into itself never ends (each pass copies the last copy again).
        raise InvalidParameterValue(f"{source_root} holds the run's artifacts: it cannot be logged into them")
    _files.makedirs(target_root)
    for dirpath, dirnames, filenames in os.walk(source_root, followlinks=False):
        relative = Path(dirpath).relative_to(source_root)
        for name in dirnames:
            if (Path(dirpath) / name).is_symlink():
                warnings.warn(f"{Path(dirpath) / name}: symlinked folder not logged", ArtifactWarning, stacklevel=3)
            else:
                _files.makedirs(target_root / relative / name)
        for name in filenames:
            source = Path(dirpath) / name
            if source.is_symlink() and not _files.is_within(source, resolved_source):
                warnings.warn(f"{source}: symlink leading outside {source_root} not logged",
                              ArtifactWarning, stacklevel=3)
                continue
            try:
                mode = source.stat().st_mode
            except OSError:
                warnings.warn(f"{source}: broken symlink not logged", ArtifactWarning, stacklevel=3)
                continue
            if not stat.S_ISREG(mode):
                warnings.warn(f"{source}: not a regular file, not logged", ArtifactWarning, stacklevel=3)
                continue
            _copy_file(source, target_root / relative / name)


def log_tree(artifact_uri: str, local_dir: str | os.PathLike[str]) -> None:
    """A folder's content into an artifact location (a logged model's files): a local folder, or an
    object store root, uploaded from a staging copy that log_artifacts has checked like a local one."""
    if not objectstore.is_object_uri(artifact_uri):
        log_artifacts(artifact_root(artifact_uri), local_dir, None)
        return
    with tempfile.TemporaryDirectory(prefix="reportgen-upload-") as staging:
        log_artifacts(Path(staging), local_dir, None)
        objectstore.upload_folder(artifact_uri, Path(staging))


def write_artifact(root: Path, artifact_file: str, data: bytes) -> None:
    """Write bytes as root/artifact_file atomically (log_text, log_dict, log_figure)."""
    relative = validation.validate_artifact_path(artifact_file)
    if relative is None:
        raise InvalidParameterValue(f"artifact_file {artifact_file!r} must name a file")
    target = destination(root, relative)
    _files.makedirs(target.parent)
    if target.is_symlink():
        target.unlink()
    _files.atomic_write(target, data)


def download(store, run_id: str, path: str | None, dst_path: str | os.PathLike[str] | None) -> str:
    """Copy a run's artifact file or folder out of `store` into dst_path (a new temp folder when None).

    Goes through the store's list_artifacts/open_artifact, which refuse paths leaving the run's
    artifacts, symlinks and special files. Returns the local path of the copy.
    """
    relative = validation.validate_artifact_path(path) or ""
    dst = Path(os.path.abspath(dst_path)) if dst_path is not None else Path(tempfile.mkdtemp(prefix="reportgen-artifacts-"))
    if dst_path is not None and not dst.is_dir():
        raise InvalidParameterValue(f"The destination path for downloaded artifacts does not exist: {dst}")
    parent = relative.rsplit("/", 1)[0] if "/" in relative else None
    entries = {item.path: item for item in store.list_artifacts(run_id, parent)} if relative else {}
    if relative and relative not in entries:
        raise ReportgenError(f"No artifact {relative!r} in run {run_id}", error_code="RESOURCE_DOES_NOT_EXIST")
    if relative and not entries[relative].is_dir:
        _download_file(store, run_id, relative, dst / relative)
        return str(dst / relative)
    _download_dir(store, run_id, relative or None, dst)
    return str(dst / relative) if relative else str(dst)


def _download_dir(store, run_id: str, path: str | None, dst: Path) -> None:
    _files.makedirs(dst / path if path else dst)
    for item in store.list_artifacts(run_id, path):
        if item.is_dir:
            _download_dir(store, run_id, item.path, dst)
        else:
            _download_file(store, run_id, item.path, dst / item.path)


def _download_file(store, run_id: str, path: str, target: Path) -> None:
    _files.makedirs(target.parent)
    with store.open_artifact(run_id, path) as source, open(target, "wb") as out:
        shutil.copyfileobj(source, out)
