"""Start and stop a real `mlflow server` on loopback for tests and benchmarks (own process group,
job execution off, one worker); fail with the server's log when it does not come up. Also the
workload the REST tests log through our client."""
from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

STARTUP_TIMEOUT = 120.0


def mlflow_missing() -> str | None:
    """Why a real server cannot run here (None when it can)."""
    try:
        import mlflow  # noqa: F401  (only whether it is installed)
    except ImportError:
        return "mlflow is not installed (pip install -e '.[test]')"
    return None


def log_tail(log: Path, lines: int = 40) -> str:
    """The last lines of a server's log, for the message of a test that failed to start it."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path
    backend_uri: str
    artifacts: Path

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log, lines)

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(timeout=15)
        else:  # the server is gone; its children (same group) may not be
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class ServerFailed(RuntimeError):
    pass


def start(
    backend_uri: str, artifacts: Path, log: Path, *, extra_env: dict[str, str] | None = None, workers: int = 1,
    args: Sequence[str] = (),
) -> Server:
    """A server on a free loopback port, healthy; raises ServerFailed (with its log) otherwise. `args` go
    after the defaults (click keeps an option's last value: --artifacts-destination s3://bucket)."""
    port = free_port()
    artifacts.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(extra_env or {})}
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        env.pop(name, None)
    command = [
        sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri,
        "--artifacts-destination", str(artifacts), "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), *args,
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True, cwd=str(log.parent))
    server = Server(f"http://127.0.0.1:{port}", process, log, backend_uri, artifacts)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            server.stop()
            raise ServerFailed(f"mlflow server exited with {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.3)
    server.stop()
    raise ServerFailed(f"mlflow server not healthy after {STARTUP_TIMEOUT:.0f} s:\n{server.log_tail()}")


@contextlib.contextmanager
def running(backend_uri: str, root: Path, **options) -> Iterator[Server]:
    """For tests: a server whose artifacts and log are under root, stopped on leaving; one that does not come
    up fails the test with its log."""
    import pytest

    try:
        server = start(backend_uri, root / "artifacts", root / "server.log", **options)
    except ServerFailed as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


def log_workload(ours, tmp_path: Path, *, many_metrics: bool = False) -> tuple[str, list[str]]:
    """Two runs (one nested) with params, stepped metrics (NaN and inf too), tags and artifacts."""
    name = f"rest-{uuid.uuid4().hex[:8]}"
    experiment = ours.set_experiment(name)
    folder = tmp_path / "to-log"
    (folder / "deep").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha")
    (folder / "deep" / "b.bin").write_bytes(bytes(range(256)))
    run_ids = []
    with ours.start_run(run_name="parent") as parent:
        ours.log_params({"lr": 0.01, "layers": 3, "name": "x" * 300})
        if many_metrics:
            ours.log_metrics({f"m{i}": i for i in range(1100)}, step=0)  # more than one batch
        for step in range(50):
            ours.log_metric("loss", 1 / (step + 1), step=step)
        ours.log_metric("odd", math.nan, step=0)
        ours.log_metric("odd", math.inf, step=1)
        ours.set_tags({"team": "vision", "mlflow.note.content": "# note"})
        ours.log_text("hello", "notes/hello.txt")
        ours.log_dict({"a": [1, 2]}, "config.yaml")
        ours.log_artifacts(str(folder), "data")
        run_ids.append(parent.info.run_id)
        with ours.start_run(run_name="child", nested=True) as child:
            ours.log_param("seed", 7)
            ours.log_metric("acc", 0.5, step=3)
            ours.log_artifact(str(folder / "a.txt"))
            run_ids.append(child.info.run_id)
    return experiment.experiment_id, run_ids
