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
    # The history rows of some of its runs (run ids; None: all), made when asked:
    # an incremental build whose pages of the experiment all come from the cache never makes its frame.
    histories: Callable[[Collection[str] | None], pd.DataFrame]
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
            self._history = self.histories(None).reset_index(drop=True) if self.runs else _empty_history()
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
        """Reads the experiment's runs and histories now (once)."""
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
        # The cache keeps runs redacted (by rules named in its folder): it never holds a secret.
        cache_dir = read_cache / f"{url_key(store.uri)}-{redactor.fingerprint(env=False)[:8]}" \
            if read_cache is not None and getattr(store, "supports_read_cache", False) else None
        for experiment in mine:
            exp_key = url_key(experiment.experiment_id) if len(stores) == 1 \
                else f"{index}-{url_key(experiment.experiment_id)}"
            data = ExperimentData(store=store, store_label=labels[index], experiment=redactor.experiment(experiment),
                                  key=exp_key, runs=[], histories=_no_histories)
            # Read when the builder comes to it: one experiment's runs and frame are held at a time.
            data.load = partial(_read_one, site, data, index, filter_string, cache_dir)
            site.experiments.append(data)
        if progress is not None:
            progress()
    return site


def _read_one(site: SiteData, data: ExperimentData, index: int, filter_string: str | None,
              cache_dir: Path | None) -> None:
    """The experiment's runs (in page order, redacted), their histories, page names and artifact copies.
    With a read cache the history frame is made only if asked for (not when every page is cached)."""
    ids = [data.experiment.experiment_id]
    if cache_dir is not None:
        runs, histories = data.store.read_cached(ids, filter_string=filter_string, scrub=site.redactor.scrub,
                                                 cache_dir=cache_dir)
    else:
        runs, frame = data.store.read_all(ids, filter_string=filter_string)
        histories = partial(_rows_of, frame)
    runs = sorted(runs, key=lambda r: (-(r.info.start_time or 0), r.info.run_id))
    data.runs, data.histories, data.run_count = site.redactor.runs(runs), histories, len(runs)
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


def _empty_history() -> pd.DataFrame:
    from reportgen.stores.base import HISTORY_COLUMNS

    return pd.DataFrame({name: pd.Series(dtype="int64" if name in ("step", "timestamp") else
                                         "float64" if name == "value" else "object") for name in HISTORY_COLUMNS})
