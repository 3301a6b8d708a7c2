"""Read-only reader of an mlruns/ file store, as written by MLflow 1.x-3.x or by reportgen.tracking:
FileStore finds the experiment and run folders and answers the Store API; stores._run_build builds runs.

Tolerant: a bad experiment, run, metric file or line is skipped with one problem naming the file.
Files are read in batches (threads overlap the I/O) and metric files parsed many at a time in one
vectorised pass (stores._metrics_parse). Nothing is cached across calls unless read_all is given a
cache_dir (stores.file_cache); the logging client reads through get_run after every write.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, Sequence

import pandas as pd

from reportgen import mlruns
from reportgen.errors import ResourceDoesNotExist, StoreError
from reportgen.model import Experiment, LoggedModel, Metric, Run, RunInfo, ViewType
from reportgen.stores import _metrics_parse as mp
from reportgen.stores._file_parts import (
    Skip, UsualArtifactRoots, history_of, join, lstat_key, parse_metric_files, read_key_values, run_artifact_root,
    run_info, safe_key,
)
from reportgen.stores._io import gc_paused
from reportgen.stores._logged_models_read import file_model_root, file_models
from reportgen.stores._meta import read_meta
from reportgen.stores._read_digest import ReadDigests
from reportgen.stores._run_build import RunRef, build_runs, metric_files, read_infos, repeated_ids
from reportgen.stores.artifacts import ArtifactRoot
from reportgen.stores.artifacts import signature as artifact_signature
from reportgen.stores.base import Store
from reportgen.stores.file_cache import cached_read


def _odd_folder(entry: os.DirEntry[str]) -> str:
    """How a folder entry that should be a plain folder is not one, for a problem's message."""
    if entry.is_symlink():
        try:
            target = os.readlink(entry.path)
        except OSError:
            target = "?"
        return f"is a symlink (to {target}), never followed"
    return "is not a folder"


