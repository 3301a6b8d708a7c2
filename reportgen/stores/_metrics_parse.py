"""Parse many mlruns/ metric files in one vectorised pass (the hot path of a report).

Files are joined into one buffer and handed to pandas' C CSV parser once; only a chunk that is not
perfectly clean (a bad line somewhere) is bisected down to the files at fault, which are then parsed
line by line with mlruns.parse_metric_line, so one bad line costs little and never hides good ones.
"""
from __future__ import annotations

import csv
import io
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from reportgen.mlruns import parse_metric_line

# The columns of Store.metric_histories(), in order.
HISTORY_COLUMNS = ["run_id", "key", "step", "timestamp", "value"]

# Join at most this many bytes per read_csv call: bounds peak memory and the cost of a bisection.
CHUNK_BYTES = 32 << 20
# Below this many bytes in all, the line-by-line parser beats read_csv's fixed cost (get_run of one run).
SMALL_BYTES = 16 << 10
_COLUMNS = ["t", "v", "s", "d1", "d2"]
# Only what Python's float() and MLflow write count as NaN; an empty field is "missing".
_NA = {"t": [""], "v": ["nan", "NaN", "-nan", "+nan"], "s": [""], "d1": [""], "d2": [""]}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_NA3 = {c: _NA[c] for c in _COLUMNS[:3]}


@dataclass
class ParsedMetrics:
    """Points of many files, concatenated in file order; counts[i] rows belong to file i."""

    counts: np.ndarray  # int64, rows kept per file
    bad_lines: np.ndarray  # int64, lines skipped per file
    timestamp: np.ndarray  # int64
    value: np.ndarray  # float64
    step: np.ndarray  # int64

    @property
    def offsets(self) -> np.ndarray:
        """Start row of each file."""
        return np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)


def _empty(n_files: int) -> ParsedMetrics:
    zeros = np.zeros(n_files, dtype=np.int64)
    return ParsedMetrics(
        zeros, zeros.copy(), np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, np.int64)
    )


def _trim_partial(blob: bytes) -> tuple[bytes, int]:
    """Drop a trailing line without its newline: every writer ends each line with one, so it is a write
    still in flight or one torn by a crash or a full disk (and may parse as a wrong point: "<ts> 0.12"
    of "<ts> 0.1234 7"). Counted as a bad line."""
    if not blob or blob.endswith(b"\n"):
        return blob, 0
    cut = blob.rfind(b"\n")
    return blob[: cut + 1], 1


def bad_lines_message(blob: bytes, bad: int, kept: int) -> str:
    """The problem reported for a metric file with `bad` skipped lines (its incomplete last line counted)."""
    if bad == 1 and blob and not blob.endswith(b"\n"):
        return f"ignored the incomplete last line (no newline: a torn or unfinished write), kept {kept}"
    return f"skipped {bad} bad metric line(s), kept {kept}"


def _parse_lines(blob: bytes) -> tuple[list[int], list[float], list[int], int]:
    """The slow, exact path for one file: every line through mlruns.parse_metric_line."""
    ts: list[int] = []
    vs: list[float] = []
    ss: list[int] = []
    bad = 0
    for raw in blob.split(b"\n")[:-1]:
        try:
            t, v, s = parse_metric_line(raw.decode("utf-8", errors="replace"))
        except ValueError:
            bad += 1
            continue
        if not (_INT64_MIN <= t <= _INT64_MAX and _INT64_MIN <= s <= _INT64_MAX):
            bad += 1  # no int64 column holds it (it used to end the whole read with an OverflowError)
            continue
        ts.append(t)
        vs.append(v)
        ss.append(s)
    return ts, vs, ss, bad


def _line_counts(buf: bytes, sizes: list[int]) -> np.ndarray:
    """Newlines in each of the joined blobs, counted in one numpy pass (bytes.count per blob costs more)."""
    newlines = np.flatnonzero(np.frombuffer(buf, dtype=np.uint8) == 10)
    ends = np.cumsum(sizes)
    return np.diff(np.searchsorted(newlines, ends), prepend=0).astype(np.int64)


