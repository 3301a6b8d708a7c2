"""The one base error of reportgen and its few subclasses.

Every expected failure raises a ReportgenError whose message says what was wrong and what to do; the
CLI prints it on one line and exits non-zero (click's ClickException does that), with no traceback.
"""
from __future__ import annotations

import click


class ReportgenError(click.ClickException):
    """An expected failure: bad input, a missing run, a store that cannot be read."""

    exit_code = 1

    def __init__(self, message: str, error_code: str = "INTERNAL_ERROR") -> None:
        from reportgen.printing import printable

        # Messages echo names, paths and URIs from the data: redacted and kept to one printable line.
        super().__init__(printable(message))
        # MLflow's error codes, so code written against MlflowException can branch the same way (its
        # constructor takes the code as the second argument too).
        self.error_code = error_code

    @classmethod
    def invalid_parameter_value(cls, message: str) -> "ReportgenError":
        """MlflowException.invalid_parameter_value."""
        return cls(message, error_code="INVALID_PARAMETER_VALUE")

    def __str__(self) -> str:
        return self.message


class InvalidParameterValue(ReportgenError):
    """A key, value, name or argument that MLflow would reject (MLflow's INVALID_PARAMETER_VALUE)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code="INVALID_PARAMETER_VALUE")


class ResourceDoesNotExist(ReportgenError):
    """An experiment, run, metric or artifact that is not in the store."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code="RESOURCE_DOES_NOT_EXIST")


class ResourceAlreadyExists(ReportgenError):
    def __init__(self, message: str) -> None:
        super().__init__(message, error_code="RESOURCE_ALREADY_EXISTS")


class StoreError(ReportgenError):
    """A store that cannot be opened or read as a whole (unknown URI, unreadable root, bad schema)."""


class UnsupportedError(ReportgenError):
    """A feature or URI scheme that this version of reportgen does not handle yet."""


class BadInputError(ReportgenError):
    """Input that cannot be judged (a bad rule, an unknown metric, a missing run): exit code 2, so that CI
    tells it apart from a check that ran and failed (exit code 1)."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code="INVALID_PARAMETER_VALUE")


class QueryError(InvalidParameterValue):
    """A search filter or order_by clause that does not parse; the message points at the token."""


# What code written for MLflow catches.
MlflowException = ReportgenError
