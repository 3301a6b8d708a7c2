"""Whole lines or nothing (issue 14, item 4): the writer's appends on a full disk, short writes, torn
tails left by a crash, leftover temp files of killed writers; and the readers (reportgen's and real
MLflow's) reading what is left. A torn line that a later append glues onto reads as a valid point
with a wrong timestamp, so every test checks the exact points read back, not only that reading works.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from reportgen import mlruns
from reportgen.errors import ReportgenError
from reportgen.model import Metric
from reportgen.stores import _metrics_parse
from reportgen.stores.base import ReadWarning
from reportgen.stores.file import FileStore
from reportgen.tracking import TrackingClient, _files, filestore

T0 = 1_700_000_000_000
STEP0 = 10_000


@pytest.fixture(autouse=True)
def _allow_mlflow_file_store():
    # Its own MonkeyPatch: the tests' monkeypatch.undo() (which ends a simulated disk fault) keeps it.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
        yield


def _mlflow_points(root: Path, run_id: str, key: str) -> list[tuple[int, float, int]]:
    mlflow = pytest.importorskip("mlflow")
    history = mlflow.MlflowClient(tracking_uri=root.as_uri()).get_metric_history(run_id, key)
    return sorted((m.timestamp, m.value, m.step) for m in history)


def _reportgen_points(root: Path, run_id: str, key: str) -> tuple[list[tuple[int, float, int]], list]:
    store = FileStore(root)
    points = sorted((m.timestamp, m.value, m.step) for m in store.get_metric_history(run_id, key))
    return points, [(p.path, p.message) for p in store.problems]


def _file_points(path: Path) -> list[tuple[int, float, int]]:
    """Every line of a metric file parsed; fails on a line that does not parse or a missing newline."""
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), f"{path} ends with a torn line: {data[-40:]!r}"
    return [mlruns.parse_metric_line(line) for line in data.decode().splitlines()]


# -- a real full disk: a 64 KB tmpfs -----------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command: cannot make a small tmpfs for the full-disk test")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 64 KB tmpfs (needs root or CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        filestore.close_all()  # cached metric descriptors would keep the mount busy
        if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def _fill(path: Path) -> None:
    """Write `path` until the file system has no free block left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            try:
                if os.write(fd, b"x" * 4096) < 4096:
                    continue  # the last block filled; the next write raises ENOSPC
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                return
    finally:
        os.close(fd)


def test_full_disk_keeps_whole_lines_and_the_next_point_reads_back_everywhere(small_disk):
    root = small_disk / "mlruns"
    client = TrackingClient(str(root))
    run_id = client.create_run("0").info.run_id
    metric = root / "0" / run_id / "metrics" / "loss"
    logged: list[tuple[int, float, int]] = []

    def log(i: int) -> None:
        # Every line is 27 bytes (odd), so no line ends exactly on a 4 KB page: the one that reaches
        # the end of the last free page is written in part (a short write), as on any full disk.
        point = (T0 + i, 1000.5 + i, STEP0 + i)
        client.log_metric(run_id, "loss", point[1], timestamp=point[0], step=point[2])
        logged.append(point)

    log(0)
    assert len(metric.read_bytes()) == 27
    _fill(small_disk / "filler")
    error = None
    for i in range(1, 5000):
        try:
            log(i)
        except ReportgenError as exc:
            error, failed = exc, i
            break
    assert error is not None, "the disk never filled up"
    message = str(error)
    assert "\n" not in message
    assert re.fullmatch(
        rf"cannot write {re.escape(str(metric))}: short write \(\d+ of 27 bytes: the disk is full or over"
        r" quota\); the partial line was removed, nothing was kept", message), message
    assert _file_points(metric) == logged

    # Still full: the same point again, then a batch, both refused whole.
    with pytest.raises(ReportgenError, match="nothing was kept|nothing was written"):
        log(failed)
    batch = [(T0 + failed + k, 1000.5 + failed + k, STEP0 + failed + k) for k in range(20)]
    with pytest.raises(ReportgenError, match="nothing was kept|nothing was written"):
        client.log_batch(run_id, metrics=[Metric("loss", v, t, s) for t, v, s in batch])
    assert _file_points(metric) == logged

    # Space freed: the next point lands on a line of its own, read back right by both readers.
    (small_disk / "filler").unlink()
    log(failed)
    assert _file_points(metric) == logged
    points, problems = _reportgen_points(root, run_id, "loss")
    assert points == logged and problems == []
    assert _mlflow_points(root, run_id, "loss") == logged
    # No wrong timestamp: each point's timestamp is the one logged with its step.
    assert all(t == T0 + (s - STEP0) for t, _, s in points)


