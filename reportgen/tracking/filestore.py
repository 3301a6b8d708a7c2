"""The writer of MLflow's mlruns/ file store: experiments, runs, metrics, params and tags.

Writes exactly what MLflow 3.x's FileStore writes (layout and meta.yaml from reportgen.mlruns), but
safely under concurrent processes and crashes (see _files) and fast: a run's folder, state and open
metric files are cached in-process, and the run's meta.yaml is re-read only when it changed on disk.
Reads for users go through reportgen.stores; this module only reads what writing needs.
"""
from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from reportgen import mlruns, validation
from reportgen.errors import (
    InvalidParameterValue,
    ReportgenError,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from reportgen.model import Experiment, LifecycleStage, RunInfo, RunStatus
from reportgen.tracking import _env, _files
from reportgen.uri import path_to_file_uri

RUN_NAME_TAG = "mlflow.runName"
# Open metric descriptors kept per process; past this the oldest half is closed.
MAX_OPEN_METRIC_FILES = 512


def join_uri(base: str, *parts: str) -> str:
    """MLflow's append_to_uri_path for the plain cases: base/part/part."""
    return "/".join([base.rstrip("/"), *(part.strip("/") for part in parts)])


@dataclass
class _RunState:
    run_dir: str
    info: RunInfo
    meta_sig: tuple[int, int, int]
    meta_path: str = ""

    def __post_init__(self) -> None:
        self.meta_path = os.path.join(self.run_dir, mlruns.META_FILE)


def _signature(stat: os.stat_result) -> tuple[int, int, int]:
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


class FileStoreWriter:
    """Writes one mlruns/ folder. Share one instance per root within a process (see writer_for)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(os.path.abspath(os.fspath(root)))
        self.trash = self.root / mlruns.TRASH_DIR
        self.artifact_root_uri = path_to_file_uri(self.root)
        self._ready = False
        self._runs: dict[str, _RunState] = {}
        self._fds: dict[tuple[str, str], tuple[int, str]] = {}
        self._lock = threading.RLock()

    # -- store root -------------------------------------------------------------------------------
    def ensure_root(self) -> None:
        """Create the root, .trash and the Default experiment "0" the way MLflow's FileStore does."""
        if self._ready:
            return
        if self.root.exists() and not self.root.is_dir():
            raise ReportgenError(f"tracking store {self.root} exists and is not a folder")
        _files.makedirs(self.root)
        if not (self.root / mlruns.DEFAULT_EXPERIMENT_ID / mlruns.META_FILE).is_file():
            with _files.locked(self.root):
                if not self._has_any_experiment():
                    self._create_experiment_with_id(
                        mlruns.DEFAULT_EXPERIMENT_NAME, mlruns.DEFAULT_EXPERIMENT_ID, None, None
                    )
        _files.makedirs(self.trash)
        self._ready = True

    def _has_any_experiment(self) -> bool:
        for parent in (self.root, self.trash):
            if not parent.is_dir():
                continue
            for entry in os.scandir(parent):
                if mlruns.is_experiment_id(entry.name) and os.path.isfile(os.path.join(entry.path, mlruns.META_FILE)):
                    return True
        return False

    # -- experiments ------------------------------------------------------------------------------
    def experiment_dir(self, experiment_id: str, *, deleted: bool | None = None) -> Path | None:
        """The folder of an experiment: active (root), deleted (.trash) or either (None)."""
        experiment_id = validation.validate_experiment_id(experiment_id)
        parents = [self.root, self.trash] if deleted is None else [self.trash if deleted else self.root]
        for parent in parents:
            folder = parent / experiment_id
            if (folder / mlruns.META_FILE).is_file():
                return folder
        return None

    def read_experiment(self, experiment_id: str) -> Experiment:
        """An experiment's meta.yaml and tags, read fresh (the writer needs it to create runs)."""
        self.ensure_root()
        folder = self.experiment_dir(str(experiment_id))
        if folder is None:
            raise ResourceDoesNotExist(f"Could not find experiment with ID {experiment_id}")
        meta_path = folder / mlruns.META_FILE
        try:
            meta = mlruns.load_meta(meta_path.read_bytes())
            experiment = mlruns.experiment_from_meta(meta, self._read_key_files(folder / mlruns.TAGS_DIR))
        except OSError as exc:
            raise _files.disk_error(meta_path, exc, "read") from None
        except mlruns.MetaError as exc:
            raise ReportgenError(f"{meta_path}: {exc}") from None
        return experiment

    def find_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment (active or deleted) with this name, scanning every meta.yaml."""
        self.ensure_root()
        for parent in (self.root, self.trash):
            for entry in sorted(os.scandir(parent), key=lambda e: e.name):
                if not mlruns.is_experiment_id(entry.name):
                    continue
                try:
                    meta = mlruns.load_meta(Path(entry.path, mlruns.META_FILE).read_bytes())
                except (OSError, mlruns.MetaError):
                    continue  # a broken experiment is the reader's problem to report
                if meta.get("name") == name:
                    return self.read_experiment(entry.name)
        return None

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Mapping[str, Any] | None = None
    ) -> str:
        """A new experiment with a fresh MLflow-style id; one per name even across processes."""
        validation.validate_experiment_name(name)
        validation.validate_artifact_location(artifact_location)
        tag_items = {key: _str(value) for key, value in (tags or {}).items()}
        for key, value in tag_items.items():
            validation.validate_experiment_tag(key, value)
        self.ensure_root()
        with _files.locked(self.root):
            existing = self.find_experiment_by_name(name)
            if existing is not None:
                if existing.lifecycle_stage == LifecycleStage.DELETED:
                    raise ResourceAlreadyExists(
                        f"Experiment {name!r} already exists in deleted state. You can restore the "
                        "experiment, or permanently delete the experiment from the .trash folder "
                        "(under tracking server's root folder) in order to use this experiment name again."
                    )
                raise ResourceAlreadyExists(f"Experiment '{name}' already exists.")
            for _ in range(100):
                experiment_id = str(_env.new_experiment_id())
                if not (self.trash / experiment_id).exists() and not (self.root / experiment_id).exists():
                    break
            else:
                raise ReportgenError(f"could not find a free experiment id in {self.root}")
            return self._create_experiment_with_id(name, experiment_id, artifact_location, tag_items)

    def _create_experiment_with_id(
        self, name: str, experiment_id: str, artifact_location: str | None, tags: Mapping[str, str] | None
    ) -> str:
        # Built under a hidden name and renamed into place: no reader ever sees it without meta.yaml.
        folder = self.root / experiment_id
        staging = Path(_files.temp_path(self.root, experiment_id))
        try:
            staging.mkdir()
        except OSError as exc:
            raise _files.disk_error(staging, exc, "create folder") from None
        try:
            now = _env.now_ms()
            experiment = Experiment(
                experiment_id=experiment_id,
                name=name,
                artifact_location=_resolve_artifact_location(artifact_location)
                or join_uri(self.artifact_root_uri, experiment_id),
                lifecycle_stage=LifecycleStage.ACTIVE,
                creation_time=now,
                last_update_time=now,
            )
            self._write_meta(staging, mlruns.experiment_to_meta(experiment))
            for key, value in (tags or {}).items():
                self._write_key_file(staging, mlruns.TAGS_DIR, key, value)
            self._rename_into_place(staging, folder)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return experiment_id

    def _rename_into_place(self, staging: Path, folder: Path) -> None:
        if folder.exists():
            if any(folder.iterdir()):
                raise ResourceAlreadyExists(f"Experiment with id {folder.name} already exists.")
            folder.rmdir()  # an empty leftover (MLflow creates the folder before its meta.yaml)
        try:
            os.rename(staging, folder)
        except OSError as exc:
            if folder.exists():
                raise ResourceAlreadyExists(f"Experiment with id {folder.name} already exists.") from None
            raise _files.disk_error(folder, exc, "create folder") from None

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        value = _str(value)
        validation.validate_experiment_tag(key, value)
        experiment = self.read_experiment(experiment_id)
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidParameterValue(
                f"The experiment {experiment_id} must be in the 'active' lifecycle_stage to set tags"
            )
        self._write_key_file(self.root / str(experiment_id), mlruns.TAGS_DIR, key, value)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        experiment = self.read_experiment(experiment_id)
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidParameterValue(
                f"The experiment {experiment_id} must be in the 'active' lifecycle_stage to delete tags"
            )
        validation.validate_key(key, kind="Tag")
        self._remove_key_file(self.root / str(experiment_id), key,
                              f"No tag with name: {key} in experiment with id {experiment_id}")

    def delete_experiment(self, experiment_id: str) -> None:
        """Mark the experiment and its active runs deleted, then move it into .trash (as MLflow)."""
        experiment_id = validation.validate_experiment_id(experiment_id)
        if experiment_id == mlruns.DEFAULT_EXPERIMENT_ID:
            raise ReportgenError(
                f"Cannot delete the default experiment '{experiment_id}'. This is an internally "
                "reserved experiment."
            )
        self.ensure_root()
        with _files.locked(self.root):
            folder = self.experiment_dir(experiment_id, deleted=False)
            if folder is None:
                raise ResourceDoesNotExist(f"Could not find experiment with ID {experiment_id}")
            now = _env.now_ms()
            for run_dir, info in self._run_infos(folder):
                if info.lifecycle_stage == LifecycleStage.ACTIVE:
                    self._write_run_meta(run_dir, replace(info, lifecycle_stage=LifecycleStage.DELETED,
                                                          deleted_time=now))
            experiment = self.read_experiment(experiment_id)
            self._write_experiment_meta(folder, replace(
                experiment, lifecycle_stage=LifecycleStage.DELETED, last_update_time=now))
            self._move(folder, self.trash / experiment_id)
        self._forget_runs()

    def restore_experiment(self, experiment_id: str) -> None:
        experiment_id = validation.validate_experiment_id(experiment_id)
        self.ensure_root()
        with _files.locked(self.root):
            folder = self.experiment_dir(experiment_id, deleted=True)
            if folder is None:
                raise ResourceDoesNotExist(f"Could not find deleted experiment with ID {experiment_id}")
            if self.experiment_dir(experiment_id, deleted=False) is not None:
                raise ResourceAlreadyExists(
                    f"Cannot restore experiment with ID {experiment_id}. "
                    "An experiment with same ID already exists."
                )
            target = self.root / experiment_id
            self._move(folder, target)
            for run_dir, info in self._run_infos(target):
                if info.lifecycle_stage == LifecycleStage.DELETED:
                    self._write_run_meta(run_dir, replace(info, lifecycle_stage=LifecycleStage.ACTIVE,
                                                          deleted_time=None))
            experiment = self.read_experiment(experiment_id)
            self._write_experiment_meta(target, replace(
                experiment, lifecycle_stage=LifecycleStage.ACTIVE, last_update_time=_env.now_ms()))
        self._forget_runs()

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        validation.validate_experiment_name(new_name)
        self.ensure_root()
        with _files.locked(self.root):
            experiment = self.read_experiment(experiment_id)
            if self.find_experiment_by_name(new_name) is not None:
                raise ResourceAlreadyExists(f"Experiment '{new_name}' already exists.")
            if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
                raise ReportgenError(
                    "Cannot rename experiment in non-active lifecycle stage. "
                    f"Current stage: {experiment.lifecycle_stage}"
                )
            self._write_experiment_meta(self.root / str(experiment_id), replace(
                experiment, name=new_name, last_update_time=_env.now_ms()))

    def _write_experiment_meta(self, folder: Path, experiment: Experiment) -> None:
        # MLflow rewrites an experiment's meta.yaml from dict(experiment), which includes its tags.
        meta = mlruns.experiment_to_meta(experiment)
        meta["tags"] = dict(experiment.tags)
        self._write_meta(folder, meta)

    def _run_infos(self, experiment_folder: Path) -> Iterable[tuple[str, RunInfo]]:
        for entry in sorted(os.scandir(experiment_folder), key=lambda e: e.name):
            if not mlruns.is_run_id(entry.name) or not entry.is_dir(follow_symlinks=False):
                continue
            try:
                info = mlruns.run_from_meta(mlruns.load_meta(Path(entry.path, mlruns.META_FILE).read_bytes()))
            except (OSError, mlruns.MetaError):
                continue  # as MLflow: a malformed run is left alone
            yield entry.path, info

    def _move(self, source: Path, target: Path) -> None:
        try:
            os.rename(source, target)
        except OSError as exc:
            raise _files.disk_error(source, exc, f"move to {target}") from None

    # -- runs -------------------------------------------------------------------------------------
    def create_run(
        self, experiment_id: str, *, user_id: str, start_time: int, tags: Mapping[str, str], run_name: str | None
    ) -> RunInfo:
        """A new RUNNING run with its folders, meta.yaml and tags (mlflow.runName always set)."""
        experiment = self.read_experiment(experiment_id)
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise ReportgenError(
                f"Could not create run under non-active experiment with ID {experiment_id}.",
                error_code="INVALID_STATE",
            )
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
        run_dir = self.root / experiment.experiment_id / run_id
        info = RunInfo(
            run_id=run_id,
            experiment_id=experiment.experiment_id,
            run_name=run_name,
            user_id=user_id,
            status=RunStatus.RUNNING,
            start_time=start_time,
            end_time=None,
            artifact_uri=join_uri(experiment.artifact_location, run_id, mlruns.ARTIFACTS_DIR),
            lifecycle_stage=LifecycleStage.ACTIVE,
        )
        # Built under a hidden name and renamed into place, so readers never see a half-made run.
        staging = Path(_files.temp_path(run_dir.parent, run_id))
        try:
            try:
                staging.mkdir()
                for sub in (mlruns.METRICS_DIR, mlruns.PARAMS_DIR, mlruns.ARTIFACTS_DIR):
                    (staging / sub).mkdir()
            except OSError as exc:
                raise _files.disk_error(run_dir, exc, "create folder") from None
            meta = mlruns.run_to_meta(info)
            meta["deleted_time"] = None  # MLflow writes it explicitly when it creates a run
            self._write_meta(staging, meta)
            for key, value in tags.items():
                self._write_key_file(staging, mlruns.TAGS_DIR, key, value)
            try:
                os.rename(staging, run_dir)
            except OSError as exc:
                raise _files.disk_error(run_dir, exc, "create folder") from None
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        self._remember(str(run_dir), info)
        return info

    def run_info(self, run_id: str) -> RunInfo:
        return self._state(run_id).info

    def update_run_info(
        self, run_id: str, *, status: str | None = None, end_time: int | None = None, run_name: str | None = None
    ) -> RunInfo:
        """Set status, end time and name of an active run (MLflow's update_run_info)."""
        state = self._active_state(run_id)
        changes: dict[str, Any] = {}
        if status is not None:
            changes["status"] = RunStatus.to_string(status)
        if end_time is not None:
            changes["end_time"] = end_time
        if run_name:
            changes["run_name"] = run_name
            self._write_key_file(state.run_dir, mlruns.TAGS_DIR, RUN_NAME_TAG, run_name)
        info = replace(state.info, **changes)
        self._write_run_meta(state.run_dir, info)
        if RunStatus.is_terminated(info.status):
            self.close_run_files(run_id)
        return info

    def set_lifecycle(self, run_id: str, stage: str) -> None:
        """Delete (deleted_time = now) or restore a run; it stays in place, as in MLflow."""
        state = self._state(run_id, refresh=True)
        deleted_time = _env.now_ms() if stage == LifecycleStage.DELETED else None
        self._write_run_meta(state.run_dir, replace(state.info, lifecycle_stage=stage, deleted_time=deleted_time))
        if stage == LifecycleStage.DELETED:
            self.close_run_files(run_id)

    def _write_run_meta(self, run_dir: str, info: RunInfo) -> None:
        self._write_meta(Path(run_dir), mlruns.run_to_meta(info))
        with self._lock:
            if info.run_id in self._runs:
                self._remember(run_dir, info)

    # -- metrics, params, tags --------------------------------------------------------------------
    def log_metric(self, run_id: str, key: str, value: float, timestamp: int, step: int) -> None:
        """Append one point (values already validated by the caller) with a single write."""
        state = self._active_state(run_id)
        line = mlruns.format_metric_line(timestamp, value, step).encode()
        with self._lock:  # another thread must not close or recycle the descriptor mid-write
            fd, path = self._metric_fd(state, run_id, key)
            _files.append(fd, line, path)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[tuple[str, float, int, int]],
        params: Sequence[tuple[str, str]],
        tags: Sequence[tuple[str, str]],
    ) -> None:
        """Params first, then metrics (one write per metric file), then tags, as MLflow orders them."""
        state = self._active_state(run_id)
        for key, value in params:
            self._log_param(state, key, value)
        lines: dict[str, list[str]] = {}
        for key, value, timestamp, step in metrics:
            lines.setdefault(key, []).append(mlruns.format_metric_line(timestamp, value, step))
        with self._lock:
            for key, key_lines in lines.items():
                fd, path = self._metric_fd(state, run_id, key)
                _files.append(fd, "".join(key_lines).encode(), path)
        for key, value in tags:
            self._set_tag(state, run_id, key, value)

    def log_param(self, run_id: str, key: str, value: str) -> None:
        self._log_param(self._active_state(run_id), key, value)

    def _log_param(self, state: _RunState, key: str, value: str) -> None:
        path = os.path.join(state.run_dir, mlruns.PARAMS_DIR, key)
        data = value.encode("utf-8")
        if not os.path.exists(path):
            if "/" in key:
                _files.makedirs(os.path.dirname(path))
            if _files.create_exclusive(path, data, temp_dir=state.run_dir):
                return
        try:
            current = _files.read_text(path)
        except OSError as exc:
            raise _files.disk_error(path, exc, "read") from None
        if current != value:
            raise InvalidParameterValue(
                f"Changing param values is not allowed. Param with key='{key}' was already"
                f" logged with value='{current}' for run ID='{state.info.run_id}'. Attempted logging"
                f" new value '{value}'."
            )

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self._set_tag(self._active_state(run_id), run_id, key, value)

    def _set_tag(self, state: _RunState, run_id: str, key: str, value: str) -> None:
        if key == RUN_NAME_TAG:
            # MLflow keeps meta.yaml's run_name in step with the tag.
            self.update_run_info(run_id, run_name=value)
            return
        self._write_key_file(state.run_dir, mlruns.TAGS_DIR, key, value)

    def delete_tag(self, run_id: str, key: str) -> None:
        state = self._active_state(run_id)
        validation.validate_key(key, kind="Tag")
        self._remove_key_file(Path(state.run_dir), key, f"No tag with name: {key} in run with id {run_id}")

    def artifact_uri(self, run_id: str) -> str:
        return self._state(run_id).info.artifact_uri

    # -- run state cache --------------------------------------------------------------------------
    def _remember(self, run_dir: str, info: RunInfo) -> None:
        meta = os.path.join(run_dir, mlruns.META_FILE)
        try:
            sig = _signature(os.stat(meta))
        except OSError:
            sig = (0, 0, 0)
        with self._lock:
            self._runs[info.run_id] = _RunState(run_dir, info, sig)

    def _state(self, run_id: str, *, refresh: bool = False) -> _RunState:
        """The run's folder and info; re-read only when its meta.yaml changed (one stat per call)."""
        state = self._runs.get(run_id)
        if state is not None and not refresh:
            try:
                if _signature(os.stat(state.meta_path)) == state.meta_sig:
                    return state
            except OSError:
                pass  # moved (experiment deleted or restored) or removed: look it up again
        return self._load_state(run_id)

    def _active_state(self, run_id: str) -> _RunState:
        state = self._state(run_id)
        if state.info.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidParameterValue(f"The run {run_id} must be in 'active' lifecycle_stage.")
        return state

    def _load_state(self, run_id: str) -> _RunState:
        validation.validate_run_id(run_id)
        self.ensure_root()
        self.close_run_files(run_id)
        for parent in (self.root, self.trash):
            for entry in os.scandir(parent):
                if not mlruns.is_experiment_id(entry.name):
                    continue
                run_dir = os.path.join(entry.path, run_id)
                meta_path = os.path.join(run_dir, mlruns.META_FILE)
                try:
                    sig = _signature(os.stat(meta_path))
                    info = mlruns.run_from_meta(mlruns.load_meta(Path(meta_path).read_bytes()))
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    raise _files.disk_error(meta_path, exc, "read") from None
                except mlruns.MetaError as exc:
                    raise ReportgenError(f"Run '{run_id}' metadata is in invalid state ({meta_path}: {exc}).",
                                         error_code="INVALID_STATE") from None
                if info.run_id != run_id or info.experiment_id != entry.name:
                    raise ReportgenError(f"Run '{run_id}' metadata is in invalid state.", error_code="INVALID_STATE")
                state = _RunState(run_dir, info, sig)
                with self._lock:
                    self._runs[run_id] = state
                return state
        raise ResourceDoesNotExist(f"Run '{run_id}' not found")

    def _forget_runs(self) -> None:
        with self._lock:
            for run_id in list(self._runs):
                self.close_run_files(run_id)
            self._runs.clear()

    def _metric_fd(self, state: _RunState, run_id: str, key: str) -> tuple[int, str]:
        """A cached O_APPEND descriptor of the run's metric file, and its path (for messages).

        Called with self._lock held.
        """
        handle = self._fds.get((run_id, key))
        if handle is not None:
            return handle
        path = os.path.join(state.run_dir, mlruns.METRICS_DIR, key)
        if len(self._fds) >= MAX_OPEN_METRIC_FILES:
            for old in list(self._fds)[: MAX_OPEN_METRIC_FILES // 2]:
                os.close(self._fds.pop(old)[0])
        handle = (_files.open_append(path), path)
        self._fds[(run_id, key)] = handle
        return handle

    def close_run_files(self, run_id: str) -> None:
        with self._lock:
            for handle in [k for k in self._fds if k[0] == run_id]:
                os.close(self._fds.pop(handle)[0])

    def close(self) -> None:
        with self._lock:
            for fd, _ in self._fds.values():
                os.close(fd)
            self._fds.clear()
            self._runs.clear()

    # -- files ------------------------------------------------------------------------------------
    def _write_meta(self, folder: Path, meta: dict[str, Any]) -> None:
        _files.atomic_write(folder / mlruns.META_FILE, mlruns.dump_meta(meta).encode("utf-8"), fsync=True)

    def _write_key_file(self, owner_dir: str | Path, sub: str, key: str, value: str) -> None:
        """tags/<key> or params/<key> (keys with "/" are subfolders), raw value, no newline."""
        path = os.path.join(owner_dir, sub, key)
        folder = os.path.dirname(path)
        if not os.path.isdir(folder):
            _files.makedirs(folder)
        _files.atomic_write(path, value.encode("utf-8"), temp_dir=owner_dir)

    def _read_key_files(self, folder: Path) -> dict[str, str]:
        values: dict[str, str] = {}
        if not folder.is_dir():
            return values
        for dirpath, _, files in os.walk(folder):
            for name in files:
                full = os.path.join(dirpath, name)
                values[os.path.relpath(full, folder).replace(os.sep, "/")] = _files.read_text(full)
        return values

    def _remove_key_file(self, owner_dir: Path, key: str, missing_message: str) -> None:
        path = owner_dir / mlruns.TAGS_DIR / key
        try:
            os.remove(path)
        except FileNotFoundError:
            raise ResourceDoesNotExist(missing_message) from None
        except OSError as exc:
            raise _files.disk_error(path, exc, "remove") from None


def _str(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def _resolve_artifact_location(location: str | None) -> str | None:
    """MLflow's resolve_uri_if_local: relative paths become absolute, URIs are kept."""
    if not location:
        return None
    from reportgen.uri import local_path, scheme_of

    if scheme_of(location) != "file":
        return location
    if location.lower().startswith("file:"):
        return path_to_file_uri(local_path(location))
    return os.path.abspath(os.path.expanduser(location))


_writers: dict[str, FileStoreWriter] = {}
_writers_lock = threading.Lock()


def writer_for(root: str | os.PathLike[str]) -> FileStoreWriter:
    """The process-wide writer of a root, so every client shares one cache of runs and open files."""
    key = os.path.abspath(os.fspath(root))
    with _writers_lock:
        writer = _writers.get(key)
        if writer is None:
            writer = _writers[key] = FileStoreWriter(key)
        return writer


def close_all() -> None:
    with _writers_lock:
        for writer in _writers.values():
            writer.close()
