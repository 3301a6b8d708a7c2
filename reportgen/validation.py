"""MLflow's rules for keys, values, names and batches (mlflow/utils/validation.py), with its messages.

Every check raises InvalidParameterValue, so code that catches MlflowException keeps working.
"""
from __future__ import annotations

import json
import math
import numbers
import posixpath
import re
from typing import Any, Iterable, Sequence

from reportgen.errors import InvalidParameterValue

MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_ENTITIES_PER_BATCH = 1000
MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_KEY_LENGTH = 250
MAX_EXPERIMENT_TAG_VAL_LENGTH = 20000
MAX_ENTITY_KEY_LENGTH = 250
MAX_ARTIFACT_LOCATION_LENGTH = 2048

_KEY_RE = re.compile(r"^[/\w.\- :]*$")
_RUN_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_EXPERIMENT_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,63}$")
_MISSING_KEY_NAME_MESSAGE = "A key name must be provided."
_BAD_CHARACTERS = (
    "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ),"
    " colon(:) and slashes (/)."
)

# Keys already checked in this process: the per-point logging path checks each key once.
_valid_keys: set[str] = set()


def invalid_value(path: str, value: Any, message: str | None = None) -> str:
    formatted = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    if message:
        return f"Invalid value {formatted} for parameter '{path}' supplied: {message}"
    return f"Invalid value {formatted} for parameter '{path}' supplied."


def _bad_path_message(name: str) -> str:
    return (
        "Names may be treated as files in certain cases, and must not resolve to other names"
        f" when treated as such. This name would resolve to {posixpath.normpath(name)!r}"
    )


def _path_not_unique(name: str) -> bool:
    norm = posixpath.normpath(name)
    return norm != name or norm == "." or norm.startswith("..") or norm.startswith("/")


def validate_key(name: Any, path: str = "key", *, kind: str = "Param") -> str:
    """A metric, param or tag key: MLflow's characters, a normalised relative path, <= 250 chars.

    kind is "Metric", "Param" or "Tag": MLflow words the missing-key and too-long messages per kind.
    """
    if type(name) is str and name in _valid_keys:
        return name
    if name is None:
        if kind == "Tag":
            raise InvalidParameterValue(f"Missing value for required parameter '{path}'.")
        if kind == "Metric":
            raise InvalidParameterValue(
                invalid_value(path, None, f"Metric name cannot be None. {_MISSING_KEY_NAME_MESSAGE}")
            )
        raise InvalidParameterValue(invalid_value(path, "", _MISSING_KEY_NAME_MESSAGE))
    if not isinstance(name, str) or not _KEY_RE.match(name):
        raise InvalidParameterValue(invalid_value(path, name, _BAD_CHARACTERS))
    if _path_not_unique(name):
        raise InvalidParameterValue(invalid_value(path, name, _bad_path_message(name)))
    length_name = {"Metric": "Metric name", "Param": "Param key"}.get(kind, path)
    validate_length(length_name, MAX_ENTITY_KEY_LENGTH, name)
    if len(_valid_keys) < 100_000:
        _valid_keys.add(name)
    return name


def validate_length(entity_name: str, limit: int, value: str | None) -> str | None:
    if value is not None and len(value) > limit:
        raise InvalidParameterValue(f"'{entity_name}' exceeds the maximum length of {limit} characters")
    return value


def _is_numeric(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Number)


def metric_value(value: Any) -> float:
    """A metric value as a float (numpy scalars and 0-d arrays too), as MLflow converts it."""
    if type(value) is float:
        return value
    if hasattr(value, "item") and getattr(value, "size", 1) == 1 and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    if _is_numeric(value):
        try:
            return float(value)
        except (TypeError, ValueError, OverflowError):
            pass
    return value  # left as is: validate_metric rejects it with MLflow's message


def validate_metric(key: Any, value: Any, timestamp: Any, step: Any, path: str = "") -> None:
    # Fast path for what logging loops pass (a checked key, a float, int timestamp and step).
    if (type(value) is float and type(timestamp) is int and timestamp >= 0 and type(step) is int
            and type(key) is str and key in _valid_keys):
        return
    prefix = f"{path}." if path else ""
    validate_key(key, f"{prefix}name", kind="Metric")
    if value is None:
        raise InvalidParameterValue(f"Missing value for required parameter '{prefix}value'.")
    if not _is_numeric(value) or isinstance(value, complex):
        raise InvalidParameterValue(
            invalid_value(
                f"{prefix}value", value,
                f"(timestamp={timestamp}). Please specify value as a valid double (64-bit floating point)",
            )
        )
    if not _is_integral(timestamp) or timestamp < 0:
        raise InvalidParameterValue(
            invalid_value(
                f"{prefix}timestamp", timestamp,
                f"metric '{key}' (value={value}). Timestamp must be a nonnegative long (64-bit integer) ",
            )
        )
    if not _is_integral(step):
        raise InvalidParameterValue(
            invalid_value(
                f"{prefix}step", step,
                f"metric '{key}' (value={value}). Step must be a valid long (64-bit integer).",
            )
        )


