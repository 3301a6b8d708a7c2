"""Artifacts on S3 against REAL servers on loopback: SeaweedFS (tests/seaweedfs.py) as the object store,
a real `mlflow server --artifacts-destination s3://...` (proxied: the database keeps mlflow-artifacts: URIs)
and one with `--default-artifact-root s3://...` (clients upload straight to the bucket), runs logged by
MLflow's client and by ours. The report from the server, from its database (with --artifacts-destination
s3://... for the proxied one) and from its folder (a file store) have the same artifact sections and
copied bytes. Faults (a missing bucket, a wrong secret, a key over the size cap, unsafe keys) are
problems naming the run, and no secret reaches the site."""
from __future__ import annotations

import contextlib
import io
import uuid
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

import pg_cluster
from mlflow_server import mlflow_missing, running
from seaweedfs import running as seaweedfs_running, seaweedfs_missing
from site_stores import artifact_sections, build_experiment, copied_files
from reportgen.stores import open_store
from reportgen.stores.objectstore import prefetch_run

pytestmark = [
    pytest.mark.skipif(mlflow_missing() is not None, reason=str(mlflow_missing())),
    pytest.mark.skipif(seaweedfs_missing() is not None, reason=str(seaweedfs_missing())),
]


@pytest.fixture(scope="module")
def weed(tmp_path_factory):
    """SeaweedFS, with its endpoint and credentials in os.environ as MLflow's users set them (and MLflow's
    telemetry off: its client would look up a host off this machine)."""
    with seaweedfs_running(tmp_path_factory.mktemp("seaweedfs")) as server, pytest.MonkeyPatch.context() as env:
        for name, value in {**server.env(), "MLFLOW_DISABLE_TELEMETRY": "true"}.items():
            env.setenv(name, value)
        yield server


def _log_both(server_url: str, root: Path, name: str, location: str | None) -> tuple[str, list[str]]:
    """An experiment (at `location`, or the server's default root) with a run logged by our client and
    one by MLflow's, through the server."""
    import mlflow

    import reportgen.tracking as ours

    theirs = mlflow.MlflowClient(tracking_uri=server_url)
    experiment_id = theirs.create_experiment(name, artifact_location=location)
    folder = root / name
    (folder / "deep").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha")
    (folder / "deep" / "b.bin").write_bytes(bytes(range(256)))
    client = ours.TrackingClient(server_url)
    run = client.create_run(experiment_id, run_name="ours")
    client.log_text(run.info.run_id, "hello", "notes/hello.txt")
    client.log_dict(run.info.run_id, {"a": [1, 2]}, "config.yaml")
    client.log_artifacts(run.info.run_id, str(folder), "data")
    client.log_metric(run.info.run_id, "loss", 0.25, step=0)
    client.set_terminated(run.info.run_id)
    by_mlflow = theirs.create_run(experiment_id, run_name="by-mlflow")
    theirs.log_text(by_mlflow.info.run_id, "from mlflow", "mlflow/notes.txt")
    (root / "table.csv").write_text("a,b\n1,2\n")
    theirs.log_artifact(by_mlflow.info.run_id, str(root / "table.csv"), "tables")
    theirs.log_metric(by_mlflow.info.run_id, "loss", 0.5, step=0)
    theirs.set_terminated(by_mlflow.info.run_id)
    return experiment_id, [run.info.run_id, by_mlflow.info.run_id]


