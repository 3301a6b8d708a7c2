"""Artifacts: log_artifact(s) copy safely (special files and escaping symlinks skipped, nothing
written outside the run), log_text/log_dict, list_artifacts and download_artifacts."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from reportgen.errors import InvalidParameterValue, ReportgenError, UnsupportedError
from reportgen.tracking import TrackingClient
from reportgen.tracking.artifacts import ArtifactWarning


@pytest.fixture
def client(tracking_root):
    return TrackingClient(str(tracking_root))


@pytest.fixture
def run_id(client):
    return client.create_run("0").info.run_id


def _artifact_dir(client, run_id) -> Path:
    return Path(client.get_run(run_id).info.artifact_uri.removeprefix("file://"))


def test_log_artifact_follows_a_symlinked_file_like_mlflow(client, run_id, tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("content")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    client.log_artifact(run_id, str(link), "sub")
    copied = _artifact_dir(client, run_id) / "sub" / "link.txt"
    assert copied.read_text() == "content" and not copied.is_symlink()


def test_log_artifact_of_a_folder_logs_it_under_its_name_as_mlflow_does(client, run_id, tmp_path):
    folder = tmp_path / "outputs"
    (folder / "inner").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "inner" / "b.txt").write_text("b")
    client.log_artifact(run_id, str(folder))
    client.log_artifact(run_id, str(folder) + "/", artifact_path="nested/dir")
    assert [f.path for f in client.list_artifacts(run_id)] == ["nested", "outputs"]
    assert {f.path for f in client.list_artifacts(run_id, "outputs")} == {"outputs/a.txt", "outputs/inner"}
    assert [f.path for f in client.list_artifacts(run_id, "nested/dir/outputs/inner")] == [
        "nested/dir/outputs/inner/b.txt"]


def test_log_artifact_refuses_the_folder_holding_the_store_fifos_and_missing_files(client, run_id, tmp_path):
    with pytest.raises(InvalidParameterValue, match="holds the run's artifacts"):
        client.log_artifact(run_id, str(tmp_path))  # the store is inside: the copy would never end
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InvalidParameterValue, match="not a regular file"):
        client.log_artifact(run_id, str(fifo))  # must not block reading the FIFO
    with pytest.raises(ReportgenError, match="missing.txt"):
        client.log_artifact(run_id, str(tmp_path / "missing.txt"))


def test_log_artifacts_skips_special_files_and_escaping_links(client, run_id, tmp_path):
    source = tmp_path / "src"
    (source / "inner").mkdir(parents=True)
    (source / "ok.txt").write_text("ok")
    (source / "inner" / "deep.txt").write_text("deep")
    outside = tmp_path / "secret.txt"
    outside.write_text("do not copy")
    (source / "escape.txt").symlink_to(outside)
    (source / "inside_link.txt").symlink_to(source / "ok.txt")
    (source / "dir_link").symlink_to(source / "inner")
    (source / "dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(source / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(source / "sock"))
    try:
        with pytest.warns(ArtifactWarning) as caught:
            client.log_artifacts(run_id, str(source), "tree")
    finally:
        sock.close()
    root = _artifact_dir(client, run_id) / "tree"
    copied = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    assert copied == ["inner", "inner/deep.txt", "inside_link.txt", "ok.txt"]
    messages = " ".join(str(w.message) for w in caught)
    for name in ("escape.txt", "dir_link", "dangling", "pipe", "sock"):
        assert name in messages


def test_artifact_paths_cannot_leave_the_run(client, run_id, tmp_path):
    source = tmp_path / "f.txt"
    source.write_text("x")
    for bad in ("../outside", "/abs", "a/../../b"):
        with pytest.raises(InvalidParameterValue):
            client.log_artifact(run_id, str(source), bad)
        with pytest.raises(InvalidParameterValue):
            client.log_text(run_id, "x", f"{bad}/f.txt")
    # A symlink planted inside the artifacts must not carry writes out of the run.
    target = tmp_path / "elsewhere"
    target.mkdir()
    (_artifact_dir(client, run_id) / "planted").symlink_to(target)
    with pytest.raises(InvalidParameterValue, match="outside"):
        client.log_text(run_id, "x", "planted/f.txt")
    assert list(target.iterdir()) == []
    with pytest.raises(InvalidParameterValue):
        client.log_text(run_id, "x", "")


def test_log_text_and_dict_overwrite_atomically(client, run_id):
    client.log_text(run_id, "one", "t.txt")
    client.log_text(run_id, "two", "t.txt")
    root = _artifact_dir(client, run_id)
    assert (root / "t.txt").read_text() == "two"
    assert [p.name for p in root.iterdir()] == ["t.txt"]  # no temp file left behind
    client.log_dict(run_id, {"when": object.__name__}, "d.yml")
    assert (root / "d.yml").read_text() == "when: object\n"
    with pytest.raises(InvalidParameterValue, match="YAML"):
        client.log_dict(run_id, {"x": object()}, "bad.yaml")


def test_list_and_download_artifacts(client, run_id, tmp_path):
    client.log_text(run_id, "a", "top.txt")
    client.log_text(run_id, "bb", "dir/inner.txt")
    client.log_text(run_id, "ccc", "dir/sub/deep.txt")
    assert [(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run_id)] == [
        ("dir", True, None), ("top.txt", False, 1)]
    assert [f.path for f in client.list_artifacts(run_id, "dir")] == ["dir/inner.txt", "dir/sub"]
    dst = tmp_path / "dst"
    dst.mkdir()
    single = client.download_artifacts(run_id, "dir/inner.txt", str(dst))
    assert single == str(dst / "dir" / "inner.txt") and Path(single).read_text() == "bb"
    folder = client.download_artifacts(run_id, "dir", str(dst))
    assert Path(folder, "sub", "deep.txt").read_text() == "ccc"
    everything = Path(client.download_artifacts(run_id, ""))
    assert sorted(str(p.relative_to(everything)) for p in everything.rglob("*") if p.is_file()) == [
        "dir/inner.txt", "dir/sub/deep.txt", "top.txt"]
    with pytest.raises(ReportgenError, match="No artifact"):
        client.download_artifacts(run_id, "nope.txt", str(dst))
    with pytest.raises(InvalidParameterValue):
        client.download_artifacts(run_id, "../../etc/passwd", str(dst))
    with pytest.raises(InvalidParameterValue, match="does not exist"):
        client.download_artifacts(run_id, "top.txt", str(tmp_path / "missing"))


def test_remote_artifact_locations_are_refused_for_writing(client, tmp_path):
    # s3://, gs:// and Azure are written through fsspec (tests/test_s3_artifacts.py); others are refused.
    experiment_id = client.create_experiment("remote", artifact_location="hdfs://namenode/prefix")
    run = client.create_run(experiment_id)
    assert run.info.artifact_uri == f"hdfs://namenode/prefix/{run.info.run_id}/artifacts"
    with pytest.raises(UnsupportedError, match="not a local path"):
        client.log_text(run.info.run_id, "x", "x.txt")
