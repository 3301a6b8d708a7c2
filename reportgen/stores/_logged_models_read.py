"""Reading MLflow 3's logged models: an experiment's models/m-*/ folders (file store), the logged_models tables
(SQL) and each model's own local files; a server's logged-models endpoints are read by _logged_models_rest.

Tolerant like the run readers: a model folder or row that cannot be read is skipped with one problem
naming it; a bad metric line or value file drops that item only. Deleted models are left out, as
MLflow's search leaves them out.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Mapping, Sequence

from reportgen import mlruns
from reportgen.errors import ResourceDoesNotExist, UnsupportedError
from reportgen.limits import METRIC_FILE_MAX_BYTES
from reportgen.model import FileInfo, LifecycleStage, LoggedModel, LoggedModelStatus, ModelMetric
from reportgen.stores import artifacts
from reportgen.stores._file_parts import decode, key_files, read_key_values
from reportgen.stores._io import read_many
from reportgen.stores._meta import read_meta
from reportgen.stores.artifacts import ArtifactRoot, resolve_root
from reportgen.stores.server_artifacts import is_server_uri, root_on_destination

# MLflow names a model f"m-{uuid4().hex}"; other writers may differ, but the id becomes a site path.
MODEL_ID_RE = re.compile(r"^m-[0-9A-Za-z_-]{1,64}$")

Problem = Callable[[str, str], None]


class BadModel(Exception):
    """A model folder or row that cannot be read: (where, message) for the problems list."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


def is_model_id(name: str) -> bool:
    return bool(MODEL_ID_RE.match(name))


