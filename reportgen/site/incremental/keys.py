"""Cache keys of a build's units: a digest per run (the run as read and redacted, its history points,
its artifacts), and from those the key of each run folder and experiment folder. What a unit's pages
show must all be in its key: a key that misses an input would reuse stale pages.
"""
from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from reportgen.model import Problem
from reportgen.site.gather import ExperimentData
from reportgen.site.incremental.cache import Digest
from reportgen.site.pages.common import run_label
from reportgen.site.pages.models import experiment_key_part, run_key_part
from reportgen.site.summary import MetricSummary


def history_digests(history: pd.DataFrame) -> dict[str, bytes]:
    """run_id -> digest of its history rows in frame order (keys by name, so that a key appearing in
    another run does not change this run's digest)."""
    if history.empty:
        return {}
    run_codes, run_names = pd.factorize(history["run_id"], sort=False)
    key_codes, key_names = pd.factorize(history["key"], sort=False)
    steps = np.ascontiguousarray(history["step"].to_numpy(dtype="int64"))
    stamps = np.ascontiguousarray(history["timestamp"].to_numpy(dtype="int64"))
    values = np.ascontiguousarray(history["value"].to_numpy(dtype="float64"))
    if len(run_codes) > 1 and (np.diff(run_codes) < 0).any():  # rows of a run not together: group them
        order = np.argsort(run_codes, kind="stable")
        run_codes, key_codes, steps, stamps, values = (a[order] for a in (run_codes, key_codes, steps, stamps, values))
    # Stretches of one run and one key (a metric file's rows): each run's digest names its stretches'
    # keys and lengths, then takes the points' bytes.
    changes = np.flatnonzero((np.diff(run_codes) != 0) | (np.diff(key_codes) != 0)) + 1
    starts = np.concatenate(([0], changes)).tolist()
    ends = [*starts[1:], len(run_codes)]
    stretch_runs, stretch_keys = run_codes[starts].tolist(), key_codes[starts].tolist()
    names = [str(name) for name in key_names]
    result = {}
    n = 0
    while n < len(starts):
        run = stretch_runs[n]
        first = n
        while n < len(starts) and stretch_runs[n] == run:
            n += 1
        lo, hi = starts[first], ends[n - 1]
        layout = "\0".join(f"{names[stretch_keys[i]]}\0{ends[i] - starts[i]}" for i in range(first, n))
        digest = hashlib.blake2b(layout.encode("utf-8", "surrogatepass"), digest_size=20)
        for array in (steps, stamps, values):
            digest.update(memoryview(array[lo:hi]))  # contiguous slices: hashed in place, not copied
        result[str(run_names[run])] = digest.digest()
    return result


@dataclass
class UnitKeys:
    runs: dict[str, str]  # run_id -> key of its unit: the page r/<key>.html and its folder r/<key>/
    experiment: str  # key of the folder e/<key>/


def unit_keys(exp: ExperimentData, build_key: str, children: dict[str, list[Any]], *, artifacts: bool) -> UnitKeys:
    """The cache keys of the experiment's run folders and of its own folder.

    A run is keyed by its content: what the reader read for it, when the store vouches for that
    (`read_digest`: the file store's read cache, by its files' stats or, for a run read while it
    changed, by what was read), else its Run as read and redacted (pickled) and its history rows."""
    content: dict[str, str] = {}
    read_digest = getattr(exp.store, "read_digest", None)
    if read_digest is not None:
        for run in exp.runs:
            digest = read_digest(run.info.run_id)
            if digest is not None:
                content[run.info.run_id] = "read:" + digest.hex()
    others = [run for run in exp.runs if run.info.run_id not in content]
    if others:  # (only then are history rows made: an unchanged experiment may never need them)
        ids = [run.info.run_id for run in others]
        histories = history_digests(exp.history if len(others) > len(exp.runs) // 2 else exp.history_rows(ids))
        for run in others:
            run_id = run.info.run_id
            content[run_id] = Digest(pickle.dumps(run, protocol=5), histories.get(run_id, b"")).hex()
    exp_part = Digest("experiment", build_key, exp.key, exp.store_label,
                      pickle.dumps(exp.experiment, protocol=5)).hex()
    labels = {run.info.run_id: run_label(run) for run in exp.runs}
    runs = {}
    head = Digest.framed("run", exp_part)
    for run in exp.runs:
        run_id = run.info.run_id
        parent = run.parent_run_id
        parts = [exp.run_keys[run_id], content[run_id]]
        if parent:
            parts += ("parent", parent, exp.run_keys.get(parent, ""), labels.get(parent, ""))
        for child in children.get(run_id, []):
            child_id = child.info.run_id
            parts += ("child", exp.run_keys.get(child_id, ""), labels.get(child_id, ""), child.info.status)
        if artifacts:  # what the files are, and which of them this build copies
            parts += ("artifacts", exp.store.artifact_signature(run_id), repr(exp.artifacts.get(run_id)))
        else:
            parts += ("artifacts", "off")
        models = run_key_part(exp, run_id)  # its logged models, their MLmodel and files (b"": none)
        if models:
            parts += ("models", models)
        runs[run_id] = Digest.after(head, *parts)  # Digest("run", exp_part, *parts)
    experiment = Digest("experiment-pages", exp_part)
    unlinked = experiment_key_part(exp)  # models of no run: on the experiment's pages only
    if unlinked:
        experiment.add("models", unlinked)
    experiment.add(*(part for run in exp.runs for part in (exp.run_keys[run.info.run_id], runs[run.info.run_id])))
    return UnitKeys(runs=runs, experiment=experiment.hex())


# -- side data: what a unit's rendering told the build besides its files (JSON in the cache) ----------

def problems_out(problems: list[Problem]) -> list[list[str]]:
    return [[p.path, p.message, p.kind] for p in problems]


def problems_in(rows: list[list[str]]) -> list[Problem]:
    return [Problem(path=path, message=message, kind=kind) for path, message, kind in rows]


def summaries_out(summaries: dict[tuple[str, str], MetricSummary], run_id: str, keys: Any) -> list[list[Any]]:
    rows = []
    for key in sorted(keys):
        found = summaries.get((run_id, key))
        if found is not None:
            rows.append([key, found.last, found.min, found.max, found.best_step, found.count])
    return rows


def summaries_in(run_id: str, rows: list[list[Any]]) -> dict[tuple[str, str], MetricSummary]:
    return {(run_id, key): MetricSummary(last=float(last), min=float(low), max=float(high), best_step=best,
                                         count=int(count))
            for key, last, low, high, best, count in rows}


class Summaries(dict):
    """(run_id, key) -> MetricSummary of the runs rendered now, and of the cached runs (their units'
    side data, read by `load`) decoded when first asked for. Asked with get(), as the pages do."""

    def __init__(self, made: dict[tuple[str, str], MetricSummary], cached: dict[str, list[list[Any]] | None],
                 made_again: Callable[[str], dict[tuple[str, str], MetricSummary]]) -> None:
        super().__init__(made)
        self._cached = dict(cached)  # run_id -> its unit's summary rows (None: unreadable), until decoded
        self._made_again = made_again  # from the run's history, should its side data be unreadable

    def get(self, key: tuple[str, str], default: Any = None) -> Any:  # type: ignore[override]
        if self._cached:
            self._fetch(key[0])
        return super().get(key, default)

    def _fetch(self, run_id: str) -> None:
        if run_id in self._cached:
            rows = self._cached.pop(run_id)
            found = summaries_in(run_id, rows) if rows is not None else self._made_again(run_id)
            self.update(found)
