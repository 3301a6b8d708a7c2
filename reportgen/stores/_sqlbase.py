"""Reading MLflow's SQL schema (runs, params, tags, metrics, ...) in bulk, for any DB-API connection.

SqliteStore (stdlib sqlite3) and SqlStore (SQLAlchemy) differ only in how a query is run; every query
here uses :named parameters, which both accept. Columns that older schema versions lack read as NULL.
"""
from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from reportgen.errors import ResourceDoesNotExist, StoreError
from reportgen.model import (
    Dataset, DatasetInput, Experiment, InputTag, Metric, Run, RunData, RunInfo, RunInputs, RunStatus,
    ViewType,
)
from reportgen.stores._metrics_parse import history_frame
from reportgen.stores.artifacts import ArtifactRoot, is_remote, resolve_root
from reportgen.stores.base import Store

# Every alembic revision of MLflow's tracking schema up to MLflow 3.17 (oldest first). A database
# at any of these is read (missing newer columns read as NULL); any other version is refused.
SUPPORTED_SCHEMA_VERSIONS = (
    "451aebb31d03", "90e64c465722", "181f10493468", "df50e92ffc5e", "7ac759974ad8", "89d4b8295536",
    "2b4d017a5e9b", "cfd24bdc0731", "0a8213491aaa", "728d730b5ebd", "27a6a02d2cf1", "84291f40a231",
    "a8c4a736bde6", "39d1c3be5f05", "c48cb773bb87", "bd07f7e963c5", "0c779009ac13", "cc1f77228345",
    "97727af70f4d", "3500859a5d39", "7f2a7d5fae7d", "2d6e25af4d3e", "acf3f17fdcc7", "867495a8f9d4",
    "5b0e9adcef9c", "4465047574b1", "f5a4f2784254", "0584bdc529eb", "400f98739977", "6953534de441",
    "bda7b8c39065", "cbc13b556ace", "770bee3ae1dd", "a1b2c3d4e5f6", "de4033877273", "1a0cddfcaa16",
    "534353b11cbc", "71994744cf8e", "3da73c924c2f", "bf29a5ff90ea", "1bd49d398cd23", "b7c8d9e0f1a2",
    "5d2d30f0abce", "c9d4e5f6a7b8", "2c33131f4dae", "d3e4f5a6b7c8", "d0e1f2a3b4c5", "c8d9e0f1a2b3",
    "1b5f0d9ad7c1", "e1f2a3b4c5d6", "76601a5f987d", "c3d6457b6d8a", "a5b4c3d2e1f0", "ae8bbe7743c9",
    "7d34483879f0", "da6fb0208061", "89d3d66ed43f", "b7e4c1a90f23", "a8b9c0d1e2f3", "c1d2e3f4a5b6",
    "c3d9e7f1a2b4", "6f8d9c3b2a1e", "1971f2d9a75b", "17e22815139b", "b7e2c1a4d9f3", "75868b020152",
    "dc11669786a5",
)
# IN lists are sent in slices of this many ids (SQLite's default variable limit is 32766; others less).
IN_CHUNK = 500
# Steps and timestamps travel through float64 arrays for speed; beyond 2**53 they go the exact way.
_EXACT_LIMIT = 2**53


