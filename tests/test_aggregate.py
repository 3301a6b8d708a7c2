"""reportgen.aggregate, rollups and histories on small hand-built runs with known answers, and
property tests for downsampling (first, last, min, max kept; at most N points; NaN gaps kept)."""
from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from reportgen.aggregate import (
    best_runs, constant_params, metric_direction, metric_summaries, param_summary, parent_rollup,
    run_tree, runs_table, runs_tables, seed_groups, varying_params,
)
from reportgen.errors import ReportgenError
from reportgen.histories import downsample_histories, downsample_series, with_times
from reportgen.model import Run, RunData, RunInfo


def make_run(i, *, exp="1", params=None, metrics=None, parent=None, start=1000):
    tags = {"mlflow.runName": f"r{i}"}
    if parent:
        tags["mlflow.parentRunId"] = parent
    info = RunInfo(f"id{i}", exp, f"r{i}", "me", "FINISHED", start, start + 500, "file:///x")
    return Run(info, RunData(metrics or {}, params or {}, tags))


@pytest.fixture
def runs():
    return [
        make_run(1, params={"lr": "0.1", "seed": "1", "opt": "adam"}, metrics={"val_loss": 0.5, "acc": 0.9}),
        make_run(2, params={"lr": "0.1", "seed": "2", "opt": "adam"}, metrics={"val_loss": 0.7, "acc": 0.8}),
        make_run(3, params={"lr": "0.01", "seed": "1", "opt": "adam"}, metrics={"val_loss": 0.4}, parent="id1"),
        make_run(4, params={"lr": "0.01", "opt": "adam"}, metrics={"val_loss": 0.3, "acc": 0.95}, parent="id1"),
        make_run(5, exp="2", params={"lr": "0.1", "seed": "1", "opt": "adam"}, metrics={"val_loss": 0.1}),
    ]


@pytest.fixture
def history():
    return pd.DataFrame({
        "run_id": ["id1"] * 4 + ["id2"] * 3,
        "key": ["val_loss"] * 4 + ["acc"] * 3,
        "step": [0, 1, 2, 3, 0, 1, 1],
        "timestamp": [1000, 1010, 1020, 1030, 1000, 1020, 1030],
        "value": [0.9, 0.3, math.nan, 0.5, 0.1, 0.8, 0.6],
    })


# -- directions ------------------------------------------------------------------------------------
@pytest.mark.parametrize("key, expected", [
    ("val_loss", "min"), ("train/loss", "min"), ("valLoss", "min"), ("eval.rmse", "min"), ("mae", "min"),
    ("perplexity", "min"), ("error_rate", "min"), ("valloss", "min"), ("test_mape", "min"),
    ("accuracy", "max"), ("val_acc", "max"), ("top1_accuracy", "max"), ("roc_auc", "max"), ("f1", "max"),
    ("r2_score", "max"), ("precision", "max"), ("recall", "max"), ("mean_average_precision", "max"),
    ("ndcg@10", "max"), ("bleu", "max"), ("trainacc", "max"),
    ("neg_mean_squared_error", "max"), ("epoch", None), ("lr", None), ("learning_rate", None),
])
def test_metric_direction_from_name(key, expected):
    assert metric_direction(key) == expected


def test_metric_direction_overrides_exact_and_glob():
    assert metric_direction("reward_loss", {"reward_loss": "max"}) == "max"
    assert metric_direction("custom_thing", {"custom_*": "lower"}) == "min"
    assert metric_direction("val_loss", {"val_*": "max", "val_loss": "min"}) == "min"
    with pytest.raises(ReportgenError):
        metric_direction("x", {"x": "sideways"})


# -- summaries and the runs table -------------------------------------------------------------------
def test_metric_summaries_values(history):
    summary = metric_summaries(history).set_index(["run_id", "key"])
    loss = summary.loc[("id1", "val_loss")]
    assert (loss["count"], loss["first"], loss["last"], loss["min"], loss["max"]) == (3, 0.9, 0.5, 0.3, 0.9)
    assert loss["mean"] == pytest.approx((0.9 + 0.3 + 0.5) / 3)
    assert (loss["direction"], loss["best"], loss["best_step"], loss["last_step"]) == ("min", 0.3, 1, 3)
    acc = summary.loc[("id2", "acc")]
    # Two points at step 1: MLflow's latest is the later timestamp.
    assert (acc["last"], acc["best"], acc["best_step"], acc["direction"]) == (0.6, 0.8, 1, "max")