def _is_integral(value: Any) -> bool:
    # MLflow accepts any number; a float step would be written as "1.5" and break every reader.
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        return False
    if isinstance(value, numbers.Integral):
        return True
    return isinstance(value, float) and math.isfinite(value) and value.is_integer()


def validate_param(key: Any, value: str, path: str = "") -> None:
    prefix = f"{path}." if path else ""
    validate_key(key, f"{prefix}key", kind="Param")
    validate_length("Param value", MAX_PARAM_VAL_LENGTH, value)


def validate_tag(key: Any, value: str, path: str = "") -> None:
    prefix = f"{path}." if path else ""
    validate_key(key, f"{prefix}key", kind="Tag")
    validate_length(f"{prefix}value", MAX_TAG_VAL_LENGTH, value)


def validate_experiment_tag(key: Any, value: str) -> None:
    validate_key(key, "key", kind="Tag")
    validate_length("key", MAX_EXPERIMENT_TAG_KEY_LENGTH, key)
    validate_length("value", MAX_EXPERIMENT_TAG_VAL_LENGTH, value)


def validate_run_id(run_id: Any, path: str = "run_id") -> str:
    if not isinstance(run_id, str) or not _RUN_ID_RE.match(run_id):
        raise InvalidParameterValue(invalid_value(path, run_id))
    return run_id


def validate_experiment_id(experiment_id: Any) -> str:
    if isinstance(experiment_id, int) and not isinstance(experiment_id, bool):
        experiment_id = str(experiment_id)
    if not isinstance(experiment_id, str) or not _EXPERIMENT_ID_RE.match(experiment_id):
        raise InvalidParameterValue(f"Invalid experiment ID: '{experiment_id}'")
    return experiment_id


def validate_experiment_name(name: Any) -> str:
    if name == "" or name is None:
        raise InvalidParameterValue(f"Invalid experiment name: '{name}'")
    if not isinstance(name, str):
        raise InvalidParameterValue(f"Invalid experiment name: {name}. Expects a string.")
    validate_length("name", MAX_EXPERIMENT_NAME_LENGTH, name)
    return name


def validate_artifact_location(location: str | None) -> None:
    if location is None:
        return
    if location.startswith("runs:"):
        raise InvalidParameterValue(f"Artifact location cannot be a runs:/ URI. Given: '{location}'")
    validate_length("artifact_location", MAX_ARTIFACT_LOCATION_LENGTH, location)


def _batch_limit(entity_name: str, limit: int, length: int) -> None:
    if length > limit:
        raise InvalidParameterValue(
            f"A batch logging request can contain at most {limit} {entity_name}. "
            f"Got {length} {entity_name}. Please split up {entity_name} across multiple"
            " requests and try again."
        )


def validate_batch_limits(n_metrics: int, n_params: int, n_tags: int) -> None:
    _batch_limit("metrics", MAX_METRICS_PER_BATCH, n_metrics)
    _batch_limit("params", MAX_PARAMS_TAGS_PER_BATCH, n_params)
    _batch_limit("tags", MAX_PARAMS_TAGS_PER_BATCH, n_tags)
    _batch_limit("metrics, params, and tags", MAX_ENTITIES_PER_BATCH, n_metrics + n_params + n_tags)


def validate_param_keys_unique(keys: Iterable[str]) -> None:
    seen: set[str] = set()
    dupes: list[str] = []
    for key in keys:
        if key in seen:
            dupes.append(key)
        seen.add(key)
    if dupes:
        raise InvalidParameterValue(
            f"Duplicate parameter keys have been submitted: {dupes}. Please ensure "
            "the request contains only one param value per param key."
        )


def validate_artifact_path(artifact_path: str | None) -> str | None:
    """A relative POSIX path inside a run's artifacts (None or "" for the root)."""
    if artifact_path in (None, "", "."):
        return None
    if not isinstance(artifact_path, str) or "\x00" in artifact_path or "\\" in artifact_path:
        raise InvalidParameterValue(invalid_value("artifact_path", artifact_path, "not a relative POSIX path"))
    norm = posixpath.normpath(artifact_path)
    if artifact_path.startswith("/") or norm == ".." or norm.startswith("../") or re.match(r"^[A-Za-z]:", norm):
        raise InvalidParameterValue(
            invalid_value("artifact_path", artifact_path, "must be a relative path inside the run's artifacts")
        )
    return None if norm == "." else norm


def check_sequence(name: str, value: Any) -> Sequence[Any]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidParameterValue(f"{name} must be a list, got {type(value).__name__}.")
    return list(value)
