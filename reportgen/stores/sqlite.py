"""Read-only reader of an MLflow SQLite database (mlflow.db) with the standard library's sqlite3.

Opened as `file:PATH?mode=ro` with a busy timeout, never `immutable=1`: a sweep may still be writing.
No transaction spans a whole call (holding the read lock for seconds would make a writer time out),
so rows written during a call may or may not be seen; what is read is never half a row.
"""
from __future__ import annotations

import itertools
import os
import sqlite3
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import quote

import numpy as np
import pandas as pd

from reportgen.errors import StoreError
from reportgen.stores._metrics_parse import history_frame
from reportgen.stores._logged_models_read import SqlLoggedModels
from reportgen.stores._sqlbase import SqlSchemaStore
from reportgen.stores._sqlscan import scanned_frame, stable_order

BUSY_TIMEOUT_S = 10.0
# Below this many runs, per-run queries through the (run_uuid, key, step) index beat one table scan.
SCAN_MIN_RUNS = 50


def sqlite_path(uri: str) -> Path:
    """The file of sqlite:///relative.db or sqlite:////absolute.db (SQLAlchemy's URL form)."""
    rest = uri.split(":", 1)[1]
    if not rest.startswith("//"):
        raise StoreError(f"Not a SQLite URI: {uri} (expected sqlite:///path/to/mlflow.db)")
    path = rest[2:]
    if path.startswith("/"):
        path = path[1:]  # sqlite:///x.db -> x.db (relative); sqlite:////abs -> /abs
    path = path.split("?", 1)[0]
    if not path or path == ":memory:":
        raise StoreError(f"{uri}: an in-memory database has no runs to read")
    return Path(path)


