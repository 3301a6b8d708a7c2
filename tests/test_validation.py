"""MLflow's key, value, name and batch rules (reportgen.validation), with MLflow's messages."""
from __future__ import annotations

import math

import numpy as np
import pytest

from reportgen import validation
from reportgen.errors import InvalidParameterValue, MlflowException


@pytest.mark.parametrize("key", ["loss", "train/loss", "a.b-c_d e:f", "x" * 250, "ünïcode"])
def test_valid_keys(key):
    assert validation.validate_key(key) == key


@pytest.mark.parametrize(
    "key, fragment",
    [
        ("a/../b", "would resolve to 'b'"),
        ("../x", "would resolve to '../x'"),
        ("/abs", "would resolve to '/abs'"),
        ("a//b", "would resolve to 'a/b'"),
        ("a/", "would resolve to 'a'"),
        (".", "would resolve to '.'"),
        ("", "would resolve to '.'"),
        ("bad*char", "Names may only contain alphanumerics"),
        ("new\nline", "Names may only contain alphanumerics"),
        ("x" * 251, "exceeds the maximum length of 250 characters"),
    ],
)
def test_invalid_keys_raise_mlflow_messages(key, fragment):
    with pytest.raises(InvalidParameterValue) as info:
        validation.validate_key(key)
    assert fragment in str(info.value)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_missing_keys_are_worded_per_kind():
    with pytest.raises(MlflowException, match="Metric name cannot be None"):
        validation.validate_key(None, "name", kind="Metric")
    with pytest.raises(MlflowException, match="Missing value for required parameter 'key'"):
        validation.validate_key(None, "key", kind="Tag")
    with pytest.raises(MlflowException, match="A key name must be provided"):
        validation.validate_key(None, "key", kind="Param")


def test_unhashable_key_is_a_clean_error():
    with pytest.raises(InvalidParameterValue):
        validation.validate_key(["a"])


@pytest.mark.parametrize("value", [1, 1.5, float("nan"), float("inf"), -float("inf"), -0.0, np.float32(2.5),
                                   np.int64(3), np.array(4.0)])
def test_metric_values_that_are_numbers(value):
    converted = validation.metric_value(value)
    assert isinstance(converted, float)
    validation.validate_metric("m", converted, 0, 0)
    if not (isinstance(value, float) and math.isnan(value)):
        assert converted == float(np.asarray(value))


@pytest.mark.parametrize("value", ["1.0", None, True, [1.0], 1 + 2j])
def test_metric_values_that_are_not_numbers(value):
    with pytest.raises(InvalidParameterValue) as info:
        validation.validate_metric("m", validation.metric_value(value), 0, 0)
    if value is None:
        assert "Missing value for required parameter 'value'" in str(info.value)
    else:
        assert "Please specify value as a valid double" in str(info.value)


@pytest.mark.parametrize("timestamp", [-1, "1", None, 1.5])
def test_bad_timestamps(timestamp):
    with pytest.raises(InvalidParameterValue, match="Timestamp must be a nonnegative long"):
        validation.validate_metric("m", 1.0, timestamp, 0)


@pytest.mark.parametrize("step", ["1", None, 1.5, float("nan")])
def test_bad_steps(step):
    with pytest.raises(InvalidParameterValue, match="Step must be a valid long"):
        validation.validate_metric("m", 1.0, 0, step)


def test_huge_and_negative_steps_are_valid():
    validation.validate_metric("m", 1.0, 0, 2**62)
    validation.validate_metric("m", 1.0, 0, -5)
    validation.validate_metric("m", 1.0, 0, 3.0)  # an integral float is accepted, as in MLflow


def test_batch_paths_name_the_entry():
    with pytest.raises(InvalidParameterValue, match=r"'metrics\[3\]\.value'"):
        validation.validate_metric("m", "x", 0, 0, path="metrics[3]")