def test_metric_summaries_latest_follows_mlflow_rule():
    frame = pd.DataFrame({"run_id": ["a"] * 3, "key": ["m"] * 3, "step": [5, 5, 2],
                          "timestamp": [7, 7, 9], "value": [math.nan, 1.0, 3.0]})
    summary = metric_summaries(frame).iloc[0]
    # Same step and timestamp: NaN counts as the smallest value, so 1.0 is the latest.
    assert summary["last"] == 1.0 and summary["first"] == 3.0 and summary["last_step"] == 5
    assert math.isnan(summary["best"]) and summary["direction"] is None


def test_best_step_ties_pick_the_first_step():
    frame = pd.DataFrame({"run_id": ["a"] * 4, "key": ["loss"] * 4, "step": [0, 1, 2, 3],
                          "timestamp": [0, 1, 2, 3], "value": [0.5, 0.2, 0.2, 0.9]})
    assert metric_summaries(frame).iloc[0]["best_step"] == 1


def test_runs_table_summaries(runs, history):
    last = runs_table(runs)
    assert last.set_index("run_id").loc["id1", "metrics.val_loss"] == 0.5
    for summary, expected in [("min", 0.3), ("max", 0.9), ("best", 0.3), ("best_step", 1), ("count", 3)]:
        table = runs_table(runs, history, summary=summary).set_index("run_id")
        assert table.loc["id1", "metrics.val_loss"] == expected
        assert math.isnan(table.loc["id3", "metrics.val_loss"])  # no history for id3
    assert runs_table(runs, history, summary="mean").set_index("run_id").loc["id2", "metrics.acc"] == pytest.approx(0.5)


def test_runs_table_per_experiment_drops_foreign_columns(runs):
    table = runs_table(runs, experiment_id="2")
    assert list(table["run_id"]) == ["id5"]
    assert "metrics.acc" not in table.columns and "metrics.val_loss" in table.columns


def test_runs_tables_one_per_experiment(runs, history):
    tables = runs_tables(runs, history, summary="max")
    assert list(tables) == ["1", "2"]
    assert list(tables["1"]["run_id"]) == ["id1", "id2", "id3", "id4"]
    assert tables["1"].set_index("run_id").loc["id1", "metrics.val_loss"] == 0.9
    assert "metrics.acc" not in tables["2"].columns


def test_runs_table_errors(runs):
    with pytest.raises(ReportgenError):
        runs_table(runs, summary="median")
    with pytest.raises(ReportgenError):
        runs_table(runs, summary="min")  # needs histories


# -- params ----------------------------------------------------------------------------------------
def test_param_variation(runs):
    summary = param_summary(runs).set_index("key")
    assert summary.loc["lr", "varies"] and summary.loc["lr", "n_values"] == 2
    assert summary.loc["seed", "varies"] and summary.loc["seed", "n_missing"] == 1
    assert not summary.loc["opt", "varies"] and summary.loc["opt", "value"] == "adam"
    assert varying_params(runs) == ["lr", "seed"]
    assert constant_params(runs) == {"opt": "adam"}
    # A param one run lacks but the others share does not vary (analysis.varies: missing values do not
    # count, as on the site); constant_params still lists only params every run has.
    with_child = runs[:3] + [make_run(9, params={"lr": "0.1"})]
    assert "opt" not in varying_params(with_child) and "opt" not in constant_params(with_child)


# -- best runs -------------------------------------------------------------------------------------
def test_best_runs(runs):
    best = best_runs(runs).set_index("key")
    assert best.loc["val_loss", "run_id"] == "id5" and best.loc["val_loss", "value"] == 0.1
    assert best.loc["acc", "run_id"] == "id4" and best.loc["acc", "direction"] == "max"
    assert best.loc["acc", "n_runs"] == 3 and best.loc["acc", "run_name"] == "r4"
    flipped = best_runs(runs, directions={"val_loss": "max"}).set_index("key")
    assert flipped.loc["val_loss", "run_id"] == "id2"


def test_best_runs_on_a_summary_table(runs, history):
    table = runs_table(runs, history, summary="min")
    best = best_runs(table).set_index("key")
    assert best.loc["val_loss", "run_id"] == "id1" and best.loc["val_loss", "value"] == 0.3


