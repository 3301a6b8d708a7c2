"""Specifies reportgen.stores.file (FileStore) and open_store on hand-written mlruns/ folders: what is read,
in which shape and order, and artifact_root answering from the last read as a fresh look would."""
from __future__ import annotations

import math
import shutil

import pytest

from mlruns_builder import T0, experiment, run, write
from reportgen import mlruns, open_store
from reportgen.errors import ResourceDoesNotExist, StoreError
from reportgen.model import ViewType
from reportgen.stores.file import FileStore


@pytest.fixture
def store_root(tmp_path):
    root = tmp_path / "mlruns"
    experiment(root, "0", "Default")
    exp = experiment(root, "7", "seven", tags={"mlflow.note.content": "# notes", "team/area": "vision"})
    run(exp, 1, name="one", metrics={"loss": [(T0, 1.0, 0), (T0 + 1, 0.5, 1), (T0 + 2, 0.25, 2)],
                         "train/acc": [(T0, 0.1, 0), (T0 + 5, 0.9, 1)]},
        params={"lr": "0.1", "nested/p": "x"}, tags={"mlflow.runName": "one", "a/b/c": "deep"})
    run(exp, 2, metrics={"loss": [(T0, 2.0, 0)]}, params={"lr": "0.2"})
    run(exp, 3, stage="deleted")
    experiment(root, "9", "gone", trash=True)
    return root


def test_experiments_views_and_tags(store_root):
    store = FileStore(store_root)
    assert [e.name for e in store.search_experiments()] == ["Default", "seven"]
    assert [e.name for e in store.search_experiments(ViewType.DELETED_ONLY)] == ["gone"]
    assert [e.experiment_id for e in store.search_experiments(ViewType.ALL)] == ["0", "7", "9"]
    seven = store.get_experiment("7")
    assert seven.tags == {"mlflow.note.content": "# notes", "team/area": "vision"}
    assert seven.description == "# notes"
    assert store.get_experiment_by_name("gone").lifecycle_stage == "deleted"
    with pytest.raises(ResourceDoesNotExist):
        store.get_experiment("8")


def test_runs_params_tags_latest(store_root):
    store = FileStore(store_root)
    runs = {r.info.run_name: r for r in store.get_runs()}
    assert sorted(runs) == ["one", "run-2"]
    one = runs["one"]
    assert one.data.params == {"lr": "0.1", "nested/p": "x"}
    assert one.data.tags["a/b/c"] == "deep"
    assert one.data.metrics == {"loss": 0.25, "train/acc": 0.9}
    assert {m.key: (m.step, m.timestamp) for m in one.data.metric_objs} == {"loss": (2, T0 + 2), "train/acc": (1, T0 + 5)}
    assert one.info.status == "FINISHED" and one.info.experiment_id == "7"
    assert len(store.get_runs(["7"], ViewType.ALL)) == 3
    assert [r.info.lifecycle_stage for r in store.get_runs(["7"], ViewType.DELETED_ONLY)] == ["deleted"]
    assert store.problems == []


def test_latest_follows_mlflow_rule(tmp_path):
    exp = experiment(tmp_path, "1")
    # max by (step, timestamp, value): the later step wins over the later timestamp; NaN is lowest.
    run_id = run(exp, 1, metrics={"m": [(T0 + 9, 5.0, 1), (T0, 3.0, 2), (T0, 1.0, 2)],
                                  "n": [(T0, math.nan, 0), (T0, 1.5, 0)],
                                  "o": [(T0, math.nan, 3)]})
    data = FileStore(tmp_path).get_run(run_id).data
    assert data.metrics["m"] == 3.0
    assert data.metrics["n"] == 1.5
    assert math.isnan(data.metrics["o"])


def test_metric_histories_frame(store_root):
    store = FileStore(store_root)
    frame = store.metric_histories()
    assert list(frame.columns) == ["run_id", "key", "step", "timestamp", "value"]
    assert [str(frame[c].dtype) for c in ("step", "timestamp", "value")] == ["int64", "int64", "float64"]
    assert len(frame) == 6
    assert list(frame["key"].astype(str)) == ["loss", "loss", "loss", "train/acc", "train/acc", "loss"]
    only = store.metric_histories([f"{2:032x}", f"{1:032x}"], ["loss"])
    assert list(only["run_id"].astype(str)) == [f"{1:032x}"] * 3 + [f"{2:032x}"]
    assert list(only["value"]) == [1.0, 0.5, 0.25, 2.0]
    with pytest.raises(ResourceDoesNotExist):
        store.metric_histories(["f" * 32])


def test_histories_sorted_by_step_then_timestamp(tmp_path):
    exp = experiment(tmp_path, "1")
    run_id = run(exp, 1, metrics={"m": [(T0 + 3, 3.0, 2), (T0 + 1, 1.0, 0), (T0 + 2, 2.5, 1), (T0 + 1, 2.0, 1)]})
    frame = FileStore(tmp_path).metric_histories([run_id])
    assert list(zip(frame.step, frame.timestamp, frame.value)) == [
        (0, T0 + 1, 1.0), (1, T0 + 1, 2.0), (1, T0 + 2, 2.5), (2, T0 + 3, 3.0)]


def test_two_three_and_five_field_lines(tmp_path):
    exp = experiment(tmp_path, "1")
    run_id = run(exp, 1)
    write(exp / run_id / "metrics" / "m", f"{T0} 1.5\n{T0 + 1} 2.5 4\n{T0 + 2} 3.5 7 train abc123\n")
    history = FileStore(tmp_path).get_metric_history(run_id, "m")
    assert [(p.step, p.value) for p in history] == [(0, 1.5), (4, 2.5), (7, 3.5)]