def test_value_length_limits():
    validation.validate_param("p", "v" * 6000)
    with pytest.raises(InvalidParameterValue, match="'Param value' exceeds the maximum length of 6000"):
        validation.validate_param("p", "v" * 6001)
    validation.validate_tag("t", "v" * 8000)
    with pytest.raises(InvalidParameterValue, match="exceeds the maximum length of 8000"):
        validation.validate_tag("t", "v" * 8001)
    validation.validate_experiment_tag("t", "v" * 20000)
    with pytest.raises(InvalidParameterValue, match="'value' exceeds the maximum length of 20000"):
        validation.validate_experiment_tag("t", "v" * 20001)


def test_experiment_names():
    assert validation.validate_experiment_name("x" * 500)
    for bad, fragment in [("", "Invalid experiment name: ''"), (None, "Invalid experiment name"),
                          (3, "Expects a string"), ("x" * 501, "'name' exceeds the maximum length of 500")]:
        with pytest.raises(InvalidParameterValue, match=fragment):
            validation.validate_experiment_name(bad)


def test_run_and_experiment_ids():
    assert validation.validate_run_id("0123456789abcdef0123456789abcdef")
    assert validation.validate_experiment_id(5) == "5"
    for bad in ["../x", "", "a/b", None]:
        with pytest.raises(InvalidParameterValue):
            validation.validate_run_id(bad)
        with pytest.raises(InvalidParameterValue):
            validation.validate_experiment_id(bad)


def test_batch_limits():
    validation.validate_batch_limits(1000, 0, 0)
    validation.validate_batch_limits(800, 100, 100)
    with pytest.raises(InvalidParameterValue, match="at most 1000 metrics. Got 1001 metrics"):
        validation.validate_batch_limits(1001, 0, 0)
    with pytest.raises(InvalidParameterValue, match="at most 100 params"):
        validation.validate_batch_limits(0, 101, 0)
    with pytest.raises(InvalidParameterValue, match="at most 100 tags"):
        validation.validate_batch_limits(0, 0, 101)
    with pytest.raises(InvalidParameterValue, match="at most 1000 metrics, params, and tags"):
        validation.validate_batch_limits(900, 100, 1)


def test_duplicate_param_keys():
    validation.validate_param_keys_unique(["a", "b"])
    with pytest.raises(InvalidParameterValue, match=r"Duplicate parameter keys have been submitted: \['a'\]"):
        validation.validate_param_keys_unique(["a", "b", "a"])


@pytest.mark.parametrize("path, expected", [(None, None), ("", None), (".", None), ("a/b", "a/b"), ("a/./b", "a/b")])
def test_artifact_paths(path, expected):
    assert validation.validate_artifact_path(path) == expected


@pytest.mark.parametrize("path", ["../x", "/etc", "a/../../x", "C:/x", "a\\b", "a\x00b"])
def test_artifact_paths_that_leave_the_run(path):
    with pytest.raises(InvalidParameterValue):
        validation.validate_artifact_path(path)


def test_messages_match_mlflow():
    mlflow_validation = pytest.importorskip("mlflow.utils.validation")
    from mlflow.exceptions import MlflowException as RealMlflowException

    cases = [
        (lambda v: v._validate_metric_name("a/../b"), lambda: validation.validate_key("a/../b", "name", kind="Metric")),
        (lambda v: v._validate_param_name("bad*"), lambda: validation.validate_key("bad*", "key")),
        (lambda v: v._validate_metric("m", "x", 5, 0), lambda: validation.validate_metric("m", "x", 5, 0)),
        (lambda v: v._validate_experiment_name(""), lambda: validation.validate_experiment_name("")),
        (lambda v: v._validate_batch_log_limits([1] * 1001, [], []), lambda: validation.validate_batch_limits(1001, 0, 0)),
    ]
    for theirs, ours in cases:
        with pytest.raises(RealMlflowException) as expected:
            theirs(mlflow_validation)
        with pytest.raises(InvalidParameterValue) as got:
            ours()
        assert str(got.value) == expected.value.message
