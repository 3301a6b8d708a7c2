"""Start and stop a real `mlflow server` on loopback for tests and benchmarks (own process group,
job execution off, one worker); fail with the server's log when it does not come up."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

STARTUP_TIMEOUT = 120.0


def mlflow_missing() -> str | None:
    """Why a real server cannot run here (None when it can)."""
    try:
        import mlflow  # noqa: F401
    except ImportError:
        return "mlflow is not installed (pip install -e '.[test]')"
    return None


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
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

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


def start(backend_uri: str, artifacts: Path, log: Path, *, extra_env: dict[str, str] | None = None) -> Server:
    """A server on a free loopback port, healthy; raises ServerFailed (with its log) otherwise."""
    port = free_port()
    artifacts.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(extra_env or {})}
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        env.pop(name, None)
    command = [
        sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri,
        "--artifacts-destination", str(artifacts), "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
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
