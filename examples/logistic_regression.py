"""Logistic regression of the MLflow tracking tutorial: one run per value of C on scikit-learn's breast cancer data.

Runs unchanged with real MLflow: replace the import line with `import mlflow`.
Usage: python examples/logistic_regression.py [--tracking-uri URI] [--experiment NAME] [--c 0.01 0.1 1]
"""
from __future__ import annotations

import argparse

from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import reportgen.tracking as mlflow

EXPERIMENT = "logistic-regression"
C_VALUES = (0.001, 0.01, 0.1, 1.0, 10.0)


def load_data(seed: int):
    data = load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=seed, stratify=data.target
    )
    return x_train, x_test, y_train, y_test, list(data.feature_names)


def log_logistic_regression(c_values=C_VALUES, *, seed: int = 42) -> list[str]:
    """Fit one model per C, each in its own run of the current experiment; return the run ids."""
    x_train, x_test, y_train, y_test, feature_names = load_data(seed)
    run_ids = []
    for c in c_values:
        with mlflow.start_run(run_name=f"logreg-C={c:g}") as run:
            model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))
            model.fit(x_train, y_train)
            proba = model.predict_proba(x_test)[:, 1]
            predicted = model.predict(x_test)
            mlflow.set_tags({"dataset": "sklearn.datasets.load_breast_cancer", "model_type": "LogisticRegression"})
            mlflow.log_params({"C": c, "solver": "lbfgs", "max_iter": 1000, "test_size": 0.25, "seed": seed})
            mlflow.log_metrics({
                "accuracy": accuracy_score(y_test, predicted),
                "f1": f1_score(y_test, predicted),
                "roc_auc": roc_auc_score(y_test, proba),
                "log_loss": log_loss(y_test, proba),
                "train_accuracy": accuracy_score(y_train, model.predict(x_train)),
            })
            coefficients = model[-1].coef_[0]
            mlflow.log_dict(
                {name: round(float(value), 6) for name, value in zip(feature_names, coefficients)},
                "coefficients.json",
            )
            run_ids.append(run.info.run_id)
    return run_ids


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", help="store to log to (default: MLFLOW_TRACKING_URI, then ./mlruns)")
    parser.add_argument("--experiment", default=EXPERIMENT, help=f"experiment name (default: {EXPERIMENT})")
    parser.add_argument("--c", type=float, nargs="+", default=list(C_VALUES), help="values of C, one run each")
    args = parser.parse_args(argv)
    if args.tracking_uri:
        mlflow.set_tracking_uri(args.tracking_uri)
    mlflow.set_experiment(args.experiment)
    run_ids = log_logistic_regression(args.c)
    print(f"logged {len(run_ids)} runs to {mlflow.get_tracking_uri()}")


if __name__ == "__main__":
    main()
