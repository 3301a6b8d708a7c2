"""The rule for derived floats: exactly rounded sums and DIGITS significant digits, whatever the summing
order, so a numpy or pandas release cannot change a page byte."""
from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd

from reportgen import aggregate
from reportgen.numbers import mean_std, settle, settled


def test_mean_and_std_do_not_depend_on_the_order_of_the_values():
    rng = random.Random(7)
    values = [rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-8, 8) for _ in range(500)]
    first = mean_std(values)
    for _ in range(20):
        rng.shuffle(values)
        assert mean_std(values) == first
    assert math.isclose(first[0], float(np.mean(values)), rel_tol=1e-9)
    assert math.isclose(first[1], float(np.std(values, ddof=1)), rel_tol=1e-9)


def test_settle_keeps_twelve_digits_and_forgives_the_last_bits():
    assert settle(0.1 + 0.2) == 0.3
    assert settle(2.0285680452489454) == settle(2.0285680452489450) == 2.02856804525
    assert math.isnan(settle(math.nan)) and settle(-math.inf) == -math.inf
    assert list(settled([1 / 3, 7.0])) == [0.333333333333, 7.0]


def test_mean_std_follows_pandas_on_nan_inf_and_single_values():
    assert mean_std([1.0, math.nan, 3.0]) == (2.0, settle(math.sqrt(2)))
    mean, std = mean_std([5.0])
    assert mean == 5.0 and math.isnan(std)
    mean, std = mean_std([1.0, math.inf])
    assert mean == math.inf and math.isnan(std)
    assert all(math.isnan(v) for v in mean_std([]))


def test_summaries_and_seed_groups_use_the_rule():
    history = pd.DataFrame({"run_id": ["a"] * 3, "key": ["m"] * 3, "step": [0, 1, 2],
                            "timestamp": [0, 1, 2], "value": [0.1, 0.2, 0.4]})
    summary = aggregate.metric_summaries(history)
    assert summary["mean"].tolist() == [settle((0.1 + 0.2 + 0.4) / 3)]
    runs = pd.DataFrame({"run_id": ["a", "b", "c"], "experiment_id": ["1"] * 3, "params.seed": ["1", "2", "3"], "params.lr": ["x"] * 3,
                         "metrics.acc": [0.1, 0.2, 0.4]})
    groups = aggregate.seed_groups(runs)
    assert groups["metrics.acc.mean"].tolist() == [mean_std([0.1, 0.2, 0.4])[0]]
    assert groups["metrics.acc.std"].tolist() == [mean_std([0.1, 0.2, 0.4])[1]]
