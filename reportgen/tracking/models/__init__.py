"""MLflow's model format without MLflow: signatures, input examples, MLmodel and environment files
(`from reportgen.tracking.models import infer_signature` as with mlflow.models)."""
from __future__ import annotations

from reportgen.tracking.models.mlmodel import Model, ModelInfo
from reportgen.tracking.models.signature import (
    ColSpec,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
    infer_signature,
)

__all__ = [
    "ColSpec", "Model", "ModelInfo", "ModelSignature", "ParamSchema", "ParamSpec", "Schema", "TensorSpec",
    "infer_signature",
]
