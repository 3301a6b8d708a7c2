"""The history frame from one bulk scan of MLflow's metrics table: rows arrive coded by run and key
in table order, and are put in the frame's order with one stable sort."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from reportgen.stores._metrics_parse import history_frame


def scanned_frame(
    run_codes: np.ndarray, key_codes: np.ndarray, step: np.ndarray, timestamp: np.ndarray, value: np.ndarray,
    run_names: Sequence[str], key_names: Sequence[str],
) -> pd.DataFrame:
    """The history frame of rows in any order; codes index the sorted run_names and key_names.

    Points with an equal (run, key, step, timestamp) keep their scan order.
    """
    order = None
    if len(step) > 1:
        group = run_codes.astype(np.int64) * max(len(key_names), 1) + key_codes
        s_low, t_low = int(step.min()), int(timestamp.min())
        s_span, t_span = int(step.max()) - s_low + 1, int(timestamp.max()) - t_low + 1
        if (int(group.max()) + 1) * s_span * t_span < 2**63:
            order = stable_order((group * s_span + (step - s_low)) * t_span + (timestamp - t_low))
        else:
            order = np.lexsort((timestamp, step, group))
        del group
    if order is not None:
        run_codes, key_codes = run_codes[order], key_codes[order]
        step, timestamp, value = step[order], timestamp[order], value[order]
    return history_frame(run_codes, key_codes, run_names, key_names, step, timestamp, value, presorted=True)


def stable_order(sort_key: np.ndarray) -> np.ndarray | None:
    """The stable permutation sorting an int64 key; None when it is sorted already.

    A stable argsort is timsort for int64: close to linear on the long sorted stretches of a scan.
    """
    if (sort_key[1:] >= sort_key[:-1]).all():
        return None
    return np.argsort(sort_key, kind="stable")
