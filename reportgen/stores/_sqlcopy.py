"""Many runs' metric points from PostgreSQL in one binary `COPY ... TO STDOUT` (psycopg2).

The server aggregates each (run, key) series into one row whose columns are the raw big-endian bytes
of all its steps, timestamps, values and NaN flags (int8send ... string_agg), so a million points
cross as a thousand rows and numpy reads each column with one frombuffer: no Python object per point.
"""
from __future__ import annotations

import io
import struct
from typing import Any, Sequence

import numpy as np
import pandas as pd

from reportgen.stores._sqlscan import scanned_frame

# The four aggregates of a group see its rows in the same order, so their bytes line up point by point;
# the casts pin each field's width whatever type the schema version declared.
COPY_SQL = (
    'COPY (SELECT m.run_uuid, m."key", string_agg(int8send(m.step::int8), \'\'), '
    "string_agg(int8send(m.timestamp::int8), ''), string_agg(float8send(m.value::float8), ''), "
    "string_agg(boolsend(m.is_nan::bool), '') FROM metrics m WHERE m.run_uuid = ANY(%(runs)s) {keys}"
    'GROUP BY m.run_uuid, m."key") TO STDOUT (FORMAT binary)'
)
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_FIELDS = 6
_SHORT, _INT = struct.Struct(">h"), struct.Struct(">i")


def copy_histories(
    dbapi_connection: Any, run_ids: Sequence[str], keys: Sequence[str] | None
) -> pd.DataFrame | None:
    """The history frame of those runs (sorted) and keys (all when None), or None when the COPY's rows
    are not the layout expected (the caller then reads the exact way)."""
    params: dict[str, Any] = {"runs": list(run_ids)}
    if keys is not None:
        params["keys"] = list(keys)
    buffer = io.BytesIO()
    with dbapi_connection.cursor() as cursor:
        sql = COPY_SQL.format(keys='AND m."key" = ANY(%(keys)s) ' if keys is not None else "")
        cursor.copy_expert(cursor.mogrify(sql, params).decode(), buffer)
    rows = _rows(buffer.getbuffer())
    if rows is None:
        return None
    if any(len(r[2]) % 8 or len(r[3]) != len(r[2]) or len(r[4]) != len(r[2]) or len(r[5]) * 8 != len(r[2])
           for r in rows):
        return None
    counts = np.array([len(row[2]) // 8 for row in rows], dtype=np.int64)
    run_index = {run_id: i for i, run_id in enumerate(run_ids)}
    series_runs = [bytes(row[0]).decode() for row in rows]
    series_keys = [bytes(row[1]).decode() for row in rows]
    key_names = sorted(set(series_keys))
    key_index = {key: i for i, key in enumerate(key_names)}

    def column(field: int, dtype: str) -> np.ndarray:
        return np.frombuffer(b"".join(row[field] for row in rows), dtype=dtype)

    values = np.where(column(5, "u1") != 0, np.nan, column(4, ">f8").astype(np.float64))
    return scanned_frame(
        np.repeat(np.array([run_index[r] for r in series_runs], dtype=np.int32), counts),
        np.repeat(np.array([key_index[k] for k in series_keys], dtype=np.int32), counts),
        column(2, ">i8").astype(np.int64), column(3, ">i8").astype(np.int64), values, run_ids, key_names,
    )


def _rows(data: memoryview) -> list[list[memoryview]] | None:
    """The fields of each row of a binary COPY stream; None unless every row has six non-NULL fields."""
    if len(data) < 21 or bytes(data[:11]) != _SIGNATURE:
        return None
    pos = 19 + _INT.unpack_from(data, 15)[0]  # past the flags and the header extension
    rows = []
    while pos + 2 <= len(data):
        (count,) = _SHORT.unpack_from(data, pos)
        pos += 2
        if count == -1:  # the trailer
            return rows if pos == len(data) else None
        if count != _FIELDS:
            return None
        fields = []
        for _ in range(_FIELDS):
            if pos + 4 > len(data):
                return None
            (length,) = _INT.unpack_from(data, pos)
            if length < 0 or pos + 4 + length > len(data):
                return None
            fields.append(data[pos + 4 : pos + 4 + length])
            pos += 4 + length
        rows.append(fields)
    return None
