"""The writer of MLflow's mlruns/ file store: runs, metrics, params and tags (experiments are in
reportgen.tracking.experiments).

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
from typing import Any, Mapping, Sequence

from reportgen import mlruns, validation
from reportgen.errors import InvalidParameterValue, ReportgenError, ResourceDoesNotExist
from reportgen.model import DatasetInput, LifecycleStage, RunInfo, RunStatus
from reportgen.tracking import _env, _files, inputs
from reportgen.tracking.experiments import ExperimentWriter, join_uri

RUN_NAME_TAG = "mlflow.runName"
# Open metric descriptors kept per process; past this the oldest half is closed.
MAX_OPEN_METRIC_FILES = 512

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


class FileStoreWriter(ExperimentWriter):
    """Writes one mlruns/ folder. Share one instance per root within a process (see writer_for)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        super().__init__(root)
        self._runs: dict[str, _RunState] = {}
        self._fds: dict[tuple[str, str], tuple[int, str]] = {}
        self._lock = threading.RLock()

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
        self.sweep_once(run_dir.parent)
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
            _files.clean_stale_temps(state.run_dir)
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
            self._append(state, run_id, key, line)

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
                self._append(state, run_id, key, "".join(key_lines).encode())
        for key, value in tags:
            self._set_tag(state, run_id, key, value)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        inputs.write_inputs(self._active_state(run_id).run_dir, run_id, datasets)

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

    def _append(self, state: _RunState, run_id: str, key: str, data: bytes) -> None:
        """Append whole lines to a metric file (called with self._lock held).

        After a failed append the descriptor is dropped: the next one reopens the file and checks its
        tail again (_files.open_append), as the disk may have been full for other writers too.
        """
        fd, path = self._metric_fd(state, run_id, key)
        try:
            _files.append(fd, data, path)
        except ReportgenError:
            os.close(self._fds.pop((run_id, key))[0])
            raise

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


def _reset_locks_in_child() -> None:
    # A fork taken while another thread held a lock would leave it held forever in the child.
    global _writers_lock
    _writers_lock = threading.Lock()
    for writer in _writers.values():
        writer._lock = threading.RLock()
        # Inherited descriptors share their file offset with the parent's, which _files.append reads to
        # undo a short write: the child opens its own (closing its copies leaves the parent's open).
        for fd, _ in writer._fds.values():
            os.close(fd)
        writer._fds.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_locks_in_child)
