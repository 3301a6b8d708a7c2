"""The writer for sqlite:/// tracking URIs: FileStoreWriter's methods over MLflow's SQL schema, with the
rules of MLflow's SqlAlchemyStore (ids, messages, latest_metrics, lifecycle of runs and experiments).

Experiments live in reportgen.tracking.sqlexperiments, logged models in sqlmodels, the database in sqlconn.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from typing import Mapping, Sequence

from reportgen import validation
from reportgen.errors import InvalidParameterValue, ResourceDoesNotExist, UnsupportedError
from reportgen.model import DatasetInput, LifecycleStage, RunInfo, RunStatus
from reportgen.tracking import _env
from reportgen.tracking.experiments import join_uri
from reportgen.tracking.sqlconn import Database
from reportgen.tracking.sqlexperiments import default_artifact_root
from reportgen.tracking.sqlmodels import SqlModelWriter, stored_value
from reportgen.uri import scheme_of

RUN_NAME_TAG = "mlflow.runName"
ARTIFACTS_DIR = "artifacts"

_RUN_COLUMNS = ("run_uuid, experiment_id, name, user_id, status, start_time, end_time, artifact_uri, "
                "lifecycle_stage, deleted_time")
_INSERT_METRIC = ('INSERT INTO metrics ("key", value, timestamp, run_uuid, step, is_nan) '
                  "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
# MLflow's rule for the latest value of a key: the highest (step, timestamp, value) wins.
_UPSERT_LATEST = (
    'INSERT INTO latest_metrics ("key", value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?) '
    'ON CONFLICT ("key", run_uuid) DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp, '
    "step = excluded.step, is_nan = excluded.is_nan "
    "WHERE (excluded.step, excluded.timestamp, excluded.value) > "
    "(latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)"
)
_UPSERT_TAG = ('INSERT INTO tags ("key", value, run_uuid) VALUES (?, ?, ?) '
               'ON CONFLICT ("key", run_uuid) DO UPDATE SET value = excluded.value')


def _metric_row(run_id: str, key: str, value: float, timestamp: int, step: int) -> tuple:
    """The columns of _INSERT_METRIC and _UPSERT_LATEST for one point, its value as MLflow stores it."""
    stored, is_nan = stored_value(value)
    return (key, stored, timestamp, run_id, step, int(is_nan))


def _run_info(row: tuple) -> RunInfo:
    run_id, experiment_id, name, user_id, status, start, end, uri, stage, deleted = row
    return RunInfo(
        run_id=run_id, experiment_id=str(experiment_id), run_name=name or "", user_id=user_id or "",
        status=status or RunStatus.RUNNING, start_time=start, end_time=end, artifact_uri=uri or "",
        lifecycle_stage=stage or LifecycleStage.ACTIVE, deleted_time=deleted,
    )


class SqlStoreWriter(SqlModelWriter):
    """Writes one SQLite database; every call is one transaction, so other processes see whole calls."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._artifact_uris: dict[str, str] = {}

    # -- runs -------------------------------------------------------------------------------------
    def create_run(
        self, experiment_id: str, *, user_id: str, start_time: int, tags: Mapping[str, str], run_name: str | None
    ) -> RunInfo:
        """A new RUNNING run and its tags (mlflow.runName always set), as MLflow's SQL store makes it."""
        tags = dict(tags)
        name_tag = tags.get(RUN_NAME_TAG)
        if run_name and name_tag and run_name != name_tag:
            raise InvalidParameterValue(
                "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "
                f"different values (run_name='{run_name}', mlflow.runName='{name_tag}')."
            )
        run_name = run_name or name_tag or _env.random_run_name()
        tags.setdefault(RUN_NAME_TAG, run_name)
        for key, value in tags.items():
            validation.validate_tag(key, value)
        run_id = _env.new_run_id()

        def work(conn: sqlite3.Connection) -> RunInfo:
            experiment = self._experiment_row(conn, experiment_id)
            self._check_experiment_active(experiment)
            info = RunInfo(
                run_id=run_id, experiment_id=str(experiment[0]), run_name=run_name, user_id=user_id,
                status=RunStatus.RUNNING, start_time=start_time, end_time=None,
                artifact_uri=join_uri(experiment[2] or "", run_id, ARTIFACTS_DIR),
                lifecycle_stage=LifecycleStage.ACTIVE,
            )
            conn.execute(
                f"INSERT INTO runs ({_RUN_COLUMNS}, source_type, source_name, entry_point_name, source_version) "
                "VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, NULL, 'UNKNOWN', '', '', '')",
                (run_id, experiment[0], run_name, user_id, info.status, start_time, info.artifact_uri,
                 LifecycleStage.ACTIVE),
            )
            conn.executemany(_UPSERT_TAG, [(key, value, run_id) for key, value in tags.items()])
            return info

        info = self.db.transaction(work)
        self._artifact_uris[run_id] = info.artifact_uri
        return info

    def run_info(self, run_id: str) -> RunInfo:
        validation.validate_run_id(run_id)
        rows = self.db.read(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_uuid = ?", (run_id,))
        if not rows:
            raise ResourceDoesNotExist(f"Run with id={run_id} not found")
        return _run_info(rows[0])

    def update_run_info(
        self, run_id: str, *, status: str | None = None, end_time: int | None = None, run_name: str | None = None
    ) -> RunInfo:
        """Set status, end time and name of an active run (MLflow's update_run_info)."""
        status = RunStatus.to_string(status) if status is not None else None

        def work(conn: sqlite3.Connection) -> RunInfo:
            self._active_run(conn, run_id)
            self._update_run(conn, run_id, status, end_time, run_name)
            return _run_info(conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_uuid = ?", (run_id,)).fetchone())

        return self.db.transaction(work)

    def _update_run(
        self, conn: sqlite3.Connection, run_id: str, status: str | None, end_time: int | None, run_name: str | None
    ) -> None:
        conn.execute(
            "UPDATE runs SET status = COALESCE(?, status), end_time = COALESCE(?, end_time), "
            "name = COALESCE(?, name) WHERE run_uuid = ?",
            (status, end_time, run_name or None, run_id),
        )
        if run_name:
            conn.execute(_UPSERT_TAG, (RUN_NAME_TAG, run_name, run_id))

    def set_lifecycle(self, run_id: str, stage: str) -> None:
        """Delete (deleted_time = now) or restore a run, as MLflow's delete_run and restore_run."""
        validation.validate_run_id(run_id)
        deleted_time = _env.now_ms() if stage == LifecycleStage.DELETED else None

        def work(conn: sqlite3.Connection) -> None:
            self._run_stage(conn, run_id)
            conn.execute("UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE run_uuid = ?",
                          (stage, deleted_time, run_id))

        self.db.transaction(work)

    def _run_stage(self, conn: sqlite3.Connection, run_id: str) -> str:
        row = conn.execute("SELECT lifecycle_stage FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()
        if row is None:
            raise ResourceDoesNotExist(f"Run with id={run_id} not found")
        return row[0]

    def _active_run(self, conn: sqlite3.Connection, run_id: str) -> None:
        stage = self._run_stage(conn, run_id)
        if stage != LifecycleStage.ACTIVE:
            raise InvalidParameterValue(f"The run {run_id} must be in the 'active' state. Current state is {stage}.")

    # -- metrics, params, tags --------------------------------------------------------------------
    def log_metric(self, run_id: str, key: str, value: float, timestamp: int, step: int) -> None:
        """One point (already validated by the client) into metrics and, when newer, latest_metrics."""
        row = _metric_row(run_id, key, value, timestamp, step)

        def work(conn: sqlite3.Connection) -> None:
            self._active_run(conn, run_id)
            if conn.execute(_INSERT_METRIC, row).rowcount:
                conn.execute(_UPSERT_LATEST, row)

        self.db.transaction(work)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[tuple[str, float, int, int]],
        params: Sequence[tuple[str, str]],
        tags: Sequence[tuple[str, str]],
    ) -> None:
        """Params, metrics, then tags (MLflow's order), in one transaction: all of it or none."""
        def work(conn: sqlite3.Connection) -> None:
            self._active_run(conn, run_id)
            self._insert_params(conn, run_id, params)
            self._insert_metrics(conn, run_id, metrics)
            self._set_tags(conn, run_id, tags)

        self.db.transaction(work)

    def _insert_metrics(
        self, conn: sqlite3.Connection, run_id: str, metrics: Sequence[tuple[str, float, int, int]]
    ) -> None:
        for metric in metrics:
            row = _metric_row(run_id, *metric)
            if conn.execute(_INSERT_METRIC, row).rowcount:  # a point already logged changes nothing
                conn.execute(_UPSERT_LATEST, row)

    def _insert_params(self, conn: sqlite3.Connection, run_id: str, params: Sequence[tuple[str, str]]) -> None:
        if not params:
            return
        existing = dict(conn.execute('SELECT "key", value FROM params WHERE run_uuid = ?', (run_id,)).fetchall())
        changed = [{"key": key, "old_value": existing[key], "new_value": value}
                   for key, value in params if key in existing and existing[key] != value]
        if changed:
            raise InvalidParameterValue(
                f"Changing param values is not allowed. Params were already logged='{changed}' for run ID='{run_id}'."
            )
        conn.executemany('INSERT INTO params ("key", value, run_uuid) VALUES (?, ?, ?)',
                         [(key, value, run_id) for key, value in params if key not in existing])

    def log_param(self, run_id: str, key: str, value: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            self._active_run(conn, run_id)
            row = conn.execute('SELECT value FROM params WHERE run_uuid = ? AND "key" = ?', (run_id, key)).fetchone()
            if row is None:
                conn.execute('INSERT INTO params ("key", value, run_uuid) VALUES (?, ?, ?)', (key, value, run_id))
            elif row[0] != value:
                raise InvalidParameterValue(
                    f"Changing param values is not allowed. Param with key='{key}' was already"
                    f" logged with value='{row[0]}' for run ID='{run_id}'. Attempted logging"
                    f" new value '{value}'."
                )

        self.db.transaction(work)

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            self._active_run(conn, run_id)
            self._set_tags(conn, run_id, [(key, value)])

        self.db.transaction(work)

    def _set_tags(self, conn: sqlite3.Connection, run_id: str, tags: Sequence[tuple[str, str]]) -> None:
        for key, value in tags:
            if key == RUN_NAME_TAG:
                self._update_run(conn, run_id, None, None, value)  # MLflow keeps runs.name in step with it
            else:
                conn.execute(_UPSERT_TAG, (key, value, run_id))

    def delete_tag(self, run_id: str, key: str) -> None:
        validation.validate_key(key, kind="Tag")

        def work(conn: sqlite3.Connection) -> None:
            self._active_run(conn, run_id)
            if not conn.execute('DELETE FROM tags WHERE run_uuid = ? AND "key" = ?', (run_id, key)).rowcount:
                raise ResourceDoesNotExist(f"No tag with name: {key} in run with id {run_id}")

        self.db.transaction(work)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        """Datasets of the run's experiment (one row per name and digest) linked to the run, with the
        link's tags, as MLflow's log_inputs; a dataset already linked to the run is left as it is."""
        validation.validate_run_id(run_id)
        unique: dict[tuple[str, str], DatasetInput] = {}
        for item in datasets:
            unique.setdefault((item.dataset.name, item.dataset.digest), item)

        def work(conn: sqlite3.Connection) -> None:
            self._active_run(conn, run_id)
            (experiment_id,) = conn.execute("SELECT experiment_id FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()
            for (name, digest), item in unique.items():
                found = conn.execute(
                    "SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND name = ? AND digest = ?",
                    (experiment_id, name, digest),
                ).fetchone()
                if found is None:
                    dataset_uuid = _env.new_run_id()
                    data = item.dataset
                    conn.execute(
                        "INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, dataset_source_type, "
                        "dataset_source, dataset_schema, dataset_profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (dataset_uuid, experiment_id, name, digest, data.source_type, data.source, data.schema,
                         data.profile),
                    )
                else:
                    dataset_uuid = found[0]
                if conn.execute(
                    "SELECT 1 FROM inputs WHERE source_type = 'DATASET' AND source_id = ? "
                    "AND destination_type = 'RUN' AND destination_id = ?", (dataset_uuid, run_id),
                ).fetchone():
                    continue
                input_uuid = _env.new_run_id()
                conn.execute(
                    "INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, destination_id) "
                    "VALUES (?, 'DATASET', ?, 'RUN', ?)", (input_uuid, dataset_uuid, run_id),
                )
                conn.executemany("INSERT INTO input_tags (input_uuid, name, value) VALUES (?, ?, ?)",
                                 [(input_uuid, tag.key, tag.value) for tag in item.tags])

        self.db.transaction(work)

    # -- artifacts --------------------------------------------------------------------------------
    def artifact_uri(self, run_id: str) -> str:
        uri = self._artifact_uris.get(run_id)
        if uri is None:
            uri = self._artifact_uris[run_id] = self.run_info(run_id).artifact_uri
        return uri


_writers: dict[str, SqlStoreWriter] = {}
_writers_lock = threading.Lock()


def writer_for(uri: str) -> SqlStoreWriter:
    """The process-wide writer of a sqlite:/// URI (one connection per database and process)."""
    from reportgen.stores.sqlite import sqlite_path

    if scheme_of(uri) != "sqlite":
        raise UnsupportedError(
            f"logging to a {scheme_of(uri)} tracking store ({uri}) is not supported yet: reportgen logs to "
            "SQLite (sqlite:///path.db), file stores and tracking servers"
        )
    path = os.path.abspath(sqlite_path(uri))
    with _writers_lock:
        writer = _writers.get(path)
        if writer is None:
            writer = _writers[path] = SqlStoreWriter(Database(path, default_artifact_root()))
        return writer


def close_all() -> None:
    with _writers_lock:
        for writer in _writers.values():
            writer.close()


def _reset_in_child() -> None:
    global _writers_lock
    _writers_lock = threading.Lock()
    for writer in _writers.values():
        writer.db.forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)
