"""One test per fault class of "Reading a file store" and "SQLite" (shared/reference/failure-and-attack-
classes.md): each shows the local failure (skipped item, one problem naming the file, or a clean error)
and the global progress (everything else still read)."""
from __future__ import annotations

import math
import os
import shutil
import sqlite3
import threading
import time

import pytest

from mlruns_builder import T0, experiment, mlflow_sqlite, run, write
from reportgen import mlruns, open_store
from reportgen.errors import InvalidParameterValue, ReportgenError, ResourceDoesNotExist, StoreError
from reportgen.model import ViewType
from reportgen.stores.base import ReadWarning
from reportgen.stores.file import FileStore

pytestmark = pytest.mark.filterwarnings("ignore::reportgen.stores.base.ReadWarning")


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "mlruns"
    exp = experiment(root, "1", "main")
    for i in range(1, 4):
        run(exp, i, metrics={"loss": [(T0, 1.0 / i, 0)]}, params={"i": str(i)})
    return root


def _meta_path(root, index, exp="1"):
    return root / exp / f"{index:032x}" / mlruns.META_FILE


def _names(store, **kwargs):
    return sorted(r.info.run_name for r in store.get_runs(**kwargs))


@pytest.mark.parametrize("content", [
    None,  # missing
    "",  # empty
    "artifact_uri: file:///x\nend_time: 1\nexperiment_id: '1'\nlifecycle_st",  # truncated mid-key
    "- just\n- a list\n",  # not a mapping
    "run_id: [1, 2\n",  # not YAML
    "run_id: {}\nexperiment_id: '1'\nstatus: 3\n",  # wrong type
    "run_id: " + "0" * 32 + "\nexperiment_id: '1'\nstatus: weird\n",  # wrong status
])
def test_bad_run_meta_is_skipped_and_named(root, content):
    path = _meta_path(root, 2)
    if content is None:
        path.unlink()
    else:
        path.write_text(content)
    store = FileStore(root)
    with pytest.warns(ReadWarning, match=str(path)):
        assert _names(store) == ["run-1", "run-3"]
    assert [p.path for p in store.problems] == [str(path)]
    with pytest.raises(StoreError, match=str(path)):
        store.get_run(f"{2:032x}")


def test_bad_experiment_meta_skips_that_experiment_only(root):
    other = experiment(root, "2", "other")
    run(other, 9)
    (root / "1" / mlruns.META_FILE).write_text(": : :\n")
    store = FileStore(root)
    assert [e.name for e in store.search_experiments()] == ["other"]
    assert _names(store) == ["run-9"]
    assert len(store.problems) == 1 and store.problems[0].path == str(root / "1" / mlruns.META_FILE)
    with pytest.raises(StoreError, match="meta.yaml"):
        store.get_experiment("1")


def test_meta_rewrite_in_flight_is_retried(root):
    path = _meta_path(root, 2)
    good = path.read_text()
    path.write_text("")

    def finish_rewrite():
        time.sleep(0.02)
        path.write_text(good)

    writer = threading.Thread(target=finish_rewrite)
    writer.start()
    store = FileStore(root)
    names = _names(store)
    writer.join()
    assert names == ["run-1", "run-2", "run-3"]
    assert store.problems == []


@pytest.mark.parametrize("content", [
    "run_id: !!python/object/apply:os.system ['echo pwned']\n",
    "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n",
    "run_id: " + "x" * (mlruns.MAX_META_BYTES + 10) + "\n",
])
def test_yaml_tags_aliases_and_huge_meta_are_refused(root, content):
    path = _meta_path(root, 3)
    path.write_text(content)
    store = FileStore(root)
    assert _names(store) == ["run-1", "run-2"]
    assert [p.path for p in store.problems] == [str(path)]


def test_id_in_meta_differing_from_folder_is_skipped(root):
    # run 2's meta.yaml claims to be run 1: never follow it to run 1's files
    path = _meta_path(root, 2)
    path.write_text(path.read_text().replace(f"{2:032x}", f"{1:032x}"))
    exp_meta = root / "1" / mlruns.META_FILE
    store = FileStore(root)
    assert _names(store) == ["run-1", "run-3"]
    assert "differs from its folder" in store.problems[0].message
    exp_meta.write_text(exp_meta.read_text().replace("experiment_id: '1'", "experiment_id: '5'"))
    store = FileStore(root)
    assert store.search_experiments() == [] and "differs from its folder" in store.problems[0].message