def _in_list(prefix: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    names = [f"{prefix}{i}" for i in range(len(values))]
    return ", ".join(f":{n}" for n in names), dict(zip(names, values))


def _chunks(values: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class SqlSchemaStore(Store):
    """MLflow's tracking tables read in a few bulk queries per call; nothing cached across calls."""

    def __init__(self, uri: str, *, strict: bool, artifact_base: Path | None,
                 artifact_roots: Sequence[str | os.PathLike[str]] = ()) -> None:
        super().__init__(uri, strict=strict)
        self._artifact_base = artifact_base
        self._allowed = ([artifact_base] if artifact_base else []) + [Path(r) for r in artifact_roots]
        self._columns: dict[str, set[str]] = {}

    # -- what a connection kind implements -------------------------------------------------------
    @abc.abstractmethod
    def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        """All rows of a query with :named parameters."""

    @abc.abstractmethod
    def _table_columns(self, table: str) -> set[str]:
        """Column names of a table; empty when the table does not exist."""

    # -- schema ------------------------------------------------------------------------------------
    def _check_schema(self) -> None:
        if not self._has("alembic_version", "version_num"):
            if not self._has("runs", "run_uuid"):
                raise StoreError(f"{self.uri}: not an MLflow tracking database (no runs table)")
            raise StoreError(f"{self.uri}: MLflow database without a schema version (alembic_version)")
        versions = [v for (v,) in self._rows("SELECT version_num FROM alembic_version")]
        if len(versions) != 1 or versions[0] not in SUPPORTED_SCHEMA_VERSIONS:
            shown = ", ".join(map(str, versions)) or "none"
            raise StoreError(
                f"{self.uri}: unsupported MLflow schema version {shown}; reportgen reads "
                f"{SUPPORTED_SCHEMA_VERSIONS[0]} to {SUPPORTED_SCHEMA_VERSIONS[-1]} (MLflow up to 3.17)"
            )

    def _has(self, table: str, column: str) -> bool:
        if table not in self._columns:
            self._columns[table] = self._table_columns(table)
        return column in self._columns[table]

    def _col(self, table: str, column: str, alias: str = "") -> str:
        """`alias.column`, or NULL when this schema version has no such column."""
        return f"{alias + '.' if alias else ''}{column}" if self._has(table, column) else "NULL"

    # -- experiments -------------------------------------------------------------------------------
    def _experiment_rows(self, where: str = "", params: dict[str, Any] | None = None) -> list[Experiment]:
        rows = self._rows(
            f"SELECT experiment_id, name, artifact_location, lifecycle_stage, "
            f"{self._col('experiments', 'creation_time')}, {self._col('experiments', 'last_update_time')} "
            f"FROM experiments {where} ORDER BY experiment_id",
            params,
        )
        tags: dict[str, dict[str, str]] = {}
        if self._has("experiment_tags", "key"):
            for key, value, exp_id in self._rows('SELECT "key", value, experiment_id FROM experiment_tags'):
                tags.setdefault(str(exp_id), {})[key] = "" if value is None else value
        return [
            Experiment(
                experiment_id=str(exp_id), name=name, artifact_location=location or "",
                lifecycle_stage=stage or "active", tags=dict(sorted(tags.get(str(exp_id), {}).items())),
                creation_time=created, last_update_time=updated,
            )
            for exp_id, name, location, stage, created, updated in rows
        ]

    def search_experiments(self, view_type: ViewType | int = ViewType.ACTIVE_ONLY) -> list[Experiment]:
        view = ViewType.coerce(view_type)
        return [e for e in self._experiment_rows() if view.admits(e.lifecycle_stage)]

    def get_experiment(self, experiment_id: str) -> Experiment:
        if not str(experiment_id).isdigit():
            raise ResourceDoesNotExist(f"No Experiment with id={experiment_id} exists")
        found = self._experiment_rows("WHERE experiment_id = :id", {"id": int(experiment_id)})
        if not found:
            raise ResourceDoesNotExist(f"No Experiment with id={experiment_id} exists")
        return found[0]

    # -- runs --------------------------------------------------------------------------------------
    def _run_infos(self, where: str, params: dict[str, Any]) -> list[RunInfo]:
        rows = self._rows(
            "SELECT run_uuid, experiment_id, name, user_id, status, start_time, end_time, artifact_uri, "
            f"lifecycle_stage, {self._col('runs', 'deleted_time')} FROM runs {where} ORDER BY run_uuid",
            params,
        )
        infos = []
        for run_id, exp_id, name, user, status, start, end, uri, stage, deleted in rows:
            try:
                status = RunStatus.to_string(status or "RUNNING")
            except ValueError:
                self.problem(f"{self.uri} run {run_id}", f"unknown status {status!r}; run skipped")
                continue
            infos.append(RunInfo(
                run_id=run_id, experiment_id=str(exp_id), run_name=name or "", user_id=user or "",
                status=status, start_time=start, end_time=end, artifact_uri=uri or "",
                lifecycle_stage=stage or "active", deleted_time=deleted,
            ))
        return infos

    def _per_run(self, sql: str, run_ids: Sequence[str]) -> list[tuple]:
        rows: list[tuple] = []
        for chunk in _chunks(run_ids):
            placeholders, params = _in_list("r", chunk)
            rows.extend(self._rows(sql.format(ids=placeholders), params))
        return rows

    def _build_runs(self, infos: list[RunInfo]) -> list[Run]:
        ids = [i.run_id for i in infos]
        params: dict[str, dict[str, str]] = {i: {} for i in ids}
        tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        latest: dict[str, list[Metric]] = {i: [] for i in ids}
        for key, value, run_id in self._per_run('SELECT "key", value, run_uuid FROM params WHERE run_uuid IN ({ids})', ids):
            params[run_id][key] = "" if value is None else value
        for key, value, run_id in self._per_run('SELECT "key", value, run_uuid FROM tags WHERE run_uuid IN ({ids})', ids):
            tags[run_id][key] = "" if value is None else value
        for run_id, metric in self._latest(ids):
            latest[run_id].append(metric)
        inputs = self._inputs(ids)
        runs = []
        for info in infos:
            run_tags = dict(sorted(tags[info.run_id].items()))
            if not info.run_name and run_tags.get("mlflow.runName"):
                info = RunInfo(**{**info.__dict__, "run_name": run_tags["mlflow.runName"]})
            objs = tuple(sorted(latest[info.run_id], key=lambda m: m.key))
            data = RunData(
                metrics={m.key: m.value for m in objs}, params=dict(sorted(params[info.run_id].items())),
                tags=run_tags, metric_objs=objs,
            )
            runs.append(Run(info=info, data=data, inputs=inputs.get(info.run_id, RunInputs())))
        return runs

    def _latest(self, ids: Sequence[str]) -> list[tuple[str, Metric]]:
        if self._has("latest_metrics", "key"):
            sql = ('SELECT run_uuid, "key", value, timestamp, step, is_nan FROM latest_metrics '
                   "WHERE run_uuid IN ({ids})")
            return [
                (run_id, Metric(key=key, value=float("nan") if is_nan else float(value),
                                timestamp=int(ts or 0), step=int(step or 0)))
                for run_id, key, value, ts, step, is_nan in self._per_run(sql, ids)
            ]
        # Schemas before latest_metrics (MLflow < 1.9): the latest point by MLflow's rule.
        frame = self.metric_histories(ids)
        result = []
        for (run_id, key), group in frame.groupby(["run_id", "key"], observed=True, sort=True):
            points = [Metric(str(key), v, t, s) for s, t, v in zip(group.step, group.timestamp, group.value)]
            result.append((str(run_id), max(points, key=Metric.sort_key)))
        return result

    def _inputs(self, ids: Sequence[str]) -> dict[str, RunInputs]:
        if not (self._has("inputs", "input_uuid") and self._has("datasets", "dataset_uuid")):
            return {}
        sql = (
            "SELECT i.destination_id, i.input_uuid, d.name, d.digest, d.dataset_source_type, "
            "d.dataset_source, d.dataset_schema, d.dataset_profile FROM inputs i "
            "JOIN datasets d ON i.source_id = d.dataset_uuid "
            "WHERE i.destination_type = 'RUN' AND i.source_type = 'DATASET' AND i.destination_id IN ({ids}) "
            "ORDER BY i.destination_id, i.input_uuid"
        )
        rows = self._per_run(sql, ids)
        input_tags: dict[str, list[InputTag]] = {}
        if rows and self._has("input_tags", "input_uuid"):
            uuids = [r[1] for r in rows]
            for input_uuid, name, value in self._per_run(
                "SELECT input_uuid, name, value FROM input_tags WHERE input_uuid IN ({ids}) ORDER BY input_uuid, name",
                uuids,
            ):
                input_tags.setdefault(input_uuid, []).append(InputTag(name, value or ""))
        found: dict[str, list[DatasetInput]] = {}
        for run_id, input_uuid, name, digest, source_type, source, schema, profile in rows:
            dataset = Dataset(name=name, digest=digest, source_type=source_type or "", source=source or "",
                              schema=schema, profile=profile)
            found.setdefault(run_id, []).append(DatasetInput(dataset, tuple(input_tags.get(input_uuid, ()))))
        # input_uuid is random: sorted by what the dataset is, a run's inputs read the same from the
        # database and from its server (stores/rest.py sorts the same way).
        return {run_id: RunInputs(tuple(sorted(inputs, key=_dataset_order))) for run_id, inputs in found.items()}

    def get_runs(
        self, experiment_ids: Sequence[str] | None = None, run_view_type: ViewType | int = ViewType.ACTIVE_ONLY
    ) -> list[Run]:
        view = ViewType.coerce(run_view_type)
        if experiment_ids is None:
            exp_ids = [int(e.experiment_id) for e in self.search_experiments(ViewType.ACTIVE_ONLY)]
        else:
            exp_ids = [int(self.get_experiment(str(e)).experiment_id) for e in dict.fromkeys(experiment_ids)]
        infos: list[RunInfo] = []
        for chunk in _chunks(exp_ids):
            placeholders, params = _in_list("e", chunk)
            infos.extend(self._run_infos(f"WHERE experiment_id IN ({placeholders})", params))
        infos = sorted((i for i in infos if view.admits(i.lifecycle_stage)), key=lambda i: i.run_id)
        return self._build_runs(infos)

    def get_run(self, run_id: str) -> Run:
        infos = self._run_infos("WHERE run_uuid = :id", {"id": run_id})
        if not infos:
            raise ResourceDoesNotExist(f"Run '{run_id}' not found")
        return self._build_runs(infos)[0]

    # -- metric histories ----------------------------------------------------------------------
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """One metric's points sorted by (step, timestamp), read through the (run_uuid, key, step) index."""
        self._require_run(run_id)
        rows = self._rows(
            'SELECT step, timestamp, value, is_nan FROM metrics WHERE run_uuid = :r AND "key" = :k '
            "ORDER BY step, timestamp",
            {"r": run_id, "k": key},
        )
        return [Metric(key=key, value=float("nan") if n else float(v), timestamp=int(t), step=int(s))
                for s, t, v, n in rows]

    def _require_run(self, run_id: str) -> None:
        if not self._rows("SELECT 1 FROM runs WHERE run_uuid = :id", {"id": run_id}):
            raise ResourceDoesNotExist(f"Run '{run_id}' not found")

    def metric_histories(
        self, run_ids: Iterable[str] | None = None, keys: Iterable[str] | None = None
    ) -> pd.DataFrame:
        """All points of those runs (all active runs of active experiments when None) and keys.

        run_id and key are categorical columns; see Store.metric_histories.
        """
        if run_ids is None:
            ids = [r.run_id for r in self._active_infos()]
        else:
            ids = sorted(dict.fromkeys(run_ids))
            known = {r[0] for r in self._per_run("SELECT run_uuid FROM runs WHERE run_uuid IN ({ids})", ids)}
            missing = [r for r in ids if r not in known]
            if missing:
                raise ResourceDoesNotExist(f"Run '{missing[0]}' not found")
        key_list = None if keys is None else sorted(set(keys))
        return self._history_frame(ids, key_list)

    def _active_infos(self) -> list[RunInfo]:
        exp_ids = [int(e.experiment_id) for e in self.search_experiments(ViewType.ACTIVE_ONLY)]
        infos: list[RunInfo] = []
        for chunk in _chunks(exp_ids):
            placeholders, params = _in_list("e", chunk)
            infos.extend(self._run_infos(
                f"WHERE experiment_id IN ({placeholders}) AND lifecycle_stage = 'active'", params))
        return sorted(infos, key=lambda i: i.run_id)

    def _history_rows(self, run_id: str, key_list: list[str] | None) -> list[tuple]:
        """(key, step, timestamp, value-or-None) rows of one run, in index order."""
        where = 'run_uuid = :r'
        params: dict[str, Any] = {"r": run_id}
        if key_list is not None:
            placeholders, key_params = _in_list("k", key_list)
            where += f' AND "key" IN ({placeholders})'
            params.update(key_params)
        return self._rows(
            f'SELECT "key", step, timestamp, CASE WHEN is_nan THEN NULL ELSE value END FROM metrics '
            f"WHERE {where} ORDER BY \"key\", step, timestamp",
            params,
        )

    def _history_frame(self, ids: list[str], key_list: list[str] | None) -> pd.DataFrame:
        """Per-run queries through the (run_uuid, key, step) index: right for a few runs, and portable."""
        run_codes: list[int] = []
        keys: list[str] = []
        steps: list[int] = []
        stamps: list[int] = []
        values: list[float | None] = []
        for code, run_id in enumerate(ids):
            rows = self._history_rows(run_id, key_list)
            if not rows:
                continue
            run_codes.extend([code] * len(rows))
            for key, step, stamp, value in rows:
                keys.append(key)
                steps.append(step)
                stamps.append(stamp)
                values.append(value)
        key_names = sorted(set(keys))
        key_index = {k: i for i, k in enumerate(key_names)}
        return history_frame(
            np.array(run_codes, dtype=np.int64), np.array([key_index[k] for k in keys], dtype=np.int64),
            ids, key_names, np.array(steps, dtype=np.int64), np.array(stamps, dtype=np.int64),
            np.array(values, dtype=np.float64),
        )

    # -- artifacts -----------------------------------------------------------------------------
    def artifact_root(self, run_id: str) -> ArtifactRoot:
        rows = self._rows("SELECT artifact_uri FROM runs WHERE run_uuid = :id", {"id": run_id})
        if not rows:
            raise ResourceDoesNotExist(f"Run '{run_id}' not found")
        uri = rows[0][0] or ""
        if not self._allowed and not is_remote(uri):  # s3:// and mlflow-artifacts: need no local folder
            return ArtifactRoot(None, "no local folder is allowed for artifacts of this store")
        return resolve_root(uri, fallback=None, allowed=self._allowed, base=self._artifact_base,
                            run_id=run_id)


def _dataset_order(item: DatasetInput) -> tuple[str, str, str, str]:
    return (item.dataset.name, item.dataset.digest, item.dataset.source_type, item.dataset.source)
