"""reportgen's MLflow-compatible logging client: `import reportgen.tracking as mlflow`.

The fluent API (start_run, log_metric, ...) and TrackingClient (alias MlflowClient) write MLflow's
mlruns/ file store, which both reportgen and real MLflow read.
"""
from __future__ import annotations

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
from reportgen.tracking.client import MlflowClient, PagedList, TrackingClient
from reportgen.tracking.fluent import (
    ActiveRun,
    active_run,
    create_experiment,
    delete_experiment,
    delete_run,
    delete_tag,
    end_run,
    get_artifact_uri,
    get_experiment,
    get_experiment_by_name,
    get_parent_run,
    get_run,
    get_tracking_uri,
    is_tracking_uri_set,
    last_active_run,
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    log_text,
    restore_experiment,
    restore_run,
    search_experiments,
    search_runs,
    set_experiment,
    set_experiment_tag,
    set_experiment_tags,
    set_tag,
    set_tags,
    set_tracking_uri,
    start_run,
)

__all__ = [
    "ActiveRun", "Experiment", "ExperimentTag", "FileInfo", "LifecycleStage", "Metric", "MlflowClient",
    "MlflowException", "PagedList", "Param", "Run", "RunData", "RunInfo", "RunStatus", "RunTag",
    "TrackingClient", "ViewType", "active_run", "create_experiment", "delete_experiment", "delete_run",
    "delete_tag", "end_run", "get_artifact_uri", "get_experiment", "get_experiment_by_name",
    "get_parent_run", "get_run", "get_tracking_uri", "is_tracking_uri_set", "last_active_run",
    "log_artifact", "log_artifacts", "log_dict", "log_figure", "log_metric", "log_metrics",
    "log_param", "log_params", "log_text", "restore_experiment", "restore_run", "search_experiments",
    "search_runs", "set_experiment", "set_experiment_tag", "set_experiment_tags", "set_tag",
    "set_tags", "set_tracking_uri", "start_run",
]
