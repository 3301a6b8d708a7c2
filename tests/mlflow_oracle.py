"""A small store written by real MLflow (file store), and a converter from MLflow's entities to
reportgen.model, so query and frame tests can compare with MLflow without any reportgen reader."""
from __future__ import annotations

import math
import os
from pathlib import Path

from reportgen.model import (
    Dataset, DatasetInput, InputTag, Metric, Run, RunData, RunInfo, RunInputs,
)

T0 = 1_700_000_000_000

# The first lines of a script that must run without MLflow: any `import mlflow...` in it fails.
BLOCK_MLFLOW = """\
import sys

class NoMlflow:
    def find_spec(self, name, path=None, target=None):
        if name == "mlflow" or name.startswith("mlflow."):
            raise ImportError("mlflow is blocked in this test")
        return None

sys.meta_path.insert(0, NoMlflow())
"""


def to_model(run) -> Run:
    """An mlflow.entities.Run as a reportgen.model.Run (test-only converter)."""
    info = run.info
    inputs = RunInputs(tuple(
        DatasetInput(
            Dataset(d.dataset.name, d.dataset.digest, d.dataset.source_type, d.dataset.source,
                    d.dataset.schema, d.dataset.profile),
            tuple(InputTag(t.key, t.value) for t in d.tags),
        )
        for d in (run.inputs.dataset_inputs if run.inputs else [])
    ))
    return Run(
        RunInfo(info.run_id, info.experiment_id, info.run_name, info.user_id, info.status,
                info.start_time, info.end_time, info.artifact_uri, info.lifecycle_stage),
        RunData(dict(run.data.metrics), dict(run.data.params), dict(run.data.tags),
                tuple(Metric(m.key, m.value, m.timestamp, m.step) for m in run.data._metric_objs)),
        inputs,
    )


def build_store(root: Path | str) -> tuple[object, list[str]]:
    """Write a varied store with MLflow (a folder path: file store; a URI string: that store);
    return (MlflowClient, experiment ids)."""
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    import mlflow
    import pandas as pd
    from mlflow.entities import Metric as MMetric, Param, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=root if isinstance(root, str) else root.as_uri())
    exp_a = client.create_experiment("a")
    exp_b = client.create_experiment("b")
    specs = [
        # (exp, start offset, name, status, metrics, params, tags)
        (exp_a, 0, "alpha-1", "FINISHED", {"rmse": 0.5, "acc": 0.9, "train/loss": 1.0},
         {"alpha": "0.5", "optimizer": "adam", "seed": "1"}, {"my tag": "apple", "team": "x"}),
        (exp_a, 10, "alpha-2", "FINISHED", {"rmse": 0.9, "acc": 0.7},
         {"alpha": "0.1", "optimizer": "sgd", "seed": "2"}, {"my tag": "Avocado", "team": "y"}),
        (exp_a, 10, "beta_1", "FAILED", {"rmse": math.nan, "acc": 0.8},
         {"alpha": "0.5", "optimizer": "Adam", "seed": "3"}, {"my tag": "banana"}),
        (exp_a, 20, "beta-2", "KILLED", {"rmse": math.inf, "acc": -1.0},
         {"alpha": "", "seed": "1"}, {"team": "x", "a.b": "dotted"}),
        (exp_a, 30, "gamma", "RUNNING", {"acc": 0.95, "train/loss": -0.5},
         {"alpha": "1e-3"}, {"my tag": "apple pie", "ünï": "cödé"}),
        (exp_b, 5, "delta", "FINISHED", {"rmse": -math.inf, "acc": 0.6, "train/loss": 2.0},
         {"alpha": "0.5", "optimizer": "adam", "seed": "2"}, {"team": "z"}),
        (exp_b, 15, "Delta%_x", "FINISHED", {"rmse": 0.3},
         {"optimizer": "sgd", "seed": "3"}, {"my tag": "a%b"}),
        (exp_b, 40, "epsilon", "FINISHED", {}, {}, {}),
    ]
    ids: list[str] = []
    for exp, offset, name, status, metrics, params, tags in specs:
        run = client.create_run(exp, start_time=T0 + offset, run_name=name)
        rid = run.info.run_id
        client.log_batch(
            rid,
            metrics=[MMetric(k, v, T0 + offset + 1, 3) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        if status != "RUNNING":
            client.set_terminated(rid, status, end_time=T0 + offset + 100)
        ids.append(rid)
    # A nested child of the first run, and dataset inputs on two runs.
    child = client.create_run(exp_a, start_time=T0 + 50, run_name="child",
                              tags={"mlflow.parentRunId": ids[0]})
    client.log_metric(child.info.run_id, "rmse", 0.7, timestamp=T0 + 51, step=0)
    client.set_terminated(child.info.run_id, "FINISHED", end_time=T0 + 60)
    frame = pd.DataFrame({"x": [1, 2], "y": [3, 4]})
    train = mlflow.data.from_pandas(frame, name="train_set")
    evals = mlflow.data.from_pandas(frame.iloc[:1], name="eval_set")
    from mlflow.entities import DatasetInput as MDatasetInput, InputTag as MInputTag
    client.log_inputs(ids[0], [MDatasetInput(train._to_mlflow_entity(), [MInputTag("mlflow.data.context", "training")])])
    client.log_inputs(ids[5], [
        MDatasetInput(train._to_mlflow_entity(), [MInputTag("mlflow.data.context", "training")]),
        MDatasetInput(evals._to_mlflow_entity(), [MInputTag("mlflow.data.context", "eval")]),
    ])
    # A deleted run, which the default view hides.
    gone = client.create_run(exp_b, start_time=T0 + 60, run_name="gone")
    client.delete_run(gone.info.run_id)
    return client, [exp_a, exp_b]
