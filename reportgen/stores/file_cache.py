"""A persistent read cache for the file store: a run folder whose files did not change since the last
cached read is not read again (incremental builds). The result is the same as a read without it.

Each run folder is signed by the names and stats of what the reader reads (stores._read_sign says
which, and why parameter files are signed by name); an entry keeps what the reader made of the folder:
its RunInfo (or that it was skipped), the Run, the parsed metric points of its files and the problems
met, by phase, so that they are reported in the same order as by a full read. The cache is 64 files
in the caller's folder, each the signatures of its entries (a pickle), then the entries (a pickle
with their arrays' bytes after it).
"""
from __future__ import annotations

import dataclasses
import hashlib
import mmap
import os
import pickle
import tempfile
import time
import warnings
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Callable, Protocol, Sequence

import numpy as np

from reportgen import __version__
from reportgen.model import Run, RunInfo, ViewType
from reportgen.stores import _metrics_parse as mp
from reportgen.stores._io import gc_paused
from reportgen.stores._read_sign import Signature, Signer, artifact_state
from reportgen.stores._cache_frames import Histories
from reportgen.stores._run_reads import Entry, repeated_ids


# Bump when an entry's meaning changes; a cache of another version (or reportgen version) is ignored.
CACHE_VERSION = 4  # 2: points kept sorted per file; 3: signatures (stores._read_sign) first in each
# shard, arrays out of band; 4: 64 shards by a hash of the run folder's name
CACHE_PREFIX = "file-store-read-"
# Shards are mapped where a mapped file can still be replaced by the next save (not on Windows).
_MAP_SHARDS = os.name != "nt"
# A change to one run rewrites its shard: a 64th of the cache (2 ms for a 2000-run store, 20 ms when it
# was a 16th); reading 64 files instead of 16 costs ~2 ms more.
SHARDS = tuple(f"{n:02x}" for n in range(64))
# A folder changed this close to the scan may change again within the file system's timestamp
# granularity without its signature changing ("racy" entries, as git calls them): kept, not trusted.
RACY_NS = 2_000_000_000


class ReadCacheWarning(UserWarning):
    """The read cache could not be written (the read itself is complete)."""


# -- the cache file ------------------------------------------------------------------------------
def _stamp(store_root: str) -> tuple:
    return ("reportgen-file-read-cache", CACHE_VERSION, __version__, os.path.realpath(store_root))


_ARRAYS = ("counts", "timestamp", "value", "step")
_ALIGN = 8  # the arrays' bytes start at offsets aligned for int64 and float64


def shard_of(name: str) -> str:
    """The cache file an entry lives in (one of SHARDS), from its run folder's name (any name)."""
    return SHARDS[zlib.crc32(name.encode("utf-8", "surrogatepass")) % len(SHARDS)]


def shard_path(cache_dir: Path, shard: str) -> Path:
    return cache_dir / f"{CACHE_PREFIX}{shard}.pickle"


def load(cache_dir: Path, store_root: str) -> dict[str, Entry]:
    """The entries of the last cached read of this store; a missing or unusable shard holds none."""
    stamp = _stamp(store_root)
    entries: dict[str, Entry] = {}
    with gc_paused():
        for shard in SHARDS:
            try:
                entries.update(_load_shard(shard_path(cache_dir, shard), stamp))
            except Exception:  # noqa: BLE001 - missing, truncated, corrupt or foreign: those runs are read again
                pass
    return entries


def _load_shard(path: Path, stamp: tuple) -> dict[str, Entry]:
    with open(path, "rb") as handle:
        # pickle is safe here only because the cache folder is the user's own (like a build folder):
        # whoever can write it can already run code as the user.
        found, signatures = pickle.load(handle)
        if found != stamp or not isinstance(signatures, dict) or not all(
                s is None or type(s) is Signature for s in signatures.values()):
            return {}
        layout = pickle.load(handle)
        if _MAP_SHARDS:  # the points (most of the bytes) are read from the page cache only where used
            start = handle.tell()
            data = memoryview(mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ))[start:]
        else:
            data = memoryview(handle.read())
    return _entries(_load_entries(layout, data), signatures)


def _entries(packed: tuple, signatures: dict[str, Signature | None]) -> dict[str, Entry]:
    entries, bounds, columns = packed
    if entries.keys() != signatures.keys() or not all(isinstance(e, Entry) for e in entries.values()):
        return {}
    # Each entry's points are views into four long arrays: thousands of small arrays cost far more
    # to pickle and unpickle.
    counts, timestamp, value, step = columns
    for (name, entry), (f0, f1, r0, r1) in zip(entries.items(), bounds):
        entry.signature = signatures[name]
        entry.counts, entry.timestamp = counts[f0:f1], timestamp[r0:r1]
        entry.value, entry.step = value[r0:r1], step[r0:r1]
    return entries


