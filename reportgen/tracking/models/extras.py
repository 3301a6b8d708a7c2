"""Files a saved model carries besides its own: code_paths (code/) and extra_files (extra_files/)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from reportgen.errors import InvalidParameterValue, UnsupportedError
from reportgen.tracking import _files
from reportgen.uri import local_path, scheme_of

CODE_DIR = "code"
EXTRA_FILES_DIR = "extra_files"


def _copy(source: Path, target_dir: Path) -> None:
    target = target_dir / source.name
    try:
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            _files.makedirs(target_dir)
            shutil.copy(source, target)
    except OSError as exc:
        raise _files.disk_error(source, exc, "copy") from None


def _list_of_paths(value: Any, option: str) -> list[str]:
    if not isinstance(value, list):
        raise InvalidParameterValue(f"{option} must be a list of paths, not {type(value).__name__}")
    return value


def copy_code_paths(code_paths: list[str] | None, folder: Path) -> str | None:
    """Copy each file or folder into folder/code/ (MLflow's layout); the subfolder name, or None."""
    if code_paths is None:
        return None
    for path in _list_of_paths(code_paths, "code_paths"):
        source = Path(os.path.abspath(path))
        if not source.exists():
            raise InvalidParameterValue(f"code path {path} does not exist")
        _copy(source, folder / CODE_DIR)
    return CODE_DIR


def copy_extra_files(extra_files: list[str] | None, folder: Path) -> dict[str, Any]:
    """Copy local extra files into folder/extra_files/; the flavor's `extra_files` entry ({} for none)."""
    if not extra_files:
        return {}
    entries = []
    for uri in _list_of_paths(extra_files, "extra_files"):
        if scheme_of(uri) != "file":
            raise UnsupportedError(f"extra file {uri}: only local files are supported yet")
        source = local_path(uri)
        if not source.is_file():
            raise InvalidParameterValue(f"extra file {uri} is not a file")
        _copy(source, folder / EXTRA_FILES_DIR)
        entries.append({"path": f"{EXTRA_FILES_DIR}/{source.name}"})
    return {EXTRA_FILES_DIR: entries}
