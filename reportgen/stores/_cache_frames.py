"""The history frame of a cached read (stores.file_cache), made from its entries when asked: whole, or
the rows of some runs with the whole frame's categories, without making the whole.
"""
from __future__ import annotations

from itertools import chain, compress
from typing import Collection

import numpy as np
import pandas as pd

from reportgen.stores import _metrics_parse as mp
from reportgen.stores._metrics_parse import HISTORY_COLUMNS
from reportgen.stores._cache_entry import Entry


class Histories:
    """The history frame of a cached read, made when asked: whole, or the rows of some runs only (an
    incremental build needs the points of the experiments it renders again, often none)."""

    def __init__(self, entries: list[Entry]) -> None:
        self._entries = entries  # admitted runs, in run id order
        self._whole: pd.DataFrame | None = None
        self._points: tuple[set[str], list[str]] | None = None
        self._of_runs: tuple[Collection[str], list[Entry]] | None = None  # the entries of the last `runs`
        self._categories: tuple[list[Entry], list[str]] | None = None  # entries -> their runs with points

    def frame(self, run_ids: Collection[str] | None = None, *, runs: Collection[str] | None = None) -> pd.DataFrame:
        """The whole frame (run_ids None), else frame[frame.run_id.isin(run_ids)].reset_index(drop=True),
        categories included. runs: the run ids the whole frame is of (a search kept only these)."""
        entries = self._entries
        if runs is not None:  # (an experiment's runs: the same collection each time it asks)
            if self._of_runs is None or self._of_runs[0] is not runs:
                self._of_runs = (runs, [e for e in entries if e.info.run_id in runs])  # type: ignore[union-attr]
            entries = self._of_runs[1]
        if runs is None and self._whole is not None:
            if run_ids is None:
                return self._whole
            return self._whole[self._whole["run_id"].isin(run_ids)].reset_index(drop=True)
        if run_ids is None and runs is None:
            self._whole = _whole_frame(entries, [e.info.run_id for e in entries])  # type: ignore[union-attr]
            # The frame holds every point now: the entries' own arrays go (a 5,000-run experiment's
            # 160 MB, held while its pages render), and the rows of some runs come from the frame.
            for entry in entries:
                entry.timestamp = entry.value = entry.step = None
            return self._whole
        # The categories: the store's keys with points, and the runs with points of the whole frame.
        with_points, all_keys = self._with_points()
        if self._categories is None or self._categories[0] is not entries:  # (asked once per chart drawn again)
            self._categories = (entries, [e.info.run_id for e in entries  # type: ignore[union-attr]
                                          if e.info.run_id in with_points])  # type: ignore[union-attr]
        all_runs = self._categories[1]
        if run_ids is not None:
            wanted = set(run_ids)
            entries = [e for e in entries if e.info.run_id in wanted]  # type: ignore[union-attr]
        return _frame(entries, [e.info.run_id for e in entries], all_runs, all_keys)  # type: ignore[union-attr]

    def _with_points(self) -> tuple[set[str], list[str]]:
        """(run ids, sorted keys) that have points among all entries; found once (a scan of every file's
        counts: what made asking for the rows of a few runs cost 25 ms)."""
        if self._points is None:
            entries = [e for e in self._entries if e.counts is not None and len(e.counts)]
            if not entries:
                self._points = set(), []
                return self._points
            # Every file's count at once: one array, one test, one reduction per run (a numpy call or a
            # Python loop per run cost more than the rest).
            counts = np.concatenate([e.counts for e in entries])
            has = counts > 0
            starts = np.cumsum([0] + [len(e.counts) for e in entries[:-1]])
            with_points = np.logical_or.reduceat(has, starts).tolist()
            runs = {e.info.run_id for e, flag in zip(entries, with_points) if flag}  # type: ignore[union-attr]
            keys = set(compress(chain.from_iterable(e.keys for e in entries), has.tolist()))
            self._points = runs, sorted(keys)
        return self._points


def _frame(entries: list[Entry], run_ids: list[str], all_runs: list[str], all_keys: list[str]) -> pd.DataFrame:
    """The history frame of these entries, with the categories of a bigger frame (all_runs, all_keys)."""
    run_code = {run_id: i for i, run_id in enumerate(all_runs)}
    key_code = {key: i for i, key in enumerate(all_keys)}
    keys = list(chain.from_iterable(entry.keys for entry in entries))
    with_files = [entry for entry in entries if entry.keys]

    def joined(attr: str, dtype: type) -> np.ndarray:
        parts = [getattr(entry, attr) for entry in with_files]
        return np.concatenate(parts) if parts else np.empty(0, dtype)

    counts = joined("counts", np.int64)
    # A run or key without points is in no category; its code is never repeated (count 0).
    file_runs = np.repeat(np.fromiter((run_code.get(r, 0) for r in run_ids), np.int32, len(run_ids)),
                          [len(entry.keys) for entry in entries])
    run_codes = np.repeat(file_runs, counts)
    key_codes = np.repeat(np.fromiter((key_code.get(k, 0) for k in keys), np.int32, len(keys)), counts)
    return pd.DataFrame(
        {
            "run_id": pd.Categorical.from_codes(run_codes, categories=pd.Index(all_runs, dtype=object)),
            "key": pd.Categorical.from_codes(key_codes, categories=pd.Index(all_keys, dtype=object)),
            "step": joined("step", np.int64), "timestamp": joined("timestamp", np.int64),
            "value": joined("value", np.float64),
        },
        columns=HISTORY_COLUMNS, copy=False,
    )


def _whole_frame(entries: list[Entry], run_ids: list[str]) -> pd.DataFrame:
    """The history frame of these runs: the same input FileStore's _frame gets, in the same order."""
    # Whole lists at a time (set union, map, repeat): 20k files in Python loops cost 10 ms.
    keys = list(chain.from_iterable(entry.keys for entry in entries))
    key_names = sorted(set(keys))
    key_code = {k: i for i, k in enumerate(key_names)}
    with_files = [entry for entry in entries if entry.keys]

    def joined(attr: str, dtype: type) -> np.ndarray:
        parts = [getattr(entry, attr) for entry in with_files]
        return np.concatenate(parts) if parts else np.empty(0, dtype)

    counts = joined("counts", np.int64)
    file_runs = np.repeat(np.arange(len(entries), dtype=np.int32), [len(entry.keys) for entry in entries])
    run_codes = np.repeat(file_runs, counts)
    key_codes = np.repeat(np.fromiter(map(key_code.__getitem__, keys), np.int32, len(keys)), counts)
    # Entries keep each file's points sorted, files in key order, runs in run id order: sorted already.
    return mp.history_frame(run_codes, key_codes, run_ids, key_names, joined("step", np.int64),
                            joined("timestamp", np.int64), joined("value", np.float64), presorted=True)
