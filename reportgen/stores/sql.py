"""Reader of the database behind a real MLflow deployment (PostgreSQL, MySQL, SQL Server) via SQLAlchemy.

An optional extra (`pip install reportgen[sql]` plus the database's driver); the queries are the
SQLite reader's (stores._sqlbase), run through SQLAlchemy's text() with the same :named parameters.
PostgreSQL through psycopg2 reads histories in one binary COPY (stores._sqlcopy).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from reportgen.errors import StoreError
from reportgen.stores._logged_models_read import SqlLoggedModels
from reportgen.stores._sqlbase import SqlSchemaStore
from reportgen.stores._sqlcopy import copy_histories
from reportgen.uri import redact_uri


class SqlStore(SqlLoggedModels, SqlSchemaStore):
    """MLflow's tables in any database SQLAlchemy can reach. Artifacts are read only from
    `artifact_roots` (a server's artifacts usually live elsewhere: mlflow-artifacts:, s3://)."""

    def __init__(
        self, uri: str, *, strict: bool = False, artifact_roots: Sequence[str | os.PathLike[str]] = ()
    ) -> None:
        try:
            import sqlalchemy
        except ImportError:
            raise StoreError(
                f"{redact_uri(uri)}: reading this database needs SQLAlchemy and its driver: "
                "pip install 'reportgen[sql]' (plus psycopg2 or pymysql)"
            ) from None
        roots = [Path(r) for r in artifact_roots]
        super().__init__(redact_uri(uri), strict=strict, artifact_base=roots[0] if roots else None,
                         artifact_roots=roots[1:])
        self._sa = sqlalchemy
        self._backticks = False
        try:
            self._engine = sqlalchemy.create_engine(uri, pool_pre_ping=True)
            # The shared queries quote the column "key" the standard way; MySQL reads that as a string.
            self._backticks = self._engine.dialect.name in ("mysql", "mariadb")
            self._check_schema()
        except ImportError as exc:
            raise StoreError(f"{self.uri}: the database driver is not installed ({exc})") from None
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise StoreError(f"{self.uri}: cannot connect ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None

    def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        if self._backticks:
            sql = sql.replace('"key"', "`key`")
        try:
            with self._engine.connect() as conn:
                return [tuple(row) for row in conn.execute(self._sa.text(sql), params or {})]
        except self._sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"{self.uri}: query failed ({str(exc).splitlines()[0]})") from None

    def _table_columns(self, table: str) -> set[str]:
        inspector = self._sa.inspect(self._engine)
        if not inspector.has_table(table):
            return set()
        return {column["name"] for column in inspector.get_columns(table)}

    def _history_frame(self, ids: list[str], key_list: list[str] | None) -> pd.DataFrame:
        """PostgreSQL with psycopg2: one COPY of every point (stores._sqlcopy); other databases, or
        rows the COPY cannot carry, the portable per-run queries."""
        dialect = self._engine.dialect
        if (dialect.name, dialect.driver) != ("postgresql", "psycopg2"):
            return super()._history_frame(ids, key_list)
        try:
            with self._engine.connect() as conn:
                frame = copy_histories(conn.connection.dbapi_connection, ids, key_list)
        except dialect.loaded_dbapi.Error as exc:
            raise StoreError(f"{self.uri}: query failed ({str(exc).splitlines()[0]})") from None
        return super()._history_frame(ids, key_list) if frame is None else frame

    def close(self) -> None:
        self._engine.dispose()
