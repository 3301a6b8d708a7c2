"""Differential test: one script written for MLflow runs twice, as written (real MLflow) and with only its
import lines swapped (reportgen.tracking, with MLflow blocked), each into its own file store; real
MLflow then reads both stores, and what it reads must be the same (runs, params, metric histories,
tags, images per key and step, tables, dataset inputs, artifacts), as must the errors the script met."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlflow_oracle import BLOCK_MLFLOW
from reportgen.uri import path_to_file_uri

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import os, sys, tempfile
    import numpy as np
    import pandas as pd
    import mlflow
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(sys.argv[1])
    client = mlflow.tracking.MlflowClient()
    print("uri", mlflow.tracking.get_tracking_uri() == sys.argv[1])
    experiment = mlflow.set_experiment("parity")

    def error_of(call):
        try:
            call()
        except MlflowException as exc:
            return exc.error_code
        return "no error"

    print("duplicate name", error_of(lambda: client.create_experiment("parity")))
    print("start_run bad id", error_of(lambda: mlflow.start_run(experiment_id="123")))
    print("missing experiment tag", error_of(lambda: client.set_experiment_tag("999", "k", "v")))
    print("missing run", error_of(lambda: client.get_run("0" * 32)))

    image = np.linspace(0, 1, 48 * 32 * 3).reshape(48, 32, 3)
    with mlflow.start_run(run_name="main") as run:
        run_id = run.info.run_id
        print("param value", mlflow.log_param("alpha", 0.5))
        mlflow.log_params({"l1": 0.1, "solver": "cd"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        operations = [mlflow.log_metric("acc", 0.1 * step, step=step, synchronous=False) for step in range(3)]
        for operation in operations:
            operation.wait()
        print("async param", type(mlflow.log_param("async_p", 3, synchronous=False)).__name__)
        mlflow.set_tag("stage", "dev", synchronous=False)
        mlflow.log_metrics({"a": 1.0, "b": 2.0}, step=7, synchronous=False)
        mlflow.set_tags({"team": "x"}, synchronous=False).wait()
        mlflow.flush_async_logging()
        print("duplicate param", error_of(lambda: mlflow.log_param("alpha", 0.7)))
        for step in range(2):
            mlflow.log_image(image, key="train/sample", step=step, synchronous=True)
        mlflow.log_image(image, key="val", step=3)  # fluent default: not waited on
        mlflow.log_image((image * 255).astype("uint8"), artifact_file="static/pic.png")
        mlflow.log_table({"x": [1, 2], "y": ["a", "b"]}, artifact_file="tables/t.json")
        mlflow.log_table(pd.DataFrame({"x": [3], "y": ["c"]}), artifact_file="tables/t.json")
        with tempfile.TemporaryDirectory() as tmp:
            folder = os.path.join(tmp, "outputs")
            os.makedirs(os.path.join(folder, "inner"))
            with open(os.path.join(folder, "test.txt"), "w") as handle:
                handle.write("hello world!")
            with open(os.path.join(folder, "inner", "deep.txt"), "w") as handle:
                handle.write("deep")
            mlflow.log_artifact(folder)
            mlflow.log_artifact(folder, artifact_path="copy")
        train = Dataset("train", "abc123", "local", '{"uri": "/data/train.csv"}', None, '{"num_rows": 2}')
        evaluation = Dataset("eval", "e2", "local", '{"uri": "/data/eval.csv"}', '{"cols": ["x"]}', None)
        client.log_inputs(run_id, [DatasetInput(train, [InputTag("mlflow.data.context", "training")])])
        client.log_inputs(run_id, [DatasetInput(train, [InputTag("mlflow.data.context", "training")]),
                                   DatasetInput(evaluation, [])])
    with mlflow.start_run(run_name="second"):
        mlflow.log_metric("loss", 0.25)
        client.log_inputs(mlflow.active_run().info.run_id, [DatasetInput(train, [])])
    mlflow.flush_async_logging()
    print("done")
    """
)

def swap_imports(source: str) -> str:
    """The swap the README documents: `import mlflow` and every `mlflow.` module path in import lines."""
    source = re.sub(r"^import mlflow$", "import reportgen.tracking as mlflow", source, flags=re.M)
    return re.sub(r"^from mlflow(\.| )", r"from reportgen.tracking\1", source, flags=re.M)


