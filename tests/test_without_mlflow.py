"""reportgen never needs MLflow at run time: log, read and build with `import mlflow` made to fail."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from mlflow_oracle import BLOCK_MLFLOW

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = BLOCK_MLFLOW + textwrap.dedent(
    """
    import warnings

    warnings.simplefilter("ignore")
    out = sys.argv[1]

    import reportgen.tracking as tracking
    tracking.set_tracking_uri(out + "/mlruns")
    tracking.set_experiment("no-mlflow")
    with tracking.start_run(run_name="r"):
        tracking.log_param("p", 1)
        tracking.log_metric("m", 0.5, step=1)

    # MLflow's module paths and the MLflow 3 calls, all without MLflow.
    import numpy as np
    import reportgen.tracking as mlflow
    from reportgen.tracking.entities import Dataset, DatasetInput, InputTag, Metric, ViewType
    from reportgen.tracking.exceptions import RESOURCE_ALREADY_EXISTS, MlflowException
    client = mlflow.tracking.MlflowClient()
    assert mlflow.tracking.get_tracking_uri() == client.tracking_uri
    try:
        client.create_experiment("no-mlflow")
    except MlflowException as exc:
        assert exc.error_code == RESOURCE_ALREADY_EXISTS
    else:
        raise AssertionError("a duplicate experiment name was accepted")
    assert "sklearn" not in sys.modules, "scikit-learn imported eagerly"
    with mlflow.start_run(run_name="media") as run:
        mlflow.log_metric("m", 1.0, step=2, synchronous=False).wait()
        mlflow.log_image(np.zeros((4, 4)), key="img", step=1, synchronous=True)
        mlflow.log_table({"a": [1]}, artifact_file="t.json")
        mlflow.log_input(Dataset("d", "1", "local", "{}"), context="training")
    mlflow.flush_async_logging()
    done = client.get_run(run.info.run_id)
    assert done.inputs.dataset_inputs[0].dataset.name == "d"
    assert done.data.tags["mlflow.loggedImages"] == "True"

    import reportgen
    store = reportgen.open_store(out + "/mlruns")
    assert list(store.search_runs()["params.p"].dropna()) == ["1"], store.search_runs()
    result = reportgen.build_site([sys.argv[2]], out + "/site", static_charts=False)
    assert result.runs > 0 and result.pages > 0
    assert not any(name == "mlflow" or name.startswith("mlflow.") for name in sys.modules)
    print("ok", result.runs, result.pages)
    """
)


def test_log_read_and_build_with_mlflow_blocked(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), str(ROOT / "sample_mlruns")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("ok ")