# -- simulated short writes ----------------------------------------------------------------------------
@pytest.fixture
def run(tracking_root):
    client = TrackingClient(str(tracking_root))
    run_id = client.create_run("0").info.run_id
    client.log_metric(run_id, "loss", 0.5, timestamp=T0, step=0)
    return client, run_id, tracking_root / "0" / run_id / "metrics" / "loss"


def test_short_write_is_cut_back_to_the_last_whole_line(run, monkeypatch, tracking_root):
    client, run_id, metric = run
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[: len(data) // 2]))
    with pytest.raises(ReportgenError) as caught:
        client.log_metric(run_id, "loss", 0.25, timestamp=T0 + 1, step=1)
    monkeypatch.undo()
    assert type(caught.value) is ReportgenError
    assert str(caught.value) == (
        f"cannot write {metric}: short write (10 of 21 bytes: the disk is full or over quota); "
        "the partial line was removed, nothing was kept")
    assert metric.read_bytes() == f"{T0} 0.5 0\n".encode()
    client.log_metric(run_id, "loss", 0.125, timestamp=T0 + 2, step=2)
    expected = [(T0, 0.5, 0), (T0 + 2, 0.125, 2)]
    assert _file_points(metric) == expected
    assert _reportgen_points(tracking_root, run_id, "loss") == (expected, [])
    assert _mlflow_points(tracking_root, run_id, "loss") == expected


def test_short_batch_is_taken_back_whole(run, monkeypatch):
    client, run_id, metric = run
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[: len(data) - 5]))
    with pytest.raises(ReportgenError, match="partial line was removed"):
        client.log_batch(run_id, metrics=[Metric("loss", float(k), T0 + k, k) for k in range(1, 6)])
    monkeypatch.undo()
    assert metric.read_bytes() == f"{T0} 0.5 0\n".encode()