class SqliteStore(SqlLoggedModels, SqlSchemaStore):
    """An MLflow SQLite database. Artifacts are read only from folders inside the database's folder
    (where `mlflow server` puts ./mlartifacts) or from `artifact_roots`."""

    def __init__(
        self, path: str | os.PathLike[str], *, uri: str | None = None, strict: bool = False,
        artifact_roots: Sequence[str | os.PathLike[str]] = (),
    ) -> None:
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"No SQLite database at {path}")
        super().__init__(uri or f"sqlite:///{path}", strict=strict, artifact_base=path.resolve().parent,
                         artifact_roots=artifact_roots)
        self.path = path
        target = f"file:{quote(str(path.resolve()))}?mode=ro"
        try:
            self._conn = sqlite3.connect(target, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False,
                                         isolation_level=None)
            self._check_schema()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: cannot read as an SQLite database ({exc})") from None

    def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        try:
            return self._conn.execute(sql, params or {}).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreError(f"{self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: database is damaged or not an MLflow store ({exc})") from None

    def _table_columns(self, table: str) -> set[str]:
        return {row[1] for row in self._rows(f"PRAGMA table_info({table})")}

    def close(self) -> None:
        self._conn.close()

    def _history_frame(self, ids: list[str], key_list: list[str] | None) -> pd.DataFrame:
        """Many runs' points in one sequential scan of `metrics`.

        Python's sqlite3 spends most of its time building one object per cell (strings cost the
        most), so each row travels as two or three floats that hold it exactly: one packing bit fields
        (run, key, step, the timestamp when all fit in 53 bits, is_nan), then the value. The groups come
        from latest_metrics and the step and timestamp ranges from index lookups; a row outside them
        (or an old schema) sends the call down the exact per-run path.
        """
        if len(ids) < SCAN_MIN_RUNS or not self._has("latest_metrics", "key"):
            return super()._history_frame(ids, key_list)
        groups = self._per_run('SELECT run_uuid, "key", step FROM latest_metrics WHERE run_uuid IN ({ids})', ids)
        if key_list is not None:
            wanted_keys = set(key_list)
            groups = [g for g in groups if g[1] in wanted_keys]
        if not groups:
            return super()._history_frame([], key_list)
        keys = sorted({g[1] for g in groups})
        s_max = max(int(g[2]) for g in groups)  # latest is the max step of its series
        t_min, t_max = self._timestamp_range(keys)
        r_bits, k_bits = (len(ids) - 1).bit_length(), (len(keys) - 1).bit_length()
        s_bits, t_bits = max(s_max, 0).bit_length(), (t_max - t_min).bit_length()
        if r_bits + k_bits + s_bits + 1 > 53 or max(t_max, -t_min) >= 2**53:
            return super()._history_frame(ids, key_list)  # cannot travel exactly as float64
        pack_time = r_bits + k_bits + s_bits + t_bits + 1 <= 53
        if not pack_time:
            t_bits = 0
        run_code, key_code = {r: i for i, r in enumerate(ids)}, {k: i for i, k in enumerate(keys)}
        self._fill_groups([(r, k, run_code[r] << k_bits | key_code[k]) for r, k, _ in groups])
        time_field = " | (m.timestamp - :tmin)" if pack_time else ""
        head = f"(((g.code << :sbits | m.step) << :tbits{time_field}) << 1 | m.is_nan)"
        # REAL: a float cell crosses into Python faster than a large integer one (exact below 2**53).
        columns = ("CASE WHEN m.step BETWEEN 0 AND :smax AND m.timestamp BETWEEN :tmin AND :tmax "
                   f"AND m.is_nan IN (0, 1) THEN CAST({head} AS REAL) ELSE -1 END")
        columns += ", m.value" if pack_time else ", m.timestamp, m.value"
        sql = (f"SELECT {columns} FROM metrics m CROSS JOIN temp.rg_groups g "
               'ON g.run_uuid = m.run_uuid AND g."key" = m."key"')
        params = {"smax": s_max, "tmin": t_min, "tmax": t_max, "sbits": s_bits, "tbits": t_bits}
        width = 2 if pack_time else 3
        try:
            cells = np.fromiter(itertools.chain.from_iterable(self._conn.execute(sql, params)), dtype=np.float64)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: {exc}") from None
        finally:
            self._conn.execute("DELETE FROM temp.rg_groups")
        table = cells.reshape(-1, width)
        if (table[:, 0] < 0).any():  # a step or timestamp outside the ranges: take the exact path
            return super()._history_frame(ids, key_list)
        head, values = table[:, 0].astype(np.int64), table[:, width - 1]
        if pack_time:  # head without is_nan orders rows as the frame does: sort before unpacking
            order = stable_order(head >> 1)
            if order is not None:
                head, values = head[order], values[order]
            stamps = ((head >> 1) & ((1 << t_bits) - 1)) + t_min
        else:
            stamps = table[:, 1].astype(np.int64)
        values = np.where(head & 1, np.nan, values)
        rest = head >> (1 + t_bits)
        step, rest = rest & ((1 << s_bits) - 1), rest >> s_bits
        run_codes, key_codes = rest >> k_bits, rest & ((1 << k_bits) - 1)
        if pack_time:
            return history_frame(run_codes, key_codes, ids, keys, step, stamps, values, presorted=True)
        return scanned_frame(run_codes, key_codes, step, stamps, values, ids, keys)

    def _timestamp_range(self, keys: list[str]) -> tuple[int, int]:
        """Smallest and largest timestamp of those keys, two index lookups per key (metric_pk)."""
        lows, highs = [], []
        for key in keys:
            lows.append(self._rows('SELECT min(timestamp) FROM metrics WHERE "key" = :k', {"k": key})[0][0])
            highs.append(self._rows('SELECT max(timestamp) FROM metrics WHERE "key" = :k', {"k": key})[0][0])
        found = [int(v) for v in lows + highs if v is not None]
        return (min(found), max(found)) if found else (0, 0)

    def _fill_groups(self, groups: list[tuple[str, str, int]]) -> None:
        # A temp table lives in the connection's own temp database: allowed on a read-only connection.
        self._conn.execute("CREATE TEMP TABLE IF NOT EXISTS rg_groups "
                           '(run_uuid TEXT, "key" TEXT, code INTEGER, PRIMARY KEY (run_uuid, "key")) WITHOUT ROWID')
        self._conn.execute("DELETE FROM temp.rg_groups")
        self._conn.executemany("INSERT INTO temp.rg_groups VALUES (?, ?, ?)", groups)
