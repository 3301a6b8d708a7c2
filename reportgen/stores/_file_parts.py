"""Pieces of the file store reader that work on one folder kind: key/value folders (params, tags),
dataset inputs, run meta.yaml checks, the usual artifacts/ folder and the history frame of parsed
metric files. Paths are plain strings: pathlib costs too much per file when a store has 100k of them.
"""
from __future__ import annotations

import os
import stat
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from reportgen import mlruns
from reportgen.limits import METRIC_FILE_MAX_BYTES, VALUE_FILE_MAX_BYTES
from reportgen.model import Dataset, DatasetInput, InputTag, RunInfo, RunInputs
from reportgen.stores._io import Inline, read_many
from reportgen.stores import _metrics_parse as mp
from reportgen.stores._meta import parse_meta, read_meta
from reportgen.stores.artifacts import ArtifactRoot, local_artifact_dir, real_root, resolve_root

join = os.path.join
# Where a problem met while reading goes: (index of the run in the refs, path, message).
Report = Callable[[int, str, str], None]
# Metric files are read and parsed this many bytes at a time: the raw text never all sits in memory.
SLICE_BYTES = 8 << 20


class Skip(Exception):
    """An item that cannot be read: (path, message) for the problems list."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def safe_key(key: str) -> bool:
    """A metric/param/tag key that names a file inside its folder (no '..', absolute or odd parts)."""
    parts = key.split("/")
    return bool(key) and "\x00" not in key and "\\" not in key and all(p not in ("", ".", "..") for p in parts)


def _shown(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 (kept by os as surrogates) become U+FFFD."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _kind(entry: os.DirEntry[str]) -> str:
    try:
        mode = entry.stat(follow_symlinks=False).st_mode
    except OSError:
        return "an entry that vanished"
    return ("a symlink" if stat.S_ISLNK(mode) else "a FIFO" if stat.S_ISFIFO(mode) else
            "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "not a regular file")


def _unlisted(path: str, exc: OSError) -> tuple[str, str]:
    if isinstance(exc, NotADirectoryError):
        return path, "is not a folder; its values skipped"
    if isinstance(exc, FileNotFoundError):
        return path, "vanished while read (deleted or moved); its values skipped"
    return path, f"cannot be listed ({exc.strerror or exc}); its values skipped"


def key_files(folder: str, problems: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    """(key, path) of every regular file under folder; a key with '/' is a subfolder path.

    A key is text (undecodable bytes replaced); the path is what the file system needs to open it.
    Keys are interned: runs share their keys, and the read cache pickles (and unpickles) each once.
    With `problems`, what is left out is named there as (path, message): a folder that is a file or
    cannot be listed, a symlink, FIFO or device where a value file should be (a missing top folder
    is no problem: most runs lack one of metrics/, params/, tags/)."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[str, str]] = [("", folder)]
    while stack:
        prefix, current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError as exc:
            if problems is not None and not (current == folder and isinstance(exc, FileNotFoundError)):
                problems.append(_unlisted(current, exc))
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append((prefix + _shown(entry.name) + "/", entry.path))
            elif entry.is_file(follow_symlinks=False):
                found.append((sys.intern(prefix + _shown(entry.name)), entry.path))
            elif problems is not None:
                problems.append((entry.path, f"is {_kind(entry)}, not a file; skipped"))
    return found


def read_key_values(folders: list[str], problems: list[list[tuple[str, str]]] | None = None) -> list[dict[str, str]]:
    """The key -> value dict of each folder (params/ or tags/), sorted by key; all files read at once.

    A value file over limits.VALUE_FILE_MAX_BYTES, not a regular file, or unreadable is left out; with
    `problems` (one list per folder), each is named there, as key_files names what it leaves out."""
    listed = [key_files(folder, None if problems is None else problems[i]) for i, folder in enumerate(folders)]
    blobs = read_many([path for files in listed for _, path in files], cap=VALUE_FILE_MAX_BYTES)
    result = []
    position = 0
    for index, files in enumerate(listed):
        values = {}
        for key, path in files:
            blob = blobs[position]
            position += 1
            if isinstance(blob, bytes):
                values[key] = decode(blob)
            elif problems is not None:
                problems[index].append((path, _value_problem(blob)))
        result.append(dict(sorted(values.items())))
    return result


