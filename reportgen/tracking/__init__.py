"""reportgen's MLflow-compatible logging client: `import reportgen.tracking as mlflow`.

The fluent API (start_run, log_metric, ...) and TrackingClient (alias MlflowClient) write MLflow's
mlruns/ file store, which both reportgen and real MLflow read. MLflow's module paths are here too
(mlflow.tracking, mlflow.entities, mlflow.exceptions; mlflow.models and mlflow.sklearn on first use,
so that scikit-learn is imported only by scripts that log models).
"""
from __future__ import annotations

import importlib
from typing import Any

from reportgen.errors import MlflowException
from reportgen.model import (
    Experiment,
    ExperimentTag,
    FileInfo,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from reportgen.tracking import entities, exceptions, tracking
from reportgen.tracking.async_logging import RunOperations
from reportgen.tracking.client import MlflowClient, PagedList, TrackingClient
from reportgen.tracking.fluent import (
    ActiveRun,
    active_run,
    create_experiment,
    delete_experiment,
    delete_run,
    end_run,
    get_experiment,
    get_experiment_by_name,
    get_parent_run,
    get_run,
    get_tracking_uri,
    is_tracking_uri_set,
    last_active_run,
    restore_experiment,
    restore_run,
    search_experiments,
    search_runs,
    set_experiment,
    set_experiment_tag,
    set_experiment_tags,
    set_tracking_uri,
    start_run,
)
from reportgen.tracking.fluent_logging import (
    delete_tag,
    flush_async_logging,
    get_artifact_uri,
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_image,
    log_input,
    log_inputs,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    log_table,
    log_text,
    set_tag,
    set_tags,
)

# Subpackages imported on first access (mlflow.sklearn.log_model), as MLflow imports its flavors.
_LAZY_SUBMODULES = ("models", "sklearn")


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        # By name: importing the subpackage sets it as an attribute of this package.
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ActiveRun", "Experiment", "ExperimentTag", "FileInfo", "LifecycleStage", "Metric", "MlflowClient",
    "MlflowException", "PagedList", "Param", "Run", "RunData", "RunInfo", "RunOperations", "RunStatus",
    "RunTag", "TrackingClient", "ViewType", "active_run", "create_experiment", "delete_experiment",
    "delete_run", "delete_tag", "end_run", "entities", "exceptions", "flush_async_logging",
    "get_artifact_uri", "get_experiment", "get_experiment_by_name", "get_parent_run", "get_run",
    "get_tracking_uri", "is_tracking_uri_set", "last_active_run", "log_artifact", "log_artifacts",
    "log_dict", "log_figure", "log_image", "log_input", "log_inputs", "log_metric", "log_metrics",
    "log_param", "log_params", "log_table", "log_text", "restore_experiment", "restore_run",
    "search_experiments", "search_runs", "set_experiment", "set_experiment_tag", "set_experiment_tags",
    "set_tag", "set_tags", "set_tracking_uri", "start_run", "tracking",
]
