"""The SQLite database of the SQL writer: one connection per process, MLflow's schema created or checked,
and write transactions retried while other processes hold the lock.

Only the standard library's sqlite3; the schema is mlflow_schema.sql, taken from a database MLflow made.
"""
from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

from reportgen.errors import ReportgenError, StoreError
from reportgen.tracking import _env

# The alembic head of MLflow 3.17: MLflow opens a database only at its own head (no `mlflow db upgrade`).
SCHEMA_VERSION = "dc11669786a5"
SCHEMA_FILE = Path(__file__).with_name("mlflow_schema.sql")
DEFAULT_EXPERIMENT_ID = 0
DEFAULT_EXPERIMENT_NAME = "Default"
DEFAULT_WORKSPACE = "default"
# MLflow sets the same busy timeout on each of its sessions (store/db/utils.py).
BUSY_TIMEOUT_MS = 20_000
# Past the busy timeout, a write is tried again this many times with growing pauses (seconds).
RETRIES = 8
FIRST_PAUSE_S = 0.05
MAX_PAUSE_S = 2.0
_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)

T = TypeVar("T")


def is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _BUSY_CODES  # extended codes (SQLITE_BUSY_SNAPSHOT, ...) share the low byte
    return "locked" in str(exc) or "busy" in str(exc)


def schema_statements() -> list[str]:
    """mlflow_schema.sql split into statements (a trigger's body holds semicolons of its own)."""
    statements, pending = [], ""
    for line in SCHEMA_FILE.read_text(encoding="utf-8").splitlines(keepends=True):
        if not pending and line.startswith("--"):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        raise ReportgenError(f"{SCHEMA_FILE}: the last statement is incomplete")
    return statements


class Database:
    """One SQLite file. Share one instance per file within a process (see sqlstore.writer_for)."""

    def __init__(self, path: str | os.PathLike[str], artifact_root: str) -> None:
        self.path = Path(os.path.abspath(os.fspath(path)))
        self.artifact_root = artifact_root
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self.lock = threading.RLock()

    # -- connection ------------------------------------------------------------------------------
    def connection(self) -> sqlite3.Connection:
        """This process's connection, opened (and the schema made or checked) on first use."""
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        # A connection inherited through fork must not be used or closed here (SQLite's rule): a new one.
        self._conn = None
        if self.path.exists() and not self.path.is_file():
            raise StoreError(f"tracking database {self.path} exists and is not a file")
        if not self.path.parent.is_dir():
            raise StoreError(f"cannot create tracking database {self.path}: folder {self.path.parent} does not exist")
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open tracking database {self.path}: {exc}") from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")  # as MLflow's sessions
            self._use_wal(conn)
            # With WAL a commit is one append, fsynced at checkpoints: safe against a crashed process.
            conn.execute("PRAGMA synchronous = NORMAL")
            self._conn, self._pid = conn, os.getpid()
            self.transaction(self._prepare)
        except sqlite3.DatabaseError as exc:
            self._conn = None
            conn.close()
            raise StoreError(f"{self.path}: cannot use as an MLflow tracking database ({exc})") from None
        except BaseException:
            self._conn = None
            conn.close()
            raise
        return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Write-ahead log, so readers (MLflow's UI, reports) and writers of other processes do not
        block each other; it needs a moment with no other connection, so it is tried a few times."""
        for attempt in range(RETRIES):
            try:
                if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() == "wal":
                    return
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
            time.sleep(_pause(attempt))
        # Still busy: the rollback journal works too, only with more waiting.

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Create MLflow's schema in an empty database, or check the version of an existing one; then
        experiment 0 when it is missing, as MLflow's store does on opening."""
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            for statement in schema_statements():
                conn.execute(statement)
            conn.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (SCHEMA_VERSION,))
        elif "alembic_version" not in tables:
            raise StoreError(f"{self.path} is not an MLflow tracking database (no alembic_version table)")
        else:
            versions = [v for (v,) in conn.execute("SELECT version_num FROM alembic_version")]
            if versions != [SCHEMA_VERSION]:
                shown = ", ".join(map(str, versions)) or "none"
                raise StoreError(
                    f"{self.path}: MLflow schema version {shown} is not one reportgen writes (only "
                    f"{SCHEMA_VERSION}, MLflow 3.17); for an older database run "
                    f"`mlflow db upgrade sqlite:///{self.path}` with MLflow 3.17 first"
                )
        if conn.execute("SELECT 1 FROM experiments WHERE experiment_id = ?", (DEFAULT_EXPERIMENT_ID,)).fetchone():
            return
        now = _env.now_ms()
        conn.execute(
            "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, "
            "last_update_time, workspace) VALUES (?, ?, ?, 'active', ?, ?, ?)",
            (DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME, self.location_of(DEFAULT_EXPERIMENT_ID), now, now,
             DEFAULT_WORKSPACE),
        )

    def location_of(self, experiment_id: int) -> str:
        """An experiment's default artifact location: the store's artifact root / id (MLflow's rule)."""
        return f"{self.artifact_root.rstrip('/')}/{experiment_id}"

    # -- statements --------------------------------------------------------------------------------
    def transaction(self, work: Callable[[sqlite3.Connection], T], *, write: bool = True) -> T:
        """Run work(conn) in one transaction, committed, or rolled back when it raises.

        A write begins IMMEDIATE, taking the write lock first, so two writers never deadlock upgrading
        read locks; a lock still held past the busy timeout is waited out again with growing pauses.
        """
        with self.lock:
            conn = self.connection()
            for attempt in range(RETRIES + 1):
                try:
                    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                except sqlite3.OperationalError as exc:
                    if is_busy(exc) and attempt < RETRIES:
                        time.sleep(_pause(attempt))
                        continue
                    raise self._error(exc) from None
                try:
                    result = work(conn)
                    conn.execute("COMMIT")
                    return result
                except sqlite3.OperationalError as exc:
                    conn.rollback()
                    if is_busy(exc) and attempt < RETRIES:
                        time.sleep(_pause(attempt))
                        continue
                    raise self._error(exc) from None
                except sqlite3.DatabaseError as exc:
                    conn.rollback()
                    raise self._error(exc) from None
                except BaseException:
                    conn.rollback()
                    raise
            raise AssertionError("unreachable")  # the last attempt returns or raises

    def read(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[tuple]:
        with self.lock:
            try:
                return self.connection().execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise self._error(exc) from None

    def _error(self, exc: sqlite3.Error) -> ReportgenError:
        if isinstance(exc, sqlite3.OperationalError) and is_busy(exc):
            return StoreError(f"{self.path}: still locked by another process after {RETRIES} retries ({exc})")
        return StoreError(f"{self.path}: {exc}")

    def close(self) -> None:
        with self.lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def forget_after_fork(self) -> None:
        # Called in a forked child: the lock may have been held by another thread of the parent.
        self.lock = threading.RLock()
        self._conn = None


def _pause(attempt: int) -> float:
    # Jitter, so processes that collided once do not collide again in step.
    return min(MAX_PAUSE_S, FIRST_PAUSE_S * 2**attempt) * random.uniform(0.5, 1.0)