def test_short_write_followed_by_another_writer_is_blanked_not_cut(run, monkeypatch, tracking_root):
    """Another process appended after the torn bytes: cutting would lose its line, so the torn bytes
    become spaces in front of it and its point reads back exactly (MLflow strips lines too)."""
    client, run_id, metric = run
    other = os.open(metric, os.O_WRONLY | os.O_APPEND)
    real_write = os.write

    def half_then_other(fd, data):
        written = real_write(fd, data[: len(data) // 2])
        real_write(other, f"{T0 + 7} 7.0 7\n".encode())
        return written

    monkeypatch.setattr(os, "write", half_then_other)
    with pytest.raises(ReportgenError, match="partial line was removed"):
        client.log_metric(run_id, "loss", 0.25, timestamp=T0 + 1, step=1)
    monkeypatch.undo()
    os.close(other)
    assert metric.read_bytes() == f"{T0} 0.5 0\n{' ' * 10}{T0 + 7} 7.0 7\n".encode()
    client.log_metric(run_id, "loss", 0.125, timestamp=T0 + 2, step=2)
    expected = [(T0, 0.5, 0), (T0 + 2, 0.125, 2), (T0 + 7, 7.0, 7)]
    assert sorted(_file_points(metric)) == expected
    assert _reportgen_points(tracking_root, run_id, "loss") == (expected, [])
    assert _mlflow_points(tracking_root, run_id, "loss") == expected


def test_full_disk_before_any_byte_leaves_the_file_as_it_was(run, monkeypatch):
    client, run_id, metric = run

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(ReportgenError, match=rf"^cannot write {re.escape(str(metric))}: No space left on device;"
                                             " nothing was written$"):
        client.log_metric(run_id, "loss", 0.25, timestamp=T0 + 1, step=1)
    monkeypatch.undo()
    assert metric.read_bytes() == f"{T0} 0.5 0\n".encode()


# -- a torn tail left by an older crash ------------------------------------------------------------------
@pytest.mark.parametrize("before", [f"{T0} 0.5 0\n", ""])
def test_torn_tail_from_a_crash_is_never_glued_to_the_next_line(tracking_root, before):
    """The torn "<ts> 0.12" of "<ts> 0.1234 1" would parse as a point if ended with a newline, and
    glued to the next line it parses as a point with a wrong timestamp: it is blanked instead."""
    client = TrackingClient(str(tracking_root))
    run_id = client.create_run("0").info.run_id
    metric = tracking_root / "0" / run_id / "metrics" / "acc"
    fragment = f"{T0 + 1} 0.12"
    metric.write_text(before + fragment)
    client.log_metric(run_id, "acc", 0.75, timestamp=T0 + 2, step=2)
    assert metric.read_bytes() == f"{before}{' ' * len(fragment)}{T0 + 2} 0.75 2\n".encode()
    expected = ([(T0, 0.5, 0)] if before else []) + [(T0 + 2, 0.75, 2)]
    assert _file_points(metric) == expected
    assert _reportgen_points(tracking_root, run_id, "acc") == (expected, [])
    assert _mlflow_points(tracking_root, run_id, "acc") == expected


def test_a_line_still_being_written_by_another_process_is_left_alone(tracking_root, monkeypatch):
    """A tail without newline that changes while it is watched is another writer's whole line in
    flight: it is not blanked, and the next line follows it."""
    client = TrackingClient(str(tracking_root))
    run_id = client.create_run("0").info.run_id
    metric = tracking_root / "0" / run_id / "metrics" / "acc"
    metric.write_text(f"{T0} 0.5 0\n{T0 + 1} 0.2")
    real_sleep = time.sleep
    finished = []

    def sleep_while_it_finishes(seconds):
        if not finished:
            finished.append(True)
            with open(metric, "a") as handle:
                handle.write(" 1\n")
        real_sleep(seconds)

    monkeypatch.setattr(_files.time, "sleep", sleep_while_it_finishes)
    client.log_metric(run_id, "acc", 0.75, timestamp=T0 + 2, step=2)
    assert _file_points(metric) == [(T0, 0.5, 0), (T0 + 1, 0.2, 1), (T0 + 2, 0.75, 2)]


def test_a_file_that_ends_in_no_line_at_all_is_not_appended_to(tracking_root):
    client = TrackingClient(str(tracking_root))
    run_id = client.create_run("0").info.run_id
    metric = tracking_root / "0" / run_id / "metrics" / "acc"
    metric.write_bytes(b"7" * 5000)
    with pytest.raises(ReportgenError, match=r"ends with over 4096 bytes that are not a whole line.*not appending"):
        client.log_metric(run_id, "acc", 0.75, timestamp=T0, step=0)
    assert metric.read_bytes() == b"7" * 5000


def _log_points(root, run_id, worker, count):
    client = TrackingClient(root)
    for k in range(count):
        client.log_metric(run_id, "acc", float(worker), timestamp=T0 + worker * 1000 + k, step=k)


def test_many_processes_after_a_torn_tail_lose_no_line(tracking_root):
    import multiprocessing

    client = TrackingClient(str(tracking_root))
    run_id = client.create_run("0").info.run_id
    metric = tracking_root / "0" / run_id / "metrics" / "acc"
    metric.write_text(f"{T0} 0.5 0\n{T0 + 1} 0.12")
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_log_points, args=(str(tracking_root), run_id, w, 100)) for w in range(1, 5)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    expected = sorted([(T0, 0.5, 0)] + [(T0 + w * 1000 + k, float(w), k) for w in range(1, 5) for k in range(100)])
    assert sorted(_file_points(metric)) == expected
    assert _mlflow_points(tracking_root, run_id, "acc") == expected


def test_a_forked_child_opens_its_own_metric_files(run, tracking_root):
    writer = filestore.writer_for(tracking_root)
    assert writer._fds, "the parent keeps its metric descriptor open"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's result is its exit code
        code = 1
        try:
            code = 0 if not writer._fds else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert writer._fds, "the parent's descriptors stay open"


# -- readers --------------------------------------------------------------------------------------------
def test_reader_ignores_and_names_an_incomplete_last_line(tmp_path):
    client = TrackingClient(str(tmp_path / "mlruns"))
    run_id = client.create_run("0").info.run_id
    client.log_metric(run_id, "loss", 0.5, timestamp=T0, step=0)
    metric = tmp_path / "mlruns" / "0" / run_id / "metrics" / "loss"
    with open(metric, "ab") as handle:
        handle.write(f"{T0 + 1} 0.12".encode())  # torn from "<ts> 0.1234 1\n"
    message = "ignored the incomplete last line (no newline: a torn or unfinished write), kept 1"
    store = FileStore(tmp_path / "mlruns")
    with pytest.warns(ReadWarning, match=re.escape(f"{metric}: {message}")):
        assert [(m.timestamp, m.value, m.step) for m in store.get_metric_history(run_id, "loss")] == [(T0, 0.5, 0)]
    assert [(p.path, p.message) for p in store.problems] == [(str(metric), message)]
    with pytest.warns(ReadWarning):
        frame = FileStore(tmp_path / "mlruns").metric_histories([run_id])
        assert list(zip(frame.timestamp, frame.value, frame.step)) == [(T0, 0.5, 0)]
        assert FileStore(tmp_path / "mlruns").get_run(run_id).data.metrics == {"loss": 0.5}


def test_vectorised_parser_reads_blanked_and_incomplete_lines_as_the_line_parser(monkeypatch):
    lines = [f"{T0 + k} {k / 3!r} {k}\n" for k in range(200)]
    blanked = "".join(lines[:50]) + " " * 11 + "".join(lines[50:])
    blobs = [blanked.encode(), ("".join(lines) + f"{T0} 0.1").encode(), "".join(lines).encode(),
             f"{T0} 0.1".encode()]
    monkeypatch.setattr(_metrics_parse, "SMALL_BYTES", 0)  # force read_csv
    fast = _metrics_parse.parse_metric_blobs(blobs)
    monkeypatch.setattr(_metrics_parse, "SMALL_BYTES", 1 << 40)  # line by line
    slow = _metrics_parse.parse_metric_blobs(blobs)
    assert fast.counts.tolist() == slow.counts.tolist() == [200, 200, 200, 0]
    assert fast.bad_lines.tolist() == slow.bad_lines.tolist() == [0, 1, 0, 1]
    for name in ("timestamp", "value", "step"):
        assert np.array_equal(getattr(fast, name), getattr(slow, name))
    assert fast.timestamp[:200].tolist() == [T0 + k for k in range(200)]


# -- temp files of killed writers ----------------------------------------------------------------------
def _plant_temps(root: Path, experiment_id: str, run_id: str) -> list[Path]:
    """What kill -9 in the middle of each atomic write leaves: temp meta.yaml and tag files, staging
    folders of a run and of an experiment (each with a plausible meta.yaml inside)."""
    exp_dir = root / experiment_id
    run_dir = exp_dir / run_id
    ghost_run = "f" * 32
    planted = [
        exp_dir / ".meta.yaml.4242.0badc0de.tmp",
        run_dir / ".meta.yaml.4242.0badc0de.tmp",
        run_dir / ".note.4242.0badc0de.tmp",
        exp_dir / f".{ghost_run}.4242.0badc0de.tmp",
        root / ".987654.4242.0badc0de.tmp",
    ]
    planted[0].write_text((exp_dir / "meta.yaml").read_text().replace("name: e", "name: ghost"))
    planted[1].write_text((run_dir / "meta.yaml").read_text().replace("status: 1", "status: 4"))
    planted[2].write_text("half a tag")
    planted[3].mkdir()
    (planted[3] / "meta.yaml").write_text((run_dir / "meta.yaml").read_text().replace(run_id, ghost_run))
    planted[4].mkdir()
    (planted[4] / "meta.yaml").write_text(
        (exp_dir / "meta.yaml").read_text().replace(f"'{experiment_id}'", "'987654'").replace("name: e", "name: ghost"))
    return planted


def test_readers_ignore_leftover_temp_files(tmp_path):
    root = tmp_path / "mlruns"
    client = TrackingClient(str(root))
    experiment_id = client.create_experiment("e")
    run_id = client.create_run(experiment_id, run_name="r").info.run_id
    client.log_param(run_id, "p", "1")
    client.set_tag(run_id, "note", "whole")
    client.log_metric(run_id, "loss", 0.5, timestamp=T0, step=0)
    _plant_temps(root, experiment_id, run_id)
    store = FileStore(root)
    assert sorted(e.name for e in store.search_experiments()) == ["Default", "e"]
    runs = store.get_runs([experiment_id])
    assert [r.info.run_id for r in runs] == [run_id]
    run = store.get_run(run_id)
    assert run.info.status == "RUNNING"
    assert run.data.params == {"p": "1"} and run.data.tags["note"] == "whole"
    assert run.data.metrics == {"loss": 0.5}
    assert store.problems == []


def test_the_writer_cleans_stale_temp_files_and_keeps_fresh_ones(tmp_path):
    root = tmp_path / "mlruns"
    client = TrackingClient(str(root))
    experiment_id = client.create_experiment("e")
    run_id = client.create_run(experiment_id).info.run_id
    stale = _plant_temps(root, experiment_id, run_id)
    old = time.time() - _files.STALE_TEMP_SECONDS - 60
    for path in stale:
        os.utime(path, (old, old))
    fresh = root / experiment_id / ".meta.yaml.4243.1badc0de.tmp"
    fresh.write_text("a live writer is about to rename me")
    unrelated = [root / experiment_id / ".keep", root / experiment_id / "notes.tmp"]
    for path in unrelated:
        path.write_text("not ours")
        os.utime(path, (old, old))
    writer = filestore.FileStoreWriter(root)  # a new process's writer: it has swept nothing yet
    writer.create_run(experiment_id, user_id="u", start_time=T0, tags={}, run_name=None)
    writer.create_experiment("f")
    assert [p.exists() for p in stale] == [False, True, True, False, False]  # run folder: at its end
    writer.update_run_info(run_id, status="FINISHED", end_time=T0)
    assert not any(p.exists() for p in stale)
    assert fresh.exists() and all(p.exists() for p in unrelated)
    writer.close()