@pytest.fixture(scope="module")
def server(weed, tmp_path_factory):
    """One `mlflow server` in both team set-ups: --artifacts-destination s3://proxied/root (an experiment
    at mlflow-artifacts:/, which the server proxies to the bucket) and --default-artifact-root
    s3://direct/root (the other experiment: clients upload straight to the bucket). On PostgreSQL, as
    a team runs it (SQLite where the machine has no PostgreSQL)."""
    root = tmp_path_factory.mktemp("server")
    weed.make_bucket("proxied")
    weed.make_bucket("direct")
    env = {**weed.env(), "MLFLOW_DEFAULT_ARTIFACT_ROOT": "s3://direct/root", "MLFLOW_DISABLE_TELEMETRY": "true"}
    with contextlib.ExitStack() as stack:
        backend = f"sqlite:///{root / 'mlflow.db'}"
        if pg_cluster.missing() is None:
            try:
                backend = stack.enter_context(pg_cluster.cluster())
            except pg_cluster.ClusterFailed as exc:
                pytest.fail(str(exc))
        started = stack.enter_context(running(backend, root, extra_env=env,
                                              args=["--artifacts-destination", "s3://proxied/root"]))
        proxied = _log_both(started.url, root, "proxied", "mlflow-artifacts:/proxied")
        direct = _log_both(started.url, root, "direct", None)
        yield started, backend, proxied, direct








def _names(copied: dict[str, bytes]) -> list[str]:
    return sorted(rel.rsplit("/", 1)[-1].split("-", 1)[1] for rel in copied)  # <digest>-<name>[.txt]


WANTED = ["a.txt", "b.bin.txt", "config.yaml.txt", "hello.txt", "notes.txt", "table.csv"]


def _keys(weed, bucket: str) -> list[str]:
    return [item["Key"] for item in weed.client().list_objects_v2(Bucket=bucket).get("Contents", [])]


def _same_reports(store: str, server_url: str, experiment_id: str, tmp_path: Path, **options) -> dict[str, bytes]:
    from_server = build_experiment(server_url, tmp_path / "server-site", experiment_id)
    from_store = build_experiment(store, tmp_path / "store-site", experiment_id, **options)
    assert from_server.runs == from_store.runs == 2
    assert from_server.problems == [] and from_store.problems == []
    assert artifact_sections(tmp_path / "store-site") == artifact_sections(tmp_path / "server-site")
    copied = copied_files(tmp_path / "server-site")
    assert copied_files(tmp_path / "store-site") == copied
    assert _names(copied) == WANTED and bytes(range(256)) in copied.values()
    return copied


def test_proxied_to_s3_the_database_with_the_destination_equals_the_server(server, weed, tmp_path):
    started, database, (experiment_id, run_ids), _ = server
    with open_store(database) as store:
        assert all(store.get_run(r).info.artifact_uri.startswith("mlflow-artifacts:") for r in run_ids)
    keys = _keys(weed, "proxied")
    assert len(keys) == len(WANTED) and all(key.startswith("root/proxied/") for key in keys)  # the server wrote them
    copied = _same_reports(database, started.url, experiment_id, tmp_path, artifacts_destination="s3://proxied/root")

    from reportgen.cli import main

    ran = CliRunner().invoke(main, ["build", database, "-o", str(tmp_path / "cli-site"), "--experiment", experiment_id,
                                    "--no-cache", "--artifacts-destination", "s3://proxied/root"])
    assert ran.exit_code == 0 and "0 warnings" in ran.output, ran.output
    assert copied_files(tmp_path / "cli-site") == copied


def test_default_artifact_root_on_s3_the_database_equals_the_server(server, weed, tmp_path):
    """Runs whose artifact URIs are s3://: MLflow's client and ours uploaded straight to the bucket, and
    the database's runs are read from S3 as the server reads them."""
    started, database, _, (experiment_id, run_ids) = server
    with open_store(database) as store:
        uris = [store.get_run(r).info.artifact_uri for r in run_ids]
    assert all(uri.startswith(f"s3://direct/root/{experiment_id}/") for uri in uris), uris
    assert len(_keys(weed, "direct")) == len(WANTED)
    _same_reports(database, started.url, experiment_id, tmp_path)


