"""A throwaway PostgreSQL cluster on loopback from the machine's PostgreSQL binaries (Debian's
postgresql package), for the tests and bench/bench_postgres.py: initdb in a temp folder, trust auth,
a free port on 127.0.0.1, database `mlflow`; stopped and removed on exit."""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator


class ClusterFailed(RuntimeError):
    """initdb, pg_ctl or the first connection failed; the message carries the log's tail."""


def pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def missing() -> str | None:
    """Why a cluster cannot be started here, or None."""
    if pg_bin() is None:
        return "PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql"
    try:
        import psycopg2  # noqa: F401  (only whether it is installed)
    except ImportError:
        return "psycopg2 is not installed: pip install psycopg2-binary"
    return None


def _as_postgres_user(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the postgres user then."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    return [runuser, "-u", "postgres", "--", *command] if runuser else ["su", "postgres", "-c", " ".join(command)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def cluster() -> Iterator[str]:
    """Yields the SQLAlchemy URI of database `mlflow` (driver psycopg2, which MLflow then uses too)."""
    import psycopg2

    bindir = pg_bin()
    if bindir is None:
        raise ClusterFailed(str(missing()))
    root = Path(tempfile.mkdtemp(prefix="reportgen-pg-"))  # not under pytest's root-only temp folder
    data, log = root / "data", root / "postgres.log"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    port = _free_port()

    def run(*command: object) -> subprocess.CompletedProcess:
        return subprocess.run(_as_postgres_user([str(c) for c in command]), capture_output=True, text=True,
                              timeout=120)

    try:
        done = run(bindir / "initdb", "-D", data, "-U", "mlflow", "--auth=trust", "-E", "UTF8")
        if done.returncode:
            raise ClusterFailed(f"initdb failed: {done.stderr[-2000:]}")
        done = run(bindir / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60",
                   "-o", f"-h 127.0.0.1 -p {port} -k {root}", "start")
        if done.returncode:
            raise ClusterFailed(f"pg_ctl start failed: {done.stderr[-1000:]}\n{log.read_text() if log.exists() else ''}")
        for _ in range(100):
            try:
                conn = psycopg2.connect(host="127.0.0.1", port=port, user="mlflow", dbname="postgres")
                break
            except psycopg2.OperationalError:
                time.sleep(0.2)
        else:
            raise ClusterFailed(f"PostgreSQL did not accept connections:\n{log.read_text()}")
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE mlflow")
        conn.close()
        yield f"postgresql+psycopg2://mlflow@127.0.0.1:{port}/mlflow"
    finally:
        run(bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
