"""Which tracking URI the client uses: set_tracking_uri(), then MLFLOW_TRACKING_URI, then ./mlruns."""
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


@functools.lru_cache(maxsize=64)
def _default_uri(cwd: str) -> str:
    # Cached per working folder: the fluent API resolves the URI on every logging call.
    return path_to_file_uri(os.path.join(cwd, DEFAULT_FILE_STORE))


def is_tracking_uri_set() -> bool:
    return bool(_tracking_uri or os.environ.get(ENV_TRACKING_URI))
