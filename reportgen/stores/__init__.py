"""Readers of MLflow tracking stores; open_store(uri) picks the right one.

    file store      a path or file: URI          -> FileStore (stores/file.py)
    SQLite          sqlite:///x.db, or x.db/.sqlite -> SqliteStore (stores/sqlite.py), stdlib only
    other SQL       postgresql://, mysql://, mssql:// -> SqlStore (stores/sql.py), needs SQLAlchemy
    server          http(s)://                   -> RestStore (stores/rest.py), MLflow's REST API
"""
from __future__ import annotations

import os
from typing import Any

from reportgen.errors import StoreError
from reportgen.stores.base import Store
from reportgen.stores.server_artifacts import destination_folder
from reportgen.uri import local_path, redact_uri, scheme_of

SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")

__all__ = ["Store", "open_store"]


def open_store(
    uri: str | os.PathLike[str], *, strict: bool = False,
    artifacts_destination: str | os.PathLike[str] | None = None, **options: Any,
) -> Store:
    """A read-only store for `uri`. strict=True turns every skipped item into an error.

    artifacts_destination: the folder (or file: URI) an `mlflow server` was started with as
    --artifacts-destination; the runs' `mlflow-artifacts:` URIs are read from it. A server's own URL
    serves its artifacts itself and ignores it.
    options: artifact_roots=[...] extra local folders where artifacts may be read (besides the store's);
    for servers: max_points, history_mode ('bulk' or 'paged'), workers (see RestStore).
    """
    destination = None if artifacts_destination is None else destination_folder(artifacts_destination)
    store = _open(os.fspath(uri), strict=strict, **options)
    store.artifacts_destination = destination
    return store


def _open(uri: str, *, strict: bool, **options: Any) -> Store:
    scheme = scheme_of(uri)
    if scheme == "file":
        path = local_path(uri)
        if path.suffix.lower() in SQLITE_SUFFIXES and not path.is_dir():
            from reportgen.stores.sqlite import SqliteStore

            return SqliteStore(path, uri=uri, strict=strict, **options)
        from reportgen.stores.file import FileStore

        return FileStore(path, uri=uri, strict=strict, **options)
    if scheme == "sqlite":
        from reportgen.stores.sqlite import SqliteStore, sqlite_path

        return SqliteStore(sqlite_path(uri), uri=uri, strict=strict, **options)
    if scheme in ("postgresql", "mysql", "mssql"):
        from reportgen.stores.sql import SqlStore

        return SqlStore(uri, strict=strict, **options)
    if scheme in ("http", "https"):
        from reportgen.stores.rest import RestStore

        return RestStore(uri, strict=strict, **options)
    raise StoreError(f"Unknown tracking store URI {redact_uri(uri)!r}: use a folder, file:, sqlite:, postgresql: or mysql:")