def _value_problem(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "vanished while read (deleted or moved); value skipped"
    return f"cannot read value ({exc.strerror or exc}); value skipped"


def parse_metric_files(files: list[tuple[int, str, str]], report: Report) -> mp.ParsedMetrics:
    """Read and parse metric files, a slice of about SLICE_BYTES at a time so that only the parsed
    numbers stay in memory; unreadable files count as empty, bad lines are reported.

    The next slice is read while this one is parsed: pandas' tokenizer and the reads both release
    the GIL, so the two overlap on two cores."""
    if not files:
        return mp.parse_metric_blobs([])
    parts = []
    start, take = 0, 64
    # One slice (get_run, a metric history) needs no thread: starting one costs more than it saves.
    with ThreadPoolExecutor(max_workers=1) if len(files) > take else Inline() as ahead:
        chunk = files[:take]
        pending = ahead.submit(read_many, [path for _, _, path in chunk], METRIC_FILE_MAX_BYTES)
        while chunk:
            blobs = pending.result()
            size = sum(len(b) for b in blobs if isinstance(b, bytes))
            start += len(chunk)
            take = max(16, int(SLICE_BYTES * len(chunk) / size)) if size else take * 2
            following = files[start : start + take]
            if following:
                pending = ahead.submit(read_many, [path for _, _, path in following], METRIC_FILE_MAX_BYTES)
            parsed = mp.parse_metric_blobs([b if isinstance(b, bytes) else b"" for b in blobs])
            parts.append(parsed)
            for (index, _, path), blob, bad, kept in zip(chunk, blobs, parsed.bad_lines, parsed.counts):
                if isinstance(blob, OSError):
                    report(index, path, f"cannot read metric file ({blob.strerror}); skipped")
                elif bad:
                    report(index, path, mp.bad_lines_message(blob, bad, kept))
                elif kept == 0:
                    report(index, path, "metric file is empty; metric skipped")
            chunk = following
    return mp.concat(parts)


def run_info(meta_path: str, data: bytes | OSError | None, folder_name: str, experiment_id: str) -> RunInfo:
    """A RunInfo from a run's meta.yaml bytes (or the error reading them), checked against its folder."""
    try:
        if isinstance(data, OSError):
            raise data
        try:
            meta = parse_meta(data) if data is not None else read_meta(meta_path)
        except mlruns.MetaError:
            meta = read_meta(meta_path)  # empty or truncated: a rewrite may be in flight, read again
        info = mlruns.run_from_meta(meta)
    except FileNotFoundError:
        raise Skip(meta_path, "run meta.yaml is missing; run skipped") from None
    except OSError as exc:
        raise Skip(meta_path, f"cannot read run meta.yaml ({exc.strerror}); run skipped") from None
    except mlruns.MetaError as exc:
        raise Skip(meta_path, f"{exc}; run skipped") from None
    if info.run_id != folder_name:
        raise Skip(meta_path, f"run_id {info.run_id!r} differs from its folder; run skipped")
    if info.experiment_id != experiment_id:
        raise Skip(meta_path, f"experiment_id {info.experiment_id!r} differs from its experiment folder; run skipped")
    return info


class DatasetReader:
    """Reads runs' dataset inputs; each experiment's datasets/<id>/meta.yaml is read once per call.

    A bad dataset is reported again for every run that uses it (Store.problem keeps one), so the
    problems of each run are complete on their own: the read cache keeps them per run."""

    def __init__(self) -> None:
        self._datasets: dict[str, tuple[Dataset | None, tuple[str, str] | None]] = {}

    def inputs(self, run_folder: str, problem: Callable[[str, str], None]) -> RunInputs:
        inputs_dir = join(run_folder, mlruns.INPUTS_DIR)
        try:
            entries = sorted(os.scandir(inputs_dir), key=lambda e: e.name)
        except OSError:
            return RunInputs()
        found = []
        for entry in entries:
            meta_path = join(entry.path, mlruns.META_FILE)
            try:
                meta = read_meta(meta_path)
            except (OSError, mlruns.MetaError) as exc:
                problem(meta_path, f"input skipped ({exc})")
                continue
            if meta.get("source_type") != "DATASET":
                continue  # model inputs are not shown in run reports
            dataset, bad = self._dataset(os.path.dirname(run_folder), str(meta.get("source_id", "")))
            if bad is not None:
                problem(*bad)
            if dataset is None:
                continue
            tags = meta.get("tags") or {}
            input_tags = tuple(InputTag(str(k), str(v)) for k, v in tags.items()) if isinstance(tags, dict) else ()
            found.append(DatasetInput(dataset=dataset, tags=input_tags))
        return RunInputs(dataset_inputs=tuple(found))

    def _dataset(self, experiment_folder: str, source_id: str) -> tuple[Dataset | None, tuple[str, str] | None]:
        meta_path = join(experiment_folder, mlruns.DATASETS_DIR, source_id, mlruns.META_FILE)
        if meta_path in self._datasets:
            return self._datasets[meta_path]
        dataset = None
        bad = None
        if not safe_key(source_id) or "/" in source_id:
            bad = (meta_path, "dataset input with an invalid id skipped")
        else:
            try:
                meta = read_meta(meta_path)
                dataset = Dataset(
                    name=str(meta.get("name", "")), digest=str(meta.get("digest", "")),
                    source_type=str(meta.get("source_type", "") or ""), source=str(meta.get("source", "") or ""),
                    schema=meta.get("schema"), profile=meta.get("profile"),
                )
            except (OSError, mlruns.MetaError) as exc:
                bad = (meta_path, f"dataset skipped ({exc})")
        self._datasets[meta_path] = (dataset, bad)
        return dataset, bad


def run_artifact_root(folder: str, artifact_uri: str, allowed: list[Path], base: Path) -> ArtifactRoot:
    """resolve_root for a run folder: a stale absolute URI (a store rsynced from another machine) falls
    back to the run's own artifacts/."""
    local = local_artifact_dir(artifact_uri)
    fallback = Path(folder, mlruns.ARTIFACTS_DIR) if (local is not None or not artifact_uri) else None
    # The run's id is its folder's name: an s3:// root must hold it (stores.artifacts.object_root).
    return resolve_root(artifact_uri, fallback=fallback, allowed=allowed, base=base,
                        run_id=os.path.basename(os.path.normpath(folder)))


class UsualArtifactRoots:
    """The artifact root of a run whose artifacts are where MLflow puts them, <store>/<exp>/<run>/artifacts
    (artifact_uri empty, that folder as a path, or a plain file: URI of it), in three lstat calls.

    Equal to what resolve_root answers for it: when the experiment, run and artifacts folders under the
    store's real path are all directories and none a symlink, that path is already real. Anything else
    (a symlink, a missing folder, a URI elsewhere, a trashed run) is None: resolve_root decides."""

    def __init__(self, root: str) -> None:
        self._root = root
        self._prefixes: set[str] | None = None  # the texts before /<exp>/<run>/artifacts in a usual URI
        self._experiments: dict[str, str | None] = {}  # experiment folder -> its path under the real root
        self._checked: set[str] = set()  # experiment paths found to be plain directories

    def _experiment(self, folder: str) -> str | None:
        if self._prefixes is None:
            real = str(real_root(self._root))  # resolved once per process, as resolve_root does
            self._prefixes = set()
            # A root that a file: URI would escape, or that urlsplit reads otherwise, is left to
            # resolve_root: the URI is compared as text here.
            for text in {os.path.abspath(self._root), real}:
                if not any(c in text for c in "%?#:\\") and not text.startswith("//"):
                    text = text.rstrip(os.sep)
                    self._prefixes.update((text, "file://" + text, "file:" + text))
            self._real = real.rstrip(os.sep)
        parent, name = os.path.split(folder)
        # Under .trash/ (its URIs name the folder it was moved from), or not an experiment folder.
        usual = parent == self._root and mlruns.is_experiment_id(name)
        self._experiments[folder] = f"{self._real}{os.sep}{name}" if usual else None
        return self._experiments[folder]

    def root(self, folder: str, artifact_uri: str, *, for_signature: bool = False,
             run_checked: bool = False) -> str | None:
        """The real path of this run folder's artifacts/, or None when resolve_root must decide.
        for_signature: the experiment's folder is looked at once (a signature is only a cache key:
        what is copied is found by a call without it, which looks again). run_checked (with it): the
        run folder and its artifacts/ were found to be directories, neither a symlink (artifact_state)."""
        parent, run = os.path.split(folder)
        experiment = self._experiments[parent] if parent in self._experiments else self._experiment(parent)
        if experiment is None:
            return None
        path = f"{experiment}{os.sep}{run}{os.sep}{mlruns.ARTIFACTS_DIR}"
        if artifact_uri:
            suffix = path[len(self._real):]
            prefixes: set[str] = self._prefixes  # type: ignore[assignment]  # set by _experiment()
            if not artifact_uri.endswith(suffix) or artifact_uri[:-len(suffix)] not in prefixes:
                return None
        # Each level a directory, none a symlink: then the path is its own real path.
        levels: tuple[str, ...] = (experiment, f"{experiment}{os.sep}{run}", path)
        if for_signature and run_checked:
            levels = levels[:1]
        for part in levels[1:] if for_signature and experiment in self._checked else levels:
            try:
                if not stat.S_ISDIR(os.lstat(part).st_mode):
                    return None
            except OSError:
                return None
        self._checked.add(experiment)
        return path


def lstat_key(path: Path | None) -> tuple[int, int, int] | None:
    """(device, inode, type) of a path itself (a symlink is not followed); None when it is missing."""
    try:
        st = os.lstat(path)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return None
    return st.st_dev, st.st_ino, st.st_mode


def history_of(files: list[tuple[int, str, str]], parsed: mp.ParsedMetrics, run_ids: list[str]) -> pd.DataFrame:
    """The long history frame of parsed files (files in (run_id, key) order, run_ids sorted)."""
    key_names = sorted({key for _, key, _ in files})
    key_code = {k: i for i, k in enumerate(key_names)}
    counts = parsed.counts
    run_codes = np.repeat(np.array([f[0] for f in files], dtype=np.int32), counts)
    key_codes = np.repeat(np.array([key_code[f[1]] for f in files], dtype=np.int32), counts)
    return mp.history_frame(run_codes, key_codes, run_ids, key_names, parsed.step, parsed.timestamp, parsed.value)
