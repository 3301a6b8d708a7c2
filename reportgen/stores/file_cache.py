"""A persistent read cache for the file store: a run folder whose files did not change since the last
cached read is not read again (incremental builds). The result is the same as a read without it.

Each run folder is signed by the names, sizes, mtimes, ctimes and inodes of the files the reader
reads (meta.yaml, metrics/, params/, tags/, inputs/ and, for a run with inputs, the experiment's
datasets/); an entry keeps what the reader made of the folder: its RunInfo (or that it was skipped),
the Run, the parsed metric points of its files and the problems met, by phase, so that they are
reported in the same order as by a full read. The cache is 16 pickles in the caller's folder.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import tempfile
import time
import warnings
from array import array
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from reportgen import __version__, mlruns
from reportgen.model import Run, RunInfo, ViewType
from reportgen.stores import _metrics_parse as mp
from reportgen.stores._io import gc_paused

if TYPE_CHECKING:
    from reportgen.stores.file import FileStore

# Bump when an entry's meaning changes; a cache of another version (or reportgen version) is ignored.
CACHE_VERSION = 2  # 2: points kept sorted per file
CACHE_PREFIX = "file-store-read-"
SHARDS = "0123456789abcdef"
# A folder changed this close to the scan may change again within the file system's timestamp
# granularity without its signature changing ("racy" entries, as git calls them): kept, not trusted.
RACY_NS = 2_000_000_000
_KEY_DIRS = (mlruns.METRICS_DIR, mlruns.PARAMS_DIR, mlruns.TAGS_DIR)
Problems = list[tuple[str, str]]


class ReadCacheWarning(UserWarning):
    """The read cache could not be written (the read itself is complete)."""


@dataclass
class Entry:
    """What a read made of one run folder."""

    signature: tuple[str, bytes] | None  # None: not trusted next time (changed too recently)
    info: RunInfo | None  # None: the run was skipped (meta_problems say why)
    meta_problems: Problems = field(default_factory=list)
    run: Run | None = None  # None until a read admitted the run and built it
    metric_problems: Problems = field(default_factory=list)
    input_problems: Problems = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # metric files, in key order
    counts: np.ndarray | None = None  # points per file
    timestamp: np.ndarray | None = None
    value: np.ndarray | None = None
    step: np.ndarray | None = None


# -- signatures ------------------------------------------------------------------------------------
def _sign_tree(folder: str, prefix: str, names: list[str], stats: array) -> None:
    """Regular files under folder, as stores._file_parts.key_files lists them (no symlinks followed).

    names gets the folder ("metrics/", ending in "/", which no file name holds), then its files."""
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        names.append(f"{prefix}\0{exc.errno}")  # missing or unreadable: the reader sees no files
        return
    names.append(prefix)
    append, extend = names.append, stats.extend  # the hot loop of a cached read: one pass per file
    for entry in entries:
        if entry.is_file(follow_symlinks=False):
            st = entry.stat(follow_symlinks=False)
            append(entry.name)
            extend((st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
        elif entry.is_dir(follow_symlinks=False):
            _sign_tree(entry.path, prefix + entry.name + "/", names, stats)


def _sign_file(path: str, name: str, names: list[str], stats: array) -> None:
    try:
        st = os.stat(path)
    except OSError as exc:
        names.append(f"{name}\0{exc.errno}")  # the reader's problem names the error
        return
    names.append(name)
    stats.extend((st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))


class Signer:
    """Signs run folders; the datasets/ of each experiment are signed once, for the runs with inputs."""

    def __init__(self) -> None:
        self._datasets: dict[str, tuple[list[str], array]] = {}

    def sign(self, run_folder: str) -> tuple[tuple[str, bytes], int]:
        """(signature, newest ctime in ns) of a run folder. Its folders are listed directly (a missing
        one fails cheaply), not looked up in a listing of the run folder: one scandir less per run."""
        names: list[str] = []
        stats = array("q")
        _sign_file(os.path.join(run_folder, mlruns.META_FILE), mlruns.META_FILE, names, stats)
        for kind in _KEY_DIRS:
            _sign_tree(os.path.join(run_folder, kind), kind + "/", names, stats)
        self._sign_inputs(run_folder, names, stats)
        return ("\0\0".join(names), stats.tobytes()), max(stats[2::4], default=0)

    def _sign_inputs(self, run_folder: str, names: list[str], stats: array) -> None:
        inputs = os.path.join(run_folder, mlruns.INPUTS_DIR)
        try:
            entries = sorted(e.name for e in os.scandir(inputs))
        except FileNotFoundError:
            return  # most runs have no inputs
        except OSError as exc:
            names.append(f"inputs\0{exc.errno}")
            return
        for name in entries:
            _sign_file(os.path.join(inputs, name, mlruns.META_FILE), f"inputs/{name}", names, stats)
        experiment = os.path.dirname(run_folder)
        if experiment not in self._datasets:
            ds_names: list[str] = []
            ds_stats = array("q")
            datasets = os.path.join(experiment, mlruns.DATASETS_DIR)
            try:
                found = sorted(e.name for e in os.scandir(datasets))
            except OSError:
                found = []
            for name in found:
                _sign_file(os.path.join(datasets, name, mlruns.META_FILE), f"datasets/{name}", ds_names, ds_stats)
            self._datasets[experiment] = (ds_names, ds_stats)
        ds_names, ds_stats = self._datasets[experiment]
        names.extend(ds_names)
        stats.extend(ds_stats)


# -- the cache file ------------------------------------------------------------------------------
def _stamp(store_root: str) -> tuple:
    return ("reportgen-file-read-cache", CACHE_VERSION, __version__, os.path.realpath(store_root))


_ARRAYS = ("counts", "timestamp", "value", "step")


def shard_of(name: str) -> str:
    """The cache file an entry lives in: the last hex digit of its run id (16 files), so that a change
    to one run rewrites a sixteenth of the cache."""
    return name[-1]


def shard_path(cache_dir: Path, shard: str) -> Path:
    return cache_dir / f"{CACHE_PREFIX}{shard}.pickle"


def load(cache_dir: Path, store_root: str) -> dict[str, Entry]:
    """The entries of the last cached read of this store; a missing or unusable shard holds none."""
    entries: dict[str, Entry] = {}
    for shard in SHARDS:
        entries.update(_load_shard(shard_path(cache_dir, shard), store_root))
    return entries


def _load_shard(path: Path, store_root: str) -> dict[str, Entry]:
    try:
        with open(path, "rb") as handle, gc_paused():
            # pickle is safe here only because the cache folder is the user's own (like a build
            # folder): whoever can write it can already run code as the user.
            stamp, entries, bounds, columns = pickle.load(handle)
        if stamp != _stamp(store_root) or not all(isinstance(e, Entry) for e in entries.values()):
            return {}
        # Each entry's points are views into four long arrays: thousands of small arrays cost far
        # more to pickle and unpickle.
        counts, timestamp, value, step = columns
        for entry, (f0, f1, r0, r1) in zip(entries.values(), bounds):
            entry.counts, entry.timestamp = counts[f0:f1], timestamp[r0:r1]
            entry.value, entry.step = value[r0:r1], step[r0:r1]
        return entries
    except Exception:  # noqa: BLE001 - missing, truncated, corrupt or foreign: read everything again
        return {}


def _packed(entries: dict[str, Entry]) -> tuple[dict[str, Entry], list[tuple[int, int, int, int]], list[np.ndarray]]:
    bare: dict[str, Entry] = {}
    bounds = []
    parts: dict[str, list[np.ndarray]] = {name: [] for name in _ARRAYS}
    files = rows = 0
    for name, entry in entries.items():
        bare[name] = dataclasses.replace(entry, counts=None, timestamp=None, value=None, step=None)
        n_files = 0 if entry.counts is None else len(entry.counts)
        n_rows = 0 if entry.step is None else len(entry.step)
        bounds.append((files, files + n_files, rows, rows + n_rows))
        files, rows = files + n_files, rows + n_rows
        for attr in _ARRAYS:
            if getattr(entry, attr) is not None:
                parts[attr].append(getattr(entry, attr))
    dtypes = (np.int64, np.int64, np.float64, np.int64)
    columns = [np.concatenate(parts[a]) if parts[a] else np.empty(0, d) for a, d in zip(_ARRAYS, dtypes)]
    return bare, bounds, columns


def save(cache_dir: Path, store_root: str, entries: dict[str, Entry], shards: set[str]) -> None:
    """Write these shards of the cache, each atomically (temp file, then os.replace); a failure is one
    warning, not an error."""
    by_shard: dict[str, dict[str, Entry]] = {shard: {} for shard in shards}
    for name, entry in entries.items():
        if shard_of(name) in by_shard:
            by_shard[shard_of(name)][name] = entry
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        for shard, part in sorted(by_shard.items()):
            handle = tempfile.NamedTemporaryFile("wb", dir=cache_dir, prefix=".read-", suffix=".tmp", delete=False)
            try:
                with handle:
                    pickle.dump((_stamp(store_root), *_packed(part)), handle, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(handle.name, shard_path(cache_dir, shard))
            except BaseException:
                os.unlink(handle.name)
                raise
    except OSError as exc:
        warnings.warn(f"{cache_dir}: read cache not written ({exc.strerror or exc}); the next read is a full one",
                      ReadCacheWarning, stacklevel=4)


def _inside(path: Path, folder: str) -> bool:
    real, root = os.path.realpath(path), os.path.realpath(folder)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


# -- the read ------------------------------------------------------------------------------------
def cached_read(
    store: FileStore, experiment_folders: list[str], view: ViewType, cache_dir: Path
) -> tuple[list[tuple[str, RunInfo]], list[Run], pd.DataFrame, dict[str, bytes]]:
    """(refs, runs, history frame) as FileStore._build(refs, histories=True) gives them, reading only
    the run folders that changed since the last cached read in cache_dir; and the read digest of each
    run whose signature is trusted (FileStore.read_digest)."""
    root = store._root
    writable = not _inside(cache_dir, root)  # never write inside the store
    started_ns = time.time_ns()
    folders = [run for exp in experiment_folders for run in store._run_folders(exp)]
    # Run folders are joined onto the root string (os.path.relpath costs 50 us each).
    cut = len(os.path.join(root, ""))
    names = [folder[cut:] for folder in folders]
    with ThreadPoolExecutor(max_workers=1) as aside:
        # The cache unpickles while the folders are signed (stat calls release the GIL).
        loading = aside.submit(load, cache_dir, root) if writable else None
        signer = Signer()
        # One thread signs: two contend for the GIL between their stat calls and lose (measured).
        signed = [signer.sign(folder) for folder in folders]  # before anything is read: a file that
        old = loading.result() if loading is not None else {}  # changes during the read is seen next time
    entries: list[Entry] = []
    fresh: list[int] = []
    for index, (name, (signature, newest_ns)) in enumerate(zip(names, signed)):
        entry = old.get(name)
        if entry is None or entry.signature != signature:
            trusted = newest_ns < started_ns - RACY_NS
            entry = Entry(signature=signature if trusted else None, info=None)
            fresh.append(index)
        entries.append(entry)
    _read_infos(store, [folders[i] for i in fresh], [entries[i] for i in fresh])
    admitted = [(f, e) for f, e in zip(folders, entries) if e.info is not None and view.admits(e.info.lifecycle_stage)]
    refs = sorted(admitted, key=lambda fe: fe[1].info.run_id)  # type: ignore[union-attr]
    todo = [(f, e) for f, e in refs if e.run is None]
    _build(store, todo)
    # Problems in the order a full read meets them: meta.yaml files in folder order, then metric
    # files and inputs in run id order.
    for entry in entries:
        for path, message in entry.meta_problems:
            store.problem(path, message)
    for _, entry in refs:
        for path, message in entry.metric_problems:
            store.problem(path, message)
    for _, entry in refs:
        for path, message in entry.input_problems:
            store.problem(path, message)
    frame = _frame([e for _, e in refs], [e.info.run_id for _, e in refs])  # type: ignore[union-attr]
    digests = _digests(root, [(f[cut:], e) for f, e in refs])
    if writable:
        kept = dict(zip(names, entries))
        # Runs of experiments this read did not look at stay while their experiment folder is there
        # (a read of other experiments must not empty the cache); runs no longer there drop out.
        scanned = {folder[cut:] for folder in experiment_folders}
        alive: dict[str, bool] = {}
        for name, entry in old.items():
            experiment = os.path.dirname(name)
            if name not in kept and experiment not in scanned:
                if experiment not in alive:
                    alive[experiment] = os.path.isdir(os.path.join(root, experiment))
                if alive[experiment]:
                    kept[name] = entry
        dirty = {shard_of(names[i]) for i in fresh} | {shard_of(f[cut:]) for f, _ in todo}
        dirty |= {shard_of(name) for name in old.keys() - kept.keys()}
        if dirty:
            save(cache_dir, root, kept, dirty)
    return [(f, e.info) for f, e in refs], [e.run for _, e in refs], frame, digests  # type: ignore[misc]


def _digests(root: str, named: list[tuple[str, Entry]]) -> dict[str, bytes]:
    """run_id -> digest of its folder's signature, for the entries whose signature is trusted.

    The run's folder name relative to the store is in it: besides the folder's files, the reader takes
    the experiment id from it (and the run id, checked against meta.yaml). The experiment's datasets
    are in the signature of a run with inputs. So equal digests mean an equal Run and history rows."""
    base = hashlib.blake2b(repr(_stamp(root)).encode("utf-8", "surrogatepass"), digest_size=20)
    digests = {}
    for name, entry in named:
        if entry.signature is not None:
            digest = base.copy()
            names, stats = entry.signature
            text = names.encode("utf-8", "surrogatepass")
            digest.update(f"{name}\0{len(text)}\0".encode("utf-8", "surrogatepass"))
            digest.update(text)
            digest.update(stats)
            digests[entry.info.run_id] = digest.digest()  # type: ignore[union-attr]
    return digests


def _read_infos(store: FileStore, folders: list[str], entries: list[Entry]) -> None:
    infos = store._read_infos(folders, lambda i, path, message: entries[i].meta_problems.append((path, message)))
    for entry, info in zip(entries, infos):
        entry.info = info


def _build(store: FileStore, todo: list[tuple[str, Entry]]) -> None:
    """Build the runs of these entries (sorted by run id) and keep each one's points and problems."""
    if not todo:
        return
    refs = [(folder, entry.info) for folder, entry in todo]
    runs, files, parsed = store._build_parts(
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
        first, last = file_bounds[index], file_bounds[index + 1]
        rows = slice(row_bounds[first], row_bounds[last])
        entry.run = run
        entry.keys = [key for _, key, _ in files[first:last]]
        entry.counts = parsed.counts[first:last].copy()
        entry.timestamp = timestamp[rows].copy()
        entry.value = value[rows].copy()
        entry.step = step[rows].copy()


def _frame(entries: list[Entry], run_ids: list[str]) -> pd.DataFrame:
    """The history frame of these runs: the same input FileStore's _frame gets, in the same order."""
    key_names = sorted({key for entry in entries for key in entry.keys})
    key_code = {k: i for i, k in enumerate(key_names)}
    file_runs = [index for index, entry in enumerate(entries) for _ in entry.keys]
    file_keys = [key_code[key] for entry in entries for key in entry.keys]
    with_files = [entry for entry in entries if entry.keys]

    def joined(attr: str, dtype: type) -> np.ndarray:
        parts = [getattr(entry, attr) for entry in with_files]
        return np.concatenate(parts) if parts else np.empty(0, dtype)

    counts = joined("counts", np.int64)
    run_codes = np.repeat(np.array(file_runs, dtype=np.int32), counts)
    key_codes = np.repeat(np.array(file_keys, dtype=np.int32), counts)
    # Entries keep each file's points sorted, files in key order, runs in run id order: sorted already.
    return mp.history_frame(run_codes, key_codes, run_ids, key_names, joined("step", np.int64),
                            joined("timestamp", np.int64), joined("value", np.float64), presorted=True)
