"""Gathering for a build: open the stores, pick the experiments and runs, read their histories, redact,
list each run's artifacts and plan their copies.

Everything the pages need is read here, before anything is rendered (the mkdocs way: gather, then write);
only the artifact files themselves are read later, as they are copied.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Collection, Sequence

import pandas as pd

from reportgen.errors import ReportgenError
from reportgen.model import Experiment, Problem, Run
from reportgen.redaction import Redactor
from reportgen.selection import select_experiments, url_key
from reportgen.selection import experiment_matches as _matches
from reportgen.site.artifacts.plan import Budget, PlannedFile, plan_run
from reportgen.site.logged_models import ExperimentModels, gather_models
from reportgen.uri import local_path, redact_uri, scheme_of


@dataclass
class ExperimentData:
    store: Any
    store_label: str
    experiment: Experiment
    key: str  # folder name under e/
    runs: list[Run]
    # The store's history rows of some runs (run ids; None: all of the store's runs), made when asked:
    # an incremental build whose pages of the experiment all come from the cache never makes its frame.
    histories: Callable[[Collection[str] | None], pd.DataFrame]
    whole: bool = False  # the store's runs are all this experiment's
    run_keys: dict[str, str] = field(default_factory=dict)  # run_id -> folder name under r/
    artifacts: dict[str, list[PlannedFile]] = field(default_factory=dict)  # run_id -> its listed files
    _history: pd.DataFrame | None = field(default=None, repr=False)
    # What the pages derive from the runs more than once (they do not change after the gather).
    derived: dict[str, Any] = field(default_factory=dict, repr=False)
    models: ExperimentModels = field(default_factory=ExperimentModels)  # MLflow 3's logged models it shows
    # Reads the runs and histories when the builder comes to this experiment (None: read already), so
    # that a build holds one experiment's frames at a time, not the store's.
    load: Callable[[], None] | None = field(default=None, repr=False)
    run_count: int = 0  # len(runs), kept after release()

    def release(self) -> None:
        """Drops what was read of the experiment once its pages are written."""
        self.runs, self.run_keys, self.artifacts, self.derived = [], {}, {}, {}
        self.models = ExperimentModels()
        self._history = None
        self.histories = _no_histories

    @property
    def history(self) -> pd.DataFrame:
        """The metric points of the experiment's runs (the store frame's rows, index reset)."""
        if self._history is None:
            self._history = _history_of(self.histories, self.runs, whole=self.whole)
        return self._history

    def history_rows(self, run_ids: Collection[str]) -> pd.DataFrame:
        """The rows of some of its runs (what history[isin(run_ids)] holds), without making the whole."""
        if self._history is not None:
            return self._history[self._history["run_id"].isin(run_ids)]
        return self.histories(run_ids) if run_ids else _empty_history()


@dataclass
class SiteData:
    stores: list[Any]
    store_labels: list[str]
    experiments: list[ExperimentData]
    redactor: Redactor = field(default_factory=Redactor)  # also for what the build itself reports
    problems: list[Problem] = field(default_factory=list)  # met while gathering (the stores keep their own)

    budget: Budget | None = None  # the artifact copies planned so far (experiments are planned in order)
    strict: bool = False
    used_run_keys: set[str] = field(default_factory=set)

    @property
    def run_count(self) -> int:
        return sum(item.run_count for item in self.experiments)

    def load(self, exp: ExperimentData) -> None:
        """Reads the experiment's runs and histories now, if it was not read with its store's others."""
        if exp.load is not None:
            exp.load()
            exp.load = None


def open_stores(uris: Sequence[str], *, strict: bool, artifacts_destination: str | None = None) -> list[Any]:
    from reportgen.stores import open_store

    return [open_store(uri, strict=strict, artifacts_destination=artifacts_destination) for uri in uris]


def store_root(uri: str) -> Path | None:
    """The local folder or file of a store (to keep the output out of it), when it is local."""
    if scheme_of(uri) == "file":
        return local_path(uri)
    if scheme_of(uri) == "sqlite" and uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///"):])
    return None


def gather(stores: list[Any], uris: Sequence[str], *, experiments: Sequence[str], filter_string: str | None,
           redactor: Redactor, artifacts: Budget | None = None, strict: bool = False, progress: Any = None,
           read_cache: Path | None = None) -> SiteData:
    """The chosen experiments of every store with their runs and histories, redacted, and each run's
    artifact files with the copies that fit the budget (None: artifacts are left out).
    read_cache: a folder where stores that keep a read cache (supports_read_cache) keep it."""
    labels = [redactor.text(redact_uri(uri)) for uri in uris]
    chosen: list[tuple[int, Experiment]] = []
    for index, store in enumerate(stores):
        found = store.search_experiments()
        try:
            picked = select_experiments(found, experiments)
        except ReportgenError:
            picked = []
        chosen.extend((index, exp) for exp in picked)
    for pattern in experiments:
        if not any(_matches(exp, pattern) for _, exp in chosen):
            raise ReportgenError(f"--experiment {pattern!r} matches no experiment")

    site = SiteData(stores=stores, store_labels=labels, experiments=[], redactor=redactor, budget=artifacts,
                    strict=strict)
    for index, store in enumerate(stores):
        mine = [exp for i, exp in chosen if i == index]
        if not mine:
            continue
        def shell(experiment: Experiment, index: int = index, store: Any = store) -> ExperimentData:
            exp_key = url_key(experiment.experiment_id) if len(stores) == 1 \
                else f"{index}-{url_key(experiment.experiment_id)}"
            return ExperimentData(store=store, store_label=labels[index], experiment=redactor.experiment(experiment),
                                  key=exp_key, runs=[], histories=_no_histories)
        if read_cache is not None and getattr(store, "supports_read_cache", False):
            # The frame of an experiment is made only if its pages are rendered (not when cached).
            # The cache keeps runs redacted (by rules named in its folder): it never holds a secret.
            ids = [exp.experiment_id for exp in mine]
            all_runs, histories = store.read_cached(
                ids, filter_string=filter_string, scrub=redactor.scrub,
                cache_dir=read_cache / f"{url_key(store.uri)}-{redactor.fingerprint(env=False)[:8]}")
            by_experiment: dict[str, list[Run]] = {}
            for run in all_runs:
                by_experiment.setdefault(run.info.experiment_id, []).append(run)
            for experiment in mine:
                data = shell(experiment)
                _fill(site, data, index, by_experiment.get(experiment.experiment_id, []), histories,
                      whole=len(mine) == 1)
                site.experiments.append(data)
        else:
            # One experiment at a time, read when the builder comes to it: its frame is dropped before the next.
            for experiment in mine:
                data = shell(experiment)
                data.load = partial(_read_one, site, data, index, filter_string)
                site.experiments.append(data)
        if progress is not None:
            progress()
    return site


def _read_one(site: SiteData, data: ExperimentData, index: int, filter_string: str | None) -> None:
    runs, frame = data.store.read_all([data.experiment.experiment_id], filter_string=filter_string)
    _fill(site, data, index, runs, partial(_rows_of, frame), whole=True)


def _fill(site: SiteData, data: ExperimentData, index: int, runs: list[Run],
          histories: Callable[[Collection[str] | None], pd.DataFrame], *, whole: bool) -> None:
    """The experiment's runs (in page order, redacted), their page names and their artifact copies."""
    runs = sorted(runs, key=lambda r: (-(r.info.start_time or 0), r.info.run_id))
    data.runs, data.histories, data.whole, data.run_count = site.redactor.runs(runs), histories, whole, len(runs)
    for run in data.runs:
        data.run_keys[run.info.run_id] = _unused_key(url_key(run.info.run_id), index, site.used_run_keys)
    if site.budget is not None:
        plan_artifacts(site, data, site.budget, strict=site.strict)
    # After its runs' copies (they take the budget first): the budget order is now the experiment's runs,
    # then its models, experiment by experiment (it was every run of the site, then every model).
    gather_models(site, [data], site.budget, strict=site.strict)


