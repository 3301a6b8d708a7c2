"""What sample_mlruns/ holds: the tutorial's three examples, and a digits MLP study with a nested sweep,
seed repeats, a diverging (FAILED) run, a deleted run, markdown notes and artifacts of every kind.

Only make_sample_mlruns.py calls this, with reportgen.tracking's clock and ids already pinned.
"""
from __future__ import annotations

import os
import sys
import tempfile
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, log_loss  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

import elastic_net_wine  # noqa: E402
import hello_world  # noqa: E402
import logistic_regression  # noqa: E402
import reportgen.tracking as mlflow  # noqa: E402

NOTE = "mlflow.note.content"
VERSIONS_TAG = "reportgen.sample.versions"
DIGIT_CLASSES = np.arange(10)
EPOCHS = 50
SWEEP_WIDTHS = (32, 64)
SWEEP_LEARNING_RATES = (0.01, 0.1, 1.0)
# Far too large on purpose: the loss overflows to inf, then NaN, and scikit-learn gives up (a FAILED run).
DIVERGING_LEARNING_RATE = 1e5
SEEDS = (0, 1, 2)
MLP_DOCS = "https://scikit-learn.org/stable/modules/generated/sklearn.neural_network.MLPClassifier.html"

DEFAULT_NOTE = """\
# reportgen sample store

Written by `examples/make_sample_mlruns.py` with `reportgen.tracking`: the three tasks of the MLflow
tracking tutorial, plus a digits MLP study. Regenerate it with `python examples/make_sample_mlruns.py`.
"""
LOGREG_NOTE = """\
Logistic regression on scikit-learn's **breast cancer** data (569 samples, 30 features), one run per
value of the inverse regularisation strength `C`. One run was logged with a wrong split and deleted.
"""
ENET_NOTE = """\
Elastic net on scikit-learn's **wine** data, predicting the alcohol content from the 12 other
measurements.

| param | values |
|---|---|
| alpha | 0.01, 0.1, 0.5 |
| l1_ratio | 0.1, 0.5, 0.9 |

Each run logs `train/rmse` and `test/rmse` after every coordinate-descent pass.
"""
DIGITS_NOTE = f"""\
# Digits MLP

A one-hidden-layer MLP on scikit-learn's 8x8 **digits**, trained with SGD and momentum.
The sweep run holds one child per grid point; the `seed-*` runs repeat one configuration with three
seeds to show the noise between runs. See the [MLPClassifier documentation]({MLP_DOCS}).
"""


def library_versions() -> str:
    return (
        f"python={sys.version_info.major}.{sys.version_info.minor} scikit-learn={sklearn.__version__} "
        f"numpy={np.__version__} matplotlib={matplotlib.__version__}"
    )


def use_experiment(name: str, note: str) -> str:
    experiment_id = mlflow.create_experiment(name, tags={NOTE: note})
    mlflow.set_experiment(name)
    return experiment_id


def log_everything(clock, *, seed: int) -> None:
    client = mlflow.MlflowClient()
    mlflow.set_experiment(experiment_id="0")
    client.set_experiment_tag("0", NOTE, DEFAULT_NOTE)
    client.set_experiment_tag("0", VERSIONS_TAG, library_versions())
    hello_world.log_hello_world(seed=seed)

    clock.advance(3_600_000)
    use_experiment("logistic-regression", LOGREG_NOTE)
    logistic_regression.log_logistic_regression(seed=42)
    log_deleted_run(client)

    clock.advance(3_600_000)
    use_experiment("elastic-net-wine", ENET_NOTE)
    elastic_net_wine.log_elastic_net_grid(seed=42)

    clock.advance(3_600_000)
    use_experiment("digits-mlp", DIGITS_NOTE)
    data = load_digit_data()
    log_sweep(data, clock)
    for repeat_seed in SEEDS:
        with mlflow.start_run(run_name=f"seed-{repeat_seed}", tags={"study": "seed-variance"}):
            params = mlp_params(32, 0.1, repeat_seed)
            mlflow.log_params(params)
            model, val_losses = train_mlp(params, data, clock)
            log_evaluation(model, val_losses, data)
    log_interrupted_run(client, mlflow.get_experiment_by_name("digits-mlp").experiment_id, data, clock)


def log_deleted_run(client) -> None:
    with mlflow.start_run(run_name="logreg-wrong-split", description="Logged with the test set in the training data.") as run:
        mlflow.log_params({"C": 1.0, "test_size": 0.0})
        mlflow.log_metric("accuracy", 0.989)
    client.delete_run(run.info.run_id)


def load_digit_data():
    features, target = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        features / 16.0, target, test_size=0.25, random_state=0, stratify=target
    )
    return x_train, x_val, y_train, y_val


def mlp_params(width: int, learning_rate: float, seed: int) -> dict:
    return {
        "hidden_units": width, "learning_rate_init": learning_rate, "solver": "sgd", "momentum": 0.9,
        "batch_size": 128, "epochs": EPOCHS, "seed": seed,
    }


