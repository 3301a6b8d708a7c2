"""--artifacts-destination against a REAL `mlflow server --artifacts-destination <folder>` on loopback:
runs logged through the server (MLflow's client and ours) keep `mlflow-artifacts:` URIs in its SQLite
file; a report from that file with the option shows the artifacts the server's own report shows, and
without it says which runs were left out and how to include them."""
from __future__ import annotations

import shutil
import uuid

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from mlflow_server import log_workload, mlflow_missing, running
from site_stores import artifact_sections, build_experiment, copied_files
from reportgen.errors import ReportgenError
from reportgen.stores import open_store
from reportgen.stores.base import ReadWarning

pytestmark = pytest.mark.skipif(mlflow_missing() is not None, reason=str(mlflow_missing()))


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A server with an experiment of three runs with artifacts: two logged by our client, one by MLflow's."""
    import mlflow

    import reportgen.tracking as ours

    root = tmp_path_factory.mktemp("artifacts-destination")
    db = root / "mlflow.db"
    with running(f"sqlite:///{db}", root) as server:
        ours.set_tracking_uri(server.url)
        try:
            experiment_id, run_ids = log_workload(ours, root)
        finally:
            ours.set_tracking_uri(None)
        theirs = mlflow.MlflowClient(tracking_uri=server.url)
        run = theirs.create_run(experiment_id, run_name="by-mlflow")
        theirs.log_text(run.info.run_id, "from mlflow", "mlflow/notes.txt")
        (root / "table.csv").write_text("a,b\n1,2\n")
        theirs.log_artifact(run.info.run_id, str(root / "table.csv"), "tables")
        theirs.log_metric(run.info.run_id, "loss", 0.5, step=0)
        theirs.set_terminated(run.info.run_id)
        yield server, db, experiment_id, [*run_ids, run.info.run_id]








def test_the_database_with_the_destination_shows_what_the_server_shows(logged, tmp_path):
    server, db, experiment_id, run_ids = logged
    with open_store(f"sqlite:///{db}") as store:
        uris = [store.get_run(run_id).info.artifact_uri for run_id in run_ids]
    assert all(uri.startswith("mlflow-artifacts:") for uri in uris), uris

    from_server = build_experiment(server.url, tmp_path / "server-site", experiment_id)
    from_db = build_experiment(f"sqlite:///{db}", tmp_path / "db-site", experiment_id, artifacts_destination=str(server.artifacts))

    assert from_server.runs == from_db.runs == 3
    assert from_db.problems == [] and from_server.problems == []
    sections = artifact_sections(tmp_path / "server-site")
    assert len(sections) == 3
    assert artifact_sections(tmp_path / "db-site") == sections
    copied = copied_files(tmp_path / "server-site")
    assert copied_files(tmp_path / "db-site") == copied
    names = [rel.rsplit("/", 1)[-1].split("-", 1)[1] for rel in copied]  # copies are named <digest>-<name>[.txt]
    for wanted in ("hello.txt", "config.yaml", "a.txt", "b.bin", "notes.txt", "table.csv"):
        assert any(name.startswith(wanted) for name in names), (wanted, names)
    assert any(data == bytes(range(256)) for data in copied.values())


def test_a_file_store_written_by_a_server_reads_them_too(tmp_path):
    """A server on a file store keeps the same mlflow-artifacts: URIs in its meta.yaml files."""
    import reportgen.tracking as ours

    # MLflow 3 refuses a file store unless told otherwise.
    with running(str(tmp_path / "mlruns"), tmp_path, extra_env={"MLFLOW_ALLOW_FILE_STORE": "true"}) as server:
        ours.set_tracking_uri(server.url)
        try:
            experiment_id, run_ids = log_workload(ours, tmp_path)
        finally:
            ours.set_tracking_uri(None)
        from_server = build_experiment(server.url, tmp_path / "server-site", experiment_id)
    with open_store(tmp_path / "mlruns") as store:
        assert store.get_run(run_ids[0]).info.artifact_uri.startswith("mlflow-artifacts:")
    from_folder = build_experiment(str(tmp_path / "mlruns"), tmp_path / "folder-site", experiment_id,
                         artifacts_destination=str(server.artifacts))
    assert from_server.problems == [] and from_folder.problems == []
    assert artifact_sections(tmp_path / "folder-site") == artifact_sections(tmp_path / "server-site")
    copied = copied_files(tmp_path / "server-site")
    assert len(copied) == 5 and copied_files(tmp_path / "folder-site") == copied