def test_junk_folders_are_ignored_and_trash_shown_only_when_asked(root):
    write(root / ".DS_Store", b"\x00junk")
    write(root / "models" / "m-1" / "meta.yaml", "name: x\n")
    write(root / "not-an-id" / "meta.yaml", "name: x\n")
    write(root / "1" / ".DS_Store", b"\x00")
    write(root / "1" / "scratch" / "file.txt", "x")
    write(root / "1" / "datasets" / "abc" / "meta.yaml", "name: d\n")
    trashed = experiment(root, "4", "trashed", trash=True)
    run(trashed, 7)
    store = FileStore(root)
    assert [e.name for e in store.search_experiments()] == ["main"]
    assert _names(store) == ["run-1", "run-2", "run-3"]
    assert [e.name for e in store.search_experiments(ViewType.DELETED_ONLY)] == ["trashed"]
    assert _names(store, experiment_ids=["4"]) == ["run-7"]
    assert store.problems == []


def test_bad_metric_lines_are_skipped_and_counted_per_file(root):
    run_dir = root / "1" / f"{1:032x}"
    write(run_dir / "metrics" / "loss",
          f"{T0} 0.5 0\n{T0} abc 1\n{T0} 0.4 50.0\n1 2 3 4\n\n{T0} 0.3 3\n{T0} 0.2 4 a b c\n{T0} 0.1")
    write(run_dir / "metrics" / "good", f"{T0} 1.0 0\n")
    store = FileStore(root)
    frame = store.metric_histories([f"{1:032x}"])
    loss = frame[frame.key == "loss"]
    assert list(zip(loss.step, loss.value)) == [(0, 0.5), (3, 0.3)]
    assert list(frame[frame.key == "good"].value) == [1.0]
    assert [(p.path, p.message) for p in store.problems] == [
        (str(run_dir / "metrics" / "loss"), "skipped 6 bad metric line(s), kept 2")]
    assert store.get_run(f"{1:032x}").data.metrics == {"good": 1.0, "loss": 0.3}
    assert _names(store) == ["run-1", "run-2", "run-3"]


def test_nan_inf_and_huge_values_are_kept(tmp_path):
    exp = experiment(tmp_path, "1")
    run_id = run(exp, 1, metrics={"m": [(T0, math.nan, 0), (T0, math.inf, 1), (T0, -math.inf, 2), (T0, 1e308, 3)]},
                 tags={"big": "x" * 3_000_000})
    store = FileStore(tmp_path)
    values = store.metric_histories([run_id]).value.tolist()
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf, 1e308]
    assert len(store.get_run(run_id).data.tags["big"]) == 3_000_000


def test_non_utf8_bytes_are_decoded_with_replacement(root):
    run_dir = root / "1" / f"{1:032x}"
    write(run_dir / "params" / "p", b"caf\xe9 \x00nul")
    write(run_dir / "tags" / "t", b"\xff\xfe\xfa")
    write(run_dir / os.fsdecode(b"params/k\xe9y"), "v")  # a file name that is not UTF-8
    meta = _meta_path(root, 2)
    meta.write_bytes(meta.read_bytes().replace(b"run_name: run-2", b"run_name: 'r\xe9un'"))
    store = FileStore(root)
    runs = {r.run_id: r for r in store.get_runs()}
    assert runs[f"{1:032x}"].data.params["p"] == "caf\ufffd \x00nul"
    assert runs[f"{1:032x}"].data.params["k\ufffdy"] == "v"
    assert runs[f"{1:032x}"].data.tags["t"] == "\ufffd\ufffd\ufffd"
    assert runs[f"{2:032x}"].info.run_name == "r\ufffdun"


def test_stale_artifact_uri_is_remapped_or_unavailable(tmp_path):
    exp = experiment(tmp_path / "mlruns", "1")
    moved = run(exp, 1, artifact_uri="file:///home/elsewhere/mlruns/1/%s/artifacts" % (f"{1:032x}"))
    gone = run(exp, 2, artifact_uri="file:///home/elsewhere/mlruns/1/x/artifacts")
    shutil.rmtree(exp / gone / "artifacts")
    write(exp / moved / "artifacts" / "f.txt", "ok")
    store = FileStore(tmp_path / "mlruns")
    assert [f.path for f in store.list_artifacts(moved)] == ["f.txt"]
    assert store.list_artifacts(gone) == []
    assert store.walk_artifacts(gone) == []
    assert "artifacts unavailable" in store.problems[0].message
    with pytest.raises(ResourceDoesNotExist, match="unavailable"):
        store.open_artifact(gone, "f.txt")