def _fast_plain(buf: bytes, lines: np.ndarray) -> ParsedMetrics | None:
    """One read_csv of 3 columns, refusing any line that is not exactly 3 fields (what MLflow writes
    today): ~40% cheaper than the 5-column pass, which reads two extra columns of NaN. None when
    anything differs, and _fast takes over."""
    first = buf.find(b"\n")
    if buf.count(b" ", 0, first if first >= 0 else len(buf)) != 2:
        # A longer first line would be cut to 3 fields (with a ParserWarning) rather than refused, as
        # any later one is (on_bad_lines="error"); a shorter line fails the int64 checks below.
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.ParserWarning)  # belt and braces, see above
            frame = pd.read_csv(
                io.BytesIO(buf), sep=" ", header=None, names=_COLUMNS[:3], skip_blank_lines=False,
                on_bad_lines="error", keep_default_na=False, na_values=_NA3, engine="c", low_memory=False,
                quoting=csv.QUOTE_NONE, index_col=False,
            )
    except (ValueError, OverflowError, pd.errors.ParserError):
        return None
    # Types are inferred, not forced: a forced int64 accepts "5.0" or "1e3" and a forced float64 accepts
    # "True", all of which the line-by-line reader refuses. index_col=False: no column turns into an index.
    t, v, s = frame["t"], frame["v"], frame["s"]
    if len(frame) != int(lines.sum()) or t.dtype != np.int64 or s.dtype != np.int64:
        return None
    if v.dtype not in (np.float64, np.int64):
        return None  # an int64 column (all values whole) converts exactly as float() would
    return ParsedMetrics(
        counts=lines.astype(np.int64), bad_lines=np.zeros(len(lines), dtype=np.int64),
        timestamp=t.to_numpy(), value=v.to_numpy(dtype=np.float64), step=s.to_numpy(),
    )


def _fast(blobs: list[bytes], lines: np.ndarray, buf: bytes | None = None) -> ParsedMetrics | None:
    """One read_csv over the joined blobs; None unless every line is a clean 2-, 3- or 5-field line."""
    buf = b"".join(blobs) if buf is None else buf
    if not buf:
        return _empty(len(blobs))
    plain = _fast_plain(buf, lines)
    if plain is not None:
        return plain
    try:
        frame = pd.read_csv(
            io.BytesIO(buf), sep=" ", header=None, names=_COLUMNS, skip_blank_lines=False,
            on_bad_lines="skip", keep_default_na=False, na_values=_NA, engine="c", low_memory=False,
            quoting=csv.QUOTE_NONE,  # '"1"' is not a number to the line-by-line reader either
        )
    except (ValueError, pd.errors.ParserError):
        return None
    if len(frame) != int(lines.sum()):
        return None  # a line of 6+ fields was dropped: rows no longer line up with files
    t, v, s, d1, d2 = (frame[c] for c in _COLUMNS)
    if t.dtype != np.int64 or v.dtype != np.float64:
        return None
    if d1.dtype == np.float64 and d2.dtype == np.float64:  # all NaN: no 4- or 5-field lines
        if not (d1.isna().all() and d2.isna().all()):
            return None
    elif not (d1.isna().to_numpy() == d2.isna().to_numpy()).all():
        return None  # a 4-field line
    if s.dtype == np.int64:
        step = s.to_numpy()
    elif s.dtype == np.float64 and s.isna().all() and d1.isna().all():
        step = np.zeros(len(frame), dtype=np.int64)  # only 2-field lines (MLflow < 1.0): step 0
    else:
        return None  # "50.0" and an empty step read alike as floats: let the exact path decide
    return ParsedMetrics(
        counts=lines.astype(np.int64),
        bad_lines=np.zeros(len(blobs), dtype=np.int64),
        timestamp=t.to_numpy(),
        value=v.to_numpy(),
        step=step,
    )


