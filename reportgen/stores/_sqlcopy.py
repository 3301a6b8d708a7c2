"""Many runs' metric points from PostgreSQL in one binary `COPY ... TO STDOUT` (psycopg2), unpacked by
numpy: every column is fixed-width, so each row is one record of a big-endian structured dtype."""
from __future__ import annotations

import io
from typing import Any, Sequence

import numpy as np
import pandas as pd

from reportgen.stores._sqlscan import scanned_frame

# Runs and keys travel as arrays and come back as their 1-based positions (WITH ORDINALITY), so no
# string crosses back; the casts pin each column's width whatever the schema version declared.
COPY_SQL = (
    "COPY (SELECT (r.code - 1)::int4, (k.code - 1)::int4, m.step::int8, m.timestamp::int8, m.value::float8, "
    "m.is_nan::bool FROM metrics m "
    "JOIN unnest(%(runs)s::text[]) WITH ORDINALITY AS r(run_uuid, code) ON r.run_uuid = m.run_uuid "
    'JOIN unnest(%(keys)s::text[]) WITH ORDINALITY AS k("key", code) ON k."key" = m."key"'
    ") TO STDOUT (FORMAT binary)"
)
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
# One row: the field count, then each field's length and bytes (lengths say -1 for NULL).
_ROW = np.dtype([
    ("fields", ">i2"), ("run_len", ">i4"), ("run", ">i4"), ("key_len", ">i4"), ("key", ">i4"),
    ("step_len", ">i4"), ("step", ">i8"), ("ts_len", ">i4"), ("ts", ">i8"), ("value_len", ">i4"),
    ("value", ">f8"), ("nan_len", ">i4"), ("is_nan", "u1"),
])
_LENGTHS = {"fields": 6, "run_len": 4, "key_len": 4, "step_len": 8, "ts_len": 8, "value_len": 8, "nan_len": 1}


def copy_histories(dbapi_connection: Any, run_ids: Sequence[str], keys: Sequence[str]) -> pd.DataFrame | None:
    """The history frame of those runs and keys (both sorted), or None when the COPY's rows are not
    the fixed layout expected (the caller then reads the exact way)."""
    buffer = io.BytesIO()
    with dbapi_connection.cursor() as cursor:
        query = cursor.mogrify(COPY_SQL, {"runs": list(run_ids), "keys": list(keys)}).decode()
        cursor.copy_expert(query, buffer)
    rows = _rows(buffer.getbuffer())
    if rows is None:
        return None
    values = np.where(rows["is_nan"] != 0, np.nan, rows["value"].astype(np.float64))
    return scanned_frame(rows["run"].astype(np.int32), rows["key"].astype(np.int32), rows["step"].astype(np.int64),
                         rows["ts"].astype(np.int64), values, run_ids, keys)


def _rows(data: memoryview) -> np.ndarray | None:
    if bytes(data[:11]) != _SIGNATURE or len(data) < 21:
        return None
    extension = int.from_bytes(data[15:19], "big")
    body = data[19 + extension : len(data) - 2]  # the trailer is a field count of -1
    if bytes(data[-2:]) != b"\xff\xff" or len(body) % _ROW.itemsize:
        return None
    rows = np.frombuffer(body, dtype=_ROW)
    if any((rows[name] != width).any() for name, width in _LENGTHS.items()):
        return None
    return rows