def _packed(entries: dict[str, Entry], scrub: Callable[[Any], Any] | None = None
            ) -> tuple[dict[str, Entry], list[tuple[int, int, int, int]], list[np.ndarray]]:
    bare: dict[str, Entry] = {}
    bounds = []
    parts: dict[str, list[np.ndarray]] = {name: [] for name in _ARRAYS}
    files = rows = 0
    for name, entry in entries.items():
        bare[name] = dataclasses.replace(entry, signature=None, counts=None, timestamp=None, value=None, step=None)
        if scrub is not None:  # what the cache keeps is redacted: it never holds a secret of the store
            bare[name].info = entry.info and scrub(entry.info)
            bare[name].run = entry.run and scrub(entry.run)
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


def save(cache_dir: Path, store_root: str, entries: dict[str, Entry], shards: set[str],
         scrub: Callable[[Any], Any] | None = None) -> None:
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
                with handle:  # the signatures first: a read checks the folders while the rest is read
                    signatures = {name: entry.signature for name, entry in part.items()}
                    pickle.dump((_stamp(store_root), signatures), handle, protocol=5)
                    _dump_entries(_packed(part, scrub), handle)
                os.replace(handle.name, shard_path(cache_dir, shard))
            except BaseException:
                os.unlink(handle.name)
                raise
        _remove_strays(cache_dir)
    except OSError as exc:
        warnings.warn(f"{cache_dir}: read cache not written ({exc.strerror or exc}); the next read is a full one",
                      ReadCacheWarning, stacklevel=4)


def _remove_strays(cache_dir: Path) -> None:
    """Shard files of another layout (an older version's) are never read again: removed."""
    known = {shard_path(cache_dir, shard).name for shard in SHARDS}
    for entry in os.scandir(cache_dir):
        if entry.name.startswith(CACHE_PREFIX) and entry.name.endswith(".pickle") and entry.name not in known:
            try:
                os.unlink(entry.path)
            except OSError:
                pass