def _parse_chunk(blobs: list[bytes], lines: np.ndarray, buf: bytes | None = None) -> ParsedMetrics:
    parsed = _fast(blobs, lines, buf)
    if parsed is not None:
        return parsed
    if len(blobs) == 1:
        ts, vs, ss, bad = _parse_lines(blobs[0])
        return ParsedMetrics(
            counts=np.array([len(ts)], dtype=np.int64),
            bad_lines=np.array([bad], dtype=np.int64),
            timestamp=np.array(ts, dtype=np.int64),
            value=np.array(vs, dtype=np.float64),
            step=np.array(ss, dtype=np.int64),
        )
    half = len(blobs) // 2
    return concat([_parse_chunk(blobs[:half], lines[:half]), _parse_chunk(blobs[half:], lines[half:])])


def concat(parts: list[ParsedMetrics]) -> ParsedMetrics:
    """Parsed files of several batches as one, in order."""
    if len(parts) == 1:
        return parts[0]
    return ParsedMetrics(
        counts=np.concatenate([p.counts for p in parts]),
        bad_lines=np.concatenate([p.bad_lines for p in parts]),
        timestamp=np.concatenate([p.timestamp for p in parts]),
        value=np.concatenate([p.value for p in parts]),
        step=np.concatenate([p.step for p in parts]),
    )


def parse_metric_blobs(blobs: list[bytes]) -> ParsedMetrics:
    """Parse the contents of many metric files; bad lines are skipped and counted per file."""
    if not blobs:
        return _empty(0)
    trimmed = [_trim_partial(b) for b in blobs]
    blobs = [b for b, _ in trimmed]
    partial = np.array([p for _, p in trimmed], dtype=np.int64)
    sizes = np.cumsum([len(b) for b in blobs])
    if sizes[-1] < SMALL_BYTES:
        parsed = _parse_small(blobs)
        parsed.bad_lines = parsed.bad_lines + partial
        return parsed
    parts = []
    start = 0
    while start < len(blobs):
        base = sizes[start - 1] if start else 0
        end = int(np.searchsorted(sizes, base + CHUNK_BYTES, side="right"))
        end = max(end, start + 1)
        chunk = blobs[start:end]
        buf = b"".join(chunk)
        parts.append(_parse_chunk(chunk, _line_counts(buf, [len(b) for b in chunk]), buf))
        del buf
        start = end
    parsed = concat(parts)
    parsed.bad_lines = parsed.bad_lines + partial
    return parsed


def _parse_small(blobs: list[bytes]) -> ParsedMetrics:
    parts = []
    for blob in blobs:
        ts, vs, ss, bad = _parse_lines(blob)
        parts.append(ParsedMetrics(np.array([len(ts)], np.int64), np.array([bad], np.int64),
                                   np.array(ts, np.int64), np.array(vs, np.float64), np.array(ss, np.int64)))
    return concat(parts)


def sort_within_files(parsed: ParsedMetrics) -> np.ndarray | None:
    """Row order that sorts each file's points by (step, timestamp), stable; None when already sorted."""
    if len(parsed.step) < 2:
        return None
    file_of_row = np.repeat(np.arange(len(parsed.counts)), parsed.counts)
    same = file_of_row[1:] == file_of_row[:-1]
    ds = np.diff(parsed.step)
    dt = np.diff(parsed.timestamp)
    if not (same & ((ds < 0) | ((ds == 0) & (dt < 0)))).any():
        return None
    return np.lexsort((parsed.timestamp, parsed.step, file_of_row))


def latest_rows(parsed: ParsedMetrics, *, block: int = 1 << 20) -> np.ndarray:
    """Index of each file's latest point by MLflow's rule, max (step, timestamp, value), NaN lowest;
    -1 for a file with no points. Files are taken about `block` points at a time: the temporaries of a
    read of millions of points stay small (a whole 5M-point read held ~190 MB of them)."""
    counts = parsed.counts
    result = np.full(len(counts), -1, dtype=np.int64)
    ends = np.cumsum(counts)
    first = 0
    while first < len(counts):
        low = int(ends[first - 1]) if first else 0
        last = max(int(np.searchsorted(ends, low + block, side="right")), first + 1)
        high = int(ends[last - 1])
        rows = _latest_in(counts[first:last], parsed.step[low:high], parsed.timestamp[low:high],
                          parsed.value[low:high])
        result[first:last] = np.where(rows >= 0, rows + low, -1)
        first = last
    return result