def test_stale_uri_of_a_run_whose_empty_artifact_folder_was_not_copied(tmp_path):
    """git and rsync drop empty folders: the stale URI names this run's own artifacts/, which is gone."""
    exp = experiment(tmp_path / "mlruns", "1")
    run_id = f"{3:032x}"
    run(exp, 3, artifact_uri=f"file:///home/elsewhere/mlruns/1/{run_id}/artifacts")
    shutil.rmtree(exp / run_id / "artifacts")
    store = FileStore(tmp_path / "mlruns")
    assert store.list_artifacts(run_id) == []
    assert store.walk_artifacts(run_id) == []
    assert store.problems == []


@pytest.mark.parametrize("uri", ["s3://bucket/1/abc/artifacts", "http://127.0.0.1:9/x", "mlflow-artifacts:/1/abc/artifacts"])
def test_remote_artifact_schemes_are_never_fetched(tmp_path, uri):
    exp = experiment(tmp_path, "1")
    run_id = run(exp, 1, artifact_uri=uri)
    store = FileStore(tmp_path)
    assert store.list_artifacts(run_id) == []
    # A server's proxied artifacts are left out with how to include them (--artifacts-destination); an
    # s3:// root that is not the run's (no run id in it) is refused before any request.
    expected = {"mlflow-artifacts": "--artifacts-destination", "s3": "not this run's folder"}.get(
        uri.split(":", 1)[0], "not fetched")
    assert expected in store.problems[0].message


def test_artifact_root_outside_the_store_is_refused(tmp_path):
    outside = tmp_path / "secrets"
    write(outside / "key.pem", "SECRET")
    exp = experiment(tmp_path / "mlruns", "1")
    run_id = run(exp, 1, artifact_uri=outside.as_uri())
    shutil.rmtree(exp / run_id / "artifacts")
    store = FileStore(tmp_path / "mlruns")
    assert store.walk_artifacts(run_id) == []
    with pytest.raises(ResourceDoesNotExist):
        store.open_artifact(run_id, "key.pem")
    # The explicit option allows a root holding the run's own folder (its id in the path), not the root itself.
    assert FileStore(tmp_path / "mlruns", artifact_roots=[outside]).walk_artifacts(run_id) == []
    allowed = FileStore(tmp_path / "mlruns", artifact_roots=[tmp_path])
    assert allowed.walk_artifacts(run_id) == []
    own = tmp_path / "roots" / "1" / run_id / "artifacts"
    write(own / "key.pem", "SECRET")
    (exp / run_id / "meta.yaml").write_text((exp / run_id / "meta.yaml").read_text().replace(outside.as_uri(), own.as_uri()))
    allowed = FileStore(tmp_path / "mlruns", artifact_roots=[tmp_path / "roots"])  # the explicit option
    assert allowed.open_artifact(run_id, "key.pem").read() == b"SECRET"


@pytest.mark.parametrize("path", [
    "../meta.yaml", "a/../../meta.yaml", "/etc/passwd", "%2e%2e/meta.yaml", "%252e%252e/meta.yaml",
    "..%2fmeta.yaml", "a\\..\\meta.yaml", "f.txt\x00.png", "C:/x",
])
def test_artifact_paths_that_escape_are_refused(tmp_path, path):
    exp = experiment(tmp_path, "1")
    run_id = run(exp, 1)
    write(exp / run_id / "artifacts" / "f.txt", "ok")
    store = FileStore(tmp_path)
    with pytest.raises(InvalidParameterValue):
        store.open_artifact(run_id, path)
    assert store.open_artifact(run_id, "f.txt").read() == b"ok"