# -- seed groups -----------------------------------------------------------------------------------
def test_seed_groups(runs):
    groups = seed_groups(runs)
    assert list(groups["n_runs"]) == [2, 2, 1]
    first = groups.iloc[0]
    assert first["run_ids"] == ("id1", "id2") and first["params.lr"] == "0.1"
    assert first["varied"] == (("1",), ("2",)) and groups.iloc[1]["varied"] == (("1",), (None,))
    assert first["metrics.val_loss.mean"] == pytest.approx(0.6)
    assert first["metrics.val_loss.std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert first["metrics.acc.count"] == 2
    assert "params.seed" not in groups.columns
    assert groups.iloc[2]["experiment_id"] == "2"  # same params, other experiment: its own group
    assert math.isnan(groups.iloc[2]["metrics.val_loss.std"])


def test_seed_groups_by_a_chosen_param(runs):
    groups = seed_groups(runs, by="lr", metrics=["val_loss"])
    sizes = dict(zip(groups["run_ids"], groups["n_runs"]))
    assert sizes[("id1", "id3")] == 2  # seed 1, lr differs
    assert [c for c in groups.columns if c.startswith("metrics.")] == [
        "metrics.val_loss.mean", "metrics.val_loss.std", "metrics.val_loss.count"]
    with pytest.raises(ReportgenError):
        seed_groups(runs, by="nope")


# -- parents ---------------------------------------------------------------------------------------
def test_run_tree_order_and_depth(runs):
    extra = [make_run(6, parent="id3"), make_run(7, parent="gone")]
    tree = run_tree(runs + extra)
    assert list(tree["run_id"]) == ["id1", "id3", "id6", "id4", "id2", "id5", "id7"]
    assert list(tree["depth"]) == [0, 1, 2, 1, 0, 0, 0]
    assert tree.set_index("run_id").loc["id6", "root_run_id"] == "id1"
    assert tree.set_index("run_id").loc["id7", "parent_run_id"] == "gone"


def test_run_tree_survives_cycles():
    cycle = [make_run(1, parent="id2"), make_run(2, parent="id1"), make_run(3, parent="id3")]
    tree = run_tree(cycle)
    assert sorted(tree["run_id"]) == ["id1", "id2", "id3"]
    assert len(tree) == 3


def test_parent_rollup(runs):
    extra = [make_run(6, parent="id3", metrics={"val_loss": 0.2})]
    rollup = parent_rollup(runs + extra).set_index("run_id")
    assert list(rollup.index) == ["id1", "id3"]
    row = rollup.loc["id1"]
    assert row["children"] == ("id3", "id4") and row["n_children"] == 2
    assert row["metrics.val_loss.mean"] == pytest.approx(0.35)
    assert (row["metrics.val_loss.min"], row["metrics.val_loss.max"], row["metrics.acc.count"]) == (0.3, 0.4, 1)
    deep = parent_rollup(runs + extra, descendants=True).set_index("run_id").loc["id1"]
    assert deep["metrics.val_loss.count"] == 3 and deep["metrics.val_loss.min"] == 0.2


# -- histories -------------------------------------------------------------------------------------
def test_with_times(runs, history):
    frame = with_times(history, runs).set_index(["run_id", "step"])
    assert frame.loc[("id1", 0), "relative_time"] == 0.0  # start_time 1000, first point 1000
    assert frame.loc[("id1", 3), "relative_time"] == pytest.approx(0.03)
    assert str(frame["wall_time"].dtype).startswith("datetime64") and str(frame["wall_time"].dt.tz) == "UTC"
    alone = with_times(history.assign(timestamp=history["timestamp"] + 5))
    assert alone.loc[alone["run_id"] == "id2", "relative_time"].min() == 0.0


def test_with_times_survives_absurd_timestamps(history):
    frame = with_times(history.assign(timestamp=[10**17] + list(history["timestamp"][1:])))
    assert pd.isna(frame["wall_time"][0]) and not frame["wall_time"][1:].isna().any()


def test_downsample_keeps_short_series_whole(history):
    out = downsample_histories(history, max_points=10)
    pd.testing.assert_frame_equal(out, history.sort_values(["run_id", "key", "step", "timestamp"]).reset_index(drop=True))


def test_downsample_known_series():
    values = np.sin(np.linspace(0, 20, 5000))
    values[2000:2100] = np.nan
    values[4000] = -7.0
    kept = downsample_series(np.arange(5000), values, 100)
    assert len(kept) <= 100 and kept[0] == 0 and kept[-1] == 4999
    assert 4000 in kept and np.argmax(np.nan_to_num(values, nan=-9)) in kept
    assert np.isnan(values[kept]).sum() == 1


def test_downsample_is_fast_for_many_series():
    rng = np.random.default_rng(1)
    runs, keys, steps = 400, 10, 300
    frame = pd.DataFrame({
        "run_id": np.repeat([f"r{i:04d}" for i in range(runs)], keys * steps),
        "key": np.tile(np.repeat([f"m{k}" for k in range(keys)], steps), runs),
        "step": np.tile(np.arange(steps), runs * keys),
        "timestamp": np.arange(runs * keys * steps),
        "value": rng.random(runs * keys * steps),
    })
    started = time.perf_counter()
    out = downsample_histories(frame, max_points=100)
    assert time.perf_counter() - started < 3.0
    assert out.groupby(["run_id", "key"]).size().max() <= 100
    assert out.groupby(["run_id", "key"]).ngroups == runs * keys


_value = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False), st.just(math.nan), st.just(math.inf), st.just(-math.inf)
)