def test_a_file_uri_destination_and_the_store_api_read_the_same_files(logged):
    server, db, _, run_ids = logged
    with open_store(f"sqlite:///{db}", artifacts_destination=server.artifacts.as_uri()) as store:
        listing = store.walk_artifacts(run_ids[-1])
        assert [(f.path, f.file_size) for f in listing] == [("mlflow/notes.txt", 11), ("tables/table.csv", 8)]
        with store.open_artifact(run_ids[-1], "mlflow/notes.txt") as handle:
            assert handle.read() == b"from mlflow"
        assert store.problems == []


def test_without_the_destination_one_problem_names_the_runs_and_the_option(logged, tmp_path):
    server, db, experiment_id, run_ids = logged
    with pytest.warns(ReadWarning, match="--artifacts-destination PATH"):
        result = build_experiment(f"sqlite:///{db}", tmp_path / "site", experiment_id)
    about = [p for p in result.problems if "mlflow-artifacts" in p.message]
    assert len(about) == 1, result.problems
    message = about[0].message
    assert "those of 3 runs" in message and "--artifacts-destination PATH" in message
    assert all(run_id in message for run_id in run_ids)
    page = BeautifulSoup((tmp_path / "site" / "problems.html").read_text(encoding="utf-8"), "html.parser")
    assert "--artifacts-destination PATH" in page.get_text()
    assert not list((tmp_path / "site" / "r").rglob("*.txt"))  # nothing copied

    from reportgen.cli import main

    out = tmp_path / "cli-site"
    ran = CliRunner().invoke(main, ["build", f"sqlite:///{db}", "-o", str(out), "--experiment", experiment_id,
                                    "--no-cache"])
    assert ran.exit_code == 0, ran.output
    assert "--artifacts-destination PATH" in ran.output  # the build summary says how to include them


def test_the_cli_builds_with_the_destination(logged, tmp_path):
    from reportgen.cli import main

    server, db, experiment_id, _ = logged
    out = tmp_path / "site"
    ran = CliRunner().invoke(main, ["build", f"sqlite:///{db}", "-o", str(out), "--experiment", experiment_id,
                                    "--no-cache", "--artifacts-destination", str(server.artifacts)])
    assert ran.exit_code == 0, ran.output
    assert "0 warnings" in ran.output
    assert [p.name.split("-", 1)[1] for p in (out / "r").rglob("*.csv")] == ["table.csv"]


@pytest.mark.parametrize("destination, said", [
    ("missing-folder", "no such folder"),
    ("ftp://host/artifacts", "ftp: destinations are not supported"),
])
def test_a_bad_destination_is_a_one_line_error(logged, tmp_path, destination, said):
    from reportgen.cli import main

    _, db, experiment_id, _ = logged
    if "://" not in destination:
        destination = str(tmp_path / destination)
    with pytest.raises(ReportgenError, match=said):
        open_store(f"sqlite:///{db}", artifacts_destination=destination)
    ran = CliRunner().invoke(main, ["build", f"sqlite:///{db}", "-o", str(tmp_path / "site"), "--no-cache",
                                    "--artifacts-destination", destination])
    assert ran.exit_code == 1
    assert said in ran.output and len(ran.output.strip().splitlines()) == 1 and "Traceback" not in ran.output


def test_a_uri_leaving_the_destination_is_refused(tmp_path):
    """The mapping is confined like any artifact root: '..' and symlinks out are not read."""
    from reportgen.stores.server_artifacts import root_on_destination

    destination = tmp_path / "served"
    run_id = uuid.uuid4().hex
    (destination / "1" / run_id / "artifacts").mkdir(parents=True)
    outside = tmp_path / "outside" / run_id
    outside.mkdir(parents=True)
    (destination / "2").mkdir()
    (destination / "2" / run_id).symlink_to(outside, target_is_directory=True)

    good = root_on_destination(f"mlflow-artifacts:/1/{run_id}/artifacts", destination, run_id)
    assert good.path == (destination / "1" / run_id / "artifacts").resolve()
    with_host = root_on_destination(f"mlflow-artifacts://127.0.0.1:5000/1/{run_id}/artifacts", destination, run_id)
    assert with_host.path == good.path
    for uri in (f"mlflow-artifacts:/1/../../outside/{run_id}", f"mlflow-artifacts:/1/%2e%2e/%2e%2e/outside/{run_id}",
                f"mlflow-artifacts:/2/{run_id}", "mlflow-artifacts:/", f"mlflow-artifacts:/1/{uuid.uuid4().hex}"):
        refused = root_on_destination(uri, destination, run_id)
        assert refused.path is None and refused.reason, uri
    shutil.rmtree(outside)