def _padded(size: int) -> int:
    return -(-size // _ALIGN) * _ALIGN


def _dump_entries(packed: tuple, handle: BinaryIO) -> None:
    """The entries' pickle, then the raw bytes of their arrays (pickle protocol 5, out of band), each
    at an 8-byte offset: a read makes the arrays views of the bytes it read, not copies of them."""
    buffers: list[pickle.PickleBuffer] = []
    body = pickle.dumps(packed, protocol=5, buffer_callback=buffers.append)
    raws = [buffer.raw() for buffer in buffers]
    pickle.dump((len(body), [raw.nbytes for raw in raws]), handle, protocol=5)
    for data in (memoryview(body), *raws):
        handle.write(data)
        handle.write(bytes(_padded(data.nbytes) - data.nbytes))


def _load_entries(layout: tuple[int, list[int]], data: bytes | memoryview) -> tuple:
    """What _dump_entries wrote, from the bytes after its layout (body length, buffer lengths)."""
    body_size, sizes = layout
    view = memoryview(data)
    offset = _padded(body_size)
    buffers = []
    for size in sizes:
        if offset + size > len(data):
            raise ValueError("truncated")
        buffers.append(view[offset:offset + size])
        offset += _padded(size)
    return pickle.loads(view[:body_size], buffers=buffers)


def _inside(path: Path, folder: str) -> bool:
    real, root = os.path.realpath(path), os.path.realpath(folder)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


# -- the read ------------------------------------------------------------------------------------
class FileReader(Protocol):
    """The parts of stores.file.FileStore a cached read uses (a Protocol: that module imports this one)."""

    _root: str

    def _run_folders(self, experiment_folder: str) -> list[str]: ...

    def _read_infos(self, folders: list[str], report: Callable[[int, str, str], None]) -> list[RunInfo | None]: ...

    def _build_parts(self, refs: list[tuple[str, RunInfo]], report_metrics: Callable[[int, str, str], None],
                     report_inputs: Callable[[int, str, str], None]) -> tuple[list[Run | None], Sequence, Any]: ...

    def problem(self, path: str, message: str, *, kind: str = "warning") -> None: ...


def cached_read(
    store: FileReader, experiment_folders: list[str], view: ViewType, cache_dir: Path, *,
    scrub: Callable[[Any], Any] | None = None,
) -> tuple[list[tuple[str, RunInfo]], list[Run], Histories, ReadDigests, dict[str, str | None]]:
    """(refs, runs, histories) as FileStore._build(refs, histories=True) gives them (the history frame
    made when asked, see Histories), reading only the run folders that changed since the last cached
    read in cache_dir; the read digest of each run whose signature is trusted (read_digest); and the
    artifact_state of each run folder read, looked at while the folders are checked."""
    root = store._root
    writable = not _inside(cache_dir, root)  # never write inside the store
    started_ns = time.time_ns()
    folders = [run for exp in experiment_folders for run in store._run_folders(exp)]
    # Run folders are joined onto the root string (os.path.relpath costs 50 us each).
    cut = len(os.path.join(root, ""))
    names = [folder[cut:] for folder in folders]
    old = load(cache_dir, root) if writable else {}
    # Each folder is checked against its last signature before anything is read: a file that changes
    # during the read is seen next time.
    signer = Signer()
    signed = [signer.sign(folder) if (last := old.get(name)) is None or last.signature is None
              else signer.check(folder, last.signature) for name, folder in zip(names, folders)]
    states = [artifact_state(folder) for folder in folders]
    entries: list[Entry] = []
    fresh: list[int] = []
    for index, (name, signature) in enumerate(zip(names, signed)):
        entry = old.get(name)
        if entry is None or entry.signature != signature:
            trusted = signature.newest_ns() < started_ns - RACY_NS
            entry = Entry(signature=signature if trusted else None, info=None)
            fresh.append(index)
        entries.append(entry)
    _read_infos(store, [folders[i] for i in fresh], [entries[i] for i in fresh])
    # Asked of every folder each read: the earlier folder of a repeated id may be a cached entry.
    repeats = repeated_ids(folders, [e.info for e in entries])
    admitted = [(f, e) for i, (f, e) in enumerate(zip(folders, entries))
                if i not in repeats and e.info is not None and view.admits(e.info.lifecycle_stage)]
    refs = sorted(admitted, key=lambda fe: fe[1].info.run_id)  # type: ignore[union-attr]
    todo = [(f, e) for f, e in refs if e.run is None]
    _build(store, todo)
    refs = [(f, e) for f, e in refs if e.info is not None]  # less a run whose folder vanished meanwhile
    # Problems in the order a full read meets them: meta.yaml files in folder order, then metric
    # files and inputs in run id order.
    for entry in entries:
        for path, message in entry.meta_problems:
            store.problem(path, message)
    for index, message in repeats.items():
        store.problem(folders[index], message)
    for _, entry in refs:
        for path, message in entry.metric_problems:
            store.problem(path, message)
    for _, entry in refs:
        for path, message in entry.input_problems:
            store.problem(path, message)
    frame = Histories([e for _, e in refs])  # the frame is made when asked
    digests = ReadDigests(root, [(f[cut:], e) for f, e in refs])
    made = digests.fill()  # kept with the entries: the next read need not make them again
    if writable:
        kept = dict(zip(names, entries))
        # Runs of experiments this read did not look at stay while their experiment folder is there
        # (a read of other experiments must not empty the cache); runs no longer there drop out.
        scanned = {folder[cut:] for folder in experiment_folders}
        alive: dict[str, bool] = {}
        for name in old.keys() - kept.keys():
            entry, experiment = old[name], os.path.dirname(name)
            if experiment not in scanned:
                if experiment not in alive:
                    alive[experiment] = os.path.isdir(os.path.join(root, experiment))
                if alive[experiment]:
                    kept[name] = entry
        dirty = {shard_of(names[i]) for i in fresh} | {shard_of(f[cut:]) for f, _ in todo} | {shard_of(n) for n in made}
        dirty |= {shard_of(name) for name in old.keys() - kept.keys()}
        if dirty:
            save(cache_dir, root, kept, dirty, scrub)
    artifacts = dict(zip(folders, states))
    return ([(f, e.info) for f, e in refs], [e.run for _, e in refs], frame, digests,  # type: ignore[misc]
            {f: artifacts[f] for f, _ in refs})


class ReadDigests:
    """run_id -> read digest of the runs of a cached read whose signature is trusted, computed when
    asked: a digest of the signature, the run's folder name under the store and the cache's stamp.

    The folder name is in it because the reader takes the experiment id from it (and the run id,
    checked against meta.yaml); the experiment's datasets are in the signature of a run with inputs.
    So equal digests mean an equal Run and equal history rows."""

    def __init__(self, root: str, named: list[tuple[str, Entry]]) -> None:
        self._root = root
        self._signed = {e.info.run_id: (name, e) for name, e in named  # type: ignore[union-attr]
                        if e.signature is not None}
        self._base: hashlib._Hash | None = None

    def fill(self) -> list[str]:
        """Make the digests the entries lack; the names of their run folders."""
        made = []
        for name, entry in self._signed.values():
            if entry.read_digest is None:
                entry.read_digest = self._digest(name, entry.signature)  # type: ignore[arg-type]
                made.append(name)
        return made

    def get(self, run_id: str) -> bytes | None:
        found = self._signed.get(run_id)
        if found is None:
            return None
        name, entry = found
        if entry.read_digest is None:  # kept in the entry: the same while its signature is
            entry.read_digest = self._digest(name, entry.signature)  # type: ignore[arg-type]
        return entry.read_digest

    def _digest(self, name: str, signature: Signature) -> bytes:
        if self._base is None:
            self._base = hashlib.blake2b(repr(_stamp(self._root)).encode("utf-8", "surrogatepass"), digest_size=20)
        digest = self._base.copy()
        chunks = []
        for part in (name, *signature):
            data = part if isinstance(part, bytes) else part.encode("utf-8", "surrogatepass")
            chunks += (b"%d\0" % len(data), data)
        digest.update(b"".join(chunks))  # one update: the same digest as one per chunk, fewer calls
        return digest.digest()


def _read_infos(store: FileReader, folders: list[str], entries: list[Entry]) -> None:
    infos = store._read_infos(folders, lambda i, path, message: entries[i].meta_problems.append((path, message)))
    for entry, info in zip(entries, infos):
        entry.info = info


def _build(store: FileReader, todo: list[tuple[str, Entry]]) -> None:
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