def _int(value: Any, what: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or (isinstance(value, str) and len(value) > 20):
        raise ValueError(f"{what} is not a number: {str(value)[:40]!r}")
    return int(value)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def model_from_fields(fields: Mapping[str, Any], *, params: Mapping[str, str], tags: Mapping[str, str],
                      metrics: Iterable[ModelMetric]) -> LoggedModel:
    """A LoggedModel from the fields MLflow stores (meta.yaml keys, or SQL columns under those names);
    ValueError (or KeyError, TypeError) for a field it cannot be."""
    model_id, name = fields["model_id"], fields.get("name")
    if not isinstance(model_id, str) or not is_model_id(model_id):
        raise ValueError(f"model_id {str(model_id)[:80]!r} is not a model id")
    stage = fields.get("lifecycle_stage") or LifecycleStage.ACTIVE
    if stage not in (LifecycleStage.ACTIVE, LifecycleStage.DELETED):
        raise ValueError(f"unknown lifecycle_stage {str(stage)[:40]!r}")
    return LoggedModel(
        model_id=model_id, experiment_id=str(fields["experiment_id"]),
        name="" if name is None else str(name), artifact_location=str(fields.get("artifact_location") or ""),
        creation_timestamp=_int(fields.get("creation_timestamp"), "creation_timestamp"),
        last_updated_timestamp=_int(fields.get("last_updated_timestamp"), "last_updated_timestamp"),
        source_run_id=_text(fields.get("source_run_id")) or None, model_type=_text(fields.get("model_type")) or None,
        status=LoggedModelStatus.to_string(fields.get("status")), status_message=_text(fields.get("status_message")) or None,
        lifecycle_stage=stage, params=dict(sorted(params.items())), tags=dict(sorted(tags.items())),
        metrics=latest(metrics),
    )


def latest(metrics: Iterable[ModelMetric]) -> tuple[ModelMetric, ...]:
    """The latest point of each key and dataset (max by step, timestamp, value, as MLflow picks it),
    sorted by key."""
    best: dict[tuple[str, str | None, str | None], ModelMetric] = {}

    def order(m: ModelMetric) -> tuple[int, int, float]:
        return (m.step, m.timestamp, -math.inf if math.isnan(m.value) else m.value)

    for metric in metrics:
        slot = (metric.key, metric.dataset_name, metric.dataset_digest)
        if slot not in best or order(metric) > order(best[slot]):
            best[slot] = metric
    return tuple(sorted(best.values(), key=lambda m: (m.key, m.dataset_name or "", m.dataset_digest or "")))


# -- file store ----------------------------------------------------------------------------------------

def file_models(experiment_folder: str, experiment_id: str, problem: Problem) -> list[LoggedModel]:
    """The active models of one experiment folder (<exp>/models/m-*/), ordered by model id."""
    folder = os.path.join(experiment_folder, mlruns.MODELS_DIR)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except FileNotFoundError:
        return []
    except OSError as exc:
        problem(folder, f"cannot list logged models ({exc.strerror}); skipped")
        return []
    models = []
    for entry in entries:
        if not is_model_id(entry.name):
            continue  # junk (.DS_Store, a temp folder of a writer) is not a model: ignored, as MLflow does
        if not entry.is_dir(follow_symlinks=False):
            problem(entry.path, "logged model folder is a symlink or a file; model skipped")
            continue
        try:
            model = _file_model(entry.path, experiment_id, problem)
        except BadModel as bad:
            problem(bad.where, bad.message)
            continue
        if model.lifecycle_stage == LifecycleStage.ACTIVE:
            models.append(model)
    return models


def _file_model(folder: str, experiment_id: str, problem: Problem) -> LoggedModel:
    meta_path = os.path.join(folder, mlruns.META_FILE)
    try:
        meta = read_meta(Path(meta_path))
    except FileNotFoundError:
        raise BadModel(meta_path, "logged model meta.yaml is missing; model skipped") from None
    except OSError as exc:
        raise BadModel(meta_path, f"cannot read logged model meta.yaml ({exc.strerror}); model skipped") from None
    except mlruns.MetaError as exc:
        raise BadModel(meta_path, f"{exc}; model skipped") from None
    if meta.get("model_id") != os.path.basename(folder):
        raise BadModel(meta_path, f"model_id {str(meta.get('model_id'))[:80]!r} differs from its folder; model skipped")
    if str(meta.get("experiment_id")) != experiment_id:
        raise BadModel(meta_path, f"experiment_id {str(meta.get('experiment_id'))[:40]!r} differs from its "
                                  "experiment folder; model skipped")
    found: list[list[tuple[str, str]]] = [[], []]
    params, tags = read_key_values([os.path.join(folder, mlruns.PARAMS_DIR), os.path.join(folder, mlruns.TAGS_DIR)],
                                   found)
    for path, message in found[0] + found[1]:
        problem(path, message)
    try:
        return model_from_fields(meta, params=params, tags=tags,
                                 metrics=_file_metrics(os.path.join(folder, mlruns.METRICS_DIR), problem))
    except (KeyError, TypeError, ValueError) as exc:
        raise BadModel(meta_path, f"unreadable logged model ({str(exc)[:200]}); model skipped") from None


def _file_metrics(folder: str, problem: Problem) -> list[ModelMetric]:
    """Every point of a model's metric files: "<timestamp> <value> <step> <run id>[ <dataset> <digest>]"."""
    found: list[tuple[str, str]] = []
    files = key_files(folder, found)
    for path, message in found:
        problem(path, message)
    points = []
    for (key, path), blob in zip(files, read_many([p for _, p in files], cap=METRIC_FILE_MAX_BYTES)):
        if isinstance(blob, OSError):
            problem(path, f"cannot read model metric ({blob.strerror or blob}); metric skipped")
            continue
        for number, line in enumerate(decode(blob).splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                if len(parts) not in (4, 6):
                    raise ValueError(f"{len(parts)} fields, expected 4 or 6")
                points.append(ModelMetric(key=key, value=float(parts[1]), timestamp=int(parts[0]), step=int(parts[2]),
                                          run_id=parts[3], dataset_name=parts[4] if len(parts) == 6 else None,
                                          dataset_digest=parts[5] if len(parts) == 6 else None))
            except ValueError as exc:
                problem(f"{path}:{number}", f"malformed model metric line ({str(exc)[:80]}); line skipped")
    return points


def file_model_root(model: LoggedModel, experiment_folder: str, allowed: list[Path], base: Path) -> ArtifactRoot:
    """Where a file store keeps a model's files: its artifact_location, or <exp>/models/<id>/artifacts when
    that location is stale (a store copied from another machine)."""
    local = artifacts.local_artifact_dir(model.artifact_location)
    own = Path(experiment_folder, mlruns.MODELS_DIR, model.model_id, mlruns.ARTIFACTS_DIR)
    if local is not None and local.parts[-4:] == own.parts[-4:] and own.is_dir():
        # The location names this very <exp>/models/<id>/artifacts, on the machine that wrote the store (a copy's
        # original may still be there, outside this store): the store's own folder is the one meant.
        return resolve_root(str(own), fallback=own, allowed=allowed, base=base, run_id=model.model_id)
    fallback = own if (local is not None or not model.artifact_location) else None
    return resolve_root(model.artifact_location, fallback=fallback, allowed=allowed, base=base, run_id=model.model_id)


# -- SQL stores -----------------------------------------------------------------------------------------

_MODEL_COLUMNS = ("model_id", "experiment_id", "name", "artifact_location", "creation_timestamp_ms",
                  "last_updated_timestamp_ms", "status", "lifecycle_stage", "model_type", "source_run_id",
                  "status_message")


class SqlLoggedModels:
    """Logged models of MLflow's SQL schema, for SqliteStore and SqlStore (which give _rows, _has, _allowed
    and _artifact_base)."""

    def logged_models(self, experiment_ids: Sequence[str]) -> list[LoggedModel]:
        store: Any = self
        if not store._has("logged_models", "model_id"):
            return []  # a schema from before MLflow 3
        numbers = [int(e) for e in dict.fromkeys(map(str, experiment_ids)) if e.isdigit()]
        columns = ", ".join(store._col("logged_models", c) for c in _MODEL_COLUMNS)
        rows = sorted(self._per_model(f"SELECT {columns} FROM logged_models WHERE experiment_id IN " + "({ids}) "
                                      "AND (lifecycle_stage IS NULL OR lifecycle_stage <> 'deleted')", numbers),
                      key=lambda row: str(row[0]))
        ids = [row[0] for row in rows]
        params_of = self._model_pairs("logged_model_params", "param_key", "param_value", ids)
        tags_of = self._model_pairs("logged_model_tags", "tag_key", "tag_value", ids)
        metrics_of: dict[str, list[ModelMetric]] = {}
        if ids and store._has("logged_model_metrics", "model_id"):
            for model_id, key, stamp, step, value, run_id, dataset, digest in self._per_model(
                    "SELECT model_id, metric_name, metric_timestamp_ms, metric_step, metric_value, run_id, "
                    f"{store._col('logged_model_metrics', 'dataset_name')}, "
                    f"{store._col('logged_model_metrics', 'dataset_digest')} "
                    "FROM logged_model_metrics WHERE model_id IN ({ids})", ids):
                metrics_of.setdefault(model_id, []).append(ModelMetric(
                    key=str(key), value=math.nan if value is None else float(value), timestamp=int(stamp or 0),
                    step=int(step or 0), run_id=run_id, dataset_name=dataset, dataset_digest=digest))
        models = []
        for row in rows:
            fields = dict(zip(_MODEL_COLUMNS, row))
            fields["creation_timestamp"] = fields.pop("creation_timestamp_ms")
            fields["last_updated_timestamp"] = fields.pop("last_updated_timestamp_ms")
            try:
                models.append(model_from_fields(fields, params=params_of.get(row[0], {}), tags=tags_of.get(row[0], {}),
                                                metrics=metrics_of.get(row[0], ())))
            except (KeyError, TypeError, ValueError) as exc:
                store.problem(f"{store.uri} logged model {str(row[0])[:80]}",
                              f"unreadable logged model ({str(exc)[:200]}); model skipped")
        return models

    def _per_model(self, sql: str, ids: Sequence[str]) -> list[tuple]:
        return self._per_run(sql, ids)  # type: ignore[attr-defined]  (an IN list of ids, sliced)

    def _model_pairs(self, table: str, key: str, value: str, ids: Sequence[str]) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        if ids and self._has(table, "model_id"):  # type: ignore[attr-defined]
            for model_id, k, v in self._per_model(f"SELECT model_id, {key}, {value} FROM {table} "
                                                  "WHERE model_id IN ({ids})", ids):
                found.setdefault(model_id, {})[str(k)] = "" if v is None else str(v)
        return found

    def model_artifact_root(self, model: LoggedModel) -> ArtifactRoot:
        store: Any = self
        if not store._allowed:
            return ArtifactRoot(None, "no local folder is allowed for artifacts of this store",
                                remote=model.artifact_location)
        return resolve_root(model.artifact_location, fallback=None, allowed=store._allowed, base=store._artifact_base,
                            run_id=model.model_id)


# -- local files of a model (file and SQL stores) --------------------------------------------------------

def usable_root(store: Any, model: LoggedModel) -> ArtifactRoot:
    """The model's local folder; a server's mlflow-artifacts: location is mapped into the store's
    artifacts_destination when it has one. Kept for the store's life (open_file still confines every read
    to the real folder resolved here)."""
    key = (model.model_id, model.artifact_location)
    root = store._model_roots.get(key)
    if root is None:  # resolved once a store's life: a build asks for each of a model's files
        root = store.model_artifact_root(model)
        if root.path is None and store.artifacts_destination is not None and is_server_uri(root.remote):
            root = root_on_destination(root.remote, store.artifacts_destination, model.model_id)
        store._model_roots[key] = root
    return root


def local_walk(store: Any, model: LoggedModel, max_files: int) -> list[FileInfo]:
    root = usable_root(store, model)
    if root.path is None:
        store.problem(f"logged model {model.model_id}", f"model files unavailable: {root.reason}")
        return []
    return artifacts.walk(root.path, on_skip=store.problem, max_files=max_files)


def local_open(store: Any, model: LoggedModel, path: str) -> IO[bytes]:
    root = usable_root(store, model)
    if root.path is None:
        raise ResourceDoesNotExist(f"Files of logged model {model.model_id} are unavailable: {root.reason}")
    return artifacts.open_file(root.path, path)


def files_signature(store: Any, model: LoggedModel) -> str:
    """What the build cache keys a model's files by, beside their copy plan (which lists every published file
    with its size): the paths, sizes and mtimes of local files. A server's files are known only by their
    listing, which the plan holds already. Records no problem."""
    try:
        root = usable_root(store, model)
    except UnsupportedError:
        return "listing"
    if root.path is None:
        return f"none:{root.reason}"
    return f"{root.path}:{artifacts.signature(root.path)}"
