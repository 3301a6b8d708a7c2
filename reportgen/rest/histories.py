"""Metric histories from a tracking server: sampled or complete, in few requests, on a few threads.

`get-history-bulk-interval` answers one key for up to 100 runs at once. MLflow's SQL stores return
every point of a series that has fewer than `max_results` points (NTILE gives one bucket per row),
so with max_results=2500 it is also the fast way to read complete histories; a series that comes
back with the full 2500 points may have been sampled and is read again through `get-history`
paging. A server without the bulk endpoint (404) is read with `get-history` only.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Sequence

import numpy as np

from reportgen.rest import paging
from reportgen.rest.entities import to_float
from reportgen.rest.http import HttpSession, NotFound, ServerError

API = "/api/2.0/mlflow"
BULK_MAX_RUNS = 100  # MLflow's MAX_RUNS_GET_METRIC_HISTORY_BULK
BULK_MAX_RESULTS = 2500  # MLflow's MAX_RESULTS_PER_RUN
HISTORY_PAGE = 25_000  # points per get-history page

Points = tuple[list[int], list[int], list[float]]  # steps, timestamps, values
Series = dict[tuple[str, str], Points]


def evenly_spaced(total: int, count: int) -> list[int]:
    """`count` indices spread over range(total), first and last kept (MLflow's sampling rule)."""
    if total <= count:
        return list(range(total))
    if count == 1:
        return [total - 1]
    return sorted({round(i * (total - 1) / (count - 1)) for i in range(count)})


class HistoryReader:
    """Reads series (run_id, key) from one server; `on_problem(where, message)` records skipped ones."""

    def __init__(
        self, session: HttpSession, *, workers: int, on_problem: Callable[[str, str], None], bulk: bool = True
    ) -> None:
        self.session = session
        self.workers = workers
        self.on_problem = on_problem
        self.bulk = bulk  # set to False once the server turns out to lack the bulk endpoint

    def read(self, wanted: dict[str, list[str]], max_points: int | None) -> Series:
        """Points of every run's listed keys: all of them, or about max_points evenly spaced."""
        by_key: dict[str, list[str]] = {}
        for run_id, keys in wanted.items():
            for key in keys:
                by_key.setdefault(key, []).append(run_id)
        result: Series = {}
        if self.bulk:
            limit = min(max_points or BULK_MAX_RESULTS, BULK_MAX_RESULTS)
            jobs = [(key, runs[i:i + BULK_MAX_RUNS]) for key, runs in by_key.items()
                    for i in range(0, len(runs), BULK_MAX_RUNS)]
            for found in self._map(lambda job: self._bulk(job[0], job[1], limit), jobs):
                if found is None:
                    continue
                result.update(found)
            if not self.bulk:  # the endpoint is missing: read everything the paged way
                result.clear()
            # Series that may have been cut by the sample size: read again in full, when full is wanted.
            if max_points is None or max_points > BULK_MAX_RESULTS:
                again = [s for s, pts in result.items() if len(pts[0]) >= limit]
                for series, points in zip(again, self._map(self._full, again)):
                    result[series] = points
        missing = [(r, k) for k, runs in by_key.items() for r in runs if (r, k) not in result]
        for series, points in zip(missing, self._map(self._full, missing)):
            result[series] = points
        if max_points is not None:
            for series, (steps, stamps, values) in result.items():
                if len(steps) > max_points:
                    keep = evenly_spaced(len(steps), max_points)
                    result[series] = ([steps[i] for i in keep], [stamps[i] for i in keep], [values[i] for i in keep])
        return result

    def _map(self, fn: Callable, items: Sequence) -> list:
        if len(items) <= 1 or self.workers <= 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(items))) as pool:
            return list(pool.map(fn, items))

    def _bulk(self, key: str, run_ids: list[str], limit: int) -> Series | None:
        if not self.bulk:
            return None
        params = {"run_ids": run_ids, "metric_key": key, "max_results": limit}
        try:
            page = self.session.get_json(f"{API}/metrics/get-history-bulk-interval", params)
        except NotFound as exc:
            if exc.server_code == "RESOURCE_DOES_NOT_EXIST":
                return None  # a run vanished meanwhile: its series are read one by one (and reported)
            self.bulk = False  # ENDPOINT_NOT_FOUND or a bare 404: an older server
            return None
        except ServerError:
            return None  # e.g. a run the bulk call refuses: its series are read one by one
        found: Series = {}
        for item in page.get("metrics") or ():
            try:
                run_id = str(item["run_id"])
                step, stamp, value = int(item.get("step") or 0), int(item.get("timestamp") or 0), to_float(item.get("value", 0))
            except (KeyError, TypeError, ValueError):
                self.on_problem(f"metric {key}", f"unreadable point from the server: {str(item)[:80]}")
                continue
            if run_id not in run_ids:
                continue  # not asked for: never trust the server to stay within the request
            points = found.setdefault((run_id, key), ([], [], []))
            points[0].append(step)
            points[1].append(stamp)
            points[2].append(value)
        return found

    def _full(self, series: tuple[str, str]) -> Points:
        run_id, key = series
        steps: list[int] = []
        stamps: list[int] = []
        values: list[float] = []

        def fetch(token: str | None) -> dict:
            params = {"run_id": run_id, "metric_key": key, "max_results": HISTORY_PAGE}
            if token:
                params["page_token"] = token
            return self.session.get_json(f"{API}/metrics/get-history", params)

        where = f"run {run_id} metric {key}"
        try:
            for item in paging.pages(fetch, "metrics", on_problem=lambda m: self.on_problem(where, m)):
                try:
                    point = (int(item.get("step") or 0), int(item.get("timestamp") or 0), to_float(item.get("value", 0)))
                except (TypeError, ValueError):
                    self.on_problem(where, f"unreadable point from the server: {str(item)[:80]}")
                    continue
                steps.append(point[0])
                stamps.append(point[1])
                values.append(point[2])
        except NotFound as exc:
            self.on_problem(where, f"history unavailable: {exc.message}")
        return steps, stamps, values


def to_arrays(series: Series, run_ids: Iterable[str]) -> tuple[np.ndarray, ...]:
    """(run_codes, key_codes, run_names, key_names, steps, stamps, values) for history_frame."""
    run_names = sorted(set(run_ids))
    key_names = sorted({key for _, key in series})
    run_index = {r: i for i, r in enumerate(run_names)}
    key_index = {k: i for i, k in enumerate(key_names)}
    parts = [(run_index[r], key_index[k], pts) for (r, k), pts in series.items() if r in run_index and pts[0]]
    sizes = [len(pts[0]) for _, _, pts in parts]
    run_codes = np.repeat(np.array([p[0] for p in parts], dtype=np.int64), sizes)
    key_codes = np.repeat(np.array([p[1] for p in parts], dtype=np.int64), sizes)
    steps = np.fromiter((s for *_, pts in parts for s in pts[0]), dtype=np.int64, count=sum(sizes))
    stamps = np.fromiter((t for *_, pts in parts for t in pts[1]), dtype=np.int64, count=sum(sizes))
    values = np.fromiter((v for *_, pts in parts for v in pts[2]), dtype=np.float64, count=sum(sizes))
    return run_codes, key_codes, run_names, key_names, steps, stamps, values
