"""One downsampler: histories.downsample_series (tsdownsample's MinMaxLTTB through its public API, plus
first, last, min, max and NaN gaps) serves the frames (downsample_histories) and every chart
(chartdata.downsample_indices: history, seed-band and run-page charts)."""
from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import example, given, settings, strategies as st

from reportgen import charts, histories
from reportgen.aggregate import downsample_histories
from test_aggregate import check_downsampled  # the one contract, stated once

PACKAGE = Path(__file__).resolve().parents[1] / "reportgen"


def _count_calls(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = histories._minmax_lttb

    def counted(x, y, n_out):
        calls.append(n_out)
        return real(x, y, n_out)

    monkeypatch.setattr(histories, "_minmax_lttb", counted)
    return calls


def _long_history(n_runs: int = 3, n_steps: int = 5000) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({
        "run_id": np.repeat([f"r{i}" for i in range(n_runs)], n_steps), "key": "loss",
        "step": np.tile(np.arange(n_steps), n_runs), "timestamp": np.tile(np.arange(n_steps), n_runs),
        "value": rng.standard_normal(n_runs * n_steps).cumsum(),
    })


def test_charts_and_frames_use_the_same_downsampler(monkeypatch):
    calls = _count_calls(monkeypatch)
    history = _long_history()
    spec = charts.history_chart(history, title="loss", run_labels={}, max_points=200)
    assert len(calls) == 3  # one per series drawn
    assert spec  # drawn
    calls.clear()
    out = downsample_histories(history, max_points=200)
    assert len(calls) == 3 and out.groupby("run_id").size().max() <= 200


def test_chart_indices_are_downsample_series_over_positions():
    values = np.sin(np.linspace(0, 30, 4000))
    values[1000:1050] = np.nan
    values[3000] = 9.0
    expected = histories.downsample_series(np.arange(4000, dtype="float64"), values, 120)
    assert np.array_equal(charts.downsample_indices(values, 120), expected)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(math.nan), st.just(math.inf)),
                       min_size=1, max_size=300),
       budget=st.integers(8, 60))
# Found by CI: five NaN runs around four points, the max an infinity; the tiny budget dropped the max.
@example(values=[math.nan, 0.0, math.nan, -1.0, math.nan, math.inf, math.nan, 0.0, math.nan], budget=8)
def test_chart_downsampling_keeps_the_contract(values, budget):
    y = np.array(values, dtype="float64")
    check_downsampled(y, charts.downsample_indices(y, budget), budget)


def test_no_private_tsdownsample_names():
    """tsdownsample is used through its public API only (its private entry points change between versions)."""
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and (node.module or "").startswith("tsdownsample") for alias in node.names}
        if not names:
            continue
        objects = set(names)  # names bound to tsdownsample classes, and instances made from them
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                    and isinstance(node.value.func, ast.Name) and node.value.func.id in names:
                objects.update(t.id for t in node.targets if isinstance(t, ast.Name))
        private = [node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
                   and node.attr.startswith("_") and isinstance(node.value, ast.Name) and node.value.id in objects]
        assert not private, f"{path.name} uses tsdownsample's private {private}"
