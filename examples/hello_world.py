"""Hello world of the MLflow tracking tutorial: one run with a param, a few metrics and a text artifact.

Runs unchanged with real MLflow: replace the import line with `import mlflow`.
Usage: python examples/hello_world.py [--tracking-uri URI] [--experiment NAME]
(without --tracking-uri, MLFLOW_TRACKING_URI is used, then ./mlruns).
"""
from __future__ import annotations

import argparse
import os
import tempfile
from random import Random

import reportgen.tracking as mlflow

EXPERIMENT = "hello-world"


def log_hello_world(*, seed: int = 0) -> str:
    """Log the hello-world run into the current experiment; return its run id."""
    rng = Random(seed)
    with mlflow.start_run(run_name="hello-world") as run:
        mlflow.log_param("param1", rng.randint(0, 100))
        mlflow.log_metric("foo", rng.random())
        # Three points of one metric: the history a report draws as a line.
        for step in range(3):
            mlflow.log_metric("foo_history", rng.random() + step, step=step)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "output.txt")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write("Hello world!\n")
            mlflow.log_artifact(path)
        return run.info.run_id


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", help="store to log to (default: MLFLOW_TRACKING_URI, then ./mlruns)")
    parser.add_argument("--experiment", default=EXPERIMENT, help=f"experiment name (default: {EXPERIMENT})")
    args = parser.parse_args(argv)
    if args.tracking_uri:
        mlflow.set_tracking_uri(args.tracking_uri)
    mlflow.set_experiment(args.experiment)
    run_id = log_hello_world()
    print(f"logged run {run_id} to {mlflow.get_tracking_uri()}")


if __name__ == "__main__":
    main()
