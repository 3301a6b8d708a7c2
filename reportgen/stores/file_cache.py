"""The file store's cached read (FileStore.read_cached): a run folder whose files did not change since the
last cached read is not read again (incremental builds). The result is the same as a read without it.

Each run folder is signed by the names and stats of what the reader reads (stores._read_sign says
which, and why parameter files are signed by name); an entry (stores._cache_entry) keeps what the
reader made of the folder: its RunInfo (or that it was skipped), the Run, the parsed metric points of
its files and the problems met, by phase, so that they are reported in the same order as by a full
read. The entries live in the caller's folder (stores._cache_shards).
"""
from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from reportgen.model import Run, RunInfo, ViewType
from reportgen.stores import _metrics_parse as mp
from reportgen.stores._cache_entry import Entry
from reportgen.stores._cache_frames import Histories
from reportgen.stores._cache_shards import load, prune, save, shard_of
from reportgen.stores._read_digest import ReadDigests, content_digest
from reportgen.stores._read_sign import Signer, artifact_state
from reportgen.stores._run_build import build_runs, read_infos, repeated_ids

# A folder changed this close to the scan may change again within the file system's timestamp
# granularity without its signature changing ("racy" entries, as git calls them): kept, not trusted.
RACY_NS = 2_000_000_000


class ReadCacheWarning(UserWarning):
    """The read cache could not be written (the read itself is complete)."""


class CachedRead(NamedTuple):
    refs: list[tuple[str, RunInfo]]  # (run folder, RunInfo) of the runs read, in run id order
    runs: list[Run]  # as FileStore._build gives them for those refs
    histories: Histories  # their history frame, made when asked
    digests: ReadDigests  # the read digest of each run whose signature is trusted (read_digest)
    artifact_states: dict[str, str | None]  # run folder -> artifact_state, taken when it was checked


def cached_read(
    root: str, experiment_folders: list[str], folders: list[str], view: ViewType, cache_dir: Path, *,
    problem: Callable[[str, str], None], scrub: Callable[[Any], Any] | None = None, tidy: bool = True,
) -> CachedRead:
    """The runs of these run folders (those of experiment_folders) that the view admits, reading only
    the folders that changed since the last cached read in cache_dir; problems are reported to
    `problem` as a read without the cache reports them. scrub: applied to what the cache keeps.
    tidy: also remove the shards of experiments gone from the store (a listing of it and of the cache:
    once per build, not once per experiment read)."""
    writable = not _inside(cache_dir, root)  # never write inside the store
    started_ns = time.time_ns()
    # Run folders are joined onto the root string (os.path.relpath costs 50 us each).
    cut = len(os.path.join(root, ""))
    names = [folder[cut:] for folder in folders]
    old = load(cache_dir, root, [folder[cut:] for folder in experiment_folders]) if writable else {}
    entries, fresh, racy_before = _checked(names, folders, old, started_ns)
    # Taken now, once per folder: the build cache keys a run's artifacts with it.
    states = {folder: artifact_state(folder) for folder in folders}
    _read_infos([folders[i] for i in fresh], [entries[i] for i in fresh])
    # Asked of every folder each read: the earlier folder of a repeated id may be a cached entry.
    repeats = repeated_ids(folders, [e.info for e in entries])
    admitted = [(f, e) for i, (f, e) in enumerate(zip(folders, entries))
                if i not in repeats and e.info is not None and view.admits(e.info.lifecycle_stage)]
    refs = sorted(admitted, key=lambda fe: fe[1].info.run_id)  # type: ignore[union-attr]
    todo = [(f, e) for f, e in refs if e.run is None]
    _build(todo)
    refs = [(f, e) for f, e in refs if e.info is not None]  # less a run whose folder vanished meanwhile
    for index in fresh:  # a racy run, and one racy last time: vouched for by content (stores._read_digest)
        entry = entries[index]
        if entry.run is not None and (entry.signature is None or index in racy_before):
            entry.read_digest = content_digest(names[index], entry, scrub)
    _report(problem, folders, entries, repeats, [e for _, e in refs])
    digests = ReadDigests(root, [(f[cut:], e) for f, e in refs])
    made = digests.fill()  # kept with the entries: the next read need not make them again
    if writable:
        # Only these experiments' shards were loaded, and only theirs are written: the other experiments'
        # entries stay in their own shards.
        kept = dict(zip(names, entries))
        dirty = {shard_of(names[i]) for i in fresh} | {shard_of(f[cut:]) for f, _ in todo} | {shard_of(n) for n in made}
        dirty |= {shard_of(name) for name in old.keys() - kept.keys()}
        if dirty:
            try:
                save(cache_dir, root, kept, dirty, scrub)
            except OSError as exc:
                warnings.warn(f"{cache_dir}: read cache not written ({exc.strerror or exc}); the next read is "
                              "a full one", ReadCacheWarning, stacklevel=3)
        if tidy:
            prune(cache_dir, root)
    return CachedRead([(f, e.info) for f, e in refs], [e.run for _, e in refs],  # type: ignore[misc]
                      Histories([e for _, e in refs]), digests, {f: states[f] for f, _ in refs})


