"""Read-only reader of an MLflow SQLite database (mlflow.db) with the standard library's sqlite3.

Opened as `file:PATH?mode=ro` with a busy timeout, never `immutable=1`: a sweep may still be writing.
No transaction spans a whole call (holding the read lock for seconds would make a writer time out),
so rows written during a call may or may not be seen; what is read is never half a row.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import quote

from reportgen.errors import StoreError
from reportgen.stores._sqlbase import SqlSchemaStore

BUSY_TIMEOUT_S = 10.0


def sqlite_path(uri: str) -> Path:
    """The file of sqlite:///relative.db or sqlite:////absolute.db (SQLAlchemy's URL form)."""
    rest = uri.split(":", 1)[1]
    if not rest.startswith("//"):
        raise StoreError(f"Not a SQLite URI: {uri} (expected sqlite:///path/to/mlflow.db)")
    path = rest[2:]
    if path.startswith("/"):
        path = path[1:]  # sqlite:///x.db -> x.db (relative); sqlite:////abs -> /abs
    path = path.split("?", 1)[0]
    if not path or path == ":memory:":
        raise StoreError(f"{uri}: an in-memory database has no runs to read")
    return Path(path)


class SqliteStore(SqlSchemaStore):
    """An MLflow SQLite database. Artifacts are read only from folders inside the database's folder
    (where `mlflow server` puts ./mlartifacts) or from `artifact_roots`."""

    def __init__(
        self, path: str | os.PathLike[str], *, uri: str | None = None, strict: bool = False,
        artifact_roots: Sequence[str | os.PathLike[str]] = (),
    ) -> None:
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"No SQLite database at {path}")
        super().__init__(uri or f"sqlite:///{path}", strict=strict, artifact_base=path.resolve().parent,
                         artifact_roots=artifact_roots)
        self.path = path
        target = f"file:{quote(str(path.resolve()))}?mode=ro"
        try:
            self._conn = sqlite3.connect(target, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False,
                                         isolation_level=None)
            self._check_schema()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: cannot read as an SQLite database ({exc})") from None

    def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        try:
            return self._conn.execute(sql, params or {}).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreError(f"{self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: database is damaged or not an MLflow store ({exc})") from None

    def _table_columns(self, table: str) -> set[str]:
        return {row[1] for row in self._rows(f"PRAGMA table_info({table})")}

    def close(self) -> None:
        self._conn.close()
