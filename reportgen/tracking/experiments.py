"""Experiments in an mlruns/ file store: create (one per name across processes), tag, delete into
.trash, restore and rename, as MLflow's FileStore does; plus the file helpers every writer uses.

The run side (runs, metrics, params, tags) is reportgen.tracking.filestore, built on this class.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Mapping

from reportgen import mlruns, validation
from reportgen.errors import (
    InvalidParameterValue,
    ReportgenError,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from reportgen.model import Experiment, LifecycleStage, RunInfo
from reportgen.tracking import _env, _files
from reportgen.uri import local_path, path_to_file_uri, scheme_of


def join_uri(base: str, *parts: str) -> str:
    """MLflow's append_to_uri_path for the plain cases: base/part/part."""
    return "/".join([base.rstrip("/"), *(part.strip("/") for part in parts)])


class ExperimentWriter:
    """The store root and its experiments; FileStoreWriter adds runs and logging."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(os.path.abspath(os.fspath(root)))
        self.trash = self.root / mlruns.TRASH_DIR
        self.artifact_root_uri = path_to_file_uri(self.root)
        self._ready = False
        self._swept: set[str] = set()

    # -- store root -------------------------------------------------------------------------------
    def ensure_root(self) -> None:
        """Create the root, .trash and the Default experiment "0" the way MLflow's FileStore does."""
        if self._ready and self.trash.is_dir():
            return
        self._ready = False
        self._forget_runs()  # the store was removed under us: nothing cached about it holds
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
            self.sweep_once(self.root)
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


    def sweep_once(self, folder: str | Path) -> None:
        """Clean temp files a killed writer left in `folder`, once per folder and process (a scan of
        an experiment with many runs costs more than a write)."""
        key = os.fspath(folder)
        if key not in self._swept:
            self._swept.add(key)
            _files.clean_stale_temps(key)

    # -- hooks the run side overrides (it caches run state) ----------------------------------------
    def _write_run_meta(self, run_dir: str, info: RunInfo) -> None:
        self._write_meta(Path(run_dir), mlruns.run_to_meta(info))

    def _forget_runs(self) -> None:
        """Drop cached run state after runs moved (experiment deleted or restored)."""

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
    if scheme_of(location) != "file":
        return location
    if location.lower().startswith("file:"):
        return path_to_file_uri(local_path(location))
    return os.path.abspath(os.path.expanduser(location))
