"""Read-only reader of an mlruns/ file store, as written by MLflow 1.x-3.x or by reportgen.tracking.

Tolerant: a bad experiment, run, metric file or line is skipped with one problem naming the file.
Metric files are parsed many at a time in one vectorised pass (stores._metrics_parse).
Nothing is cached across calls: the logging client reads through get_run after every write.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from reportgen import mlruns
from reportgen.errors import ResourceDoesNotExist, StoreError
from reportgen.model import (
    Dataset, DatasetInput, Experiment, InputTag, Metric, Run, RunData, RunInfo, RunInputs, ViewType,
)
from reportgen.stores import _metrics_parse as mp
from reportgen.stores._io import map_slices, read_many
from reportgen.stores._meta import read_meta
from reportgen.stores.artifacts import ArtifactRoot, local_artifact_dir, resolve_root
from reportgen.stores.base import HISTORY_COLUMNS, Store


class _Skip(Exception):
    """An item that cannot be read: (path, message) for the problems list."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _key_files(folder: Path) -> list[tuple[str, Path]]:
    """(key, path) of every regular file under folder; a key with '/' is a subfolder path."""
    found: list[tuple[str, Path]] = []
    stack: list[tuple[str, Path]] = [("", folder)]
    while stack:
        prefix, current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            key = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                stack.append((key + "/", Path(entry.path)))
            elif entry.is_file(follow_symlinks=False):
                found.append((key, Path(entry.path)))
    return found


def _read_key_values(folder: Path) -> dict[str, str]:
    files = _key_files(folder)
    values = {}
    for key, path in files:
        try:
            values[key] = _decode(path.read_bytes())
        except OSError:
            continue  # vanished between listing and reading: a concurrent delete
    return dict(sorted(values.items()))


def _safe_key(key: str) -> bool:
    parts = key.split("/")
    return bool(key) and "\x00" not in key and "\\" not in key and all(p not in ("", ".", "..") for p in parts)


