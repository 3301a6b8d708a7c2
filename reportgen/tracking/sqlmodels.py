"""MLflow 3's logged models in a SQLite store: the logged_models tables, the run's output link and the
run's metrics copied to the model, as MLflow's SqlAlchemyStore writes them.

Mixed into SqlStoreWriter, which provides _active_run() and _insert_metrics().
"""
from __future__ import annotations

import math
import sqlite3
import uuid
from typing import Mapping, Sequence

from reportgen.errors import ResourceDoesNotExist
from reportgen.model import LifecycleStage
from reportgen.tracking import _env
from reportgen.tracking.experiments import join_uri
from reportgen.tracking.sqlexperiments import SqlExperimentWriter

MODELS_DIR = "models"
ARTIFACTS_DIR = "artifacts"
# MLflow's LoggedModelStatus.to_int(), as the status column holds it.
STATUS_INT = {"PENDING": 1, "READY": 2, "FAILED": 3}
_MAX_FLOAT = 1.7976931348623157e308
WORKSPACE = "default"  # MLflow 3.17 keys registry rows by workspace; the one a plain server uses


class SqlModelWriter(SqlExperimentWriter):
    def create_logged_model(
        self, experiment_id: str, *, name: str | None, source_run_id: str | None, params: Mapping[str, str],
        tags: Mapping[str, str], model_type: str | None,
    ) -> tuple[str, str, str, str, int]:
        """A PENDING model with its params and tags: (model id, experiment id, name, artifact location,
        creation time). Names and values are validated by the caller."""
        model_id = f"m-{uuid.uuid4().hex}"
        name = name or _env.random_run_name()
        now = _env.now_ms()

        def work(conn: sqlite3.Connection) -> tuple[str, str, str, str, int]:
            experiment = self._experiment_row(conn, experiment_id)
            self._check_experiment_active(experiment)
            number = experiment[0]
            location = join_uri(experiment[2] or "", MODELS_DIR, model_id, ARTIFACTS_DIR)
            conn.execute(
                "INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, creation_timestamp_ms, "
                "last_updated_timestamp_ms, status, lifecycle_stage, model_type, source_run_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (model_id, number, name, location, now, now, STATUS_INT["PENDING"], LifecycleStage.ACTIVE,
                 model_type, source_run_id),
            )
            conn.executemany(
                "INSERT INTO logged_model_params (model_id, experiment_id, param_key, param_value) VALUES (?, ?, ?, ?)",
                [(model_id, number, key, value) for key, value in params.items()],
            )
            conn.executemany(
                "INSERT INTO logged_model_tags (model_id, experiment_id, tag_key, tag_value) VALUES (?, ?, ?, ?)",
                [(model_id, number, key, value) for key, value in tags.items()],
            )
            return model_id, str(number), name, location, now

        return self.db.transaction(work)

    def log_outputs(self, run_id: str, model_id: str, step: int) -> None:
        """The run -> model link (MLflow's log_outputs): an `inputs` row RUN_OUTPUT -> MODEL_OUTPUT."""
        def work(conn: sqlite3.Connection) -> None:
            self._active_run(conn, run_id)
            conn.execute(
                "INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, destination_id, step) "
                "VALUES (?, 'RUN_OUTPUT', ?, 'MODEL_OUTPUT', ?, ?) ON CONFLICT DO NOTHING",
                (uuid.uuid4().hex, run_id, model_id, step),
            )

        self.db.transaction(work)

    def log_model_metrics(self, run_id: str, model_id: str, metrics: Sequence[tuple[str, float, int, int]]) -> None:
        """Points logged with a model id (MLflow's log_batch): the run's metrics as usual (a point it
        already has is kept once) and the model's logged_model_metrics."""
        def work(conn: sqlite3.Connection) -> None:
            self._active_run(conn, run_id)
            (experiment_id,) = conn.execute("SELECT experiment_id FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()
            self._insert_metrics(conn, run_id, metrics)
            conn.executemany(
                "INSERT INTO logged_model_metrics (model_id, metric_name, metric_timestamp_ms, metric_step, "
                "metric_value, experiment_id, run_id) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(model_id, key, timestamp, step, stored_value(value)[0], experiment_id, run_id)
                 for key, value, timestamp, step in metrics],
            )

        self.db.transaction(work)

    def finalize_logged_model(self, model_id: str, status: str) -> int:
        """Set READY or FAILED; returns the new last-updated time."""
        now = _env.now_ms()

        def work(conn: sqlite3.Connection) -> None:
            if not conn.execute("UPDATE logged_models SET status = ?, last_updated_timestamp_ms = ? WHERE model_id = ?",
                                (STATUS_INT[status], now, model_id)).rowcount:
                raise ResourceDoesNotExist(f"Logged model with ID '{model_id}' not found.")

        self.db.transaction(work)
        return now


    def set_logged_model_tag(self, model_id: str, key: str, value: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT experiment_id FROM logged_models WHERE model_id = ?", (model_id,)).fetchone()
            if row is None:
                raise ResourceDoesNotExist(f"Logged model with ID '{model_id}' not found.")
            conn.execute(
                "INSERT INTO logged_model_tags (model_id, experiment_id, tag_key, tag_value) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (model_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
                (model_id, row[0], key, value),
            )

        self.db.transaction(work)

    # -- the model registry (MLflow's registered_models and model_versions tables) ---------------------
    def create_registered_model(self, name: str) -> bool:
        """Whether it was created (False: it exists already, made by another process or an earlier run)."""
        now = _env.now_ms()

        def work(conn: sqlite3.Connection) -> bool:
            return conn.execute(
                "INSERT INTO registered_models (name, creation_time, last_updated_time, workspace) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING", (name, now, now, WORKSPACE),
            ).rowcount == 1

        return self.db.transaction(work)

    def create_model_version(self, name: str, *, source: str, storage_location: str, run_id: str | None,
                             tags: Mapping[str, str]) -> int:
        """The next version of `name` (the write lock is held: concurrent writers take the numbers after)."""
        now = _env.now_ms()

        def work(conn: sqlite3.Connection) -> int:
            if not conn.execute("UPDATE registered_models SET last_updated_time = ? WHERE workspace = ? AND name = ?",
                                (now, WORKSPACE, name)).rowcount:
                raise ResourceDoesNotExist(f"Registered Model with name={name} not found")
            (latest,) = conn.execute("SELECT max(version) FROM model_versions WHERE workspace = ? AND name = ?",
                                     (WORKSPACE, name)).fetchone()
            version = (latest or 0) + 1
            conn.execute(
                "INSERT INTO model_versions (name, version, creation_time, last_updated_time, current_stage, source, "
                "run_id, status, storage_location, workspace) VALUES (?, ?, ?, ?, 'None', ?, ?, 'READY', ?, ?)",
                (name, version, now, now, source, run_id, storage_location, WORKSPACE),
            )
            conn.executemany(
                'INSERT INTO model_version_tags ("key", value, name, version, workspace) VALUES (?, ?, ?, ?, ?)',
                [(key, value, name, version, WORKSPACE) for key, value in tags.items()],
            )
            return version

        return self.db.transaction(work)


def stored_value(value: float) -> tuple[float, bool]:
    """(value, is_nan) as MLflow stores a metric (sanitize_metric_value): SQL has no NaN or infinities,
    so NaN is 0 with is_nan set and +-inf the largest finite doubles (a model's metric keeps the value only)."""
    if math.isnan(value):
        return 0.0, True
    if math.isinf(value):
        return (_MAX_FLOAT if value > 0 else -_MAX_FLOAT), False
    return value, False