def test_the_store_api_and_downloads_read_s3(server, tmp_path):
    import reportgen.tracking as ours

    started, database, _, (_, run_ids) = server
    with open_store(database) as store:
        assert [(f.path, f.file_size) for f in store.walk_artifacts(run_ids[-1])] == [
            ("mlflow/notes.txt", 11), ("tables/table.csv", 8)]
        assert [(f.path, f.is_dir) for f in store.list_artifacts(run_ids[-1])] == [("mlflow", True), ("tables", True)]
        with store.open_artifact(run_ids[-1], "mlflow/notes.txt") as handle:
            assert handle.read() == b"from mlflow"
        # The copy step's read-ahead: both files in one batch of concurrent requests, then served from memory.
        prefetch_run(store, run_ids[-1], [("mlflow/notes.txt", 11), ("tables/table.csv", 8)])
        for path, data in [("tables/table.csv", b"a,b\n1,2\n"), ("mlflow/notes.txt", b"from mlflow")]:
            with store.open_artifact(run_ids[-1], path) as handle:
                assert isinstance(handle, io.BytesIO) and handle.read(100) == data
        assert store.problems == []
    client = ours.TrackingClient(started.url)
    local = client.download_artifacts(run_ids[0], "data", str(tmp_path))
    assert (Path(local) / "deep" / "b.bin").read_bytes() == bytes(range(256))


def test_a_file_store_with_an_s3_experiment_reads_and_builds_from_the_folder(weed, tmp_path, monkeypatch):
    """A local file store whose experiment lives on S3: our client and MLflow's upload to the bucket,
    each reads the other's files, and the report from the folder copies them all from S3."""
    import mlflow

    import reportgen.tracking as ours
    from reportgen.tracking.artifacts import log_tree

    weed.make_bucket("ours")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlruns = tmp_path / "mlruns"
    client = ours.TrackingClient(str(mlruns))
    experiment_id = client.create_experiment("on-s3", artifact_location="s3://ours/exp")
    run = client.create_run(experiment_id).info.run_id
    client.log_text(run, "hi", "t/hello.txt")
    client.log_dict(run, {"a": 1}, "d.json")
    theirs = mlflow.MlflowClient(tracking_uri=str(mlruns))
    assert sorted(f.path for f in theirs.list_artifacts(run)) == ["d.json", "t"]
    assert Path(theirs.download_artifacts(run, "t/hello.txt", str(tmp_path))).read_text() == "hi"
    by_mlflow = theirs.create_run(experiment_id).info.run_id
    theirs.log_text(by_mlflow, "from mlflow", "m/notes.txt")
    assert client.list_artifacts(by_mlflow, "m")[0].path == "m/notes.txt"

    result = build_experiment(str(mlruns), tmp_path / "site", experiment_id)
    assert result.problems == [] and result.runs == 2
    assert sorted(copied_files(tmp_path / "site").values()) == [b"from mlflow", b"hi", b'{\n  "a": 1\n}']

    # A logged model's files go up the same way (log_model's upload of its staged folder).
    (tmp_path / "model" / "sub").mkdir(parents=True)
    (tmp_path / "model" / "MLmodel").write_text("flavors: {}")
    (tmp_path / "model" / "sub" / "w.bin").write_bytes(b"\1\2")
    log_tree("s3://ours/exp/models/m-1/artifacts", tmp_path / "model")
    assert sorted(_keys(weed, "ours"))[-2:] == ["exp/models/m-1/artifacts/MLmodel", "exp/models/m-1/artifacts/sub/w.bin"]


