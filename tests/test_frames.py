"""reportgen.frames.runs_frame equals mlflow.search_runs' frame (columns, dtypes, values) on a store
MLflow wrote; search stays fast on thousands of runs."""
from __future__ import annotations

import math
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from mlflow_oracle import build_store, to_model
from reportgen.frames import INFO_COLUMNS, runs_frame, search
from reportgen.model import Run, RunData, RunInfo


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    pytest.importorskip("mlflow")
    warnings.simplefilter("ignore")
    root = tmp_path_factory.mktemp("frames") / "mlruns"
    client, experiments = build_store(root)
    import mlflow

    mlflow.set_tracking_uri(root.as_uri())
    return client, experiments


def _runs(client, experiments, **kwargs):
    return [to_model(r) for r in client.search_runs(experiments, max_results=1000, **kwargs)]


@pytest.mark.parametrize("filter_string", [None, "metrics.rmse < 0.8", "params.alpha = '0.5'", "run_name = 'epsilon'"])
def test_runs_frame_equals_mlflow_search_runs(oracle, filter_string):
    import mlflow

    client, experiments = oracle
    expected = mlflow.search_runs(experiments, filter_string=filter_string or "")
    got = runs_frame(_runs(client, experiments, filter_string=filter_string or ""))
    assert sorted(got.columns) == sorted(expected.columns)
    # MLflow orders metric, param and tag columns by Python set iteration; compare in its order.
    pd.testing.assert_frame_equal(got[list(expected.columns)], expected)


def test_column_order_and_dtypes(oracle):
    client, experiments = oracle
    frame = runs_frame(_runs(client, experiments))
    assert list(frame.columns[:6]) == INFO_COLUMNS
    groups = [c.split(".", 1)[0] for c in frame.columns[6:]]
    assert groups == sorted(groups, key=["metrics", "params", "tags"].index)
    for prefix in ("metrics.", "params.", "tags."):
        keys = [c for c in frame.columns if c.startswith(prefix)]
        assert keys == sorted(keys)
    assert str(frame["start_time"].dtype) == "datetime64[us, UTC]"
    assert frame["metrics.acc"].dtype == np.float64
    assert frame["end_time"].isna().sum() == 1  # the RUNNING run
    assert frame["params.optimizer"].isna().sum() > 0


def test_missing_values_nan_for_metrics_na_for_params(oracle):
    client, experiments = oracle
    frame = runs_frame(_runs(client, experiments)).set_index("tags.mlflow.runName")
    assert math.isnan(frame.loc["epsilon", "metrics.acc"])
    assert pd.isna(frame.loc["epsilon", "params.alpha"])
    assert frame.loc["beta-2", "params.alpha"] == ""
    assert frame.loc["beta-2", "metrics.rmse"] == math.inf


def test_empty_runs_frame_matches_mlflow(oracle):
    import mlflow

    client, experiments = oracle
    expected = mlflow.search_runs(experiments, filter_string="metrics.rmse > 1e300 and metrics.rmse < 0")
    pd.testing.assert_frame_equal(runs_frame([]), expected)


def test_all_runs_running_end_time_like_mlflow(tmp_path):
    import os

    pytest.importorskip("mlflow")
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(tmp_path / "m").as_uri())
    experiment = client.create_experiment("running")
    client.create_run(experiment, start_time=5)
    mlflow.set_tracking_uri((tmp_path / "m").as_uri())
    expected = mlflow.search_runs([experiment])
    got = runs_frame(_runs(client, [experiment]))
    pd.testing.assert_frame_equal(got[list(expected.columns)], expected)


def _synthetic(count: int) -> list[Run]:
    rng = np.random.default_rng(0)
    runs = []
    for i in range(count):
        info = RunInfo(f"{i:032x}", str(i % 2), f"run-{i}", "me", "FINISHED" if i % 3 else "FAILED",
                       1_700_000_000_000 + int(rng.integers(0, 10**6)), None, "file:///tmp/x")
        metrics = {f"m{k}": float(rng.random()) for k in range(10)}
        params = {f"p{k}": str(int(rng.integers(0, 5))) for k in range(10)}
        runs.append(Run(info, RunData(metrics, params, {"mlflow.runName": f"run-{i}"})))
    return runs


def test_search_is_fast_and_correct_on_thousands_of_runs():
    runs = _synthetic(3000)
    started = time.perf_counter()
    got = search(runs, filter_string="metrics.m1 < 0.5 and params.p2 = '3' or status = 'FAILED'",
                 order_by=["params.p1 DESC", "metrics.m3"], max_results=500)
    elapsed = time.perf_counter() - started
    expected = [r for r in runs if (r.data.metrics["m1"] < 0.5 and r.data.params["p2"] == "3")
                or r.info.status == "FAILED"]
    expected.sort(key=lambda r: (-r.info.start_time, r.info.run_id))
    expected.sort(key=lambda r: r.data.metrics["m3"])
    expected.sort(key=lambda r: r.data.params["p1"], reverse=True)
    assert [r.run_id for r in got] == [r.run_id for r in expected[:500]]
    assert elapsed < 1.0, elapsed
    started = time.perf_counter()
    frame = runs_frame(runs)
    assert time.perf_counter() - started < 1.0
    assert frame.shape == (3000, 6 + 10 + 10 + 1)


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_store_search_runs_frame_equals_mlflow(tmp_path, kind):
    """End to end with the store readers: open_store(...).search_runs gives mlflow.search_runs' frame."""
    pytest.importorskip("mlflow")
    import mlflow

    import reportgen

    target = tmp_path / "mlruns" if kind == "file" else f"sqlite:///{tmp_path / 'mlflow.db'}"
    client, experiments = build_store(target)
    mlflow.set_tracking_uri(target if isinstance(target, str) else target.as_uri())
    with reportgen.open_store(str(target)) as store:
        for filter_string, order_by in [("", None), ("metrics.rmse < 0.8 or params.optimizer = 'sgd'", ["metrics.acc DESC"]),
                                        ("datasets.context = 'training'", ["params.alpha"])]:
            got = store.search_runs(experiments, filter_string, order_by)
            if " or " in filter_string:
                # MLflow has no OR: the union of each part's runs, in MLflow's order, same columns.
                wanted = set().union(*(set(mlflow.search_runs(experiments, part)["run_id"])
                                       for part in filter_string.split(" or ")))
                expected = mlflow.search_runs(experiments, order_by=order_by)
                expected = expected[expected["run_id"].isin(wanted)].reset_index(drop=True)
                expected = expected.dropna(axis=1, how="all")
            else:
                expected = mlflow.search_runs(experiments, filter_string, order_by=order_by)
            assert sorted(got.columns) == sorted(expected.columns)
            pd.testing.assert_frame_equal(got[list(expected.columns)], expected)


def test_absurd_times_become_nat_instead_of_failing():
    runs = [Run(RunInfo("a" * 32, "0", "a", "me", "FINISHED", 10**16, -5, "x"), RunData()),
            Run(RunInfo("b" * 32, "0", "b", "me", "FINISHED", 5, None, "x"), RunData())]
    frame = runs_frame(runs)
    assert str(frame["start_time"].dtype) == "datetime64[us, UTC]"
    assert pd.isna(frame["start_time"][0]) and frame["start_time"][1] == pd.Timestamp(5, unit="ms", tz="UTC")
    assert frame["end_time"][0] == pd.Timestamp(-5, unit="ms", tz="UTC") and pd.isna(frame["end_time"][1])
