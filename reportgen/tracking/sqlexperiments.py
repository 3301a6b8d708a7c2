"""Experiments in an MLflow SQLite database: create (ids counted up from 0, one per name), tag, delete,
restore and rename, with the rules and messages of MLflow's SqlAlchemyStore.

The run side is reportgen.tracking.sqlstore, built on this class.
"""
from __future__ import annotations

import os
import sqlite3
from typing import Any, Mapping

from reportgen import validation
from reportgen.errors import InvalidParameterValue, ReportgenError, ResourceAlreadyExists, ResourceDoesNotExist
from reportgen.model import Experiment, LifecycleStage
from reportgen.tracking import _env
from reportgen.tracking.experiments import _resolve_artifact_location
from reportgen.tracking.sqlconn import DEFAULT_WORKSPACE, Database

# MLflow's artifact root for a SQL store without a server: ./mlruns of the working folder, or the
# server's root when MLflow code runs inside `mlflow server` (mlflow.tracking._tracking_service.utils).
DEFAULT_ARTIFACT_ROOT = "./mlruns"
ENV_SERVER_ARTIFACT_ROOT = "_MLFLOW_SERVER_ARTIFACT_ROOT"

_EXPERIMENT_COLUMNS = "experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time"


def default_artifact_root() -> str:
    root = os.environ.get(ENV_SERVER_ARTIFACT_ROOT) or DEFAULT_ARTIFACT_ROOT
    return _resolve_artifact_location(root) or root


def experiment_id_int(experiment_id: Any) -> int:
    """MLflow's _parse_experiment_id: SQL stores number their experiments."""
    try:
        return int(experiment_id)
    except (TypeError, ValueError):
        raise InvalidParameterValue(
            f"Invalid experiment ID '{experiment_id}'. Experiment ID must be a valid integer."
        ) from None


