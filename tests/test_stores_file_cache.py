"""Specifies reportgen.stores.file_cache, with its shard files (stores._cache_shards) and run folder
signatures (stores._read_sign): FileStore.read_all(cache_dir=...) gives the same runs, frame and
problems as a read without the cache, after every kind of change to a store, and reads only the
changed runs again."""
from __future__ import annotations

import os
import shutil
import warnings

import pandas as pd
import pytest

from mlruns_builder import T0, experiment, run, write
from reportgen import mlruns
from reportgen.errors import ReportgenError
from reportgen.model import RunInfo
from reportgen.stores import _cache_shards, file_cache
from reportgen.stores._read_sign import Signer
from reportgen.stores.file import FileStore


@pytest.fixture
def trusted(monkeypatch):
    """Files written by the test are seconds old at most: let the cache trust them (no racy margin)."""
    monkeypatch.setattr(file_cache, "RACY_NS", 0)


@pytest.fixture
def parsed(monkeypatch):
    """The run ids whose metric files and meta.yaml each cached read parses (reset by the test)."""
    seen: dict[str, list[str]] = {"built": [], "metas": []}
    build, infos = file_cache.build_runs, file_cache.read_infos

    def build_runs(refs, *args):
        seen["built"].extend(info.run_id for _, info in refs)
        return build(refs, *args)

    def read_infos(folders, report):
        seen["metas"].extend(os.path.basename(f) for f in folders)
        return infos(folders, report)

    monkeypatch.setattr(file_cache, "build_runs", build_runs)
    monkeypatch.setattr(file_cache, "read_infos", read_infos)
    return seen


def _points(n: int, scale: float = 1.0) -> list[tuple[int, float, int]]:
    return [(T0 + i, scale * i, i) for i in range(n)]


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "mlruns"
    experiment(root, "0", "Default")
    exp = experiment(root, "7", "seven")
    for index in range(1, 7):
        run(exp, index, metrics={"loss": _points(5, index), f"m{index % 3}": _points(3)},
            params={"lr": str(index / 10)}, tags={"team": "a" if index % 2 else "b"})
    other = experiment(root, "8", "eight")
    run(other, 20, metrics={"loss": _points(4)}, params={"lr": "9"})
    write(other / f"{21:032x}" / "meta.yaml", "run_id: [broken\n")  # a run skipped with a problem
    run(other, 22, metrics={"acc": _points(2)})
    write(other / f"{22:032x}" / "metrics" / "acc", "1 2 3\nnot a line\n")  # a bad line
    run(exp, 30, stage="deleted", metrics={"loss": _points(2)})
    write(exp / _rid(3) / "metrics" / "val" / "f1", f"{T0} 0.5 0\n")  # a key with a "/"
    os.rename(exp / _rid(6) / "metrics", exp / _rid(6) / "metrics-real")  # the reader follows it
    os.symlink("metrics-real", exp / _rid(6) / "metrics")
    os.symlink(tmp_path / "tags-elsewhere", other / _rid(22) / "tags")  # dangling, so far
    return root


def _same(root, cache_dir, **kwargs):
    """Read with and without the cache; assert everything is equal; return the cached store."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = FileStore(root)
        runs, frame = plain.read_all(**kwargs)
        cached = FileStore(root)
        cached_runs, cached_frame = cached.read_all(cache_dir=cache_dir, **kwargs)
    assert cached_runs == runs
    assert [r.run_id for r in cached_runs] == [r.run_id for r in runs]
    pd.testing.assert_frame_equal(cached_frame, frame, check_categorical=True, check_exact=True)
    assert list(cached_frame.dtypes) == list(frame.dtypes)
    assert list(cached_frame["key"].cat.categories) == list(frame["key"].cat.categories)
    assert list(cached_frame["run_id"].cat.categories) == list(frame["run_id"].cat.categories)
    assert cached.problems == plain.problems
    # The artifact signatures the build cache keys runs with: from what the cached read looked at while it
    # checked the folders, the same as a plain look at each run's artifacts.
    assert {r.run_id: cached.artifact_signature(r.run_id) for r in runs} == {
        r.run_id: plain.artifact_signature(r.run_id) for r in runs}
    return cached


def _rewrite_meta(folder, **changes):
    """Replace a run's meta.yaml the way MLflow does (a new file moved over the old one)."""
    try:
        meta = mlruns.load_meta((folder / "meta.yaml").read_text())
    except mlruns.MetaError:
        meta = {}
    meta.update(changes)
    temp = folder / "meta.yaml.tmp"
    temp.write_text(mlruns.dump_meta(meta))
    os.replace(temp, folder / "meta.yaml")