class FileStore(Store):
    """An mlruns/ folder. `artifact_roots` lists extra folders artifacts may live in (besides the store)."""

    def __init__(
        self, root: str | os.PathLike[str], *, uri: str | None = None, strict: bool = False,
        artifact_roots: Sequence[str | os.PathLike[str]] = (),
    ) -> None:
        path = Path(root)
        if not path.exists():
            raise StoreError(f"No tracking store at {path}: the folder does not exist")
        if not path.is_dir():
            raise StoreError(f"No tracking store at {path}: not a folder")
        super().__init__(uri or str(path), strict=strict)
        self.root = path
        self._allowed = [path, *(Path(r) for r in artifact_roots)]

    # -- experiments ---------------------------------------------------------------------------
    def _experiment_folders(self, view: ViewType) -> list[Path]:
        parents = []
        if view in (ViewType.ACTIVE_ONLY, ViewType.ALL):
            parents.append(self.root)
        if view in (ViewType.DELETED_ONLY, ViewType.ALL):
            parents.append(self.root / mlruns.TRASH_DIR)
        folders = []
        for parent in parents:
            try:
                entries = list(os.scandir(parent))
            except OSError:
                continue
            for entry in entries:
                # Junk (.DS_Store, models/, artifact folders) is not an experiment: ignored silently.
                if mlruns.is_experiment_id(entry.name) and entry.is_dir(follow_symlinks=False):
                    folders.append(Path(entry.path))
        return sorted(folders, key=lambda f: (int(f.name), f.parent != self.root))

    def _load_experiment(self, folder: Path) -> Experiment:
        meta_path = folder / mlruns.META_FILE
        try:
            meta = read_meta(meta_path)
            experiment = mlruns.experiment_from_meta(meta)
        except FileNotFoundError:
            raise _Skip(meta_path, "experiment meta.yaml is missing; experiment skipped") from None
        except OSError as exc:
            raise _Skip(meta_path, f"cannot read experiment meta.yaml ({exc.strerror}); skipped") from None
        except mlruns.MetaError as exc:
            raise _Skip(meta_path, f"{exc}; experiment skipped") from None
        if experiment.experiment_id != folder.name:
            raise _Skip(
                meta_path,
                f"experiment_id {experiment.experiment_id!r} differs from its folder; experiment skipped",
            )
        tags = _read_key_values(folder / mlruns.TAGS_DIR)
        return Experiment(**{**experiment.__dict__, "tags": tags})

    def _experiments(self, view: ViewType) -> list[tuple[Experiment, Path]]:
        found = []
        seen: set[str] = set()
        for folder in self._experiment_folders(view):
            try:
                experiment = self._load_experiment(folder)
            except _Skip as skip:
                self.problem(str(skip.path), skip.message)
                continue
            if experiment.experiment_id in seen or not view.admits(experiment.lifecycle_stage):
                continue
            seen.add(experiment.experiment_id)
            found.append((experiment, folder))
        return found

    def search_experiments(self, view_type: ViewType | int = ViewType.ACTIVE_ONLY) -> list[Experiment]:
        return [e for e, _ in self._experiments(ViewType.coerce(view_type))]

    def _experiment_folder(self, experiment_id: str) -> Path:
        experiment_id = str(experiment_id)
        if mlruns.is_experiment_id(experiment_id):
            for parent in (self.root, self.root / mlruns.TRASH_DIR):
                if (parent / experiment_id).is_dir():
                    return parent / experiment_id
        raise ResourceDoesNotExist(f"No Experiment with id={experiment_id} exists")

    def get_experiment(self, experiment_id: str) -> Experiment:
        folder = self._experiment_folder(experiment_id)
        try:
            return self._load_experiment(folder)
        except _Skip as skip:
            raise StoreError(f"{skip.path}: {skip.message.replace('; experiment skipped', '')}") from None

    # -- runs ----------------------------------------------------------------------------------
    def _run_folders(self, experiment_folder: Path) -> list[Path]:
        try:
            entries = list(os.scandir(experiment_folder))
        except OSError:
            return []
        return sorted(
            Path(e.path) for e in entries if mlruns.is_run_id(e.name) and e.is_dir(follow_symlinks=False)
        )

    def _load_info(self, folder: Path, experiment_id: str) -> RunInfo:
        meta_path = folder / mlruns.META_FILE
        try:
            info = mlruns.run_from_meta(read_meta(meta_path))
        except FileNotFoundError:
            raise _Skip(meta_path, "run meta.yaml is missing; run skipped") from None
        except OSError as exc:
            raise _Skip(meta_path, f"cannot read run meta.yaml ({exc.strerror}); run skipped") from None
        except mlruns.MetaError as exc:
            raise _Skip(meta_path, f"{exc}; run skipped") from None
        if info.run_id != folder.name:
            raise _Skip(meta_path, f"run_id {info.run_id!r} differs from its folder; run skipped")
        if info.experiment_id != experiment_id:
            raise _Skip(
                meta_path, f"experiment_id {info.experiment_id!r} differs from its experiment folder; run skipped"
            )
        return info

    def _infos(self, experiment_folders: list[Path], view: ViewType) -> list[tuple[RunInfo, Path]]:
        folders = [(run, exp.name) for exp in experiment_folders for run in self._run_folders(exp)]

        def load(item: tuple[Path, str]) -> tuple[RunInfo, Path] | _Skip:
            try:
                return self._load_info(*item), item[0]
            except _Skip as skip:
                return skip

        infos = []
        for result in map_slices(load, folders):  # type: ignore[arg-type]
            if isinstance(result, _Skip):
                self.problem(str(result.path), result.message)
            elif view.admits(result[0].lifecycle_stage):
                infos.append(result)
        return infos

    def _inputs(self, folder: Path, datasets: dict[str, Dataset | None]) -> RunInputs:
        inputs_dir = folder / mlruns.INPUTS_DIR
        if not inputs_dir.is_dir():
            return RunInputs()
        found = []
        for entry in sorted(os.scandir(inputs_dir), key=lambda e: e.name):
            meta_path = Path(entry.path) / mlruns.META_FILE
            try:
                meta = read_meta(meta_path)
            except (OSError, mlruns.MetaError) as exc:
                self.problem(str(meta_path), f"input skipped ({exc})")
                continue
            if meta.get("source_type") != "DATASET":
                continue  # model inputs are not shown in run reports
            source_id = str(meta.get("source_id", ""))
            dataset = self._dataset(folder.parent, source_id, datasets)
            if dataset is None:
                continue
            tags = meta.get("tags") or {}
            input_tags = tuple(InputTag(str(k), str(v)) for k, v in tags.items()) if isinstance(tags, dict) else ()
            found.append(DatasetInput(dataset=dataset, tags=input_tags))
        return RunInputs(dataset_inputs=tuple(found))

    def _dataset(self, experiment_folder: Path, source_id: str, cache: dict[str, Dataset | None]) -> Dataset | None:
        key = f"{experiment_folder}/{source_id}"
        if key in cache:
            return cache[key]
        meta_path = experiment_folder / mlruns.DATASETS_DIR / source_id / mlruns.META_FILE
        dataset = None
        if not _safe_key(source_id):
            self.problem(str(meta_path), "dataset input with an invalid id skipped")
        else:
            try:
                meta = read_meta(meta_path)
                dataset = Dataset(
                    name=str(meta.get("name", "")), digest=str(meta.get("digest", "")),
                    source_type=str(meta.get("source_type", "") or ""), source=str(meta.get("source", "") or ""),
                    schema=meta.get("schema"), profile=meta.get("profile"),
                )
            except (OSError, mlruns.MetaError) as exc:
                self.problem(str(meta_path), f"dataset skipped ({exc})")
        cache[key] = dataset
        return dataset

    def _build_runs(self, infos: list[tuple[RunInfo, Path]]) -> list[Run]:
        """Runs with params, tags, inputs and latest metrics; all metric files parsed in one pass."""
        metric_files = [
            (i, key, path)
            for i, (_, folder) in enumerate(infos)
            for key, path in _key_files(folder / mlruns.METRICS_DIR)
        ]
        latest = self._latest_metrics(metric_files, len(infos))

        def side(item: tuple[RunInfo, Path]) -> tuple[dict[str, str], dict[str, str]]:
            folder = item[1]
            return _read_key_values(folder / mlruns.PARAMS_DIR), _read_key_values(folder / mlruns.TAGS_DIR)

        sides = map_slices(side, infos)  # type: ignore[arg-type]
        datasets: dict[str, Dataset | None] = {}
        runs = []
        for (info, folder), (params, tags), metrics in zip(infos, sides, latest):
            if not info.run_name and tags.get("mlflow.runName"):
                info = RunInfo(**{**info.__dict__, "run_name": tags["mlflow.runName"]})
            objs = tuple(sorted(metrics, key=lambda m: m.key))
            data = RunData(metrics={m.key: m.value for m in objs}, params=params, tags=tags, metric_objs=objs)
            runs.append(Run(info=info, data=data, inputs=self._inputs(folder, datasets)))
        return runs

    def _parse_files(self, files: list[tuple[object, str, Path]]) -> mp.ParsedMetrics:
        """Read and parse metric files; unreadable files count as empty, bad lines are reported."""
        blobs = read_many([path for _, _, path in files])
        for (_, _, path), blob in zip(files, blobs):
            if isinstance(blob, OSError):
                self.problem(str(path), f"cannot read metric file ({blob.strerror}); skipped")
        parsed = mp.parse_metric_blobs([b if isinstance(b, bytes) else b"" for b in blobs])
        for (_, _, path), bad, kept, blob in zip(files, parsed.bad_lines, parsed.counts, blobs):
            if bad:
                self.problem(str(path), f"skipped {bad} bad metric line(s), kept {kept}")
            elif kept == 0 and isinstance(blob, bytes):
                self.problem(str(path), "metric file is empty; metric skipped")
        return parsed

    def _latest_metrics(self, files: list[tuple[int, str, Path]], n_runs: int) -> list[list[Metric]]:
        per_run: list[list[Metric]] = [[] for _ in range(n_runs)]
        if not files:
            return per_run
        parsed = self._parse_files(files)  # type: ignore[arg-type]
        rows = mp.latest_rows(parsed)
        for (run_index, key, _), row in zip(files, rows):
            if row >= 0:
                per_run[run_index].append(
                    Metric(key=key, value=float(parsed.value[row]), timestamp=int(parsed.timestamp[row]),
                           step=int(parsed.step[row]))
                )
        return per_run

    def get_runs(
        self, experiment_ids: Sequence[str] | None = None, run_view_type: ViewType | int = ViewType.ACTIVE_ONLY
    ) -> list[Run]:
        view = ViewType.coerce(run_view_type)
        if experiment_ids is None:
            folders = [folder for _, folder in self._experiments(ViewType.ACTIVE_ONLY)]
        else:
            folders = [self._experiment_folder(e) for e in dict.fromkeys(str(e) for e in experiment_ids)]
        return self._build_runs(self._infos(folders, view))

    def _find_run_folder(self, run_id: str) -> Path:
        if mlruns.is_run_id(run_id):
            for parent in (self.root, self.root / mlruns.TRASH_DIR):
                try:
                    entries = list(os.scandir(parent))
                except OSError:
                    continue
                for entry in entries:
                    if mlruns.is_experiment_id(entry.name) and os.path.isdir(os.path.join(entry.path, run_id)):
                        return Path(entry.path) / run_id
        raise ResourceDoesNotExist(f"Run '{run_id}' not found")

    def get_run(self, run_id: str) -> Run:
        """One run, read directly from its folder (fresh: nothing is cached)."""
        folder = self._find_run_folder(run_id)
        try:
            info = self._load_info(folder, folder.parent.name)
        except _Skip as skip:
            raise StoreError(f"{skip.path}: {skip.message.replace('; run skipped', '')}") from None
        return self._build_runs([(info, folder)])[0]

    # -- metric histories ----------------------------------------------------------------------
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of one metric, sorted by (step, timestamp); [] when the run has no such metric."""
        folder = self._find_run_folder(run_id)
        if not _safe_key(key):
            return []
        path = folder / mlruns.METRICS_DIR / key
        if not path.is_file():
            return []
        parsed = self._parse_files([(0, key, path)])
        order = mp.sort_within_files(parsed)
        if order is not None:
            parsed = mp.ParsedMetrics(parsed.counts, parsed.bad_lines, parsed.timestamp[order],
                                      parsed.value[order], parsed.step[order])
        return [
            Metric(key=key, value=v, timestamp=t, step=s)
            for t, v, s in zip(parsed.timestamp.tolist(), parsed.value.tolist(), parsed.step.tolist())
        ]

    def _run_folders_by_id(self, run_ids: Iterable[str] | None) -> list[tuple[str, Path]]:
        if run_ids is None:
            folders = [folder for _, folder in self._experiments(ViewType.ACTIVE_ONLY)]
            return sorted((info.run_id, path) for info, path in self._infos(folders, ViewType.ACTIVE_ONLY))
        wanted = list(dict.fromkeys(run_ids))
        known: dict[str, Path] = {}
        for parent in (self.root, self.root / mlruns.TRASH_DIR):
            for experiment in self._experiment_folders_in(parent):
                for run in self._run_folders(experiment):
                    known.setdefault(run.name, run)
        missing = [r for r in wanted if r not in known]
        if missing:
            raise ResourceDoesNotExist(f"Run '{missing[0]}' not found")
        return sorted((r, known[r]) for r in wanted)

    def _experiment_folders_in(self, parent: Path) -> list[Path]:
        try:
            return [Path(e.path) for e in os.scandir(parent)
                    if mlruns.is_experiment_id(e.name) and e.is_dir(follow_symlinks=False)]
        except OSError:
            return []

    def metric_histories(
        self, run_ids: Iterable[str] | None = None, keys: Iterable[str] | None = None
    ) -> pd.DataFrame:
        """All points of those runs (all active runs when None) and keys (all when None).

        run_id and key are categorical columns (sorted categories); see Store.metric_histories.
        """
        runs = self._run_folders_by_id(run_ids)
        wanted_keys = None if keys is None else sorted(set(keys))
        files: list[tuple[str, str, Path]] = []
        for run_id, folder in runs:
            metrics_dir = folder / mlruns.METRICS_DIR
            if wanted_keys is None:
                found = _key_files(metrics_dir)
            else:
                found = [(k, metrics_dir / k) for k in wanted_keys if _safe_key(k) and (metrics_dir / k).is_file()]
            files.extend((run_id, key, path) for key, path in found)
        files.sort(key=lambda f: (f[0], f[1]))
        parsed = self._parse_files(files)  # type: ignore[arg-type]
        return _history_frame(files, parsed)

    # -- artifacts -----------------------------------------------------------------------------
    def artifact_root(self, run_id: str) -> ArtifactRoot:
        folder = self._find_run_folder(run_id)
        try:
            info = self._load_info(folder, folder.parent.name)
        except _Skip as skip:
            return ArtifactRoot(None, f"run unreadable ({skip.message})")
        local = local_artifact_dir(info.artifact_uri)
        # A stale absolute URI (store rsynced from another machine) falls back to the run's folder.
        fallback = folder / mlruns.ARTIFACTS_DIR if (local is not None or not info.artifact_uri) else None
        return resolve_root(info.artifact_uri, fallback=fallback, allowed=self._allowed, base=self.root.parent)


def _history_frame(files: list[tuple[str, str, Path]], parsed: mp.ParsedMetrics) -> pd.DataFrame:
    """The long history frame from parsed files already in (run_id, key) order."""
    order = mp.sort_within_files(parsed)
    step, timestamp, value = parsed.step, parsed.timestamp, parsed.value
    if order is not None:
        step, timestamp, value = step[order], timestamp[order], value[order]
    run_names = sorted({f[0] for f in files})
    key_names = sorted({f[1] for f in files})
    run_code = {r: i for i, r in enumerate(run_names)}
    key_code = {k: i for i, k in enumerate(key_names)}
    counts = parsed.counts
    run_codes = np.repeat(np.array([run_code[f[0]] for f in files], dtype=np.int32), counts)
    key_codes = np.repeat(np.array([key_code[f[1]] for f in files], dtype=np.int32), counts)
    return pd.DataFrame(
        {
            "run_id": pd.Categorical.from_codes(run_codes, categories=pd.Index(run_names, dtype=object)),
            "key": pd.Categorical.from_codes(key_codes, categories=pd.Index(key_names, dtype=object)),
            "step": step.astype(np.int64, copy=False),
            "timestamp": timestamp.astype(np.int64, copy=False),
            "value": value.astype(np.float64, copy=False),
        },
        columns=HISTORY_COLUMNS,
    )
