"""Property-based round trips: metric lines and meta.yaml written by reportgen read back the same
(by reportgen and by MLflow's own parser), NaN, +-inf, -0.0, huge steps and unicode included."""
from __future__ import annotations

import math
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reportgen import mlruns
from reportgen.model import Experiment, LifecycleStage, Metric, Param, RunInfo, RunStatus, RunTag
from reportgen.tracking import TrackingClient

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
TIMESTAMPS = st.integers(min_value=0, max_value=2**63 - 1)
VALUES = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([-0.0, 0.0, 5e-324, 1.7976931348623157e308])
# Keys MLflow accepts: word characters (unicode letters too), ".", "-", " ", ":" and "/" between parts.
KEY_PART = st.text(alphabet=st.characters(categories=["L", "N"]) | st.sampled_from("_.- :"), min_size=1,
                   max_size=12).filter(lambda s: s not in (".", "..") and s.strip() == s and not s.startswith("."))
KEYS = st.lists(KEY_PART, min_size=1, max_size=3).map("/".join).filter(lambda k: len(k) <= 250)
# Text that survives a file on Linux: no surrogates; "\r" is kept (reportgen reads files without newline translation).
TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=200)
# Tests that write a store create a run per example (meta.yaml is fsynced): fewer examples keep them fast.
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def no_prefix_clash(keys):
    """A key cannot be both a file and a folder ("a" and "a/b"), in MLflow's layout as in ours."""
    return all(not other.startswith(key + "/") for key in keys for other in keys)


def same_float(left: float, right: float) -> bool:
    if math.isnan(left) or math.isnan(right):
        return math.isnan(left) and math.isnan(right)
    return left == right and math.copysign(1.0, left) == math.copysign(1.0, right)


@given(timestamp=TIMESTAMPS, value=VALUES, step=INT64)
@settings(max_examples=500, deadline=None)
def test_metric_line_round_trip(timestamp, value, step):
    line = mlruns.format_metric_line(timestamp, value, step)
    assert line.endswith("\n") and line.count("\n") == 1
    parsed_timestamp, parsed_value, parsed_step = mlruns.parse_metric_line(line)
    assert (parsed_timestamp, parsed_step) == (timestamp, step)
    assert same_float(parsed_value, value)


@given(timestamp=TIMESTAMPS, value=VALUES, step=INT64)
@settings(max_examples=200, deadline=None)
def test_mlflow_parses_our_metric_lines(timestamp, value, step):
    file_store = pytest.importorskip("mlflow.store.tracking.file_store")
    line = mlruns.format_metric_line(timestamp, value, step)
    metric = file_store.FileStore._get_metric_from_line("r" * 32, "m", line, "0")
    assert (metric.timestamp, metric.step) == (timestamp, step)
    assert same_float(metric.value, value)


def _run_infos():
    return st.builds(
        RunInfo,
        run_id=st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
        experiment_id=st.integers(min_value=0, max_value=10**18).map(str),
        run_name=TEXT,
        user_id=TEXT,
        status=st.sampled_from(RunStatus.ALL),
        start_time=st.none() | TIMESTAMPS,
        end_time=st.none() | TIMESTAMPS,
        artifact_uri=TEXT,
        lifecycle_stage=st.sampled_from([LifecycleStage.ACTIVE, LifecycleStage.DELETED]),
        deleted_time=st.none() | TIMESTAMPS,
    )


@given(info=_run_infos())
@settings(max_examples=300, deadline=None)
def test_run_meta_round_trip(info):
    text = mlruns.dump_meta(mlruns.run_to_meta(info))
    assert mlruns.run_from_meta(mlruns.load_meta(text.encode("utf-8"))) == info


@given(name=TEXT.filter(bool), location=TEXT, created=st.none() | TIMESTAMPS, updated=st.none() | TIMESTAMPS,
       stage=st.sampled_from([LifecycleStage.ACTIVE, LifecycleStage.DELETED]),
       experiment_id=st.integers(min_value=0, max_value=10**18).map(str))
@settings(max_examples=300, deadline=None)
def test_experiment_meta_round_trip(name, location, created, updated, stage, experiment_id):
    experiment = Experiment(experiment_id, name, location, stage, {}, created, updated)
    meta = mlruns.load_meta(mlruns.dump_meta(mlruns.experiment_to_meta(experiment)).encode("utf-8"))
    assert mlruns.experiment_from_meta(meta) == experiment
    assert meta["experiment_id"] == experiment_id  # stays a string, as MLflow writes it


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    return TrackingClient(str(tmp_path_factory.mktemp("props") / "mlruns"))


@given(points=st.lists(st.tuples(KEYS, VALUES, TIMESTAMPS, INT64), min_size=1, max_size=30)
       .filter(lambda points: no_prefix_clash({p[0] for p in points})))
@SETTINGS
def test_logged_metrics_read_back(client, points):
    run_id = client.create_run("0").info.run_id
    for index, (key, value, timestamp, step) in enumerate(points):
        if index % 2:
            client.log_metric(run_id, key, value, timestamp=timestamp, step=step)
        else:
            client.log_batch(run_id, metrics=[Metric(key, value, timestamp, step)])
    for key in {p[0] for p in points}:
        expected = sorted(((s, t), v) for k, v, t, s in points if k == key)
        history = client.get_metric_history(run_id, key)
        got = sorted(((m.step, m.timestamp), m.value) for m in history)
        assert [k for k, _ in got] == [k for k, _ in expected]
        # Values with equal (step, timestamp) may come back in any order: compare as multisets of text.
        assert sorted(repr(v) for _, v in got) == sorted(repr(v) for _, v in expected)


@given(params=st.dictionaries(KEYS, TEXT, min_size=1, max_size=8).filter(no_prefix_clash),
       tags=st.dictionaries(KEYS, TEXT, max_size=8).filter(no_prefix_clash))
@SETTINGS
def test_logged_params_and_tags_read_back(client, params, tags):
    tags = {k: v for k, v in tags.items() if k != "mlflow.runName"}
    run_id = client.create_run("0", run_name="props").info.run_id
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()],
                     tags=[RunTag(k, v) for k, v in tags.items()])
    run = client.get_run(run_id)
    assert run.data.params == params
    assert {k: v for k, v in run.data.tags.items() if k != "mlflow.runName"} == tags


@given(name=st.text(alphabet=string.printable + "üß漢字🙂", min_size=1, max_size=60))
@SETTINGS
def test_unicode_experiment_names(client, name):
    existing = client.get_experiment_by_name(name)
    experiment_id = existing.experiment_id if existing else client.create_experiment(name)
    assert client.get_experiment(experiment_id).name == name
    assert client.get_experiment_by_name(name).experiment_id == experiment_id
