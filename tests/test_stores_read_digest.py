"""Specifies reportgen.stores._read_digest: FileStore.read_digest after a cached read changes with every
file the reader reads for a run and with nothing else, and equal digests always come with an equal Run
and equal history rows."""
from __future__ import annotations

import os
import shutil
import warnings

import pytest

from mlruns_builder import T0, experiment, mlflow_sqlite, run, write
from reportgen.stores import _read_digest, file_cache
from reportgen.stores.file import FileStore
from reportgen.stores.sqlite import SqliteStore


def _rid(index: int) -> str:
    return f"{index:032x}"


@pytest.fixture
def trusted(monkeypatch):
    monkeypatch.setattr(file_cache, "RACY_NS", 0)


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "mlruns"
    exp = experiment(root, "4", "four")
    for index in range(1, 5):
        run(exp, index, metrics={"loss": [(T0 + i, i / index, i) for i in range(4)]},
            params={"lr": f"0.{index}"}, tags={"team": "a"})
    write(exp / "datasets" / "d1" / "meta.yaml", "digest: abc\nname: train\nsource_type: local\n")
    write(exp / _rid(3) / "inputs" / "i1" / "meta.yaml", "source_type: DATASET\nsource_id: d1\n")
    run(experiment(root, "5", "five"), 9, metrics={"acc": [(T0, 0.5, 0)]})
    return root


