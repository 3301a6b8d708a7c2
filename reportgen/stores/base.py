"""The read-only store interface every reader implements (file, SQL, REST), shaped like MLflow's.

A reader implements the abstract methods; search_runs, get_metric_history and the frames come from
them here, so filtering and ordering behave the same on every kind of store. Local readers (file,
SQL) get their artifact methods from here too, through artifact_root() and stores.artifacts; a
server's mlflow-artifacts: URIs are read from `artifacts_destination` (stores.server_artifacts).
"""
from __future__ import annotations

import abc
import warnings
from pathlib import Path
from typing import IO, Iterable, Sequence

import pandas as pd

from reportgen.errors import ReportgenError, ResourceDoesNotExist, UnsupportedError
from reportgen.printing import printable
from reportgen.model import Experiment, FileInfo, LoggedModel, Metric, Problem, Run, ViewType
from reportgen.stores import artifacts
from reportgen.stores._metrics_parse import HISTORY_COLUMNS  # re-exported: the history frame's columns
from reportgen.stores.artifacts import ArtifactRoot
from reportgen.stores.server_artifacts import is_server_uri, left_out, root_on_destination


class ReadWarning(UserWarning):
    """Emitted once per skipped item (a bad run, a bad metric line); the message names the file."""


class Store(abc.ABC):
    """A read-only view of one tracking store.

    `problems` collects everything skipped while reading (each distinct problem once, however often
    the item is read again); with strict=True the first problem raises instead. Readers call
    `self.problem(path, message)` for each one.

    `artifacts_destination`: the folder an `mlflow server` keeps proxied artifacts in (its
    --artifacts-destination), where runs with `mlflow-artifacts:` URIs are read; None leaves them out
    (one problem for the store, naming the runs). Set by open_store(..., artifacts_destination=).
    """

    def __init__(self, uri: str, *, strict: bool = False) -> None:
        self.uri = uri
        self.strict = strict
        self.problems: list[Problem] = []
        self._seen_problems: set[tuple[str, str]] = set()
        self.artifacts_destination: Path | None = None
        self._on_server: dict[str, None] = {}  # runs whose artifacts were left on the server, in order
        self._on_server_problem: Problem | None = None
        self._model_roots: dict[tuple[str, str], ArtifactRoot] = {}  # see _logged_models_read.usable_root

    def problem(self, path: str, message: str, *, kind: str = "warning") -> None:
        """Record a skipped item (once) and warn; raise instead when strict."""
        item = Problem(path=str(path), message=message, kind=kind)
        if self.strict:
            raise ReportgenError(f"{item.path}: {item.message}")
        if (item.path, item.message) in self._seen_problems:
            return
        self._seen_problems.add((item.path, item.message))
        self.problems.append(item)
        warnings.warn(printable(item), ReadWarning, stacklevel=3)  # a log: redacted, one line

    # -- what a reader implements -------------------------------------------------------------
    @abc.abstractmethod
    def search_experiments(self, view_type: ViewType | int = ViewType.ACTIVE_ONLY) -> list[Experiment]:
        """All experiments in the given lifecycle view, ordered by experiment id (numeric)."""

    @abc.abstractmethod
    def get_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        run_view_type: ViewType | int = ViewType.ACTIVE_ONLY,
    ) -> list[Run]:
        """Every readable run of those experiments (all when None), with latest metrics, params, tags."""

    @abc.abstractmethod
    def metric_histories(
        self, run_ids: Iterable[str] | None = None, keys: Iterable[str] | None = None
    ) -> pd.DataFrame:
        """All points of those runs and keys, one row each: run_id, key, step, timestamp, value.

        Sorted by run_id, key, step, timestamp. step and timestamp are int64, value float64 (NaN and
        +-inf kept); run_id and key are categoricals (sorted categories, only those present).
        run_ids=None means every active run of the active experiments; an unknown run id raises
        ResourceDoesNotExist; keys=None means every key.
        """

    def artifact_root(self, run_id: str) -> ArtifactRoot:
        """Where the run's artifacts are on this machine: ArtifactRoot(path) with a real path inside
        the store (or an allowed root), or ArtifactRoot(None, reason) when they are unavailable
        (remote scheme, missing folder, outside the store). Local readers implement this."""
        raise UnsupportedError(f"{type(self).__name__} has no local artifact folders")

    def _resolved_root(self, run_id: str) -> ArtifactRoot:
        """artifact_root, with a server's mlflow-artifacts: URI mapped into artifacts_destination."""
        root = self.artifact_root(run_id)
        if root.path is None and self.artifacts_destination is not None and is_server_uri(root.remote):
            return root_on_destination(root.remote, self.artifacts_destination, run_id)
        return root

    def _usable_root(self, run_id: str) -> ArtifactRoot:
        root = self._resolved_root(run_id)
        if root.path is None:
            if is_server_uri(root.remote):
                self._left_on_server(run_id)
            else:
                self.problem(f"run {run_id}", f"artifacts unavailable: {root.reason}")
        return root

    def _left_on_server(self, run_id: str) -> None:
        """One problem for the store, however many runs: the count and ids grow as runs are walked."""
        if run_id in self._on_server:
            return
        self._on_server[run_id] = None
        item = Problem(path=self.uri, message=left_out(list(self._on_server)))
        if self.strict:
            raise ReportgenError(f"{item.path}: {item.message}")
        if self._on_server_problem in self.problems:
            self.problems.remove(self._on_server_problem)
        else:  # warned once, for the first run; the problem itself keeps the full count
            warnings.warn(printable(item), ReadWarning, stacklevel=3)
        self.problems.append(item)
        self._on_server_problem = item

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """One level of a run's artifacts under `path` (MLflow's list_artifacts), sorted by path.

        FileInfo.path is relative to the artifact root; directories have is_dir=True and file_size
        None. Symlinks and special files are left out; unavailable artifacts list as [] (a problem).
        """
        root = self._usable_root(run_id)
        return [] if root.path is None else artifacts.list_dir(root.path, path)

    def open_artifact(self, run_id: str, path: str) -> IO[bytes]:
        """A run's artifact file for reading (binary; the caller closes it).

        Refuses (ReportgenError) paths that leave the artifact root ('..', absolute, backslash, NUL,
        percent-encoded forms of these), symlinks anywhere on the path, and anything that is not a
        regular file (a FIFO is never opened for blocking reads). ResourceDoesNotExist when the
        file or the run's artifacts are missing or unavailable.
        """
        root = self._resolved_root(run_id)
        if root.path is None:
            raise ResourceDoesNotExist(f"Artifacts of run {run_id} are unavailable: {root.reason}")
        return artifacts.open_file(root.path, path)

    def walk_artifacts(self, run_id: str, *, max_files: int = artifacts.MAX_WALK_FILES) -> list[FileInfo]:
        """Every regular file of a run's artifact tree (recursive), for the site builder to copy.

        FileInfo(path relative to the artifact root, is_dir=False, file_size). Symlinks are never
        followed, special files never opened: each is skipped with a problem naming it. Open a
        listed file with open_artifact(run_id, info.path). [] (and one problem) when unavailable.
        """
        root = self._usable_root(run_id)
        if root.path is None:
            return []
        return artifacts.walk(root.path, on_skip=self.problem, max_files=max_files)

    def artifact_signature(self, run_id: str) -> str:
        """What the build cache keys a run's artifacts by, beside its copy plan (site.artifacts.plan,
        which lists every published file with its size): the paths, sizes and mtimes of local files.
        A server's files are known only by their listing, which the plan already holds: they are not
        listed a second time. Records no problem."""
        try:
            root = self._resolved_root(run_id)
        except UnsupportedError:
            return "listing"
        if root.path is None:
            return f"none:{root.reason}"
        return f"{root.path}:{artifacts.signature(root.path)}"

    def read_digest(self, run_id: str) -> bytes | None:
        """A digest of what the last read read for this run, or None when the store cannot tell.

        Equal digests (same store, same reportgen version) mean the reader built an identical Run and
        identical history rows for it: a build may reuse what it made of the run without hashing it
        again. The file store gives one after a read_all(cache_dir=...) for each run whose files are
        trusted by the read cache; None for an unknown run, a racy one, or after any other read."""
        return None

    # -- MLflow 3's logged models (stores._logged_models_read) ---------------------------------
    def logged_models(self, experiment_ids: Sequence[str]) -> list[LoggedModel]:
        """The active logged models of those experiments, ordered by model id ([] for a store without)."""
        return []

    def model_artifact_root(self, model: LoggedModel) -> ArtifactRoot:
        """Where a model's files are on this machine, as artifact_root is for a run's."""
        raise UnsupportedError(f"{type(self).__name__} has no local model folders")

    def walk_model_artifacts(self, model: LoggedModel, *, max_files: int = artifacts.MAX_WALK_FILES) -> list[FileInfo]:
        """Every regular file of a model's folder, as walk_artifacts lists a run's ([] and a problem when unavailable)."""
        from reportgen.stores._logged_models_read import local_walk

        return local_walk(self, model, max_files)

    def open_model_artifact(self, model: LoggedModel, path: str) -> IO[bytes]:
        """A model's file for reading, refused and checked as open_artifact does for a run's."""
        from reportgen.stores._logged_models_read import local_open

        return local_open(self, model, path)

    # -- derived ---------------------------------------------------------------------------------
    def read_all(
        self, experiment_ids: Sequence[str] | None = None, run_view_type: ViewType | int = ViewType.ACTIVE_ONLY,
        filter_string: str | None = None, order_by: Sequence[str] | None = None,
    ) -> tuple[list[Run], pd.DataFrame]:
        """Everything a report needs in one call: the runs (as search_run_objects: filtered and ordered
        like MLflow) and the metric_histories frame of exactly those runs.

        The file store reads each metric file once for both (get_runs alone must parse them all for
        the latest values); other stores simply make the two calls.
        """
        runs = self.search_run_objects(experiment_ids, filter_string, order_by, run_view_type)
        return runs, self.metric_histories([r.run_id for r in runs])

    def get_experiment(self, experiment_id: str) -> Experiment:
        for experiment in self.search_experiments(ViewType.ALL):
            if experiment.experiment_id == str(experiment_id):
                return experiment
        raise ResourceDoesNotExist(f"No Experiment with id={experiment_id} exists")

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        for experiment in self.search_experiments(ViewType.ALL):
            if experiment.name == name:
                return experiment
        return None

    def get_run(self, run_id: str) -> Run:
        for run in self.get_runs(None, ViewType.ALL):
            if run.info.run_id == run_id:
                return run
        raise ResourceDoesNotExist(f"Run '{run_id}' not found")

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        frame = self.metric_histories([run_id], [key])
        return [
            Metric(key=key, value=float(v), timestamp=int(t), step=int(s))
            for s, t, v in zip(frame["step"], frame["timestamp"], frame["value"])
        ]

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        run_view_type: ViewType | int = ViewType.ACTIVE_ONLY,
        max_results: int | None = None,
    ) -> pd.DataFrame:
        """Runs as a DataFrame with mlflow.search_runs' columns, filtered and ordered like MLflow."""
        from reportgen.frames import runs_frame

        return runs_frame(
            self.search_run_objects(experiment_ids, filter_string, order_by, run_view_type, max_results)
        )

    def search_run_objects(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        run_view_type: ViewType | int = ViewType.ACTIVE_ONLY,
        max_results: int | None = None,
    ) -> list[Run]:
        """Runs as Run objects (what MlflowClient.search_runs returns), filtered and ordered like MLflow."""
        from reportgen.frames import search

        runs = self.get_runs(experiment_ids, run_view_type)
        return search(runs, filter_string=filter_string, order_by=order_by, max_results=max_results)

    def close(self) -> None:
        """Release files or connections; a closed store must not be used again."""

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
