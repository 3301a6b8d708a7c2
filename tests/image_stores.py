"""Stores holding images per step, written by real MLflow 3 (log_image with key and step): a file store or
SQLite with its artifacts beside it. Pixel colours encode (run, key, step) so a test can tell frames apart."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

T0 = 1_700_000_000_000
# run name -> key -> steps. "alpha" has two keys; "beta" other steps of one of them; "gamma" no images.
RUNS = {
    "alpha": {"samples/digits": [0, 5, 10], "confusion": [0, 10]},
    "beta": {"samples/digits": [0, 10, 20]},
    "gamma": {},
}
BIG = (300, 600)  # height, width of the "confusion" images: a thumbnail is smaller than they are


def colour(run: str, key: str, step: int) -> tuple[int, int, int]:
    return (list(RUNS).index(run) * 80 + 10, sorted({k for keys in RUNS.values() for k in keys}).index(key) * 90 + 20,
            step * 10 + 5)


def picture(run: str, key: str, step: int) -> np.ndarray:
    shape = BIG if key == "confusion" else (28, 28)
    return np.broadcast_to(np.array(colour(run, key, step), dtype=np.uint8), (*shape, 3)).copy()


def write(uri: str) -> dict[str, str]:
    """Logs RUNS with MLflow into the store at `uri` (file:// or sqlite:///); returns run name -> run id."""
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    if uri.startswith("sqlite:"):
        folder = Path(uri[len("sqlite:///"):]).parent / "artifacts"
        exp = client.create_experiment("images", artifact_location=folder.as_uri())
    else:
        exp = client.create_experiment("images")
    ids = {}
    for index, (name, keys) in enumerate(RUNS.items()):
        run = client.create_run(exp, run_name=name, start_time=T0 + index)
        client.log_metric(run.info.run_id, "acc", 0.5 + index / 10, timestamp=T0, step=0)
        for key, steps in keys.items():
            for step in steps:
                client.log_image(run.info.run_id, picture(name, key, step), key=key, step=step,
                                 timestamp=T0 + step, synchronous=True)
        client.set_terminated(run.info.run_id, end_time=T0 + 1000)
        ids[name] = run.info.run_id
    return ids
