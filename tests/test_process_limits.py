"""Process caps (issue 14, item 5): `-j` never forks more workers than CPUs or runs, and every process a
build forks (run-page workers, the static-image helper) dies with it, even when it is killed with -9."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import mlruns_builder as mb
from reportgen.cli import main
from reportgen.site import build_site
from reportgen.site.parallel import capped_workers, cpu_count
from site_stores import points

linux_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")

_FORKS: list[int] = []
_COUNTING: list[bool] = [False]
# Forks of this process, counted while a test asks (a hook cannot be removed: it stays, idle).
os.register_at_fork(after_in_parent=lambda: _FORKS.append(1) if _COUNTING[0] else None)


def _store(root: Path, runs: int) -> Path:
    exp = mb.experiment(root, "1", "exp")
    for index in range(1, runs + 1):
        mb.run(exp, index, name=f"run-{index}", params={"lr": str(index % 7), "seed": str(index)},
               metrics={"loss": points([1 / (step + index) for step in range(20)])})
    return root


def _forks_during(job) -> int:
    _FORKS.clear()
    _COUNTING[0] = True
    try:
        job()
    finally:
        _COUNTING[0] = False
    return len(_FORKS)


def test_capped_workers():
    cpus = cpu_count()
    assert capped_workers(100_000, 2) == min(cpus, 2)
    assert capped_workers(100_000, 10**6) == cpus
    assert capped_workers(3, 0) == 1 and capped_workers(0, 50) == 1


def test_jobs_in_the_thousands_on_a_two_run_store_fork_at_most_the_cpus(tmp_path):
    store = _store(tmp_path / "mlruns", 2)
    forks = _forks_during(lambda: build_site([str(store)], tmp_path / "site", workers=100_000, static_charts=False))
    assert 0 < forks <= min(cpu_count(), 2) or (cpu_count() == 1 and forks == 0)
    result = _forks_during(lambda: CliRunner().invoke(
        main, ["build", str(store), "-o", str(tmp_path / "cli-site"), "-q", "--no-cache", "-j", "100000"]))
    assert result <= min(cpu_count(), 2) + 1  # + the static-image helper
    assert len(list((tmp_path / "cli-site" / "r").glob("*.html"))) == 2


def _children(pid: int) -> dict[int, str]:
    """pid -> command line of the live processes whose parent is pid."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry)] = cmdline
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] not in ("Z", "X")  # a zombie is dead, only not reaped


@linux_only
def test_a_killed_build_leaves_no_worker_or_helper_behind(tmp_path):
    if cpu_count() < 2:
        pytest.skip("one CPU: no run-page worker is forked")
    store = _store(tmp_path / "mlruns", 600)
    command = [sys.executable, "-m", "reportgen.cli", "build", str(store), "-o", str(tmp_path / "site"), "-q",
               "--no-cache", "-j", "2"]
    build = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 120
        # The image helper is forked before the read; two run-page workers after it.
        while len(seen) < 3 and build.poll() is None and time.monotonic() < deadline:
            seen.update(_children(build.pid))
            time.sleep(0.01)
        assert build.poll() is None, f"the build ended before its workers were seen ({len(seen)} children)"
        assert len(seen) >= 3, seen
        os.kill(build.pid, signal.SIGKILL)
        build.wait(timeout=10)
        deadline = time.monotonic() + 5
        while any(map(_alive, seen)) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = {pid: cmd for pid, cmd in seen.items() if _alive(pid)}
        assert not left, f"children outlived the killed build: {left}"
    finally:
        if build.poll() is None:
            build.kill()
            build.wait()
        for pid in seen:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
