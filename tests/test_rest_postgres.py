"""A real mlflow server backed by a throwaway PostgreSQL cluster on loopback (the database teams
deploy): our client logs over REST; the REST reader and the SQL reader (open_store("postgresql://..."))
read the same runs and histories. Skipped when the PostgreSQL binaries or psycopg2 are missing
(.ci/run installs both)."""
from __future__ import annotations

import pandas as pd
import pytest

import pg_cluster
from mlflow_server import log_workload, mlflow_missing, running
from reportgen.stores import open_store


def _missing() -> str | None:
    return mlflow_missing() or pg_cluster.missing()


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


@pytest.fixture(scope="session")
def postgres():
    """A fresh cluster in a temp folder on 127.0.0.1:<free port>, database `mlflow`, trust auth."""
    try:
        with pg_cluster.cluster() as uri:
            yield uri
    except pg_cluster.ClusterFailed as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def postgres_server(postgres, tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow-pg-server")
    with running(postgres, root) as server:
        yield server


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
