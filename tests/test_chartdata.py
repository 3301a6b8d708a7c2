"""reportgen.chartdata: histories split into series, and its shortcuts against the general code they stand
for (clean_text's printable test, the quartiles read off one sort against np.quantile)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from reportgen import chartdata
from reportgen.chartdata import clean_text, robust_range, split_history


def test_split_history_groups_and_orders():
    frame = pd.DataFrame({"run_id": ["b", "a", "a", "b", "a"], "key": ["x", "y", "x", "x", "x"],
                          "step": [1, 0, 2, 0, 1], "timestamp": [5, 4, 3, 2, 1], "value": [1.0, 2.0, 3.0, 4.0, 5.0]})
    parts = split_history(frame)
    assert list(parts) == ["a", "b"] and list(parts["a"]) == ["x", "y"]
    assert parts["a"]["x"].step.tolist() == [1, 2] and parts["a"]["x"].value.tolist() == [5.0, 3.0]
    assert (parts["a"]["x"].run_id, parts["a"]["x"].key) == ("a", "x")
    assert parts["b"]["x"].step.tolist() == [0, 1]
    assert split_history(frame.iloc[:0]) == {}


def test_split_history_of_sorted_and_shuffled_frames_agree():
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"run_id": np.repeat(["r1", "r2", "r3"], 40), "key": np.tile(np.repeat(["a", "b"], 20), 3),
                          "step": np.tile(np.arange(20) // 2, 6), "timestamp": np.tile(np.arange(20), 6),
                          "value": rng.normal(size=120)})
    ordered = split_history(frame)
    shuffled = split_history(frame.sample(frac=1.0, random_state=3).reset_index(drop=True))
    assert list(ordered) == list(shuffled) == ["r1", "r2", "r3"]
    for run_id, by_key in ordered.items():
        for key, series in by_key.items():
            other = shuffled[run_id][key]
            assert series.step.tolist() == other.step.tolist() == sorted(series.step.tolist())
            assert series.timestamp.tolist() == other.timestamp.tolist()
            assert series.value.tolist() == other.value.tolist()


@pytest.mark.parametrize("runs", [3, 126, 127, 300])  # codes of int8 (up to 126 categories) and int16
def test_split_history_of_categorical_columns_matches_sort_values(runs):
    # The stores give run_id and key as categoricals; the series codes keep their narrow dtype and a
    # missing key sorts last, as sort_values puts it.
    rng = np.random.default_rng(runs)
    names = [f"run{n:04d}" for n in range(runs + 2)]  # two categories no row uses
    rows = 4 * runs
    frame = pd.DataFrame({"run_id": pd.Categorical(rng.choice(names[:runs], rows), categories=names[::-1]),
                          "key": pd.Categorical(rng.choice(["loss", "acc", None], rows), categories=["loss", "acc"]),
                          "step": rng.integers(0, 5, rows), "timestamp": rng.integers(0, 3, rows),
                          "value": rng.normal(size=rows)})
    parts = split_history(frame)
    expected = frame.sort_values(["run_id", "key", "step", "timestamp"], kind="stable")
    got = [(s.run_id, s.key, step, stamp, value) for by_key in parts.values() for s in by_key.values()
           for step, stamp, value in zip(s.step.tolist(), s.timestamp.tolist(), s.value.tolist())]
    # (a missing key's series is named "nan", as before the codes were narrowed)
    assert [r[:2] for r in got] == [(str(r), str(k) if k == k else "nan")
                                    for r, k in zip(expected["run_id"], expected["key"])]
    assert [r[2:] for r in got] == list(zip(expected["step"], expected["timestamp"], expected["value"]))


def test_what_clean_text_changes_is_unprintable():
    # clean_text returns printable text unchanged without running its patterns.
    every_char = [chr(code) for code in range(0x110000)]
    replaced = [c for c in every_char if chartdata._LINE_BREAKS.match(c) or chartdata._INVISIBLE.match(c)]
    assert len(replaced) > 60 and not any(c.isprintable() for c in replaced)
    assert clean_text("a\u2028b\u202e") == "a b[U+202E]"


def plain_robust_range(values: np.ndarray, factor: float = 100.0) -> tuple[float, float] | None:
    """robust_range as its docstring says it, with np.quantile and a mask."""
    finite = values[np.isfinite(values)]
    if len(finite) < 10:
        return None
    q25, q75 = (float(q) for q in np.quantile(finite, [0.25, 0.75]))
    iqr = q75 - q25
    if iqr <= 0:
        return None
    inside = finite[(finite >= q25 - factor * iqr) & (finite <= q75 + factor * iqr)]
    if len(inside) == len(finite):
        return None
    lo, hi = float(inside.min()), float(inside.max())
    pad = 0.05 * (hi - lo) or 0.05 * abs(hi) or 1.0
    return lo - pad, hi + pad


@pytest.mark.parametrize("seed", range(3))
def test_robust_range_is_the_plain_algorithm(seed):
    rng = np.random.default_rng(seed)
    outliers = 0
    for _ in range(2000):
        n = int(rng.integers(0, 120))
        values = rng.normal(size=n) * 10.0 ** int(rng.integers(-6, 6))
        if n and rng.random() < 0.5:
            values[rng.integers(0, n)] = rng.choice([1e12, -1e9, 1e299, math.nan, math.inf, -math.inf])
        if rng.random() < 0.2:
            values = np.round(values, 1)
        expected = plain_robust_range(values)
        assert robust_range(values) == expected
        outliers += expected is not None
    assert outliers > 100  # both branches are exercised


def test_quartiles_are_numpys_to_the_bit():
    rng = np.random.default_rng(1)
    for n in [1, 2, 3, 4, 5, 7, 10, 11, 99, 100, 101, 1001]:
        for _ in range(20):
            ordered = np.sort(rng.normal(size=n) * 10.0 ** int(rng.integers(-8, 8)))
            assert chartdata._quartiles(ordered) == tuple(float(q) for q in np.quantile(ordered, [0.25, 0.75]))