def plan_artifacts(site: SiteData, exp: ExperimentData, budget: Budget, *, strict: bool) -> None:
    """Every run's artifact files and whether each is copied, in the site's run order (so the copies under
    --max-site-size are the same in every build of the same store)."""
    def warn(path: str, message: str) -> None:
        if strict:
            raise ReportgenError(f"{path}: {message}")
        site.problems.append(Problem(path=path, message=message))

    for run in exp.runs:
        exp.artifacts[run.info.run_id] = plan_run(exp.store, run.info.run_id, budget, warn)


def _unused_key(key: str, index: int, used: set[str]) -> str:
    """A run page name no other run has: merged stores may share run ids, and a page written twice
    would lose one run. Compared case-folded, as a file system on macOS or Windows compares names."""
    candidate, n = key, 0
    while candidate.casefold() in used:
        n += 1
        candidate = f"{index}-{key}" if n == 1 else f"{index}-{key}-{n}"
    used.add(candidate.casefold())
    return candidate


def _no_histories(run_ids: Collection[str] | None) -> pd.DataFrame:
    raise RuntimeError("the experiment's histories were released, or not read yet")


def _rows_of(frame: pd.DataFrame, run_ids: Collection[str] | None) -> pd.DataFrame:
    if run_ids is None:
        return frame
    return frame[frame["run_id"].isin(run_ids)].reset_index(drop=True)


def _history_of(histories: Callable[[Collection[str] | None], pd.DataFrame], runs: list[Run], *,
                whole: bool) -> pd.DataFrame:
    """The rows of these runs in the store's history frame (whole: they are all of its runs)."""
    if not runs:
        return _empty_history()
    if whole:
        return histories(None).reset_index(drop=True)
    return histories({run.info.run_id for run in runs})


def _empty_history() -> pd.DataFrame:
    from reportgen.stores.base import HISTORY_COLUMNS

    return pd.DataFrame({name: pd.Series(dtype="int64" if name in ("step", "timestamp") else
                                         "float64" if name == "value" else "object") for name in HISTORY_COLUMNS})
