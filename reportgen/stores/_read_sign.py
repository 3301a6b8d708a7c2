"""Signatures of run folders for the file store's read cache (stores.file_cache): the names and stats
(size, mtime, ctime, inode) of what the reader reads, and a cheaper check of a folder signed before.

A signature lists the run folder itself, its meta.yaml, the folders metrics/, params/, tags/ (and their
subfolders) with their own stats, and the regular files in them, as stores._file_parts.key_files lists
them (no symlink followed below the run's own folders); then its inputs/<name>/meta.yaml and, for a run
with inputs, the experiment's datasets/<name>/meta.yaml. A folder's stats change whenever a name is
added, removed or renamed in it: so a folder signed before is checked by stat-ing the paths it listed
(no folder listed, no inputs/ looked for unless it was there), and signed afresh when a stat differs.

Files under params/ are signed by name only (their folder's stats still count): MLflow never rewrites
a parameter (logging another value for a key fails), so a parameter file changes only through its
folder, by being added, removed or replaced. A parameter file edited in place (by hand, or copied
over with cp) is not seen until something else in the run changes: remove the cache folder then.
"""
from __future__ import annotations

import errno
import os
import stat
from array import array
from typing import NamedTuple

from reportgen import mlruns
from reportgen.stores.artifacts import signature as artifacts_signature

_KEY_DIRS = (mlruns.METRICS_DIR, mlruns.PARAMS_DIR, mlruns.TAGS_DIR)
_NAME_ONLY = mlruns.PARAMS_DIR + "/"
_SEP = "\0\0"
_RUN = "./"  # the run folder itself
# What a check takes as still missing when the run folder's stats did not change (nothing appeared).
_ABSENT = frozenset(f"{name}\0{errno.ENOENT}" for name in (mlruns.META_FILE, *(k + "/" for k in _KEY_DIRS)))


class Signature(NamedTuple):
    """What a run folder looked like to the reader. Paths are relative to it, joined by "\\0\\0"."""

    stated: str  # "./" (the run folder), meta.yaml, folders (ending in "/") and files, signed by their stats
    stats: bytes  # (size, mtime_ns, ctime_ns, inode) of each, as int64
    named: str  # files signed by their name only (under params/)
    missing: str  # "path\0errno" of what could not be stat-ed or listed (the reader reports it)
    inputs: str  # "inputs/" when there, inputs/<name> and datasets/<name>; "" when there is none
    input_stats: bytes  # of their meta.yaml

    def newest_ns(self) -> int:
        """The newest ctime in it (ns): a folder changed too recently is not trusted."""
        return max([*array("q", self.stats)[2::4], *array("q", self.input_stats)[2::4]], default=0)


def _add(st: os.stat_result, stats: array) -> None:
    stats.extend((st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))


