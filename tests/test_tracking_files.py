"""The writer's file primitives under failure: a full disk leaves the old meta.yaml whole and no temp
file behind, errors name the path, exclusive creation never exposes a partial file."""
from __future__ import annotations

import errno
import os

import pytest

from reportgen import mlruns
from reportgen.errors import ReportgenError
from reportgen.tracking import TrackingClient, _env, _files


def _fail_writes(monkeypatch, *, after: int = 0):
    real_write = os.write
    calls = {"n": 0}

    def write(fd, data):
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)


def test_disk_full_keeps_the_old_meta_yaml(tracking_root, monkeypatch):
    client = TrackingClient(str(tracking_root))
    run_id = client.create_run("0", run_name="before").info.run_id
    run_dir = tracking_root / "0" / run_id
    before = (run_dir / "meta.yaml").read_bytes()
    _fail_writes(monkeypatch)
    with pytest.raises(ReportgenError, match=f"cannot write {run_dir}.*No space left on device"):
        client.set_terminated(run_id, "FINISHED")
    monkeypatch.undo()
    assert (run_dir / "meta.yaml").read_bytes() == before
    assert [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")] == []
    assert client.get_run(run_id).info.status == "RUNNING"


def test_disk_full_on_a_metric_names_the_file(tracking_root, monkeypatch):
    client = TrackingClient(str(tracking_root))
    run_id = client.create_run("0").info.run_id
    _fail_writes(monkeypatch)
    with pytest.raises(ReportgenError, match=r"metrics/loss: No space left"):
        client.log_metric(run_id, "loss", 1.0)


def test_disk_full_while_creating_an_experiment_leaves_nothing(tracking_root, monkeypatch):
    client = TrackingClient(str(tracking_root))
    client.search_experiments()  # root and Default exist
    before = sorted(p.name for p in tracking_root.iterdir())
    _fail_writes(monkeypatch)
    with pytest.raises(ReportgenError, match="No space left"):
        client.create_experiment("full")
    monkeypatch.undo()
    assert sorted(p.name for p in tracking_root.iterdir()) == before
    assert client.get_experiment_by_name("full") is None


def test_short_write_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "write", lambda fd, data: len(data) - 1)
    with pytest.raises(ReportgenError, match="short write"):
        _files.atomic_write(tmp_path / "x", b"abc")
    assert list(tmp_path.iterdir()) == []


def test_create_exclusive(tmp_path):
    target = tmp_path / "p"
    assert _files.create_exclusive(target, b"one", temp_dir=tmp_path) is True
    assert _files.create_exclusive(target, b"two", temp_dir=tmp_path) is False
    assert target.read_bytes() == b"one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]


def test_lock_is_exclusive_between_processes(tmp_path):
    import multiprocessing
    import time

    ctx = multiprocessing.get_context("fork")
    entered = ctx.Event()

    def hold():
        with _files.locked(tmp_path):
            entered.set()
            time.sleep(0.5)

    holder = ctx.Process(target=hold)
    holder.start()
    assert entered.wait(10)
    start = time.monotonic()
    with _files.locked(tmp_path):
        waited = time.monotonic() - start
    holder.join()
    assert waited > 0.2


def test_injected_clock_and_ids_are_used(tracking_root, monkeypatch):
    """The sample-store generator replaces these module attributes; every write must go through them."""
    monkeypatch.setattr(_env, "now_ms", lambda: 1234)
    monkeypatch.setattr(_env, "new_run_id", lambda: "ab" * 16)
    monkeypatch.setattr(_env, "new_experiment_id", lambda: "777")
    monkeypatch.setattr(_env, "random_run_name", lambda: "fixed-name")
    client = TrackingClient(str(tracking_root))
    assert client.create_experiment("e") == "777"
    run = client.create_run("777")
    client.log_metric(run.info.run_id, "m", 1.0)
    client.set_terminated(run.info.run_id)
    assert (run.info.run_id, run.info.run_name, run.info.start_time) == ("ab" * 16, "fixed-name", 1234)
    meta = mlruns.load_meta((tracking_root / "777" / run.info.run_id / "meta.yaml").read_bytes())
    assert meta["end_time"] == 1234
    assert (tracking_root / "777" / run.info.run_id / "metrics" / "m").read_text() == "1234 1.0 0\n"
    experiment = mlruns.load_meta((tracking_root / "777" / "meta.yaml").read_bytes())
    assert experiment["creation_time"] == 1234 == experiment["last_update_time"]