# -- faults ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def faulty(weed, tmp_path_factory):
    """A SQLite store (our client) whose experiments sit on S3 in four ways: fine, a bucket that is not
    there, a run with one object over the size cap, and a run with keys that are not plain paths."""
    import reportgen.tracking as ours

    root = tmp_path_factory.mktemp("faulty")
    client = ours.TrackingClient(f"sqlite:///{root / 'mlflow.db'}")
    weed.make_bucket("faults")
    s3 = weed.client()
    runs = {}
    for kind, location in [("fine", "s3://faults/fine"), ("missing", "s3://no-such-bucket/x"),
                           ("unsafe", "s3://faults/unsafe")]:
        experiment_id = client.create_experiment(kind, artifact_location=location)
        run = client.create_run(experiment_id)
        runs[kind] = (experiment_id, run.info.run_id)
        if kind != "missing":
            client.log_text(run.info.run_id, "small", "small.txt")
    weed.make_bucket("faults-big")  # its own bucket: the server counts the bytes it sends from it
    big_experiment = client.create_experiment("big-bucket", artifact_location="s3://faults-big/exp")
    big_run = client.create_run(big_experiment).info.run_id
    client.log_text(big_run, "small", "small.txt")
    s3.put_object(Bucket="faults-big", Key=f"exp/{big_run}/artifacts/huge.bin", Body=b"\0" * 300_000)
    runs["big"] = (big_experiment, big_run)
    unsafe_prefix = f"unsafe/{runs['unsafe'][1]}/artifacts"
    for key in ("%2e%2e/%2e%2e/escape.txt", "a/%2E%2E%2f%2e%2e%2fescape.txt", ".hidden/notes.txt"):
        s3.put_object(Bucket="faults", Key=f"{unsafe_prefix}/{key}", Body=b"never copied")
    s3.put_object(Bucket="faults", Key=f"{unsafe_prefix}/<img src=x onerror=alert(1)>.txt", Body=b"text")
    return root / "mlflow.db", runs


def test_a_missing_bucket_is_a_problem_naming_the_run(faulty, tmp_path):
    db, runs = faulty
    experiment_id, run_id = runs["missing"]
    result = build_experiment(f"sqlite:///{db}", tmp_path / "site", experiment_id)
    assert result.runs == 1
    about = [p for p in result.problems if "no-such-bucket" in p.path + p.message]
    assert about and "not found" in about[0].message, result.problems


def test_a_wrong_secret_is_a_problem_and_no_secret_reaches_the_site(faulty, weed, tmp_path, monkeypatch):
    db, runs = faulty
    experiment_id, run_id = runs["fine"]
    wrong = "wrong-" + uuid.uuid4().hex
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong)
    result = build_experiment(f"sqlite:///{db}", tmp_path / "site", experiment_id)
    assert any("access denied" in p.message and "s3://faults/fine" in p.path for p in result.problems), result.problems
    texts = [p.read_bytes() for p in (tmp_path / "site").rglob("*") if p.is_file()]
    assert texts and not any(wrong.encode() in t or weed.secret_key.encode() in t for t in texts)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", weed.secret_key)
    good = build_experiment(f"sqlite:///{db}", tmp_path / "good", experiment_id)
    assert good.problems == [] and _names(copied_files(tmp_path / "good")) == ["small.txt"]
    texts = [p.read_bytes() for p in (tmp_path / "good").rglob("*") if p.is_file()]
    assert not any(weed.secret_key.encode() in t or weed.access_key.encode() in t for t in texts)


def test_a_cached_build_reuses_a_run_until_its_objects_change(faulty, weed, tmp_path):
    """The run's cache key holds its listing (keys, sizes, ETags), never a credential."""
    db, runs = faulty
    experiment_id, run_id = runs["fine"]
    cache = tmp_path / "cache"
    first = build_experiment(f"sqlite:///{db}", tmp_path / "site", experiment_id, cache_dir=cache)
    again = build_experiment(f"sqlite:///{db}", tmp_path / "site", experiment_id, cache_dir=cache)
    assert first.reused == 0 and again.reused >= 1 and again.problems == []
    weed.client().put_object(Bucket="faults", Key=f"fine/{run_id}/artifacts/later.txt", Body=b"added")
    try:
        changed = build_experiment(f"sqlite:///{db}", tmp_path / "site", experiment_id, cache_dir=cache)
        assert changed.reused < again.reused
        assert _names(copied_files(tmp_path / "site")) == ["later.txt", "small.txt"]
    finally:
        weed.client().delete_object(Bucket="faults", Key=f"fine/{run_id}/artifacts/later.txt")
    blobs = [p.read_bytes() for p in [*cache.rglob("*"), *(tmp_path / "site").rglob("*")] if p.is_file()]
    assert blobs and not any(weed.secret_key.encode() in blob for blob in blobs)


