"""The read-only store interface every reader implements (file, SQL, REST), shaped like MLflow's.

A reader implements the abstract methods; search_runs, get_metric_history and the frames come from
them here, so filtering and ordering behave the same on every kind of store.
"""
from __future__ import annotations

import abc
import warnings
from typing import IO, Iterable, Sequence

import pandas as pd

from reportgen.errors import ReportgenError, ResourceDoesNotExist
from reportgen.model import Experiment, FileInfo, Metric, Problem, Run, ViewType

# The columns of metric_histories(), in order.
HISTORY_COLUMNS = ["run_id", "key", "step", "timestamp", "value"]


class ReadWarning(UserWarning):
    """Emitted once per skipped item (a bad run, a bad metric line); the message names the file."""


class Store(abc.ABC):
    """A read-only view of one tracking store.

    `problems` collects everything skipped while reading; with strict=True the first problem raises
    instead. Readers call `self.problem(path, message)` for each one.
    """

    def __init__(self, uri: str, *, strict: bool = False) -> None:
        self.uri = uri
        self.strict = strict
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str, *, kind: str = "warning") -> None:
        """Record a skipped item; raise instead when strict."""
        item = Problem(path=str(path), message=message, kind=kind)
        if self.strict:
            raise ReportgenError(f"{item.path}: {item.message}")
        self.problems.append(item)
        warnings.warn(str(item), ReadWarning, stacklevel=3)

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

        Sorted by run_id, key, step, timestamp. step and timestamp are int64, value float64 (NaN kept).
        """

    @abc.abstractmethod
    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """One level of a run's artifacts under `path` (MLflow's list_artifacts), sorted by path."""

    @abc.abstractmethod
    def open_artifact(self, run_id: str, path: str) -> IO[bytes]:
        """A run's artifact file for reading; refuses paths that leave the run's artifact root,
        symlinks and anything that is not a regular file (ReportgenError)."""

    # -- derived ---------------------------------------------------------------------------------
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
