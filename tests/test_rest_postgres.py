"""A real mlflow server backed by a throwaway PostgreSQL cluster on loopback (the database teams
deploy): our client logs over REST; the REST reader and the SQL reader (open_store("postgresql://..."))
read the same runs and histories. Skipped when the PostgreSQL binaries or psycopg2 are missing
(.ci/run installs both)."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from mlflow_server import ServerFailed, free_port, log_workload, mlflow_missing, start
from reportgen.stores import open_store


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _missing() -> str | None:
    if mlflow_missing():
        return mlflow_missing()
    if _pg_bin() is None:
        return "PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql"
    try:
        import psycopg2  # noqa: F401  (only whether it is installed)
    except ImportError:
        return "psycopg2 is not installed: pip install psycopg2-binary"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


def _as_postgres_user(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the postgres user then."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    return [runuser, "-u", "postgres", "--", *command] if runuser else ["su", "postgres", "-c", " ".join(command)]


@pytest.fixture(scope="session")
def postgres():
    """A fresh cluster in a temp folder on 127.0.0.1:<free port>, database `mlflow`, trust auth."""
    import psycopg2

    bindir = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="reportgen-pg-"))  # not under pytest's root-only temp folder
    data, log = root / "data", root / "postgres.log"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    port = free_port()
    run = lambda *cmd: subprocess.run(_as_postgres_user([str(c) for c in cmd]), capture_output=True, text=True,  # noqa: E731
                                      timeout=120)
    done = run(bindir / "initdb", "-D", data, "-U", "mlflow", "--auth=trust", "-E", "UTF8")
    if done.returncode:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"initdb failed: {done.stderr[-2000:]}")
    done = run(bindir / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60",
               "-o", f"-h 127.0.0.1 -p {port} -k {root}", "start")
    try:
        if done.returncode:
            pytest.fail(f"pg_ctl start failed: {done.stderr[-1000:]}\n{log.read_text() if log.exists() else ''}")
        for _ in range(100):
            try:
                conn = psycopg2.connect(host="127.0.0.1", port=port, user="mlflow", dbname="postgres")
                break
            except psycopg2.OperationalError:
                time.sleep(0.2)
        else:
            pytest.fail(f"PostgreSQL did not accept connections:\n{log.read_text()}")
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE mlflow")
        conn.close()
        # The driver named: MLflow would otherwise pick psycopg (3), which is not installed.
        yield f"postgresql+psycopg2://mlflow@127.0.0.1:{port}/mlflow"
    finally:
        run(bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server(postgres, tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow-pg-server")
    try:
        server = start(postgres, root / "artifacts", root / "server.log")
    except ServerFailed as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


def test_postgres_backed_server_reads_equal_the_database(postgres, postgres_server, tmp_path, monkeypatch):
    import mlflow

    import reportgen.tracking as ours

    for name in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    ours.set_tracking_uri(postgres_server.url)
    try:
        experiment_id, run_ids = log_workload(ours, tmp_path)
    finally:
        ours.set_tracking_uri(None)

    remote = open_store(postgres_server.url)
    database = open_store(postgres)
    assert remote.search_experiments() == database.search_experiments()
    remote_runs, remote_history = remote.read_all([experiment_id])
    database_runs, database_history = database.read_all([experiment_id])
    assert sorted(r.run_id for r in remote_runs) == sorted(run_ids)
    assert remote_runs == database_runs
    pd.testing.assert_frame_equal(remote.search_runs([experiment_id]), database.search_runs([experiment_id]))
    pd.testing.assert_frame_equal(remote_history, database_history)
    assert len(database_history) == 50 + 2 + 1  # loss x 50, odd x 2, acc x 1

    theirs = mlflow.MlflowClient(tracking_uri=postgres_server.url)
    for run in remote_runs:
        assert theirs.get_run(run.run_id).data.params == run.data.params
    assert [f.path for f in remote.walk_artifacts(run_ids[0])] == [
        "config.yaml", "data/a.txt", "data/deep/b.bin", "notes/hello.txt"]
    database.close()