def _str(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


class SqlExperimentWriter:
    """The database and its experiments; SqlStoreWriter adds runs and logging."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure_root(self) -> None:
        """Open the database: create MLflow's schema and experiment 0, or check an existing one."""
        with self.db.lock:
            self.db.connection()

    def close(self) -> None:
        self.db.close()

    # -- reading ----------------------------------------------------------------------------------
    def _experiment_row(self, conn: sqlite3.Connection, experiment_id: Any, stage: str | None = None) -> tuple:
        """An experiment's row (in `stage` when given), or MLflow's RESOURCE_DOES_NOT_EXIST."""
        number = experiment_id_int(experiment_id)
        row = conn.execute(f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments WHERE experiment_id = ?",
                           (number,)).fetchone()
        if row is None or (stage is not None and row[3] != stage):
            raise ResourceDoesNotExist(f"No Experiment with id={number} exists")
        return row

    @staticmethod
    def _check_experiment_active(row: tuple) -> None:
        if row[3] != LifecycleStage.ACTIVE:
            raise InvalidParameterValue(
                f"The experiment {row[0]} must be in the 'active' state. Current state is {row[3]}."
            )

    def _experiment(self, conn: sqlite3.Connection, row: tuple) -> Experiment:
        tags = conn.execute('SELECT "key", value FROM experiment_tags WHERE experiment_id = ? ORDER BY "key"',
                            (row[0],)).fetchall()
        return Experiment(
            experiment_id=str(row[0]), name=row[1], artifact_location=row[2] or "",
            lifecycle_stage=row[3] or LifecycleStage.ACTIVE, tags={k: _str(v) for k, v in tags},
            creation_time=row[4], last_update_time=row[5],
        )

    def read_experiment(self, experiment_id: str) -> Experiment:
        return self.db.transaction(lambda conn: self._experiment(conn, self._experiment_row(conn, experiment_id)),
                                   write=False)

    def find_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment (active or deleted) with this name."""
        def work(conn: sqlite3.Connection) -> Experiment | None:
            row = conn.execute(f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments WHERE name = ?", (name,)).fetchone()
            return None if row is None else self._experiment(conn, row)

        return self.db.transaction(work, write=False)

    # -- writing ----------------------------------------------------------------------------------
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Mapping[str, Any] | None = None
    ) -> str:
        """A new experiment, numbered after the highest id; the database keeps names unique."""
        validation.validate_experiment_name(name)
        validation.validate_artifact_location(artifact_location)
        location = _resolve_artifact_location(artifact_location)
        tag_items = {key: _str(value) for key, value in (tags or {}).items()}
        for key, value in tag_items.items():
            validation.validate_experiment_tag(key, value)
        now = _env.now_ms()

        def work(conn: sqlite3.Connection) -> str:
            try:
                cursor = conn.execute(
                    "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, "
                    "last_update_time, workspace) VALUES (?, ?, 'active', ?, ?, ?)",
                    (name, location, now, now, DEFAULT_WORKSPACE),
                )
            except sqlite3.IntegrityError:
                raise ResourceAlreadyExists(f"Experiment '{name}' already exists.") from None
            number = cursor.lastrowid
            if not location:
                conn.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
                             (self.db.location_of(number), number))
            conn.executemany('INSERT INTO experiment_tags ("key", value, experiment_id) VALUES (?, ?, ?)',
                             [(key, value, number) for key, value in tag_items.items()])
            return str(number)

        return self.db.transaction(work)

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        value = _str(value)
        validation.validate_experiment_tag(key, value)

        def work(conn: sqlite3.Connection) -> None:
            row = self._experiment_row(conn, experiment_id)
            self._check_experiment_active(row)
            conn.execute('INSERT INTO experiment_tags ("key", value, experiment_id) VALUES (?, ?, ?) '
                         'ON CONFLICT ("key", experiment_id) DO UPDATE SET value = excluded.value',
                         (key, value, row[0]))

        self.db.transaction(work)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        validation.validate_key(key, kind="Tag")

        def work(conn: sqlite3.Connection) -> None:
            row = self._experiment_row(conn, experiment_id)
            self._check_experiment_active(row)
            if not conn.execute('DELETE FROM experiment_tags WHERE experiment_id = ? AND "key" = ?',
                                (row[0], key)).rowcount:
                raise ResourceDoesNotExist(f"No tag with name: {key} in experiment with id {experiment_id}")

        self.db.transaction(work)

    def delete_experiment(self, experiment_id: str) -> None:
        """Mark the experiment and all its runs deleted (deleted_time now), as MLflow's SQL store."""
        now = _env.now_ms()

        def work(conn: sqlite3.Connection) -> None:
            row = self._experiment_row(conn, experiment_id, LifecycleStage.ACTIVE)
            conn.execute("UPDATE experiments SET lifecycle_stage = 'deleted', last_update_time = ? "
                         "WHERE experiment_id = ?", (now, row[0]))
            conn.execute("UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ? WHERE experiment_id = ?",
                         (now, row[0]))

        self.db.transaction(work)

    def restore_experiment(self, experiment_id: str) -> None:
        """Mark a deleted experiment and all its runs active again."""
        now = _env.now_ms()

        def work(conn: sqlite3.Connection) -> None:
            row = self._experiment_row(conn, experiment_id, LifecycleStage.DELETED)
            conn.execute("UPDATE experiments SET lifecycle_stage = 'active', last_update_time = ? "
                         "WHERE experiment_id = ?", (now, row[0]))
            conn.execute("UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL WHERE experiment_id = ?",
                         (row[0],))

        self.db.transaction(work)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        validation.validate_experiment_name(new_name)
        now = _env.now_ms()

        def work(conn: sqlite3.Connection) -> None:
            row = self._experiment_row(conn, experiment_id)
            if row[3] != LifecycleStage.ACTIVE:
                raise ReportgenError("Cannot rename a non-active experiment.", error_code="INVALID_STATE")
            try:
                conn.execute("UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?",
                             (new_name, now, row[0]))
            except sqlite3.IntegrityError:
                raise ResourceAlreadyExists(f"Experiment '{new_name}' already exists.") from None

        self.db.transaction(work)