def _inside(path: Path, folder: str) -> bool:
    real, root = os.path.realpath(path), os.path.realpath(folder)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _checked(names: list[str], folders: list[str], old: dict[str, Entry], started_ns: int
             ) -> tuple[list[Entry], list[int], set[int]]:
    """The entry of each folder; the indexes of those to read afresh (a new, empty entry): the folders
    whose signature changed since the cached read, or was not trusted; and of those the ones whose
    last read was racy. Each folder is checked before anything is read: a file that changes during
    the read is seen next time."""
    signer = Signer()
    entries: list[Entry] = []
    fresh: list[int] = []
    racy_before: set[int] = set()
    for index, (name, folder) in enumerate(zip(names, folders)):
        entry = old.get(name)
        if entry is not None and entry.signature is not None:
            signature = signer.check(folder, entry.signature)  # stat calls only, unless it changed
        else:
            signature = signer.sign(folder)
        if entry is None or entry.signature != signature:
            if entry is not None and entry.signature is None and entry.run is not None:
                racy_before.add(index)
            trusted = signature.newest_ns() < started_ns - RACY_NS
            entry = Entry(signature=signature if trusted else None, info=None)
            fresh.append(index)
        entries.append(entry)
    return entries, fresh, racy_before


def _report(problem: Callable[[str, str], None], folders: list[str], entries: list[Entry],
            repeats: dict[int, str], admitted: list[Entry]) -> None:
    """Problems in the order a full read meets them: meta.yaml files in folder order, then metric
    files and inputs in run id order."""
    for entry in entries:
        for path, message in entry.meta_problems:
            problem(path, message)
    for index, message in repeats.items():
        problem(folders[index], message)
    for entry in admitted:
        for path, message in entry.metric_problems:
            problem(path, message)
    for entry in admitted:
        for path, message in entry.input_problems:
            problem(path, message)


def _read_infos(folders: list[str], entries: list[Entry]) -> None:
    infos = read_infos(folders, lambda i, path, message: entries[i].meta_problems.append((path, message)))
    for entry, info in zip(entries, infos):
        entry.info = info


def _build(todo: list[tuple[str, Entry]]) -> None:
    """Build the runs of these entries (sorted by run id) and keep each one's points and problems."""
    if not todo:
        return
    refs = [(folder, entry.info) for folder, entry in todo]
    runs, files, parsed = build_runs(
        refs,  # type: ignore[arg-type]
        lambda i, path, message: todo[i][1].metric_problems.append((path, message)),
        lambda i, path, message: todo[i][1].input_problems.append((path, message)),
    )
    file_runs = np.array([f[0] for f in files], dtype=np.int64)
    file_bounds = np.searchsorted(file_runs, np.arange(len(todo) + 1))
    row_bounds = np.concatenate([[0], np.cumsum(parsed.counts)])
    # Each file's points sorted by (step, timestamp) now, stably, as history_frame would sort them:
    # then the frame joined from the entries is already in order, and one run's new points out of
    # order do not make every read sort the whole frame again.
    order = mp.sort_within_files(parsed)
    timestamp, value, step = (parsed.timestamp, parsed.value, parsed.step) if order is None else (
        parsed.timestamp[order], parsed.value[order], parsed.step[order])
    for index, ((_, entry), run) in enumerate(zip(todo, runs)):
        if run is None:  # its folder vanished while read: skipped (a problem says so), never trusted
            entry.info, entry.signature = None, None
            entry.meta_problems += entry.metric_problems + entry.input_problems
            entry.metric_problems, entry.input_problems = [], []
            continue
        first, last = file_bounds[index], file_bounds[index + 1]
        rows = slice(row_bounds[first], row_bounds[last])
        entry.run = run
        entry.keys = [key for _, key, _ in files[first:last]]
        entry.counts = parsed.counts[first:last].copy()
        entry.timestamp = timestamp[rows].copy()
        entry.value = value[rows].copy()
        entry.step = step[rows].copy()