class FileStore(Store):
    """An mlruns/ folder. `artifact_roots` lists extra folders artifacts may live in (besides the store)."""

    # read_all takes cache_dir= (a persistent read cache for incremental builds); other stores do not.
    supports_read_cache = True

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
        self._root = str(path)
        self._allowed = [path, *(Path(r) for r in artifact_roots)]
        # run_id -> (folder, RunInfo) of the runs the last read met: artifact_root() needs no new scan.
        self._known: dict[str, RunRef] = {}
        self._roots: dict[str, tuple[ArtifactRoot, tuple[int, int, int] | None]] = {}  # resolved from _known
        self._usual_roots = UsualArtifactRoots(self._root)
        self._digests: ReadDigests | None = None  # those of the last read, when it was a cached one
        self._artifact_states: dict[str, str | None] = {}  # see _remember
        self._tidied: set[Path] = set()  # read caches cleared of gone experiments' shards (once each)

    # -- experiments ---------------------------------------------------------------------------
    def _parents(self, view: ViewType) -> list[str]:
        parents = []
        if view in (ViewType.ACTIVE_ONLY, ViewType.ALL):
            parents.append(self._root)
        if view in (ViewType.DELETED_ONLY, ViewType.ALL):
            parents.append(join(self._root, mlruns.TRASH_DIR))
        return parents

    def _experiment_folders(self, view: ViewType) -> list[str]:
        folders = []
        for parent in self._parents(view):
            try:
                entries = list(os.scandir(parent))
            except OSError:
                continue
            # Junk (.DS_Store, models/, artifact folders) is not an experiment: ignored silently.
            folders += self._id_folders(entries, mlruns.is_experiment_id, "experiment")
        return sorted(folders, key=lambda f: (int(os.path.basename(f)), os.path.dirname(f) != self._root))

    def _load_experiment(self, folder: str) -> Experiment:
        meta_path = join(folder, mlruns.META_FILE)
        try:
            experiment = mlruns.experiment_from_meta(read_meta(meta_path))
        except FileNotFoundError:
            raise Skip(meta_path, "experiment meta.yaml is missing; experiment skipped") from None
        except OSError as exc:
            raise Skip(meta_path, f"cannot read experiment meta.yaml ({exc.strerror}); skipped") from None
        except mlruns.MetaError as exc:
            raise Skip(meta_path, f"{exc}; experiment skipped") from None
        if experiment.experiment_id != os.path.basename(folder):
            raise Skip(meta_path, f"experiment_id {experiment.experiment_id!r} differs from its folder; "
                                  "experiment skipped")
        tags = read_key_values([join(folder, mlruns.TAGS_DIR)])[0]
        return Experiment(**{**experiment.__dict__, "tags": tags})

    def _experiments(self, view: ViewType) -> list[tuple[Experiment, str]]:
        found = []
        seen: set[str] = set()
        for folder in self._experiment_folders(view):
            try:
                experiment = self._load_experiment(folder)
            except Skip as skip:
                self.problem(skip.path, skip.message)
                continue
            if experiment.experiment_id in seen or not view.admits(experiment.lifecycle_stage):
                continue
            seen.add(experiment.experiment_id)
            found.append((experiment, folder))
        return found

    def search_experiments(self, view_type: ViewType | int = ViewType.ACTIVE_ONLY) -> list[Experiment]:
        return [e for e, _ in self._experiments(ViewType.coerce(view_type))]

    def _experiment_folder(self, experiment_id: str) -> str:
        experiment_id = str(experiment_id)
        if mlruns.is_experiment_id(experiment_id):
            for parent in self._parents(ViewType.ALL):
                if os.path.isdir(join(parent, experiment_id)):
                    return join(parent, experiment_id)
        raise ResourceDoesNotExist(f"No Experiment with id={experiment_id} exists")

    def get_experiment(self, experiment_id: str) -> Experiment:
        try:
            return self._load_experiment(self._experiment_folder(experiment_id))
        except Skip as skip:
            raise StoreError(f"{skip.path}: {skip.message.replace('; experiment skipped', '')}") from None

    # -- runs ----------------------------------------------------------------------------------
    def _run_folders(self, experiment_folder: str) -> list[str]:
        """The run folders of an experiment folder. A run id that is a symlink (perhaps out of the
        store) or a file is named as a problem and left out: never followed, never silently lost."""
        try:
            entries = list(os.scandir(experiment_folder))
        except FileNotFoundError:
            return []  # deleted or moved since it was listed: its runs are gone as a whole
        except OSError as exc:
            self.problem(experiment_folder, f"cannot list experiment folder ({exc.strerror}); its runs skipped")
            return []
        return sorted(self._id_folders(entries, mlruns.is_run_id, "run"))

    def _id_folders(self, entries: list[os.DirEntry[str]], is_id: Callable[[str], bool], kind: str) -> list[str]:
        """The entries named like an id that are plain folders; one named like an id that is a symlink or
        a file is a problem (what it holds would vanish unseen), never followed."""
        folders = []
        for entry in entries:
            if is_id(entry.name):
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
                else:
                    self.problem(entry.path, f"{kind} folder {_odd_folder(entry)}; {kind} skipped")
        return folders

    def _infos(self, experiment_folders: list[str], view: ViewType) -> list[RunRef]:
        folders = [run for exp in experiment_folders for run in self._run_folders(exp)]
        infos = read_infos(folders, lambda i, p, m: self.problem(p, m))
        repeats = repeated_ids(folders, infos)
        for index, message in repeats.items():
            self.problem(folders[index], message)
        return [(folder, info) for index, (folder, info) in enumerate(zip(folders, infos))
                if info is not None and index not in repeats and view.admits(info.lifecycle_stage)]

    def _report(self, index: int, path: str, message: str) -> None:
        self.problem(path, message)

    def _build(self, refs: list[RunRef], *, histories: bool = False) -> tuple[list[Run], pd.DataFrame | None]:
        """Runs with params, tags, inputs and latest metrics (and, when asked, the full history frame),
        every metric file read and parsed once. A run whose folder vanished meanwhile is left out."""
        built, files, parsed = build_runs(refs, self._report, self._report)
        frame = history_of(files, parsed, [info.run_id for _, info in refs]) if histories else None
        runs = [run for run in built if run is not None]
        if len(runs) < len(built):
            gone = {info.run_id for (_, info), run in zip(refs, built) if run is None}
            self._known = {k: v for k, v in self._known.items() if k not in gone}
            if frame is not None:
                frame = frame[~frame["run_id"].isin(gone)].reset_index(drop=True)
                frame["run_id"] = frame["run_id"].cat.remove_unused_categories()
        return runs, frame

    def _chosen_experiment_folders(self, experiment_ids: Sequence[str] | None) -> list[str]:
        if experiment_ids is None:
            return [folder for _, folder in self._experiments(ViewType.ACTIVE_ONLY)]
        return [self._experiment_folder(e) for e in dict.fromkeys(str(e) for e in experiment_ids)]

    def _refs(self, experiment_ids: Sequence[str] | None, view: ViewType) -> list[RunRef]:
        refs = sorted(self._infos(self._chosen_experiment_folders(experiment_ids), view), key=lambda ref: ref[1].run_id)
        self._remember(refs)
        return refs

    def _remember(self, refs: list[RunRef], digests: ReadDigests | None = None,
                  artifact_states: dict[str, str | None] | None = None) -> None:
        self._known = {info.run_id: (folder, info) for folder, info in refs}
        self._roots = {}
        self._digests = digests
        # Run folder -> its artifact_state, taken by a cached read when it checked the folders.
        self._artifact_states = artifact_states or {}

    def read_digest(self, run_id: str) -> bytes | None:
        """Store.read_digest: the digest of the run folder's read-cache signature (file_cache), as blind
        as the cache to a parameter file edited in place (stores._read_sign)."""
        return None if self._digests is None else self._digests.get(run_id)

    def get_runs(
        self, experiment_ids: Sequence[str] | None = None, run_view_type: ViewType | int = ViewType.ACTIVE_ONLY
    ) -> list[Run]:
        with gc_paused():
            return self._build(self._refs(experiment_ids, ViewType.coerce(run_view_type)))[0]

    def read_all(
        self, experiment_ids: Sequence[str] | None = None, run_view_type: ViewType | int = ViewType.ACTIVE_ONLY,
        filter_string: str | None = None, order_by: Sequence[str] | None = None, *,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> tuple[list[Run], pd.DataFrame]:
        """Store.read_all; with cache_dir, only runs whose files changed since the last cached read
        are parsed again (stores.file_cache), with the same result as a read without it."""
        if cache_dir is not None:
            runs, histories = self.read_cached(experiment_ids, run_view_type, filter_string, order_by,
                                               cache_dir=cache_dir)
            return runs, histories(None)
        with gc_paused():
            runs, frame = self._build(self._refs(experiment_ids, ViewType.coerce(run_view_type)), histories=True)
        assert frame is not None
        if filter_string or order_by:
            from reportgen.frames import search

            runs = search(runs, filter_string=filter_string, order_by=order_by)
            kept = frame["run_id"].isin([r.run_id for r in runs])
            if not kept.all():
                frame = frame[kept].reset_index(drop=True)
                frame["run_id"] = frame["run_id"].cat.remove_unused_categories()
        return runs, frame

    def read_cached(
        self, experiment_ids: Sequence[str] | None = None, run_view_type: ViewType | int = ViewType.ACTIVE_ONLY,
        filter_string: str | None = None, order_by: Sequence[str] | None = None, *,
        cache_dir: str | os.PathLike[str], scrub: Callable[[Any], Any] | None = None,
    ) -> tuple[list[Run], Callable[[Collection[str] | None], pd.DataFrame]]:
        """read_all(cache_dir=...), with the history frame made when asked: histories(None) is
        read_all's frame, histories(run_ids) its rows of those runs (reset index, same categories).
        scrub: applied to each Run and RunInfo before it is written to the cache (redaction)."""
        view = ViewType.coerce(run_view_type)
        with gc_paused():
            experiments = self._chosen_experiment_folders(experiment_ids)
            folders = [run for exp in experiments for run in self._run_folders(exp)]
            tidy = Path(cache_dir) not in self._tidied
            self._tidied.add(Path(cache_dir))
            read = cached_read(self._root, experiments, folders, view, Path(cache_dir), problem=self.problem,
                               scrub=scrub, tidy=tidy)
            self._remember(read.refs, read.digests, read.artifact_states)
        runs = read.runs
        kept: set[str] | None = None
        if filter_string or order_by:
            from reportgen.frames import search

            every = len(runs)
            runs = search(runs, filter_string=filter_string, order_by=order_by)
            kept = {r.run_id for r in runs} if len(runs) < every else None
        return runs, lambda run_ids: read.histories.frame(run_ids, runs=kept)

    def _find_run_folder(self, run_id: str) -> str:
        if mlruns.is_run_id(run_id):
            for parent in self._parents(ViewType.ALL):
                try:
                    entries = list(os.scandir(parent))
                except OSError:
                    continue
                for entry in entries:
                    if mlruns.is_experiment_id(entry.name) and os.path.isdir(join(entry.path, run_id)):
                        return join(entry.path, run_id)
        raise ResourceDoesNotExist(f"Run '{run_id}' not found")

    def _load_run(self, run_id: str) -> RunRef:
        folder = self._find_run_folder(run_id)
        try:
            return folder, run_info(join(folder, mlruns.META_FILE), None, run_id,
                                    os.path.basename(os.path.dirname(folder)))
        except Skip as skip:
            raise StoreError(f"{skip.path}: {skip.message.replace('; run skipped', '')}") from None

    def get_run(self, run_id: str) -> Run:
        """One run, read directly from its folder (fresh: nothing is cached)."""
        runs = self._build([self._load_run(run_id)])[0]
        if not runs:
            raise ResourceDoesNotExist(f"Run '{run_id}' not found (its folder vanished while read)")
        return runs[0]

    # -- metric histories ----------------------------------------------------------------------
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of one metric, sorted by (step, timestamp); [] when the run has no such metric."""
        folder = self._find_run_folder(run_id)
        path = join(folder, mlruns.METRICS_DIR, key)
        if not safe_key(key) or not os.path.isfile(path):
            return []
        parsed = parse_metric_files([(0, key, path)], self._report)
        order = mp.sort_within_files(parsed)
        if order is None:
            order = slice(None)
        return [
            Metric(key=key, value=v, timestamp=t, step=s)
            for t, v, s in zip(parsed.timestamp[order].tolist(), parsed.value[order].tolist(),
                               parsed.step[order].tolist())
        ]

    def metric_histories(
        self, run_ids: Iterable[str] | None = None, keys: Iterable[str] | None = None
    ) -> pd.DataFrame:
        """All points of those runs (all active runs of active experiments when None) and keys.

        run_id and key are categorical columns (sorted categories); see Store.metric_histories.
        """
        if run_ids is None:
            refs = self._refs(None, ViewType.ACTIVE_ONLY)
        else:
            wanted = sorted(dict.fromkeys(run_ids))
            known = {os.path.basename(f): f for parent in self._parents(ViewType.ALL)
                     for exp in self._experiment_folders_in(parent) for f in self._run_folders(exp)}
            missing = [r for r in wanted if r not in known]
            if missing:
                raise ResourceDoesNotExist(f"Run '{missing[0]}' not found")
            # The folder name is the run id; meta.yaml is not needed to read the metrics.
            refs = [(known[r], RunInfo(r, "", "", "", "RUNNING", None, None, "")) for r in wanted]
        files = metric_files(refs, None if keys is None else sorted(set(keys)))
        return history_of(files, parse_metric_files(files, self._report), [info.run_id for _, info in refs])

    @staticmethod
    def _experiment_folders_in(parent: str) -> list[str]:
        try:
            return [e.path for e in os.scandir(parent)
                    if mlruns.is_experiment_id(e.name) and e.is_dir(follow_symlinks=False)]
        except OSError:
            return []

    # -- logged models (MLflow 3) ---------------------------------------------------------------
    def logged_models(self, experiment_ids: Sequence[str]) -> list[LoggedModel]:
        return [model for experiment_id in dict.fromkeys(map(str, experiment_ids))
                for model in file_models(self._experiment_folder(experiment_id), experiment_id, self.problem)]

    def model_artifact_root(self, model: LoggedModel) -> ArtifactRoot:
        return file_model_root(model, self._experiment_folder(model.experiment_id), self._allowed, self.root.parent)

    # -- artifacts -----------------------------------------------------------------------------
    def artifact_root(self, run_id: str) -> ArtifactRoot:
        known = self._known.get(run_id)
        usual = None if known is None else self._usual_roots.root(known[0], known[1].artifact_uri)
        if usual is not None:  # the common case, checked in a few lstat calls
            return ArtifactRoot(Path(usual))
        # A run met by the last read answers from memory (the build asks several times per run), as
        # long as its folder is still there; anything else is looked up afresh.
        if known is None or not os.path.isdir(known[0]):
            return self._artifact_root(run_id, None)
        resolved = self._roots.get(run_id)
        if resolved is not None and lstat_key(resolved[0].path) == resolved[1]:
            return resolved[0]
        root = self._artifact_root(run_id, known)
        if root.path is not None:  # kept while the folder is the same (device, inode, type, or missing):
            self._roots[run_id] = (root, lstat_key(root.path))  # replaced or swapped, it is resolved again
        return root

    def artifact_signature(self, run_id: str) -> str:
        known = self._known.get(run_id)
        if known is None:
            return super().artifact_signature(run_id)
        folder, info = known
        taken = folder in self._artifact_states  # by the read: the run's own folders are looked at already
        state = self._artifact_states.get(folder)
        if taken and state is None:
            return super().artifact_signature(run_id)  # not plain folders: resolve_root decides
        usual = self._usual_roots.root(folder, info.artifact_uri, for_signature=True, run_checked=taken)
        if usual is not None:  # as Store.artifact_signature makes it, without a Path (a build asks for all)
            return f"{usual}:{state if taken else artifact_signature(usual)}"
        return super().artifact_signature(run_id)

    def _artifact_root(self, run_id: str, known: RunRef | None) -> ArtifactRoot:
        if known is None:
            folder = self._find_run_folder(run_id)
            try:
                info = run_info(join(folder, mlruns.META_FILE), None, run_id, os.path.basename(os.path.dirname(folder)))
            except Skip as skip:
                return ArtifactRoot(None, f"run unreadable ({skip.message})")
        else:
            folder, info = known
        return run_artifact_root(folder, info.artifact_uri, self._allowed, self.root.parent)