def _latest_in(counts: np.ndarray, step: np.ndarray, ts: np.ndarray, value: np.ndarray) -> np.ndarray:
    """latest_rows of files whose points are these (rows counted from 0)."""
    result = np.full(len(counts), -1, dtype=np.int64)
    nonempty = counts > 0
    if not nonempty.any():
        return result
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)[nonempty]
    sizes = counts[nonempty]
    vkey = np.where(np.isnan(value), -np.inf, value)
    max_step = np.maximum.reduceat(step, offsets)
    mask = step == np.repeat(max_step, sizes)
    ts_masked = np.where(mask, ts, np.iinfo(np.int64).min)
    max_ts = np.maximum.reduceat(ts_masked, offsets)
    mask &= ts == np.repeat(max_ts, sizes)
    v_masked = np.where(mask, vkey, -np.inf)
    max_v = np.maximum.reduceat(v_masked, offsets)
    mask &= vkey == np.repeat(max_v, sizes)
    rows = np.where(mask, np.arange(len(step)), -1)
    result[nonempty] = np.maximum.reduceat(rows, offsets)
    return result


def _used(codes: np.ndarray, names: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Codes renumbered over only the names that occur (no empty categories)."""
    present = np.bincount(codes, minlength=len(names)) > 0 if len(codes) else np.zeros(len(names), bool)
    if present.all():
        return codes, list(names)
    remap = (np.cumsum(present) - 1).astype(codes.dtype)
    return remap[codes], [n for n, p in zip(names, present) if p]


def _in_order(group: np.ndarray, step: np.ndarray, timestamp: np.ndarray, block: int = 1 << 18) -> bool:
    """True when rows are sorted by (group, step, timestamp); checked in blocks to keep temporaries small."""
    for start in range(0, max(len(group) - 1, 0), block):
        end = min(start + block + 1, len(group))
        dg = np.diff(group[start:end])
        ds = np.diff(step[start:end])
        dt = np.diff(timestamp[start:end])
        if not ((dg > 0) | ((dg == 0) & ((ds > 0) | ((ds == 0) & (dt >= 0))))).all():
            return False
    return True


def history_frame(
    run_codes: np.ndarray, key_codes: np.ndarray, run_names: Sequence[str], key_names: Sequence[str],
    step: np.ndarray, timestamp: np.ndarray, value: np.ndarray, *, presorted: bool = False,
) -> pd.DataFrame:
    """The long history frame, sorted by run_id, key, step, timestamp.

    run_names and key_names must be sorted; codes index into them. run_id and key are categoricals.
    presorted: the caller guarantees that order already (the read cache keeps its points sorted).
    """
    run_codes = run_codes.astype(np.int32, copy=False)
    key_codes = key_codes.astype(np.int32, copy=False)
    group = None if presorted else run_codes.astype(np.int64) * max(len(key_names), 1) + key_codes
    if group is not None and not _in_order(group, step, timestamp):
        order = np.lexsort((timestamp, step, group))
        run_codes, key_codes = run_codes[order], key_codes[order]
        step, timestamp, value = step[order], timestamp[order], value[order]
    del group
    run_codes, runs = _used(run_codes, run_names)
    key_codes, keys = _used(key_codes, key_names)
    return pd.DataFrame(
        {
            "run_id": pd.Categorical.from_codes(run_codes, categories=pd.Index(runs, dtype=object)),
            "key": pd.Categorical.from_codes(key_codes, categories=pd.Index(keys, dtype=object)),
            "step": step.astype(np.int64, copy=False),
            "timestamp": timestamp.astype(np.int64, copy=False),
            "value": value.astype(np.float64, copy=False),
        },
        columns=HISTORY_COLUMNS,
        copy=False,
    )
