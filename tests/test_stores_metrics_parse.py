"""Specifies reportgen.stores._metrics_parse: the vectorised parse of many metric files at once gives what
a line-by-line parse with mlruns.parse_metric_line gives (points, bad lines, latest point), and the
3-column shortcut takes only plain three-field lines."""
from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mlruns_builder import T0
from reportgen import mlruns
from reportgen.stores import _metrics_parse
from reportgen.stores._metrics_parse import latest_rows, parse_metric_blobs

# Lines that are almost metric lines: signs, spaces, quotes, exotic digits, floats where ints belong,
# too many or too few fields, NaN spellings, values past int64.
TRICKY = [
    "1 2 3", "+5 1 2", "1 +2 3", "1 2 +3", "0x10 1 2", " 1 2 3", "1  2 3", "1 2 3 ", "1_000 2 3",
    "99999999999999999999 1 2", "1 2 99999999999999999999", "-9223372036854775808 1 2", "1 2 5.0", "1.0 2 3",
    "1e3 2 3", "\u0661\u0662 1 2", "1 nan 2", "1 NaN 2", "1 -nan 2", "1 NAN 2", "1 inf 2", "1 -Infinity 2",
    "1 1e400 2", "1 2.", "1 .5 2", "1 2\t3", "1 2 3\r", '"1" 2 3', '1 "2" 3', "1 2 #3", "1 2 3 4", "1 2 3 4 5",
    "1 2 3 d e", "1 2", "1", "", "1 N/A 2", "1 True 2", "1 2 True", "-0 2 3", "1 -0.0 3", "00001 2 007",
    "1 0.30000000000000004 1", "1 4.9e-324 1", "1  3", "  ", " 1 2", "1 2 ", " 2 3",
]


def _line_by_line(blob: bytes) -> tuple[list[tuple[int, float, int]], int]:
    points, bad = [], 0
    lines = blob.split(b"\n")
    bad += 1 if lines[-1] else 0
    for raw in lines[:-1]:
        try:
            t, v, s = mlruns.parse_metric_line(raw.decode())
        except ValueError:
            bad += 1
            continue
        if not (-2**63 <= t < 2**63 and -2**63 <= s < 2**63):
            bad += 1
            continue
        points.append((t, v, s))
    return points, bad


def test_vectorised_parse_equals_line_by_line_on_tricky_pairs(monkeypatch):
    monkeypatch.setattr(_metrics_parse, "SMALL_BYTES", 0)  # force read_csv
    pairs = [f"{a}\n{b}\n".encode() for a, b in itertools.product(TRICKY, repeat=2)]
    singles = [f"{T0} 0.5 1\n{a}\n".encode() for a in TRICKY] + [f"{a}\n".encode() for a in TRICKY]
    for group in (pairs, singles, *([b] for b in singles)):  # many files in one read_csv pass, and one
        parsed = parse_metric_blobs(group)
        offsets = parsed.offsets
        for i, blob in enumerate(group):
            expected, bad = _line_by_line(blob)
            rows = range(offsets[i], offsets[i] + parsed.counts[i])
            got = [(int(parsed.timestamp[r]), float(parsed.value[r]), int(parsed.step[r])) for r in rows]
            assert repr(got) == repr(expected), blob
            assert parsed.bad_lines[i] == bad, blob
    assert parsed.timestamp.dtype == parsed.step.dtype == np.int64 and parsed.value.dtype == np.float64


def test_plain_fast_path_only_takes_three_field_lines():
    good = b"1 0.5 1\n2 0.25 2\n"
    assert _metrics_parse._fast_plain(good, np.array([2])) is not None
    for odd in (b"1 0.5 1\n2 0.25\n", b"1 0.5 1 d e\n", b"1 0.5 1 4\n2 0.5 2\n", b"1 0.5 5.0\n"):
        assert _metrics_parse._fast_plain(odd, np.array([odd.count(b"\n")])) is None


_line = st.one_of(
    st.tuples(st.integers(0, 2**45), st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**6)).map(
        lambda t: f"{t[0]} {t[1]!r} {t[2]}"),
    st.tuples(st.integers(0, 2**45), st.floats(allow_nan=False)).map(lambda t: f"{t[0]} {t[1]!r}"),
    st.sampled_from(["", "1 2 3 4", "1 abc 3", "1 0.5 50.0", "x y z", "1 2 3 4 5 6", "1.5 2 3", "1 2 3 d e"]),
)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(_line, max_size=8).map("\n".join), min_size=1, max_size=6), st.booleans())
def test_vectorised_parse_equals_line_by_line(files, trailing_partial):
    blobs = [(text + "\n").encode() if text else b"" for text in files]
    if trailing_partial:
        blobs[-1] += b"123 4"
    saved = _metrics_parse.SMALL_BYTES
    _metrics_parse.SMALL_BYTES = 0  # force the read_csv path; the line-by-line one is the reference
    try:
        parsed = parse_metric_blobs(blobs)
    finally:
        _metrics_parse.SMALL_BYTES = saved
    offsets = parsed.offsets
    for i, blob in enumerate(blobs):
        expected, bad = [], 0
        lines = blob.split(b"\n")
        bad += 1 if lines[-1] else 0
        for raw in lines[:-1]:
            try:
                expected.append(mlruns.parse_metric_line(raw.decode()))
            except ValueError:
                bad += 1
        rows = range(offsets[i], offsets[i] + parsed.counts[i])
        got = [(int(parsed.timestamp[r]), float(parsed.value[r]), int(parsed.step[r])) for r in rows]
        assert [(t, s) for t, _, s in got] == [(t, s) for t, _, s in expected]
        assert np.array_equal(np.array([v for _, v, _ in got]), np.array([v for _, v, _ in expected]), equal_nan=True)
        assert parsed.bad_lines[i] == bad
    # and the latest row per file is the max by (step, timestamp, value) with NaN lowest, the same when
    # the files are taken a few points at a time
    assert np.array_equal(latest_rows(parsed), latest_rows(parsed, block=3))
    for i, row in enumerate(latest_rows(parsed)):
        if parsed.counts[i] == 0:
            assert row == -1
            continue
        rows = range(offsets[i], offsets[i] + parsed.counts[i])
        key = lambda r: (parsed.step[r], parsed.timestamp[r], -math.inf if math.isnan(parsed.value[r]) else parsed.value[r])  # noqa: E731
        assert key(row) == max(key(r) for r in rows)