def _rid(index: int) -> str:
    return f"{index:032x}"


CHANGES = {
    "new run": lambda root: run(root / "7", 40, metrics={"loss": _points(3)}),
    "deleted run folder": lambda root: shutil.rmtree(root / "7" / _rid(2)),
    "run lifecycle deleted": lambda root: _rewrite_meta(root / "7" / _rid(3), lifecycle_stage="deleted",
                                                        deleted_time=T0 + 9),
    "run restored": lambda root: _rewrite_meta(root / "7" / _rid(30), lifecycle_stage="active", deleted_time=None),
    "experiment moved to trash": lambda root: os.renames(root / "8", root / ".trash" / "8"),
    "metric line appended": lambda root: open(root / "7" / _rid(4) / "metrics" / "loss", "a").write(f"{T0 + 9} 0.5 9\n"),
    "bad metric line appended": lambda root: open(root / "7" / _rid(4) / "metrics" / "loss", "a").write("x y z\n"),
    "new metric file": lambda root: write(root / "7" / _rid(5) / "metrics" / "val" / "acc", f"{T0} 0.25 0\n"),
    "metric file emptied": lambda root: write(root / "7" / _rid(5) / "metrics" / "loss", ""),
    "metric file removed": lambda root: os.remove(root / "7" / _rid(5) / "metrics" / "loss"),
    "new param": lambda root: write(root / "7" / _rid(1) / "params" / "batch", "32"),
    "artifact added": lambda root: write(root / "7" / _rid(1) / "artifacts" / "plots" / "a.txt", "x"),
    "artifact rewritten": lambda root: (write(root / "7" / _rid(2) / "artifacts" / "model.txt", "v1"),
                                        os.utime(root / "7" / _rid(2) / "artifacts" / "model.txt", ns=(1, 1))),
    "artifacts folder symlinked": lambda root: (
        write(root / "elsewhere" / "b.txt", "outside"), shutil.rmtree(root / "7" / _rid(3) / "artifacts"),
        os.symlink(root / "elsewhere", root / "7" / _rid(3) / "artifacts")),
    "artifacts folder removed": lambda root: shutil.rmtree(root / "7" / _rid(4) / "artifacts"),
    "new tag": lambda root: write(root / "7" / _rid(1) / "tags" / "mlflow.note.content", "# note"),
    "tag changed": lambda root: write(root / "7" / _rid(1) / "tags" / "team", "a longer team name"),
    "status and end time": lambda root: _rewrite_meta(root / "7" / _rid(6), status=4, end_time=T0 + 12345),
    "run name": lambda root: _rewrite_meta(root / "7" / _rid(6), run_name="renamed"),
    "meta.yaml broken": lambda root: write(root / "7" / _rid(6) / "meta.yaml", "{{{"),
    "meta.yaml repaired": lambda root: _rewrite_meta(root / "8" / _rid(21), **mlruns.run_to_meta(RunInfo(
        _rid(21), "8", "fixed", "u", "FINISHED", T0, T0 + 1, "", "active"))),
    "experiment renamed": lambda root: write(root / "7" / "meta.yaml", (root / "7" / "meta.yaml").read_text()
                                             .replace("name: seven", "name: seventy-seven")),
    "experiment added": lambda root: run(experiment(root, "9", "nine"), 50, metrics={"loss": _points(2)}),
    "nested metric appended": lambda root: open(root / "7" / _rid(3) / "metrics" / "val" / "f1", "a").write(
        f"{T0 + 1} 0.75 1\n"),
    "metric file swapped for a symlink": lambda root: (
        os.remove(root / "7" / _rid(4) / "metrics" / "loss"),
        os.symlink("../params/lr", root / "7" / _rid(4) / "metrics" / "loss")),
    "symlinked metrics folder appended": lambda root: open(root / "7" / _rid(6) / "metrics-real" / "loss", "a").write(
        f"{T0 + 9} 0.5 9\n"),
    "tags folder created": lambda root: write(root / "8" / _rid(20) / "tags" / "first", "x"),
    "dangling tags symlink resolved": lambda root: write(root.parent / "tags-elsewhere" / "first", "x"),
    "meta.yaml removed": lambda root: os.remove(root / "7" / _rid(5) / "meta.yaml"),
    "param replaced": lambda root: (
        write(root / "7" / _rid(2) / "params" / "lr.tmp", "0.7"),
        os.replace(root / "7" / _rid(2) / "params" / "lr.tmp", root / "7" / _rid(2) / "params" / "lr")),
    "dataset input": lambda root: (
        write(root / "7" / "datasets" / "d1" / "meta.yaml", "digest: abc\nname: train\nsource_type: local\n"),
        write(root / "7" / _rid(2) / "inputs" / "i1" / "meta.yaml", "source_type: DATASET\nsource_id: d1\n")),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_equal_to_a_plain_read_after_each_change(root, tmp_path, trusted, parsed, change):
    cache = tmp_path / "cache" / "read"
    _same(root, cache)
    _same(root, cache, experiment_ids=["7", "8"])  # a second cached read: nothing changed
    CHANGES[change](root)
    parsed["built"].clear()
    parsed["metas"].clear()
    store = _same(root, cache)
    _same(root, cache, experiment_ids=["7", "8"], run_view_type=3)
    # Only what changed was read again (the plain read of _same parses everything, so count the
    # cached read alone once more, now that the cache is up to date).
    parsed["built"].clear()
    parsed["metas"].clear()
    store.read_all(cache_dir=cache)
    assert parsed["built"] == [] and parsed["metas"] == []


def test_only_changed_runs_are_read(root, tmp_path, trusted, parsed):
    cache = tmp_path / "cache"
    FileStore(root).read_all(cache_dir=cache)
    open(root / "7" / _rid(4) / "metrics" / "loss", "a").write(f"{T0 + 9} 0.5 9\n")
    write(root / "7" / _rid(1) / "tags" / "new", "x")
    parsed["built"].clear()
    parsed["metas"].clear()
    FileStore(root).read_all(cache_dir=cache)
    assert sorted(parsed["built"]) == [_rid(1), _rid(4)]
    assert sorted(parsed["metas"]) == [_rid(1), _rid(4)]


def test_recent_files_are_not_trusted(root, tmp_path, parsed):
    """A folder written within the racy margin may change again unseen: it is read again next time."""
    cache = tmp_path / "cache"
    FileStore(root).read_all(cache_dir=cache)
    parsed["built"].clear()
    FileStore(root).read_all(cache_dir=cache)
    assert len(parsed["built"]) == 8  # every active run of the store, all just written


def test_filter_and_order_apply_after(root, tmp_path, trusted):
    cache = tmp_path / "cache"
    _same(root, cache, filter_string="metrics.loss > 1", order_by=["params.lr DESC"])
    _same(root, cache, filter_string="tags.team = 'b'")


def test_dropped_runs_leave_the_cache(root, tmp_path, trusted):
    cache = tmp_path / "cache"
    FileStore(root).read_all(cache_dir=cache)
    shutil.rmtree(root / "7" / _rid(2))
    FileStore(root).read_all(cache_dir=cache)
    entries = _cache_shards.load(cache, str(root), ["7"])
    assert os.path.join("7", _rid(2)) not in entries
    assert os.path.join("7", _rid(1)) in entries


@pytest.mark.parametrize("damage", ["garbage", "truncated", "arrays cut short", "empty", "other version",
                                    "other store"])
def test_a_bad_cache_is_ignored_and_rewritten(root, tmp_path, trusted, parsed, monkeypatch, damage):
    cache = tmp_path / "cache"
    FileStore(root).read_all(cache_dir=cache)
    paths = sorted(cache.glob(_cache_shards.CACHE_PREFIX + "*"))
    assert len(paths) > 3  # the store's runs spread over several shards
    if damage == "garbage":
        paths[0].write_bytes(b"\x80\x05not a pickle at all")
        paths[1].write_bytes(b"\x80\x05\x95\x10")
    elif damage == "truncated":
        for path in paths:
            path.write_bytes(path.read_bytes()[:200])
    elif damage == "arrays cut short":  # the signatures still load, the entries do not
        for path in paths:
            path.write_bytes(path.read_bytes()[:-8])
    elif damage == "empty":
        paths[-1].write_bytes(b"")
    elif damage == "other version":
        monkeypatch.setattr(_cache_shards, "CACHE_VERSION", _cache_shards.CACHE_VERSION + 1)
    else:
        shutil.copytree(root, tmp_path / "copy", symlinks=True)
        root = tmp_path / "copy"
    parsed["built"].clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning, no error: a full read
        _same(root, cache)
    assert parsed["built"]  # the damaged part was read again
    parsed["built"].clear()
    FileStore(root).read_all(cache_dir=cache)
    assert parsed["built"] == []  # and rewrote the cache


def test_unwritable_cache_dir_warns_once(root, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = FileStore(root)
        runs, frame = store.read_all(cache_dir=blocker / "read")
    assert [w.category for w in caught if w.category is file_cache.ReadCacheWarning] == [
        file_cache.ReadCacheWarning]
    assert len(runs) == 8 and len(frame) and len(store.problems) == 2
    _same(root, blocker / "read")


def test_never_written_inside_the_store(root, trusted):
    inside = root / "cache"
    _same(root, inside)
    assert not inside.exists()


def _shard_files(root: Path, cache: Path, experiment: str) -> set[str]:
    """The names the experiment folder's runs' shard files would have."""
    return {_cache_shards.shard_path(cache, _cache_shards.shard_of(os.path.join(experiment, run))).name
            for run in os.listdir(root / experiment) if (root / experiment / run).is_dir()}


def test_each_experiment_has_its_own_shards(root, tmp_path, trusted, parsed):
    cache = tmp_path / "cache"
    FileStore(root).read_all(cache_dir=cache)
    seven, eight = _shard_files(root, cache, "7"), _shard_files(root, cache, "8")
    assert seven and eight and not seven & eight
    assert {p.name for p in cache.iterdir()} == seven | eight
    CHANGES["new tag"](root)  # a run of experiment 7
    before = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    parsed["built"].clear()
    _same(root, cache, experiment_ids=["8"])  # a read of 8 alone reads nothing again, writes none of 7's
    assert parsed["built"] == []
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == before
    entries = _cache_shards.load(cache, str(root), ["8"])
    assert entries and all(name.startswith("8" + os.sep) for name in entries)


def test_shards_of_an_older_layout_or_a_gone_experiment_are_removed(root, tmp_path, trusted):
    cache = tmp_path / "cache"
    cache.mkdir()
    stray = cache / f"{_cache_shards.CACHE_PREFIX}3f.pickle"  # a shard name of version 4 (64 for the store)
    stray.write_bytes(b"old")
    _same(root, cache)
    assert not stray.exists()
    eight = _shard_files(root, cache, "8")
    assert eight <= {p.name for p in cache.iterdir()}
    CHANGES["experiment moved to trash"](root)
    _same(root, cache)
    assert not eight & {p.name for p in cache.iterdir()}
    assert _shard_files(root, cache, "7") == {p.name for p in cache.iterdir()}


def test_no_temp_files_left(root, tmp_path, trusted):
    cache = tmp_path / "cache"
    for _ in range(2):
        FileStore(root).read_all(cache_dir=cache)
        CHANGES["new tag"](root)
    assert all(p.name.startswith(_cache_shards.CACHE_PREFIX) and p.suffix == ".pickle" for p in cache.iterdir())


def test_strict_raises_the_same_first_problem(root, tmp_path, trusted):
    cache = tmp_path / "cache"
    with pytest.raises(ReportgenError) as plain:
        FileStore(root, strict=True).read_all()
    for _ in range(2):  # a cold cache, then a warm one
        with pytest.raises(ReportgenError) as cached:
            FileStore(root, strict=True).read_all(cache_dir=cache)
        assert str(cached.value) == str(plain.value)


def test_points_out_of_order_and_ties(root, tmp_path, trusted):
    """Steps logged out of order and equal (step, timestamp) pairs keep the plain read's row order."""
    cache = tmp_path / "cache"
    _same(root, cache)
    with open(root / "7" / _rid(3) / "metrics" / "loss", "a") as handle:
        handle.write(f"{T0} 7.0 1\n{T0} 8.0 1\n{T0 - 5} 9.0 0\n{T0 + 99} 1.0 100\n{T0 + 1} 6.0 -3\n")
    _same(root, cache)
    _same(root, cache)


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_check_finds_what_a_new_signature_would(root, change):
    """Checking a folder against its last signature (no listing) gives exactly its signature now."""
    folders = [str(f) for exp in ("7", "8") for f in sorted((root / exp).iterdir()) if f.name != "meta.yaml"]
    before = {folder: Signer().sign(folder) for folder in folders if os.path.isdir(folder)}
    CHANGES[change](root)
    for folder, signed in before.items():
        if os.path.isdir(folder):
            assert Signer().check(folder, signed) == Signer().sign(folder)


def test_a_parameter_edited_in_place_is_not_seen(root, tmp_path, trusted):
    """Documented (stores._read_sign): parameter files are signed by name; MLflow never rewrites one."""
    cache = tmp_path / "cache"
    FileStore(root).read_all(cache_dir=cache)
    with open(root / "7" / _rid(1) / "params" / "lr", "r+") as handle:
        handle.write("9.9")  # same file, same size, same folder
    runs = {r.run_id: r for r in FileStore(root).read_all(cache_dir=cache)[0]}
    assert runs[_rid(1)].data.params["lr"] == "0.1"
    shutil.rmtree(cache)  # the documented remedy
    assert _same(root, cache).get_run(_rid(1)).data.params["lr"] == "9.9"


@pytest.mark.parametrize("filter_string", [None, "tags.team = 'b'"])
def test_histories_of_some_runs_are_those_rows_of_the_whole_frame(root, tmp_path, trusted, filter_string):
    """read_cached makes the frame when asked: the rows of some runs come with the whole frame's
    categories, as frame[isin].reset_index gives them (runs without points, keys of other runs)."""
    exp = root / "7"
    run(exp, 40, metrics={"empty": []}, params={"lr": "0.4"}, tags={"team": "b"})  # a key without points
    run(exp, 41, params={"lr": "0.5"}, tags={"team": "b"})  # a run without metrics
    cache = tmp_path / "cache"
    for _ in range(2):  # the first read fills the cache, the second comes from it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runs, whole = FileStore(root).read_all(filter_string=filter_string)
            cached_runs, histories = FileStore(root).read_cached(filter_string=filter_string, cache_dir=cache)
        assert cached_runs == runs
        ids = [r.run_id for r in runs]
        parts = (ids[:1], ids[1:3], ids[-2:], [], ["not-a-run"], ids)
        for made_whole in (False, True):  # from the read's entries, then (they are dropped) from the frame
            if made_whole:
                pd.testing.assert_frame_equal(histories(None), whole)
            for part in parts:
                expected = whole[whole["run_id"].isin(part)].reset_index(drop=True)
                pd.testing.assert_frame_equal(histories(part), expected)
