"""MLflow's `mlflow.entities` under reportgen.tracking: the run, experiment and input types the client
returns and takes. They are reportgen's model types (reportgen.model), which carry MLflow's field names.
"""
from __future__ import annotations

from reportgen.model import (
    Dataset,
    DatasetInput,
    Experiment,
    ExperimentTag,
    FileInfo,
    InputTag,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunStatus,
    RunTag,
    ViewType,
)

__all__ = [
    "Dataset", "DatasetInput", "Experiment", "ExperimentTag", "FileInfo", "InputTag", "LifecycleStage",
    "Metric", "Param", "Run", "RunData", "RunInfo", "RunInputs", "RunStatus", "RunTag", "ViewType",
]