def _read(root, cache):
    """{run_id: (digest, Run, history rows)} of a cached read."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store = FileStore(root)
        runs, frame = store.read_all(cache_dir=cache)
    rows = {run_id: part.drop(columns="run_id").reset_index(drop=True).astype({"key": str})
            for run_id, part in frame.groupby("run_id", observed=True)}
    return {r.run_id: (store.read_digest(r.run_id), r, rows.get(r.run_id)) for r in runs}


CHANGES = {
    "metric point": (1, lambda root: open(root / "4" / _rid(1) / "metrics" / "loss", "a").write(f"{T0 + 9} 7 9\n")),
    "metric file added": (1, lambda root: write(root / "4" / _rid(1) / "metrics" / "new", f"{T0} 1 0\n")),
    "tag": (2, lambda root: write(root / "4" / _rid(2) / "tags" / "team", "b")),
    "tag added": (2, lambda root: write(root / "4" / _rid(2) / "tags" / "other", "x")),
    # MLflow never rewrites a parameter: one replaced (a new file moved over it) is seen, one edited in
    # place is not (stores._read_sign; tests/test_stores_file_cache.py)
    "param replaced": (4, lambda root: (write(root / "4" / _rid(4) / "params" / "lr.tmp", "0.9"),
                                        os.replace(root / "4" / _rid(4) / "params" / "lr.tmp",
                                                   root / "4" / _rid(4) / "params" / "lr"))),
    "param added": (4, lambda root: write(root / "4" / _rid(4) / "params" / "wd", "0")),
    "meta.yaml": (4, lambda root: write(root / "4" / _rid(4) / "meta.yaml", (root / "4" / _rid(4) / "meta.yaml")
                                        .read_text().replace("status: 3", "status: 1"))),
    "input": (3, lambda root: write(root / "4" / _rid(3) / "inputs" / "i1" / "meta.yaml",
                                    "source_type: DATASET\nsource_id: d1\ntags:\n  context: eval\n")),
    "dataset": (3, lambda root: write(root / "4" / "datasets" / "d1" / "meta.yaml",
                                      "digest: abd\nname: train\nsource_type: local\n")),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_digest_changes_with_the_run_that_changed_only(root, tmp_path, trusted, change):
    cache = tmp_path / "cache"
    first = _read(root, cache)  # every run read afresh
    again = _read(root, cache)  # every run from the cache
    assert all(digest is not None and len(digest) == 20 for digest, _, _ in first.values())
    assert {r: d for r, (d, _, _) in again.items()} == {r: d for r, (d, _, _) in first.items()}
    changed, make = CHANGES[change]
    make(root)
    after = _read(root, cache)
    differ = sorted(r for r in first if after[r][0] != first[r][0])
    assert differ == [_rid(changed)]
    assert after[_rid(changed)][0] is not None


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_equal_digests_mean_equal_runs_and_rows(root, tmp_path, trusted, change):
    cache = tmp_path / "cache"
    before = _read(root, cache)
    CHANGES[change][1](root)
    after = _read(root, cache)
    for run_id, (digest, run_obj, rows) in after.items():
        if digest == before[run_id][0]:
            assert run_obj == before[run_id][1]
            assert rows.equals(before[run_id][2])
        else:
            assert (run_obj, rows.to_dict()) != (before[run_id][1], before[run_id][2].to_dict())


def test_no_digest_without_the_cache_or_for_unknown_runs(root, tmp_path, trusted):
    store = FileStore(root)
    runs, _ = store.read_all()
    assert runs and all(store.read_digest(r.run_id) is None for r in runs)
    store.read_all(cache_dir=tmp_path / "cache")
    assert store.read_digest(_rid(1)) is not None and store.read_digest(_rid(77)) is None
    store.get_runs()  # the last read did not go through the cache
    assert store.read_digest(_rid(1)) is None


def test_racy_runs_are_vouched_for_by_content_and_deleted_ones_have_none(root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    store = FileStore(root)
    store.read_all(cache_dir=cache)  # files just written: within the racy margin, their stats not trusted
    racy = {i: store.read_digest(_rid(i)) for i in (1, 2, 3, 4, 9)}
    assert all(racy.values()) and len(set(racy.values())) == len(racy)
    again = FileStore(root)
    again.read_all(cache_dir=cache)  # read again (still racy): the same content, the same digests
    assert {i: again.read_digest(_rid(i)) for i in racy} == racy
    meta = root / "4" / _rid(2) / "meta.yaml"
    write(meta, meta.read_text().replace("lifecycle_stage: active", "lifecycle_stage: deleted"))
    monkeypatch.setattr(file_cache, "RACY_NS", 0)
    store.read_all(cache_dir=cache)
    assert store.read_digest(_rid(2)) is None  # not admitted by the view
    assert store.read_digest(_rid(1)) == racy[1]  # read again, now trusted: still vouched for by content
    store.read_all(cache_dir=cache)  # not read again: its digest is kept with its entry
    assert store.read_digest(_rid(1)) == racy[1]
    write(root / "4" / _rid(1) / "tags" / "note", "changed")
    store.read_all(cache_dir=cache)  # changed: vouched for by its stats again
    assert store.read_digest(_rid(1)) not in (None, racy[1])


def test_another_store_root_gives_other_digests(root, tmp_path, trusted):
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    here, there = _read(root, tmp_path / "c1"), _read(copy, tmp_path / "c2")
    assert all(here[r][0] != there[r][0] for r in here)


def test_other_stores_give_none(tmp_path):
    store = SqliteStore(mlflow_sqlite(tmp_path / "db.sqlite"))
    assert store.read_digest(_rid(1)) is None


def test_digests_are_kept_with_the_cache_and_made_only_for_changed_runs(root, tmp_path, trusted, monkeypatch):
    cache = tmp_path / "cache"
    first = _read(root, cache)
    made = []
    real = _read_digest.ReadDigests._digest
    monkeypatch.setattr(_read_digest.ReadDigests, "_digest", lambda self, *a: made.append(a[0]) or real(self, *a))
    assert {run_id: found[0] for run_id, found in _read(root, cache).items()} == \
        {run_id: found[0] for run_id, found in first.items()}
    assert made == []  # read from the cache
    write(root / "4" / _rid(2) / "tags" / "note", "new")
    again = _read(root, cache)
    assert made == [os.path.join("4", _rid(2))]
    assert [run_id for run_id in first if again[run_id][0] != first[run_id][0]] == [_rid(2)]