def test_a_key_over_the_size_cap_is_never_downloaded(faulty, weed, tmp_path):
    db, runs = faulty
    experiment_id, run_id = runs["big"]
    before = weed.bytes_sent("faults-big")
    result = build_experiment(f"sqlite:///{db}", tmp_path / "site", experiment_id, max_artifact_size=100_000)
    sent = weed.bytes_sent("faults-big") - before
    assert sent < 1000, sent  # the small file, never the 300,000-byte one
    assert any(run_id in p.path and "huge.bin" in p.path and "max-artifact-size" in p.message for p in result.problems)
    assert _names(copied_files(tmp_path / "site")) == ["small.txt"]
    page = next((tmp_path / "site" / "r").glob("*.html")).read_text(encoding="utf-8")
    assert "huge.bin" in page and "too large to copy" in page


def test_unsafe_and_hidden_keys_are_skipped_and_never_written(faulty, tmp_path):
    db, runs = faulty
    experiment_id, run_id = runs["unsafe"]
    out = tmp_path / "out" / "site"
    result = build_experiment(f"sqlite:///{db}", out, experiment_id)
    skipped = [p for p in result.problems if "s3://faults/unsafe" in p.path]
    assert len(skipped) == 3, result.problems
    assert sum("unsafe object key" in p.message for p in skipped) == 2
    assert _names(copied_files(out)) == ["img_src_x_onerror_alert_1_.txt", "small.txt"]
    page = BeautifulSoup(next((out / "r").glob("*.html")).read_text(encoding="utf-8"), "html.parser")
    assert "<img src=x onerror=alert(1)>.txt" in page.get_text() and not page.select("img[onerror]")
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert all(out in p.parents for p in written)
    assert not any(b"never copied" in p.read_bytes() for p in written)


def test_a_prefix_with_many_keys_is_listed_only_as_far_as_the_walk_needs(weed):
    from reportgen.stores.objectstore import ObjectRoot, walk

    run_id = uuid.uuid4().hex
    s3 = weed.client()
    for index in range(30):
        s3.put_object(Bucket="faults", Key=f"many/{run_id}/artifacts/f{index:02d}.txt", Body=b"x")
    skipped: list[tuple[str, str]] = []
    files = walk(ObjectRoot("s3", "faults", f"many/{run_id}/artifacts"), max_files=5,
                 on_skip=lambda where, why: skipped.append((where, why)))
    assert [f.path for f in files] == [f"f{index:02d}.txt" for index in range(5)]
    assert [why for _, why in skipped] == ["more than 5 artifact files; the rest are left out"]
    skipped.clear()
    walk(ObjectRoot("s3", "faults", f"many/{run_id}/artifacts"), max_files=50, on_skip=lambda *a: skipped.append(a))
    assert skipped == []


def test_a_destination_without_the_extra_is_a_one_line_error(faulty, tmp_path, monkeypatch):
    import importlib.util

    from reportgen.cli import main

    db, _ = faulty
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "s3fs" else real(name, *a))
    ran = CliRunner().invoke(main, ["build", f"sqlite:///{db}", "-o", str(tmp_path / "site"), "--no-cache",
                                    "--artifacts-destination", "s3://bucket/x"])
    assert ran.exit_code == 1, ran.output
    assert "pip install 'reportgen[s3]'" in ran.output and len(ran.output.strip().splitlines()) == 1
    result = build_experiment(f"sqlite:///{db}", tmp_path / "site2", faulty[1]["fine"][0])
    assert [p.message for p in result.problems] == ["artifacts unavailable: s3:// artifacts need s3fs: "
                                                    "pip install 'reportgen[s3]'"]
