"""FileStore.artifact_root for runs met by the last read: the quick answer for artifacts where MLflow
puts them (<store>/<exp>/<run>/artifacts) equals resolve_root's, and every odd layout (symlinks, stale
or foreign URIs, trashed runs) still goes through resolve_root."""
from __future__ import annotations

import os
import shutil

import pytest

from mlruns_builder import experiment, run
from reportgen.model import ViewType
from reportgen.stores import _file_parts
from reportgen.stores.file import FileStore


def _answers(root, experiment_ids=None, **kwargs):
    """{run_id: (artifact_root, artifact_signature)} after a read, and the same from a store that did
    not read (which resolves every run through resolve_root)."""
    store = FileStore(root, **kwargs)
    runs = store.read_all(experiment_ids, ViewType.ALL)[0]
    ids = [r.info.run_id for r in runs]
    after_read = {r: (store.artifact_root(r), store.artifact_signature(r)) for r in ids}
    fresh = FileStore(root, **kwargs)
    return after_read, {r: (fresh.artifact_root(r), fresh.artifact_signature(r)) for r in ids}


def _no_resolve(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("resolve_root called for a usual run")

    monkeypatch.setattr(_file_parts, "resolve_root", refuse)


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "mlruns"
    exp = experiment(root, "3")
    run(exp, 1)  # file:///.../mlruns/3/<run>/artifacts
    run(exp, 2, artifact_uri=str(exp / f"{2:032x}" / "artifacts"))  # a plain path
    run(exp, 3, artifact_uri=f"file:{exp / f'{3:032x}' / 'artifacts'}")  # file:/abs
    (exp / f"{1:032x}" / "artifacts" / "model.txt").write_text("weights")
    return root


def test_usual_runs_answer_without_resolve_root(root, monkeypatch):
    store = FileStore(root)
    runs, _ = store.read_all()
    fresh = FileStore(root)
    expected = {r.info.run_id: (fresh.artifact_root(r.info.run_id), fresh.artifact_signature(r.info.run_id))
                for r in runs}
    _no_resolve(monkeypatch)
    for run_id, (answer, signature) in expected.items():
        assert answer.path == root.resolve() / "3" / run_id / "artifacts"
        assert store.artifact_root(run_id) == answer
        assert store.artifact_signature(run_id) == signature
    assert "model.txt" in [f.path for f in store.walk_artifacts(f"{1:032x}")]


def test_signatures_are_the_same_with_and_without_the_quick_answer(root):
    after_read, fresh = _answers(root)
    assert after_read == fresh and len(after_read) == 3
    assert len({sig for _, sig in after_read.values()}) == 3  # each names its own folder


def test_store_named_through_a_symlink(root, tmp_path, monkeypatch):
    alias = tmp_path / "alias"
    alias.symlink_to(root)
    exp = experiment(alias, "4")
    run(exp, 9)  # its URI names the store through the alias
    after_read, fresh = _answers(alias)
    assert after_read == fresh
    assert after_read[f"{9:032x}"][0].path == root.resolve() / "4" / f"{9:032x}" / "artifacts"


def test_symlinked_artifacts_folder_is_refused_as_before(root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    artifacts = root / "3" / f"{2:032x}" / "artifacts"
    shutil.rmtree(artifacts)
    artifacts.symlink_to(outside)
    after_read, fresh = _answers(root)
    assert after_read == fresh
    assert after_read[f"{2:032x}"][0].path is None and "symlink" in after_read[f"{2:032x}"][0].reason


def test_symlinked_experiment_folder_stays_outside(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    exp = experiment(elsewhere, "5")
    run_id = run(exp, 1)
    root = tmp_path / "mlruns"
    experiment(root, "6")
    (root / "5").symlink_to(exp)  # read_all(["5"]) follows the experiment folder's symlink
    store = FileStore(root)
    store.read_all(["5"])
    answer = store.artifact_root(run_id)
    assert answer == FileStore(root).artifact_root(run_id)
    assert answer.path is None and "outside the store" in answer.reason
    assert store.walk_artifacts(run_id) == []


def test_experiment_folder_swapped_for_a_symlink_after_the_read(root, tmp_path):
    store = FileStore(root)
    store.read_all()
    run_id = f"{1:032x}"
    assert store.artifact_root(run_id).path is not None
    moved = tmp_path / "moved"
    os.rename(root / "3", moved)
    (root / "3").symlink_to(moved)
    answer = store.artifact_root(run_id)
    assert answer.path is None and "outside the store" in answer.reason
    assert answer == FileStore(root).artifact_root(run_id)


def test_odd_uris_and_trashed_runs_go_through_resolve_root(tmp_path):
    root = tmp_path / "mlruns"
    exp = experiment(root, "1")
    stale = run(exp, 1, artifact_uri="file:///elsewhere/on/another/machine/1/x/artifacts")
    empty = run(exp, 2, artifact_uri="")
    encoded = run(exp, 3, artifact_uri=(exp / f"{3:032x}" / "artifacts").as_uri().replace("/1/", "/%31/"))
    other = run(exp, 4, artifact_uri=(exp / f"{1:032x}" / "artifacts").as_uri())  # another run's folder
    remote = run(exp, 5, artifact_uri="s3://bucket/1/5/artifacts")
    gone = run(exp, 6)
    shutil.rmtree(exp / gone / "artifacts")  # not carried over by a copy: still this run's place
    trashed = run(experiment(root, "2", trash=True), 7)
    after_read, fresh = _answers(root, ["1", "2"])
    assert after_read == fresh and set(after_read) == {stale, empty, encoded, other, remote, gone, trashed}
    assert after_read[stale][0].path == after_read[empty][0].path.parent.parent / stale / "artifacts"
    assert after_read[other][0].path is None and "not this run's" in after_read[other][0].reason
    assert after_read[remote][0].path is None
    assert after_read[gone][0].path == (exp / gone / "artifacts").resolve()
    assert after_read[trashed][0].path == (root / ".trash" / "2" / trashed / "artifacts").resolve()