def test_symlinks_and_fifos_are_never_followed_or_opened(tmp_path):
    exp = experiment(tmp_path / "mlruns", "1")
    run_id = run(exp, 1)
    art = exp / run_id / "artifacts"
    write(tmp_path / "secret.txt", "SECRET")
    write(art / "ok.txt", "ok")
    os.symlink(tmp_path / "secret.txt", art / "link.txt")
    os.symlink(tmp_path, art / "linkdir")
    os.symlink(art, art / "loop")
    os.symlink(tmp_path / "nothing", art / "dangling")
    os.mkfifo(art / "pipe")
    store = FileStore(tmp_path / "mlruns")
    assert [f.path for f in store.list_artifacts(run_id)] == ["ok.txt"]
    began = time.monotonic()
    assert [f.path for f in store.walk_artifacts(run_id)] == ["ok.txt"]
    skipped = sorted(os.path.basename(p.path) for p in store.problems)
    assert skipped == ["dangling", "link.txt", "linkdir", "loop", "pipe"]
    for name in ["link.txt", "linkdir/secret.txt", "loop/ok.txt", "pipe", "dangling"]:
        with pytest.raises(ReportgenError):
            store.open_artifact(run_id, name)
    assert time.monotonic() - began < 5  # the FIFO never blocked
    assert store.open_artifact(run_id, "ok.txt").read() == b"ok"


def test_fifo_in_place_of_a_meta_file_never_hangs(root):
    path = _meta_path(root, 2)
    path.unlink()
    os.mkfifo(path)
    began = time.monotonic()
    store = FileStore(root)
    assert _names(store) == ["run-1", "run-3"]
    assert [p.path for p in store.problems] == [str(path)]
    assert time.monotonic() - began < 5


def test_strict_turns_the_first_problem_into_an_error(root):
    _meta_path(root, 2).write_text("")
    with pytest.raises(ReportgenError, match="meta.yaml"):
        FileStore(root, strict=True).get_runs()
    assert _names(FileStore(root)) == ["run-1", "run-3"]


# -- SQLite ------------------------------------------------------------------------------------------
@pytest.fixture
def mlflow_db(tmp_path):
    return mlflow_sqlite(tmp_path / "schema.db")


def _add_runs(db, count, start=0):
    conn = sqlite3.connect(db)
    for i in range(start, start + count):
        run_id = f"{i:032x}"
        conn.execute("INSERT INTO runs (run_uuid, name, status, start_time, lifecycle_stage, artifact_uri, "
                     "experiment_id, source_type, user_id) VALUES (?, ?, 'FINISHED', ?, 'active', '', 0, 'LOCAL', 'u')",
                     (run_id, f"r{i}", T0 + i))
        conn.execute("INSERT INTO metrics VALUES ('m', ?, ?, ?, 0, 0)", (float(i), T0, run_id))
        conn.execute("INSERT INTO latest_metrics VALUES ('m', ?, ?, 0, 0, ?)", (float(i), T0, run_id))
    conn.commit()
    conn.close()


def test_sqlite_read_while_a_writer_holds_the_database(mlflow_db, tmp_path):
    db = tmp_path / "live.db"
    shutil.copy(mlflow_db, db)
    _add_runs(db, 3)
    store = open_store(f"sqlite:///{db}")
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a sweep in the middle of a write
    writer.execute("UPDATE runs SET name = 'changing' WHERE run_uuid = ?", (f"{0:032x}",))
    assert _names(store) == ["r0", "r1", "r2"]  # reads the committed state, does not block
    writer.execute("COMMIT")
    _add_runs(db, 2, start=3)
    assert _names(store) == ["changing", "r1", "r2", "r3", "r4"]  # no stale cache
    assert len(store.metric_histories()) == 5
    with pytest.raises(sqlite3.OperationalError):  # and it never writes
        store._conn.execute("CREATE TABLE x (y)")


def test_sqlite_unknown_schema_version_is_an_error(mlflow_db, tmp_path):
    db = tmp_path / "future.db"
    shutil.copy(mlflow_db, db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE alembic_version SET version_num = 'ffffeeee0000'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="unsupported MLflow schema version ffffeeee0000"):
        open_store(db)
    not_db = tmp_path / "junk.db"
    not_db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="junk.db"):
        open_store(not_db)


def test_run_without_an_artifact_folder_has_no_artifacts_and_no_problem(root):
    run_id = f"{1:032x}"
    shutil.rmtree(root / "1" / run_id / "artifacts")
    store = FileStore(root)
    assert store.list_artifacts(run_id) == [] and store.walk_artifacts(run_id) == []
    assert store.problems == []
    with pytest.raises(ResourceDoesNotExist):
        store.open_artifact(run_id, "x.txt")
