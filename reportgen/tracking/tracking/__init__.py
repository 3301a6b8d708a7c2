"""MLflow's `mlflow.tracking` under reportgen.tracking: MlflowClient and the tracking URI functions,
so `mlflow.tracking.MlflowClient()` works after `import reportgen.tracking as mlflow`.
"""
from __future__ import annotations

from reportgen.tracking._uri import get_tracking_uri, is_tracking_uri_set, set_tracking_uri
from reportgen.tracking.client import MlflowClient, TrackingClient

__all__ = ["MlflowClient", "TrackingClient", "get_tracking_uri", "is_tracking_uri_set", "set_tracking_uri"]