def run_script(source: str, store: Path, cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_ALLOW_FILE_STORE": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    script = cwd / "script.py"
    script.write_text(source, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), path_to_file_uri(store)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_swapped_script_runs_without_mlflow(tmp_path):
    out = run_script(BLOCK_MLFLOW + swap_imports(SCRIPT), tmp_path / "mlruns", tmp_path)
    assert out.splitlines() == [
        "uri True",
        "duplicate name RESOURCE_ALREADY_EXISTS",
        "start_run bad id RESOURCE_DOES_NOT_EXIST",
        "missing experiment tag RESOURCE_DOES_NOT_EXIST",
        "missing run RESOURCE_DOES_NOT_EXIST",
        "param value 0.5",
        "async param RunOperations",
        "duplicate param INVALID_PARAMETER_VALUE",
        "done",
    ]
    runs = list((tmp_path / "mlruns").glob("*/*/meta.yaml"))
    assert len(runs) == 2


_IMAGE_NAME = re.compile(r"\+timestamp\+\d+\+[0-9a-f-]{36}")


def _artifact_tree(client, run_id: str, path: str | None = None) -> list[tuple[str, bool, int | None]]:
    listed = []
    for item in client.list_artifacts(run_id, path):
        listed.append((_IMAGE_NAME.sub("+timestamp+T+UUID", item.path), item.is_dir, item.file_size))
        if item.is_dir:
            listed.extend(_artifact_tree(client, run_id, item.path))
    return sorted(listed)


def read_with_mlflow(store: Path) -> dict:
    """What real MLflow reads from a store: everything but ids, times and the script's path."""
    import mlflow
    import pandas as pd

    client = mlflow.MlflowClient(path_to_file_uri(store))
    read = {}
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id]):
            run_id = run.info.run_id
            tags = {k: v for k, v in run.data.tags.items() if k != "mlflow.source.name"}
            # Sorted: real MLflow writes asynchronous points in batches, not in call order.
            histories = {key: sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))
                         for key in run.data.metrics}
            inputs = sorted(
                (d.dataset.name, d.dataset.digest, d.dataset.source_type, d.dataset.source, d.dataset.schema,
                 d.dataset.profile, sorted((t.key, t.value) for t in d.tags))
                for d in run.inputs.dataset_inputs
            )
            tables = {}
            if "mlflow.loggedArtifacts" in tags:
                for entry in json.loads(tags["mlflow.loggedArtifacts"]):
                    local = client.download_artifacts(run_id, entry["path"], str(store.parent))
                    tables[entry["path"]] = pd.read_json(local, orient="split").to_dict("list")
            read[(experiment.name, run.info.run_name)] = {
                "status": run.info.status, "params": run.data.params, "metrics": run.data.metrics,
                "histories": histories, "tags": tags, "inputs": inputs, "tables": tables,
                "artifacts": _artifact_tree(client, run_id),
            }
    return read


@pytest.mark.oracle
def test_mlflow_reads_the_same_from_both_stores(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    (tmp_path / "real").mkdir()
    (tmp_path / "ours").mkdir()
    real_out = run_script(SCRIPT, tmp_path / "real" / "mlruns", tmp_path / "real")
    ours_out = run_script(BLOCK_MLFLOW + swap_imports(SCRIPT), tmp_path / "ours" / "mlruns", tmp_path / "ours")
    assert ours_out == real_out
    real = read_with_mlflow(tmp_path / "real" / "mlruns")
    ours = read_with_mlflow(tmp_path / "ours" / "mlruns")
    assert set(ours) == {("parity", "main"), ("parity", "second")}
    main = ours[("parity", "main")]
    assert main["histories"]["acc"] == [(0, 0.0), (1, 0.1), (2, 0.2)]
    assert main["tags"]["mlflow.loggedImages"] == "True"
    assert sum(path.startswith("images/train~sample+step+") for path, _, _ in main["artifacts"]) == 4
    assert main["tables"]["tables/t.json"] == {"x": [1, 2, 3], "y": ["a", "b", "c"]}
    assert len(main["inputs"]) == 2
    for key in real:
        assert ours[key] == real[key], key
    # The dataset records are the same files (their ids are digests of name and digest).
    for pattern in ("*/datasets/*/meta.yaml", "*/*/inputs/*/meta.yaml"):
        real_files = sorted(p.read_text() for p in (tmp_path / "real" / "mlruns").glob(pattern))
        ours_files = sorted(p.read_text() for p in (tmp_path / "ours" / "mlruns").glob(pattern))
        assert ours_files == real_files and ours_files, pattern
