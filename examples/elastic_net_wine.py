"""Elastic net of the MLflow tracking tutorial: an alpha x l1_ratio grid on scikit-learn's wine data.

The regression predicts the wine's alcohol content from its 12 other chemical measurements
(load_wine has no quality column, unlike the tutorial's CSV). Each grid point is a run with its
params, final rmse / mae / r2 on held-out data, a per-pass history of coordinate descent
(train/rmse, test/rmse), the fitted model (model/model.pkl) and a plot (plots/fit.png).
Runs unchanged with real MLflow: replace the import line with `import mlflow`.
Usage: python examples/elastic_net_wine.py [--tracking-uri URI] [--experiment NAME]
                                           [--alpha 0.01 0.1 0.5] [--l1-ratio 0.1 0.5 0.9]
"""
from __future__ import annotations

import argparse
import os
import pickle
import tempfile
import warnings

import matplotlib

matplotlib.use("Agg")  # no display needed: the figure only goes to a PNG
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_wine  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import ElasticNet  # noqa: E402
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import reportgen.tracking as mlflow  # noqa: E402

EXPERIMENT = "elastic-net-wine"
ALPHAS = (0.01, 0.1, 0.5)
L1_RATIOS = (0.1, 0.5, 0.9)
MAX_PASSES = 30
# Coordinate descent has converged once no coefficient moves by more than this in a pass.
COEF_TOLERANCE = 1e-6


def load_data(seed: int):
    """Scaled train/test splits of the wine data, target = alcohol."""
    frame = load_wine(as_frame=True).frame
    target = frame.pop("alcohol").to_numpy()
    frame = frame.drop(columns="target")
    x_train, x_test, y_train, y_test = train_test_split(frame.to_numpy(), target, test_size=0.25, random_state=seed)
    scaler = StandardScaler().fit(x_train)
    return scaler, scaler.transform(x_train), scaler.transform(x_test), y_train, y_test


def rmse(y_true, y_pred) -> float:
    return float(np.sqrt(mean_squared_error(y_true, y_pred)))


def fit_by_passes(model: ElasticNet, x_train, y_train, x_test, y_test) -> int:
    """Fit one coordinate-descent pass at a time (warm start), logging the error after each pass."""
    previous = None
    with warnings.catch_warnings():
        # max_iter=1 per call is deliberate: each call is one pass, so each one "fails to converge".
        warnings.simplefilter("ignore", ConvergenceWarning)
        for step in range(1, MAX_PASSES + 1):
            model.fit(x_train, y_train)
            mlflow.log_metrics(
                {"train/rmse": rmse(y_train, model.predict(x_train)), "test/rmse": rmse(y_test, model.predict(x_test))},
                step=step,
            )
            if previous is not None and np.max(np.abs(model.coef_ - previous)) < COEF_TOLERANCE:
                return step
            previous = model.coef_.copy()
    return MAX_PASSES


def plot_fit(y_test, predicted, title: str):
    figure, axis = plt.subplots(figsize=(4, 3.2), dpi=80)
    axis.scatter(y_test, predicted, s=12, alpha=0.7)
    low, high = float(min(y_test.min(), predicted.min())), float(max(y_test.max(), predicted.max()))
    axis.plot([low, high], [low, high], color="grey", linewidth=1)
    axis.set_xlabel("actual alcohol (%)")
    axis.set_ylabel("predicted alcohol (%)")
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    return figure


def log_elastic_net_run(alpha: float, l1_ratio: float, data, *, seed: int) -> str:
    scaler, x_train, x_test, y_train, y_test = data
    with mlflow.start_run(run_name=f"enet-a{alpha:g}-l{l1_ratio:g}") as run:
        mlflow.set_tags({"dataset": "sklearn.datasets.load_wine", "target": "alcohol", "model_type": "ElasticNet"})
        mlflow.log_params({"alpha": alpha, "l1_ratio": l1_ratio, "max_passes": MAX_PASSES, "seed": seed})
        model = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, warm_start=True, max_iter=1, tol=0, random_state=seed)
        passes = fit_by_passes(model, x_train, y_train, x_test, y_test)
        predicted = model.predict(x_test)
        mlflow.log_metrics({
            "rmse": rmse(y_test, predicted),
            "mae": float(mean_absolute_error(y_test, predicted)),
            "r2": float(r2_score(y_test, predicted)),
            "passes": passes,
            "nonzero_coefficients": int(np.count_nonzero(model.coef_)),
        })
        figure = plot_fit(y_test, predicted, f"ElasticNet alpha={alpha:g} l1_ratio={l1_ratio:g}")
        mlflow.log_figure(figure, "plots/fit.png")
        plt.close(figure)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.pkl")
            with open(path, "wb") as handle:
                pickle.dump(Pipeline([("scale", scaler), ("enet", model)]), handle)
            mlflow.log_artifact(path, artifact_path="model")
        return run.info.run_id


def log_elastic_net_grid(alphas=ALPHAS, l1_ratios=L1_RATIOS, *, seed: int = 42) -> list[str]:
    """One run per (alpha, l1_ratio) in the current experiment; return the run ids."""
    data = load_data(seed)
    return [log_elastic_net_run(alpha, l1_ratio, data, seed=seed) for alpha in alphas for l1_ratio in l1_ratios]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", help="store to log to (default: MLFLOW_TRACKING_URI, then ./mlruns)")
    parser.add_argument("--experiment", default=EXPERIMENT, help=f"experiment name (default: {EXPERIMENT})")
    parser.add_argument("--alpha", type=float, nargs="+", default=list(ALPHAS))
    parser.add_argument("--l1-ratio", type=float, nargs="+", default=list(L1_RATIOS))
    args = parser.parse_args(argv)
    if args.tracking_uri:
        mlflow.set_tracking_uri(args.tracking_uri)
    mlflow.set_experiment(args.experiment)
    run_ids = log_elastic_net_grid(args.alpha, args.l1_ratio)
    print(f"logged {len(run_ids)} runs to {mlflow.get_tracking_uri()}")


if __name__ == "__main__":
    main()