def check_downsampled(y: np.ndarray, kept: np.ndarray, max_points: int) -> None:
    """The downsampling contract for one series: kept positions (sorted) of the original y."""
    assert np.all(np.diff(kept) > 0) and kept[0] == 0 and kept[-1] == len(y) - 1
    if len(y) <= max_points:
        assert len(kept) == len(y)
        return
    assert len(kept) <= max_points
    real = y[~np.isnan(y)]
    if len(real):
        assert real.min() in y[kept] and real.max() in y[kept]
    # Every gap between kept points that held a NaN still holds one.
    is_nan = np.isnan(y)
    bounds = [-1] + [int(k) for k in kept if not is_nan[k]] + [len(y)]
    for left, right in zip(bounds[:-1], bounds[1:]):
        if is_nan[left + 1:right].any():
            assert any(left < k < right and is_nan[k] for k in kept), (left, right)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(_value, min_size=1, max_size=400), max_points=st.integers(9, 60),
       repeat_steps=st.booleans())
def test_downsample_properties(values, max_points, repeat_steps):
    y = np.array(values, dtype="float64")
    steps = np.arange(len(y)) // (2 if repeat_steps else 1)
    check_downsampled(y, downsample_series(steps, y, max_points), max_points)


_finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


def test_downsample_histories_random_walks():
    """Random walks, where MinMaxLTTB alone often drops the global min or max."""
    rng = np.random.default_rng(7)
    series = [rng.standard_normal(int(n)).cumsum() for n in rng.integers(50, 3000, size=40)]
    rows = [(f"r{i}", "loss", step, step, value) for i, ys in enumerate(series) for step, value in enumerate(ys)]
    out = downsample_histories(pd.DataFrame(rows, columns=["run_id", "key", "step", "timestamp", "value"]),
                               max_points=25)
    for i, ys in enumerate(series):
        check_downsampled(ys, out.loc[out["run_id"] == f"r{i}", "step"].to_numpy(), 25)


@settings(max_examples=100, deadline=None)
@given(series=st.lists(st.one_of(st.lists(_finite, min_size=1, max_size=200, unique=True),
                                 st.lists(_value, min_size=1, max_size=200)),
                       min_size=1, max_size=5),
       max_points=st.integers(9, 40))
def test_downsample_histories_properties(series, max_points):
    """Both paths (all-finite series in bulk, series with NaN or inf one by one) keep the contract."""
    rows = [(f"run{i % 3}", f"k{i}", step, 1000 + step, value)
            for i, values in enumerate(series) for step, value in enumerate(values)]
    frame = pd.DataFrame(rows, columns=["run_id", "key", "step", "timestamp", "value"]).sample(frac=1, random_state=0)
    out = downsample_histories(frame, max_points=max_points)
    assert list(out.columns) == list(frame.columns)
    assert out.equals(out.sort_values(["run_id", "key", "step"], kind="stable").reset_index(drop=True))
    for i, values in enumerate(series):
        part = out[(out["run_id"] == f"run{i % 3}") & (out["key"] == f"k{i}")]
        kept = part["step"].to_numpy()
        y = np.array(values, dtype="float64")
        assert np.array_equal(part["value"].to_numpy(), y[kept], equal_nan=True)
        check_downsampled(y, kept, max_points)


def test_downsample_rejects_bad_input(history):
    with pytest.raises(ReportgenError):
        downsample_histories(history.drop(columns=["value"]))
    with pytest.raises(ReportgenError):
        downsample_histories(history, max_points=1)