def make_mlp(params: dict) -> MLPClassifier:
    return MLPClassifier(
        hidden_layer_sizes=(params["hidden_units"],), solver="sgd", momentum=params["momentum"],
        learning_rate_init=params["learning_rate_init"], batch_size=params["batch_size"],
        random_state=params["seed"],
    )


def fit_epoch(model: MLPClassifier, params: dict, data, clock) -> None:
    x_train, _, y_train, _ = data
    clock.advance(400 + 10 * params["hidden_units"])  # a simulated epoch: wider nets take longer
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.partial_fit(x_train, y_train, classes=DIGIT_CLASSES)


def train_mlp(params: dict, data, clock) -> tuple[MLPClassifier, list[float]]:
    """Train epoch by epoch, logging train/loss, val/loss and val/accuracy at each step, and a text log;
    return the model and its val/loss history."""
    _, x_val, _, y_val = data
    model = make_mlp(params)
    val_losses = []
    lines = [f"training {params}"]
    for epoch in range(1, params["epochs"] + 1):
        try:
            fit_epoch(model, params, data, clock)
        except ValueError as exc:
            # The loss that made scikit-learn give up (NaN) is the point worth seeing in the history.
            mlflow.log_metric("train/loss", float(model.loss_), step=epoch)
            lines.append(f"epoch {epoch:3d}  ERROR {exc}")
            mlflow.log_text("\n".join(lines) + "\n", "training_log.txt")
            raise
        with np.errstate(all="ignore"):
            proba = model.predict_proba(x_val)
        finite = bool(np.all(np.isfinite(proba)))
        metrics = {
            "train/loss": float(model.loss_),
            "val/loss": float(log_loss(y_val, proba, labels=DIGIT_CLASSES)) if finite else float("nan"),
            "val/accuracy": float(accuracy_score(y_val, proba.argmax(axis=1))),
        }
        mlflow.log_metrics(metrics, step=epoch)
        val_losses.append(metrics["val/loss"])
        lines.append(f"epoch {epoch:3d}  " + "  ".join(f"{key} {value:.4g}" for key, value in metrics.items()))
    mlflow.log_text("\n".join(lines) + "\n", "training_log.txt")
    return model, val_losses


def log_interrupted_run(client, experiment_id: str, data, clock) -> None:
    """A run whose process was killed after 20 epochs: nobody ended it, so it stays RUNNING."""
    run = client.create_run(experiment_id, run_name="seed-3-interrupted", tags={
        "study": "seed-variance", NOTE: "The job was pre-empted after 20 of 50 epochs; the run was never ended.",
    })
    params = mlp_params(32, 0.1, 3)
    for key, value in params.items():
        client.log_param(run.info.run_id, key, value)
    model = make_mlp(params)
    for epoch in range(1, 21):
        fit_epoch(model, params, data, clock)
        client.log_metric(run.info.run_id, "train/loss", float(model.loss_), step=epoch)


def log_evaluation(model: MLPClassifier, val_losses: list[float], data) -> dict:
    """Final metrics, confusion matrix (CSV), per-class report (JSON), config (YAML) and a loss plot (PNG)."""
    _, x_val, _, y_val = data
    predicted = model.predict(x_val)
    accuracy = float(accuracy_score(y_val, predicted))
    mlflow.log_metric("accuracy", accuracy)
    matrix = confusion_matrix(y_val, predicted, labels=DIGIT_CLASSES)
    header = "true\\predicted," + ",".join(str(label) for label in DIGIT_CLASSES)
    rows = [f"{label}," + ",".join(str(count) for count in row) for label, row in zip(DIGIT_CLASSES, matrix)]
    mlflow.log_text("\n".join([header, *rows]) + "\n", "confusion_matrix.csv")
    report = classification_report(y_val, predicted, output_dict=True, zero_division=0)
    mlflow.log_dict(_rounded(report), "classification_report.json")
    config = {key: list(value) if isinstance(value, tuple) else value for key, value in model.get_params().items()}
    mlflow.log_dict({"model": "MLPClassifier", **config}, "config.yaml")
    figure, axis = plt.subplots(figsize=(4, 3), dpi=80)
    epochs = range(1, len(model.loss_curve_) + 1)
    axis.plot(epochs, model.loss_curve_, label="train/loss")
    axis.plot(epochs, val_losses, label="val/loss")
    axis.set_xlabel("epoch")
    axis.set_ylabel("loss")
    axis.set_yscale("log")
    axis.legend()
    figure.tight_layout()
    mlflow.log_figure(figure, "plots/loss.png")
    plt.close(figure)
    return {"accuracy": accuracy, "predicted": predicted}


def _rounded(value):
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, float):
        return round(value, 6)
    return value