def _sign_tree(folder: str, rel: str, found: tuple[list[str], array, list[str], list[str]]) -> None:
    """A folder (rel ends in "/"), then its regular files and subfolders, depth first. The folder is
    stat-ed before it is listed: an entry added meanwhile changes its stats, seen by the next check."""
    stated, stats, named, missing = found
    try:
        # With its "/", a symlinked metrics/ is followed (as the reader's scandir follows it).
        st = os.lstat(folder + os.sep)
        entries = list(os.scandir(folder))
    except OSError as exc:
        missing.append(_missing(folder, rel, exc))  # missing or unreadable: the reader sees no files
        return
    stated.append(rel)
    _add(st, stats)
    if rel.startswith(_NAME_ONLY):
        named.extend(rel + e.name for e in entries if e.is_file(follow_symlinks=False))
    else:
        append, extend = stated.append, stats.extend  # the hot loop of a first cached read
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                append(rel + entry.name)
                extend((st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            _sign_tree(entry.path, rel + entry.name + "/", found)


def _missing(path: str, rel: str, exc: OSError) -> str:
    """What could not be stat-ed or listed, as "rel<NUL>errno"; "<NUL>link" is added for a dangling
    symlink (its target may appear without the folder holding it changing)."""
    dangling = exc.errno == errno.ENOENT and os.path.lexists(path.rstrip(os.sep))
    return f"{rel}\0{exc.errno}" + ("\0link" if dangling else "")


def _sign_file(path: str, name: str, names: list[str], stats: array, missing: list[str]) -> None:
    try:
        st = os.stat(path)
    except OSError as exc:
        missing.append(_missing(path, name, exc))  # the reader's problem names the error
        return
    names.append(name)
    _add(st, stats)


def _stats(run_folder: str, rels: list[str]) -> bytes | None:
    """The stats of these paths under the run folder, None when one is gone. The run folder ("./")
    and meta.yaml come first and are followed if symlinks, as the reader follows them; the others
    are not, unless their path ends in "/". The hot loop of a cached read, hence the comprehensions."""
    stat = os.stat
    head = 2 if rels[1:2] == [mlruns.META_FILE] else 1
    prefix = run_folder + os.sep
    try:
        found = [stat(prefix + rel) for rel in rels[:head]]
        found += [stat(prefix + rel, follow_symlinks=False) for rel in rels[head:]]
    except OSError:
        return None
    return array("q", [n for st in found for n in (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)]).tobytes()


class Signer:
    """Signs run folders; the datasets/ of each experiment are signed once, for the runs with inputs."""

    def __init__(self) -> None:
        self._datasets: dict[str, tuple[list[str], array]] = {}

    def sign(self, run_folder: str) -> Signature:
        """A run folder's signature, its folders listed. They are listed directly (a missing one fails
        cheaply), not looked up in a listing of the run folder: one scandir less per run."""
        stated: list[str] = []
        stats = array("q")
        named: list[str] = []
        missing: list[str] = []
        # The run folder's own stats first: they change when a folder or meta.yaml appears in it.
        _sign_file(run_folder + os.sep, _RUN, stated, stats, missing)
        _sign_file(os.path.join(run_folder, mlruns.META_FILE), mlruns.META_FILE, stated, stats, missing)
        for kind in _KEY_DIRS:
            _sign_tree(os.path.join(run_folder, kind), kind + "/", (stated, stats, named, missing))
        return Signature(_SEP.join(stated), stats.tobytes(), _SEP.join(named), _SEP.join(missing),
                         *self._sign_inputs(run_folder))

    def check(self, run_folder: str, signed: Signature) -> Signature:
        """The folder's signature now, given the one it had: the paths signed by their stats then are
        stat-ed again (their folders included, so a name added or removed shows), and only a folder
        whose stats differ is signed afresh (listed again)."""
        if signed.missing and not _ABSENT.issuperset(signed.missing.split(_SEP)):
            return self.sign(run_folder)  # something was unreadable: signed afresh
        if not signed.stated.startswith(_RUN) or _stats(run_folder, signed.stated.split(_SEP)) != signed.stats:
            return self.sign(run_folder)
        if not signed.inputs:
            return signed  # no inputs/ then, so none now: the run folder's stats are the same
        inputs, input_stats = self._sign_inputs(run_folder)  # signed again: few runs have any
        if inputs == signed.inputs and input_stats == signed.input_stats:
            return signed
        return signed._replace(inputs=inputs, input_stats=input_stats)

    def _sign_inputs(self, run_folder: str) -> tuple[str, bytes]:
        """inputs/<name>/meta.yaml of the run and, when it has inputs, the experiment's datasets."""
        inputs = os.path.join(run_folder, mlruns.INPUTS_DIR)
        try:
            entries = sorted(e.name for e in os.scandir(inputs))
        except FileNotFoundError:
            return "", b""  # most runs have no inputs
        except OSError as exc:
            return f"inputs/\0{exc.errno}", b""
        names = ["inputs/"]  # there, even if empty
        stats = array("q")
        for name in entries:  # an unreadable one is "inputs/<name>\0errno", without stats
            _sign_file(os.path.join(inputs, name, mlruns.META_FILE), f"inputs/{name}", names, stats, names)
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
                path = os.path.join(datasets, name, mlruns.META_FILE)
                _sign_file(path, f"datasets/{name}", ds_names, ds_stats, ds_names)
            self._datasets[experiment] = (ds_names, ds_stats)
        ds_names, ds_stats = self._datasets[experiment]
        return _SEP.join(names + ds_names), stats.tobytes() + ds_stats.tobytes()


def artifact_state(run_folder: str) -> str | None:
    """artifacts.signature of the run folder's artifacts/ when the run folder and it are directories,
    neither a symlink (lstat); None otherwise. Taken when a cached read checks the run folders, for the
    build cache's artifact signatures (FileStore.artifact_signature)."""
    artifacts = os.path.join(run_folder, mlruns.ARTIFACTS_DIR)
    try:
        if not (stat.S_ISDIR(os.lstat(run_folder).st_mode) and stat.S_ISDIR(os.lstat(artifacts).st_mode)):
            return None
    except OSError:
        return None
    return artifacts_signature(artifacts)