def test_get_run_and_history_are_fresh(store_root):
    store = FileStore(store_root)
    run_id = f"{2:032x}"
    assert store.get_run(run_id).data.metrics == {"loss": 2.0}
    with open(store_root / "7" / run_id / "metrics" / "loss", "a") as handle:
        handle.write(mlruns.format_metric_line(T0 + 50, 1.0, 1))
    write(store_root / "7" / run_id / "params" / "new", "v")
    assert store.get_run(run_id).data.metrics == {"loss": 1.0}
    assert store.get_run(run_id).data.params == {"lr": "0.2", "new": "v"}
    assert [p.value for p in store.get_metric_history(run_id, "loss")] == [2.0, 1.0]
    assert store.get_metric_history(run_id, "absent") == []
    with pytest.raises(ResourceDoesNotExist):
        store.get_run("0" * 31 + "f")
    with pytest.raises(ResourceDoesNotExist):
        store.get_metric_history("0" * 31 + "f", "loss")


def test_run_name_falls_back_to_tag(tmp_path):
    exp = experiment(tmp_path, "1")
    run_id = run(exp, 1, name="", tags={"mlflow.runName": "from-tag"})
    assert FileStore(tmp_path).get_run(run_id).info.run_name == "from-tag"


def test_open_store_dispatch(store_root, tmp_path):
    assert isinstance(open_store(store_root), FileStore)
    assert isinstance(open_store(store_root.as_uri()), FileStore)
    with pytest.raises(StoreError, match="does not exist"):
        open_store(tmp_path / "nope")
    with pytest.raises(StoreError):
        open_store("ftp://example.invalid/x")
    with pytest.raises(StoreError, match="No SQLite database"):
        open_store(f"sqlite:///{tmp_path / 'missing.db'}")


def test_artifacts_list_walk_open(store_root):
    store = FileStore(store_root)
    run_id = f"{1:032x}"
    art = store_root / "7" / run_id / "artifacts"
    write(art / "model" / "weights.bin", b"\x00\x01")
    write(art / "model" / "conf" / "a.yaml", "x: 1")
    write(art / "readme.md", "# hi")
    assert [(f.path, f.is_dir, f.file_size) for f in store.list_artifacts(run_id)] == [
        ("model", True, None), ("readme.md", False, 4)]
    assert [f.path for f in store.list_artifacts(run_id, "model")] == ["model/conf", "model/weights.bin"]
    assert store.list_artifacts(run_id, "readme.md") == []
    assert [(f.path, f.file_size) for f in store.walk_artifacts(run_id)] == [
        ("model/conf/a.yaml", 4), ("model/weights.bin", 2), ("readme.md", 4)]
    with store.open_artifact(run_id, "model/weights.bin") as handle:
        assert handle.read() == b"\x00\x01"
    with pytest.raises(ResourceDoesNotExist):
        store.open_artifact(run_id, "nothing.txt")


def test_read_all_is_runs_plus_their_histories(store_root):
    store = FileStore(store_root)
    runs, frame = store.read_all()
    assert [r.run_id for r in runs] == [r.run_id for r in store.get_runs()]
    assert frame.equals(store.metric_histories([r.run_id for r in runs]))
    picked, part = store.read_all(filter_string="params.lr = '0.2'")
    assert [r.info.run_name for r in picked] == ["run-2"]
    assert list(part.run_id.astype(str).unique()) == [f"{2:032x}"] and list(part.run_id.cat.categories) == [f"{2:032x}"]


# -- artifact_root answers from the last read ---------------------------------------------------------
@pytest.fixture
def moved_root(tmp_path):
    root = tmp_path / "mlruns"
    exp = experiment(root, "7", "seven")
    for index in (1, 2):
        run(exp, index, metrics={"loss": [(T0, 1.0, 0)]})
    run(exp, 3, stage="deleted")
    moved = run(exp, 4, artifact_uri="file:///elsewhere/on/another/machine/artifacts")
    return root, moved


def test_artifact_root_answers_from_the_last_read(moved_root, monkeypatch):
    root, moved = moved_root
    fresh = FileStore(root)
    expected = {r: fresh.artifact_root(r) for r in (f"{1:032x}", f"{3:032x}", moved)}
    store = FileStore(root)
    store.read_all()

    def no_scan(self, run_id):
        raise AssertionError("scanned the store again")

    with monkeypatch.context() as patch:
        patch.setattr(FileStore, "_find_run_folder", no_scan)
        assert store.artifact_root(f"{1:032x}") == expected[f"{1:032x}"]
        assert store.artifact_root(moved) == expected[moved]  # the stale URI still falls back
    assert store.artifact_root(f"{3:032x}") == expected[f"{3:032x}"]  # not in the read: looked up
    shutil.rmtree(root / "7" / f"{1:032x}")
    with pytest.raises(ResourceDoesNotExist):  # a folder gone since the read is looked up, as before
        store.artifact_root(f"{1:032x}")


def test_artifact_root_memory_sees_a_swapped_folder(moved_root, tmp_path):
    root, _ = moved_root
    run_id = f"{1:032x}"
    store = FileStore(root)
    store.read_all()
    artifacts = root / "7" / run_id / "artifacts"
    first = store.artifact_root(run_id)
    assert first.path == artifacts.resolve() and store.artifact_root(run_id) == first
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.rmtree(artifacts)
    artifacts.symlink_to(outside)  # swapped for a symlink after the first answer
    swapped = store.artifact_root(run_id)
    assert swapped.path is None and "symlink" in swapped.reason
    assert swapped == FileStore(root).artifact_root(run_id)