def log_sweep(data, clock) -> None:
    grid = [(width, rate) for width in SWEEP_WIDTHS for rate in SWEEP_LEARNING_RATES]
    grid.append((SWEEP_WIDTHS[0], DIVERGING_LEARNING_RATE))
    with mlflow.start_run(run_name="sweep-width-x-lr", description=sweep_note(grid), tags={"study": "sweep"}):
        mlflow.log_params({
            "hidden_units": ",".join(str(width) for width in SWEEP_WIDTHS),
            "learning_rate_init": ",".join(f"{rate:g}" for rate in SWEEP_LEARNING_RATES),
            "epochs": EPOCHS, "solver": "sgd", "seed": 0,
        })
        results = []
        for width, rate in grid:
            results.append(log_sweep_child(width, rate, data, clock))
        finished = [result for result in results if result["status"] == "FINISHED"]
        best = max(finished, key=lambda result: result["accuracy"])
        mlflow.log_metrics({"best_accuracy": best["accuracy"], "failed_runs": len(results) - len(finished)})
        mlflow.set_tag("best_run_id", best["run_id"])
        log_sweep_summary(results, best, data)


def sweep_note(grid) -> str:
    points = "\n".join(f"| {width} | {rate:g} |" for width, rate in grid)
    return f"""\
## Width x learning-rate sweep

One child run per grid point, {EPOCHS} epochs each:

| hidden_units | learning_rate_init |
|---|---|
{points}

The last point is far too large on purpose: its loss overflows and the child run FAILS.
Re-run one point by hand:

```python
MLPClassifier(hidden_layer_sizes=(64,), solver="sgd", momentum=0.9, learning_rate_init=0.1)
```

See the [MLPClassifier documentation]({MLP_DOCS}).
"""


def log_sweep_child(width: int, rate: float, data, clock) -> dict:
    params = mlp_params(width, rate, 0)
    result = {"width": width, "rate": rate, "accuracy": float("nan"), "status": "FINISHED"}
    try:
        with mlflow.start_run(run_name=f"mlp-{width}-lr{rate:g}", nested=True) as run:
            result["run_id"] = run.info.run_id
            mlflow.log_params(params)
            if rate == DIVERGING_LEARNING_RATE:
                mlflow.set_tag(NOTE, "Diverges on purpose: the loss reaches `inf`, then `NaN`, and training stops.")
            model, val_losses = train_mlp(params, data, clock)
            evaluation = log_evaluation(model, val_losses, data)
            result.update(accuracy=evaluation["accuracy"], predicted=evaluation["predicted"])
    except ValueError:
        result["status"] = "FAILED"  # the run is already ended FAILED by the with block
    return result


def log_sweep_summary(results, best, data) -> None:
    """The parent's artifacts: a CSV and a markdown table of the children, the grid as YAML, a plot
    comparing the children, and a folder of the best child's misclassified digits."""
    lines = ["hidden_units,learning_rate_init,status,accuracy"]
    lines += [f"{r['width']},{r['rate']:g},{r['status']},{r['accuracy']:.4f}" for r in results]
    mlflow.log_text("\n".join(lines) + "\n", "results.csv")
    table = "\n".join(f"| {r['width']} | {r['rate']:g} | {r['status']} | {r['accuracy']:.4f} |" for r in results)
    mlflow.log_text(
        "# Sweep results\n\n| hidden_units | learning_rate_init | status | accuracy |\n|---|---|---|---|\n"
        f"{table}\n\nBest: `{best['run_id']}` ({best['accuracy']:.4f}).\n",
        "README.md",
    )
    rates = [*SWEEP_LEARNING_RATES, DIVERGING_LEARNING_RATE]
    mlflow.log_dict({"hidden_units": list(SWEEP_WIDTHS), "learning_rate_init": rates, "epochs": EPOCHS}, "sweep.yaml")
    figure, axis = plt.subplots(figsize=(4.5, 3), dpi=80)
    finished = [r for r in results if r["status"] == "FINISHED"]
    axis.bar([f"{r['width']}/{r['rate']:g}" for r in finished], [r["accuracy"] for r in finished])
    axis.set_ylabel("val accuracy")
    axis.set_xlabel("hidden_units / learning_rate_init")
    axis.tick_params(axis="x", labelsize=7)
    figure.tight_layout()
    mlflow.log_figure(figure, "plots/accuracy_by_config.png")
    plt.close(figure)
    _, x_val, _, y_val = data
    wrong = np.flatnonzero(best["predicted"] != y_val)[:6]
    index = ["file,true,predicted"]
    with tempfile.TemporaryDirectory() as tmp:
        for position in wrong:
            name = f"digit_{int(position):03d}.png"
            # 8x8 pixels blown up to 32x32; imsave is far cheaper than a figure per digit.
            image = np.kron(x_val[position].reshape(8, 8), np.ones((4, 4)))
            plt.imsave(os.path.join(tmp, name), image, cmap="gray_r", vmin=0, vmax=1, metadata={"Software": None})
            index.append(f"{name},{y_val[position]},{best['predicted'][position]}")
        mlflow.log_artifacts(tmp, artifact_path="misclassified")
    mlflow.log_text("\n".join(index) + "\n", "misclassified/index.csv")
