"""Metric histories from a tracking server: complete or sampled, in few requests, on a few threads.

Complete histories come from `get-history-bulk` (the endpoint MLflow's UI uses, under /ajax-api):
one key for up to 100 runs, exact (no sampling), sorted by run, at most 25000 points a response. A
response that reaches that cap may be cut: the runs before its last one are complete, the rest are
asked again; a single series past the cap is read through `get-history` paging. Sampled histories
(max_points) come from `get-history-bulk-interval` (evenly spaced, first and last kept). A server
without these endpoints (404) is read through `get-history` paging, which is also history_mode "paged".
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Sequence

import numpy as np

from reportgen.rest import paging
from reportgen.rest.entities import to_float
from reportgen.rest.http import HttpSession, NotFound, ServerError

API = "/api/2.0/mlflow"
AJAX_API = "/ajax-api/2.0/mlflow"
BULK_MAX_RUNS = 100  # MLflow's MAX_RUNS_GET_METRIC_HISTORY_BULK (both bulk endpoints)
BULK_HISTORY_CAP = 25_000  # get-history-bulk's MAX_HISTORY_RESULTS: points per response
BULK_MAX_RESULTS = 2500  # get-history-bulk-interval's MAX_RESULTS_PER_RUN
HISTORY_PAGE = 25_000  # points per get-history page
# Every step MLflow accepts (int64), sent as start_step/end_step with every sampled request: the same
# rows as no range, but SQLite then reads the series through the (run_uuid, key, step) index; without
# a step bound its planner prefers the primary key's covering index and scans every point of that key
# in the whole store for each series (on bench store A its two queries take ~20 ms each instead of
# ~5 ms together).
ALL_STEPS = {"start_step": -(2**63), "end_step": 2**63 - 1}

Points = tuple[list[int], list[int], list[float]]  # steps, timestamps, values
Series = dict[tuple[str, str], Points]


def evenly_spaced(total: int, count: int) -> list[int]:
    """`count` indices spread over range(total), first and last kept (MLflow's sampling rule)."""
    if total <= count:
        return list(range(total))
    if count == 1:
        return [total - 1]
    return sorted({round(i * (total - 1) / (count - 1)) for i in range(count)})


def _endpoint_missing(exc: NotFound) -> bool:
    # MLflow says RESOURCE_DOES_NOT_EXIST for an unknown run; an unknown route is a bare 404.
    return exc.server_code in (None, "ENDPOINT_NOT_FOUND")


class HistoryReader:
    """Reads series (run_id, key) from one server; `on_problem(where, message)` records skipped ones."""

    def __init__(
        self, session: HttpSession, *, workers: int, on_problem: Callable[[str, str], None], bulk: bool = True
    ) -> None:
        self.session = session
        self.workers = workers
        self.on_problem = on_problem
        # Each turns False once the server turns out to lack that endpoint.
        self.exact_bulk = bulk
        self.sampled_bulk = bulk
        self.step_range = True  # False once the server refuses ALL_STEPS (then sampled without it)

    def read(self, wanted: dict[str, list[str]], max_points: int | None) -> Series:
        """Points of every run's listed keys: all of them, or about max_points evenly spaced."""
        by_key: dict[str, list[str]] = {}
        for run_id, keys in wanted.items():
            for key in keys:
                by_key.setdefault(key, []).append(run_id)
        jobs = [(key, sorted(runs)[i:i + BULK_MAX_RUNS]) for key, runs in by_key.items()
                for i in range(0, len(runs), BULK_MAX_RUNS)]
        result: Series = {}
        if max_points is None and self.exact_bulk:
            for found in self._map(lambda job: self._exact(*job), jobs):
                result.update(found)
        elif max_points is not None and self.sampled_bulk:
            limit = min(max_points, BULK_MAX_RESULTS)
            for found in self._map(lambda job: self._sampled(job[0], job[1], limit), jobs):
                result.update(found)
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

    def _get(self, path: str, params: dict, *, invalid_raises: bool = False) -> list | None:
        """The `metrics` of one bulk call; None when the call failed (its series are then read one by one).
        With invalid_raises, a 400 (parameters refused) raises ServerError instead."""
        try:
            return self.session.get_json(path, params).get("metrics") or []
        except NotFound as exc:
            if _endpoint_missing(exc):
                if path.endswith("bulk-interval"):
                    self.sampled_bulk = False
                else:
                    self.exact_bulk = False
            return None
        except ServerError as exc:
            if invalid_raises and exc.status == 400:
                raise
            return None

    def _exact(self, key: str, run_ids: list[str]) -> Series:
        found: Series = {}
        remaining = list(run_ids)
        while remaining and self.exact_bulk:
            params = {"run_id": remaining, "metric_key": key, "max_results": BULK_HISTORY_CAP}
            items = self._get(f"{AJAX_API}/metrics/get-history-bulk", params)
            if items is None:
                break
            points = self._group(key, items, remaining)
            if len(items) < BULK_HISTORY_CAP:
                found.update({(r, key): points.get(r, ([], [], [])) for r in remaining})
                break
            # Cut at the cap: every run before the last one in the answer is complete.
            order = list(points)
            found.update({(r, key): points[r] for r in order[:-1]})
            done = set(order[:-1]) if len(order) > 1 else set(order)  # a lone series past the cap: paged
            remaining = [r for r in remaining if r not in done]
        return found

    def _sampled(self, key: str, run_ids: list[str], limit: int) -> Series:
        path = f"{API}/metrics/get-history-bulk-interval"
        params = {"run_ids": run_ids, "metric_key": key, "max_results": limit}
        ranged = self.step_range
        if ranged:
            try:
                items = self._get(path, {**params, **ALL_STEPS}, invalid_raises=True)
            except ServerError:  # 400: this server does not take 64-bit step bounds; same rows without
                self.step_range = ranged = False
        if not ranged:
            items = self._get(path, params)
        if items is None:
            return {}
        points = self._group(key, items, run_ids)
        return {(r, key): points.get(r, ([], [], [])) for r in run_ids}

    def _group(self, key: str, items: list, run_ids: list[str]) -> dict[str, Points]:
        """Points by run, in the order the runs first appear; runs not asked for are ignored."""
        asked = set(run_ids)
        grouped: dict[str, Points] = {}
        for item in items:
            try:
                run_id = str(item["run_id"])
                point = (int(item.get("step") or 0), int(item.get("timestamp") or 0), to_float(item.get("value", 0)))
            except (KeyError, TypeError, ValueError, AttributeError):
                self.on_problem(f"metric {key}", f"unreadable point from the server: {str(item)[:80]}")
                continue
            if run_id not in asked:
                continue  # never trust the server to stay within the request
            points = grouped.setdefault(run_id, ([], [], []))
            points[0].append(point[0])
            points[1].append(point[1])
            points[2].append(point[2])
        return grouped

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
