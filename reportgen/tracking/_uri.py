"""Which tracking URI the client uses: set_tracking_uri(), then MLFLOW_TRACKING_URI, then as MLflow 3: ./mlruns
when it holds experiments already, else sqlite:///mlflow.db in the working folder."""
from __future__ import annotations

import functools
import os
from pathlib import Path

from reportgen.uri import DEFAULT_FILE_STORE, ENV_TRACKING_URI, path_to_file_uri

_tracking_uri: str | None = None


def set_tracking_uri(uri: str | os.PathLike[str] | None) -> None:
    """Set the URI for this process (None or "" goes back to the environment and the default).

    A Path becomes an absolute file: URI, as in MLflow; strings are kept as given.
    """
    global _tracking_uri
    if isinstance(uri, Path):
        uri = path_to_file_uri(uri)
    _tracking_uri = os.fspath(uri) if uri else None


def get_tracking_uri() -> str:
    if _tracking_uri:
        return _tracking_uri
    from_env = os.environ.get(ENV_TRACKING_URI)
    if from_env:
        return from_env
    return _default_uri(os.getcwd())


DEFAULT_DATABASE = "mlflow.db"


@functools.lru_cache(maxsize=64)
def _default_uri(cwd: str) -> str:
    # Cached per working folder: the fluent API resolves the URI on every logging call.
    mlruns = os.path.join(cwd, DEFAULT_FILE_STORE)
    if _has_experiments(mlruns):
        return path_to_file_uri(mlruns)
    return f"sqlite:///{os.path.join(cwd, DEFAULT_DATABASE)}"


def _has_experiments(folder: str) -> bool:
    """Whether folder holds an experiment folder (digits, with its meta.yaml): MLflow 3 keeps logging there."""
    try:
        with os.scandir(folder) as entries:
            return any(entry.is_dir() and entry.name.isdigit() and os.path.lexists(os.path.join(entry.path, "meta.yaml"))
                       for entry in entries)
    except OSError:
        return False


def is_tracking_uri_set() -> bool:
    return bool(_tracking_uri or os.environ.get(ENV_TRACKING_URI))
