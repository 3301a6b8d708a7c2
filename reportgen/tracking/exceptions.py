"""MLflow's `mlflow.exceptions` under reportgen.tracking: the exception classes and error codes scripts
catch and compare (`except MlflowException as e: e.error_code == "RESOURCE_DOES_NOT_EXIST"`).

MlflowException is reportgen's one base error itself, so every expected failure of the client is one,
with the error code MLflow gives the same failure on the same store.
"""
from __future__ import annotations

from typing import Any

from reportgen.errors import (
    InvalidParameterValue,
    ReportgenError,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)

MlflowException = ReportgenError

# The error code names of mlflow.protos.databricks_pb2 that MLflow's exceptions carry. MLflow's
# constants are protobuf numbers turned into these names on the exception; here they are the names.
INTERNAL_ERROR = "INTERNAL_ERROR"
INVALID_STATE = "INVALID_STATE"
INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
RESOURCE_CONFLICT = "RESOURCE_CONFLICT"
BAD_REQUEST = "BAD_REQUEST"
NOT_FOUND = "NOT_FOUND"
ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
PERMISSION_DENIED = "PERMISSION_DENIED"
UNAUTHENTICATED = "UNAUTHENTICATED"
REQUEST_LIMIT_EXCEEDED = "REQUEST_LIMIT_EXCEEDED"
TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"
NOT_IMPLEMENTED = "NOT_IMPLEMENTED"

# MLflow's ERROR_CODE_TO_HTTP_STATUS for the codes above.
ERROR_CODE_TO_HTTP_STATUS = {
    INTERNAL_ERROR: 500, INVALID_STATE: 500, NOT_IMPLEMENTED: 501, TEMPORARILY_UNAVAILABLE: 503,
    REQUEST_LIMIT_EXCEEDED: 429, RESOURCE_CONFLICT: 409, NOT_FOUND: 404, ENDPOINT_NOT_FOUND: 404,
    RESOURCE_DOES_NOT_EXIST: 404, PERMISSION_DENIED: 403, UNAUTHENTICATED: 401, BAD_REQUEST: 400,
    RESOURCE_ALREADY_EXISTS: 400, INVALID_PARAMETER_VALUE: 400,
}


def http_status_code(exc: ReportgenError) -> int:
    """The HTTP status MLflow's server answers for this error (MlflowException.get_http_status_code)."""
    return ERROR_CODE_TO_HTTP_STATUS.get(exc.error_code, 500)


class RestException(ReportgenError):
    """An error a tracking server answered, built from its JSON body as MLflow's RestException is."""

    def __init__(self, json: dict[str, Any]) -> None:
        error_code = str(json.get("error_code", INTERNAL_ERROR))
        message = f"{error_code}: {json['message']}" if "message" in json else f"{error_code}: {json}"
        super().__init__(message, error_code=error_code)
        self.json = json


class ExecutionException(ReportgenError):
    """A failed run of an MLflow project (kept for scripts that catch it by name)."""


class MissingConfigException(ReportgenError):
    """A configuration file or entry that is missing."""


__all__ = [
    "BAD_REQUEST", "ENDPOINT_NOT_FOUND", "ERROR_CODE_TO_HTTP_STATUS", "INTERNAL_ERROR",
    "INVALID_PARAMETER_VALUE", "INVALID_STATE", "ExecutionException", "InvalidParameterValue",
    "MissingConfigException", "MlflowException", "NOT_FOUND", "NOT_IMPLEMENTED", "PERMISSION_DENIED",
    "REQUEST_LIMIT_EXCEEDED", "RESOURCE_ALREADY_EXISTS", "RESOURCE_CONFLICT", "RESOURCE_DOES_NOT_EXIST",
    "ResourceAlreadyExists", "ResourceDoesNotExist", "RestException", "TEMPORARILY_UNAVAILABLE",
    "UNAUTHENTICATED", "http_status_code",
]
