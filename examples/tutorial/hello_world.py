# The hello-world task of MLflow's tracking tutorial (MLflow's examples/quickstart/mlflow_tracking.py),
# written as MLflow's docs write it; the only change is the import lines (`mlflow` -> `reportgen.tracking`).
import os
from random import randint, random

import reportgen.tracking as mlflow
from reportgen.tracking import log_artifacts, log_metric, log_param

if __name__ == "__main__":
    print("Running mlflow_tracking.py")
    print("Tracking URI:", mlflow.tracking.get_tracking_uri())
    client = mlflow.tracking.MlflowClient()

    log_param("param1", randint(0, 100))

    log_metric("foo", random())
    log_metric("foo", random() + 1)
    log_metric("foo", random() + 2)
    log_metric("accuracy 2", random())

    if not os.path.exists("outputs"):
        os.makedirs("outputs")
    with open("outputs/test.txt", "w") as f:
        f.write("hello world!")

    log_artifacts("outputs")
    # The tutorial also logs the folder itself: it lands as artifacts/outputs/.
    mlflow.log_artifact("outputs")

    run = client.get_run(mlflow.active_run().info.run_id)
    print("Logged params:", run.data.params)
