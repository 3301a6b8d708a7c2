"""Tracking URIs: which store a URI names, and the local path of a file: URI or a plain path.

Resolution order for the logging client: set_tracking_uri(), then MLFLOW_TRACKING_URI, then ./mlruns.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from reportgen.errors import StoreError

ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"
DEFAULT_FILE_STORE = "mlruns"
SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
HTTP_SCHEMES = ("http", "https")
_WINDOWS_DRIVE = re.compile(r"^/?[A-Za-z]:[/\\]")


def scheme_of(uri: str) -> str:
    """'file', 'sqlite', 'postgresql', 'http', ... for a URI; 'file' for a plain path."""
    if _WINDOWS_DRIVE.match(uri):
        return "file"
    scheme = urlsplit(uri).scheme.lower()
    if not scheme or len(scheme) == 1:
        return "file"
    # SQLAlchemy URLs carry a driver: postgresql+psycopg2://
    return scheme.split("+", 1)[0]


def local_path(uri: str) -> Path:
    """The local path of a plain path or a file: URI (file:/abs, file:///abs, file:///C:/x).

    Percent-escapes are decoded; a file: URI with a remote host is refused.
    """
    if scheme_of(uri) != "file":
        raise StoreError(f"not a local path or file: URI: {uri}")
    if not uri.lower().startswith("file:"):
        return Path(uri).expanduser()
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise StoreError(f"file: URI with a remote host is not supported: {uri}")
    path = unquote(parts.path)
    if _WINDOWS_DRIVE.match(path) and path.startswith("/"):
        path = path[1:]  # file:///C:/x -> C:/x
    return Path(path)


def path_to_file_uri(path: str | os.PathLike[str]) -> str:
    """file:///abs/path, as MLflow writes artifact locations (absolute, percent-escaped)."""
    return Path(os.path.abspath(os.fspath(path))).as_uri()


def redact_uri(uri: str) -> str:
    """The URI for messages and reports: without user:password@, and with the values of secret query
    parameters (?password=, &token=) and known credentials hidden by reportgen.redaction's policy."""
    from reportgen.redaction import redact_text

    try:
        parts = urlsplit(uri)
    except ValueError:  # not a URL (an unbalanced "[" in the host): the policy alone
        return redact_text(uri)
    if "@" in parts.netloc:
        uri = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
    return redact_text(uri)
