"""The file store's read cache on disk: each experiment's entries (stores._cache_entry) spread over up to
64 shard files by a hash of their run folder's name, each written atomically and read back whole or not
at all. A read of some experiments loads and writes only their shards.

A shard is three parts: a pickle of (stamp, signatures), where the stamp names the cache version, the
reportgen version and the store; a pickle of the layout of what follows; then the entries' pickle with
their arrays' bytes after it (pickle protocol 5, out of band), each at an 8-byte offset.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import tempfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Callable

import numpy as np

from reportgen import __version__, mlruns
from reportgen.stores._cache_entry import Entry
from reportgen.stores._io import gc_paused
from reportgen.stores._read_sign import Signature

# Bump when an entry's meaning changes; a cache of another version (or reportgen version) is ignored.
CACHE_VERSION = 5  # 2: points kept sorted per file; 3: signatures (stores._read_sign) first in each
# shard, arrays out of band; 4: 64 shards by a hash of the run folder's name; 5: 64 per experiment
CACHE_PREFIX = "file-store-read-"
# A change to one run rewrites its shard: a 64th of its experiment (2 ms for a 1000-run experiment).
SHARDS = 64
_ARRAYS = ("counts", "timestamp", "value", "step")
_ALIGN = 8  # the arrays' bytes start at offsets aligned for int64 and float64


def stamp(store_root: str) -> tuple:
    """What a cache must have been written for to be used: this layout, this reportgen, this store."""
    return ("reportgen-file-read-cache", CACHE_VERSION, __version__, os.path.realpath(store_root))


def _experiment_key(experiment: str) -> str:
    """The part of its shards' file names that names an experiment folder (relative to the store)."""
    return hashlib.sha1(experiment.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def shard_of(name: str) -> str:
    """The shard an entry lives in, from its run folder's name relative to the store ("<experiment>/<run>")."""
    encoded = name.encode("utf-8", "surrogatepass")
    return f"{_experiment_key(os.path.dirname(name))}-{zlib.crc32(encoded) % SHARDS:02x}"


def shard_path(cache_dir: Path, shard: str) -> Path:
    return cache_dir / f"{CACHE_PREFIX}{shard}.pickle"


# -- reading -------------------------------------------------------------------------------------
def load(cache_dir: Path, store_root: str, experiments: list[str]) -> dict[str, Entry]:
    """The entries of the last cached read of these experiment folders (relative to the store); a
    missing or unusable shard holds none. Their shard files are opened by name (a listing of the cache
    folder per read would cost a store of thousands of experiments a quadratic time)."""
    expected = stamp(store_root)
    entries: dict[str, Entry] = {}
    with gc_paused():
        for experiment in experiments:
            key = _experiment_key(experiment)
            for bucket in range(SHARDS):
                try:
                    entries.update(_load_shard(shard_path(cache_dir, f"{key}-{bucket:02x}"), expected))
                except Exception:  # noqa: BLE001 - missing, truncated, corrupt or foreign: those runs are read again
                    pass
    return entries


def _load_shard(path: Path, expected: tuple) -> dict[str, Entry]:
    with open(path, "rb") as handle:
        # pickle is safe here only because the cache folder is the user's own (like a build folder):
        # whoever can write it can already run code as the user.
        found, signatures = pickle.load(handle)
        if found != expected or not isinstance(signatures, dict) or not all(
                s is None or type(s) is Signature for s in signatures.values()):
            return {}
        layout = pickle.load(handle)
        data = memoryview(handle.read())
    return _entries(_load_entries(layout, data), signatures)


def _load_entries(layout: tuple[int, list[int]], data: memoryview) -> tuple:
    """What _dump_entries wrote, from the bytes after its layout (body length, buffer lengths)."""
    body_size, sizes = layout
    offset = _padded(body_size)
    buffers = []
    for size in sizes:
        if offset + size > len(data):
            raise ValueError("truncated")
        buffers.append(data[offset:offset + size])
        offset += _padded(size)
    return pickle.loads(data[:body_size], buffers=buffers)


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


# -- writing -------------------------------------------------------------------------------------
def save(cache_dir: Path, store_root: str, entries: dict[str, Entry], shards: set[str],
         scrub: Callable[[Any], Any] | None = None) -> None:
    """Write these shards of the cache, each atomically (temp file, then os.replace), and remove the
    shard files of another layout. OSError when the folder or a file cannot be written."""
    by_shard: dict[str, dict[str, Entry]] = {shard: {} for shard in shards}
    for name, entry in entries.items():
        if shard_of(name) in by_shard:
            by_shard[shard_of(name)][name] = entry
    cache_dir.mkdir(parents=True, exist_ok=True)
    for shard, part in sorted(by_shard.items()):
        handle = tempfile.NamedTemporaryFile("wb", dir=cache_dir, prefix=".read-", suffix=".tmp", delete=False)
        try:
            with handle:
                signatures = {name: entry.signature for name, entry in part.items()}
                pickle.dump((stamp(store_root), signatures), handle, protocol=5)
                _dump_entries(_packed(part, scrub), handle)
            os.replace(handle.name, shard_path(cache_dir, shard))
        except BaseException:
            os.unlink(handle.name)
            raise


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


def _dump_entries(packed: tuple, handle: BinaryIO) -> None:
    """The layout, the entries' pickle, then the raw bytes of their arrays, each at an 8-byte offset:
    a read makes the arrays views of the bytes it read, not copies of them."""
    buffers: list[pickle.PickleBuffer] = []
    body = pickle.dumps(packed, protocol=5, buffer_callback=buffers.append)
    raws = [buffer.raw() for buffer in buffers]
    pickle.dump((len(body), [raw.nbytes for raw in raws]), handle, protocol=5)
    for data in (memoryview(body), *raws):
        handle.write(data)
        handle.write(bytes(_padded(data.nbytes) - data.nbytes))


def _padded(size: int) -> int:
    return -(-size // _ALIGN) * _ALIGN


def prune(cache_dir: Path, store_root: str) -> None:
    """Removes the shard files no read will use again: those of another layout (an older version's)
    and those of experiment folders no longer in the store (deleted, or moved to its trash)."""
    alive = set()
    for parent, under in ((store_root, ""), (os.path.join(store_root, mlruns.TRASH_DIR), mlruns.TRASH_DIR)):
        try:
            alive.update(_experiment_key(os.path.join(under, e.name)) for e in os.scandir(parent) if e.is_dir())
        except OSError:
            pass
    try:
        found = list(os.scandir(cache_dir))
    except OSError:
        return
    for entry in found:
        name = entry.name
        if not (name.startswith(CACHE_PREFIX) and name.endswith(".pickle")):
            continue
        key, _, bucket = name[len(CACHE_PREFIX):-len(".pickle")].partition("-")
        if key not in alive or len(bucket) != 2:
            try:
                os.unlink(entry.path)
            except OSError:
                pass
