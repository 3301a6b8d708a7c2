"""Reader of an MLflow tracking server over its REST API (open_store("http(s)://...")).

Experiments and runs through paged searches, histories through reportgen.rest.histories, artifacts
through artifacts/list (one level, walked here) and /get-artifact; every path the server sends is
checked like a local one before it is used.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import IO, Iterable, Sequence

import pandas as pd

from reportgen.errors import InvalidParameterValue, ResourceDoesNotExist
from reportgen.model import Experiment, FileInfo, LoggedModel, Run, ViewType
from reportgen.query import parse_filter
from reportgen.rest import entities, paging
from reportgen.rest.histories import API, HistoryReader, to_arrays
from reportgen.rest.http import HttpSession, NotFound, ServerError
from reportgen.stores import _logged_models_rest as models
from reportgen.stores._metrics_parse import history_frame
from reportgen.stores.artifacts import MAX_WALK_FILES, clean_relpath
from reportgen.stores.base import Store
from reportgen.uri import redact_uri

EXPERIMENTS_PAGE = 1000
RUNS_PAGE = 1000
RUNS_SEARCH_IDS = 100  # experiment ids per runs/search request
DEFAULT_WORKERS = 8
MAX_ARTIFACT_DEPTH = 64
_VIEW = {ViewType.ACTIVE_ONLY: "ACTIVE_ONLY", ViewType.DELETED_ONLY: "DELETED_ONLY", ViewType.ALL: "ALL"}


class RestStore(Store):
    """A tracking server as a read-only store.

    max_points: when set, metric_histories returns at most that many points per series, picked by the
    server (get-history-bulk-interval: N equal buckets in (step, timestamp, value) order, the first row
    of each and the last row kept; a shorter series comes back whole). A report built from samples
    differs from the exact one (docs/tracking-servers.md). history_mode "bulk" (default) reads
    complete histories 100 runs a request (see rest.histories); "paged" uses metrics/get-history for
    every series (one request or more each).
    """

    def __init__(
        self, uri: str, *, strict: bool = False, max_points: int | None = None, history_mode: str = "bulk",
        workers: int = DEFAULT_WORKERS, session: HttpSession | None = None,
    ) -> None:
        super().__init__(redact_uri(uri), strict=strict)
        if history_mode not in ("bulk", "paged"):
            raise InvalidParameterValue(f"history_mode must be 'bulk' or 'paged', not {history_mode!r}")
        self.session = session or HttpSession(uri)
        self.max_points = max_points
        self.workers = max(1, workers)
        self._histories = HistoryReader(
            self.session, workers=self.workers, on_problem=self.problem, bulk=history_mode == "bulk"
        )

    # -- experiments -------------------------------------------------------------------------------
    def search_experiments(self, view_type: ViewType | int = ViewType.ACTIVE_ONLY) -> list[Experiment]:
        view = ViewType.coerce(view_type)

        def fetch(token: str | None) -> dict:
            params = {"max_results": EXPERIMENTS_PAGE, "view_type": _VIEW[view]}
            if token:
                params["page_token"] = token
            return self.session.get_json(f"{API}/experiments/search", params)

        found = {}
        for item in paging.pages(fetch, "experiments", on_problem=self._listing_problem("experiments/search")):
            try:
                experiment = entities.experiment(item)
            except (KeyError, TypeError, ValueError) as exc:
                self.problem(f"{self.uri} experiments/search", f"unreadable experiment skipped ({exc})")
                continue
            found[experiment.experiment_id] = experiment
        return sorted(found.values(), key=lambda e: _id_order(e.experiment_id))

    def get_experiment(self, experiment_id: str) -> Experiment:
        data = self.session.get_json(f"{API}/experiments/get", {"experiment_id": str(experiment_id)})
        return entities.experiment(data["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            data = self.session.get_json(f"{API}/experiments/get-by-name", {"experiment_name": name})
        except NotFound:
            return None
        return entities.experiment(data["experiment"])

    # -- runs --------------------------------------------------------------------------------------
    def get_runs(
        self, experiment_ids: Sequence[str] | None = None, run_view_type: ViewType | int = ViewType.ACTIVE_ONLY
    ) -> list[Run]:
        return self._search_runs(experiment_ids, ViewType.coerce(run_view_type), None)

    def search_run_objects(
        self, experiment_ids: Sequence[str] | None = None, filter_string: str | None = None,
        order_by: Sequence[str] | None = None, run_view_type: ViewType | int = ViewType.ACTIVE_ONLY,
        max_results: int | None = None,
    ) -> list[Run]:
        """Like Store.search_run_objects; a filter in MLflow's own grammar is also sent to the server, so
        only the matching runs travel. Ours is still applied to what comes back (the one semantics of
        every store); OR, parentheses and our other extensions are evaluated here only."""
        from reportgen.frames import search

        parsed = parse_filter(filter_string)
        server_filter = parsed.to_mlflow() if parsed.root is not None and parsed.mlflow_compatible else None
        runs = self._search_runs(experiment_ids, ViewType.coerce(run_view_type), server_filter)
        return search(runs, filter_string=filter_string, order_by=order_by, max_results=max_results)

    def _search_runs(self, experiment_ids: Sequence[str] | None, view: ViewType, server_filter: str | None) -> list[Run]:
        if experiment_ids is None:
            ids = [e.experiment_id for e in self.search_experiments(ViewType.ACTIVE_ONLY)]
        else:
            ids = [self.get_experiment(str(e)).experiment_id for e in dict.fromkeys(experiment_ids)]
        runs: dict[str, Run] = {}
        for start in range(0, len(ids), RUNS_SEARCH_IDS):
            chunk = ids[start:start + RUNS_SEARCH_IDS]
            try:
                items = list(self._run_pages(chunk, view, server_filter))
            except ServerError as exc:
                if server_filter is None or exc.status != 400:
                    raise
                # The server refused a filter we took for its grammar (an older server, say): every run,
                # filtered here only. Same result, so no warning.
                server_filter = None
                items = list(self._run_pages(chunk, view, None))
            for item in items:
                run = self._run(item)
                if run is not None and view.admits(run.info.lifecycle_stage):
                    runs[run.run_id] = run
        return sorted(runs.values(), key=lambda r: r.run_id)

    def _run_pages(self, experiment_ids: list[str], view: ViewType, server_filter: str | None) -> Iterable[dict]:
        def fetch(token: str | None) -> dict:
            body = {"experiment_ids": experiment_ids, "run_view_type": _VIEW[view], "max_results": RUNS_PAGE}
            if server_filter:
                body["filter"] = server_filter
            if token:
                body["page_token"] = token
            return self.session.post_json(f"{API}/runs/search", body)

        return paging.pages(fetch, "runs", on_problem=self._listing_problem("runs/search"))

    def _run(self, item: dict) -> Run | None:
        try:
            return entities.run(item)
        except (KeyError, TypeError, ValueError) as exc:
            run_id = (item.get("info") or {}).get("run_id", "?") if isinstance(item, dict) else "?"
            self.problem(f"{self.uri} run {run_id}", f"unreadable run skipped ({exc})")
            return None

    def get_run(self, run_id: str) -> Run:
        try:
            data = self.session.get_json(f"{API}/runs/get", {"run_id": run_id})
        except NotFound:
            raise ResourceDoesNotExist(f"Run '{run_id}' not found") from None
        run = self._run(data.get("run") or {})
        if run is None:
            raise ResourceDoesNotExist(f"Run '{run_id}' cannot be read from {self.uri}")
        return run

    # -- metric histories ----------------------------------------------------------------------
    def metric_histories(
        self, run_ids: Iterable[str] | None = None, keys: Iterable[str] | None = None,
        *, max_points: int | None = None,
    ) -> pd.DataFrame:
        """See Store.metric_histories; max_points (or the store's) samples each series."""
        if run_ids is None:
            runs = self.get_runs()
        else:
            ids = sorted(dict.fromkeys(run_ids))
            runs = self._map(self.get_run, ids)
        return self._history_frame(runs, keys, max_points or self.max_points)

    def read_all(
        self, experiment_ids: Sequence[str] | None = None, run_view_type: ViewType | int = ViewType.ACTIVE_ONLY,
        filter_string: str | None = None, order_by: Sequence[str] | None = None,
    ) -> tuple[list[Run], pd.DataFrame]:
        # The searched runs already name their metric keys: no second runs/get per run.
        runs = self.search_run_objects(experiment_ids, filter_string, order_by, run_view_type)
        return runs, self._history_frame(runs, None, self.max_points)

    def _history_frame(self, runs: Sequence[Run], keys: Iterable[str] | None, max_points: int | None) -> pd.DataFrame:
        key_filter = None if keys is None else set(keys)
        wanted = {
            run.run_id: [k for k in run.data.metrics if key_filter is None or k in key_filter] for run in runs
        }
        series = self._histories.read(wanted, max_points)
        return history_frame(*to_arrays(series, wanted))

    def _map(self, fn, items: Sequence) -> list:
        if len(items) <= 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(items))) as pool:
            return list(pool.map(fn, items))

    # -- artifacts -----------------------------------------------------------------------------
    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """One level under `path`; entries whose path is unsafe or outside `path` are skipped (a problem)."""
        base = clean_relpath(path)

        def fetch(token: str | None) -> dict:
            params = {"run_id": run_id}
            if base:
                params["path"] = base
            if token:
                params["page_token"] = token
            return self.session.get_json(f"{API}/artifacts/list", params)

        where = f"run {run_id} artifacts"
        infos: dict[str, FileInfo] = {}
        for item in paging.pages(fetch, "files", on_problem=lambda m: self.problem(where, m)):
            info = self._artifact_entry(item, base, where)
            if info is not None:
                infos[info.path] = info
        return sorted(infos.values(), key=lambda f: f.path)

    def _artifact_entry(self, item: object, base: str, where: str) -> FileInfo | None:
        raw = item.get("path") if isinstance(item, dict) else None
        if not isinstance(raw, str):
            self.problem(where, f"artifact entry without a path skipped: {str(item)[:80]}")
            return None
        try:
            rel = clean_relpath(raw)
        except InvalidParameterValue as exc:
            self.problem(where, f"unsafe artifact path from the server skipped: {exc.message}")
            return None
        parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
        if not rel or parent != base:
            self.problem(where, f"artifact path {raw!r} is not inside {base or 'the root'}; skipped")
            return None
        is_dir = bool(item.get("is_dir"))
        size = item.get("file_size")
        return FileInfo(rel, is_dir, None if is_dir or size is None else int(size))

    def open_artifact(self, run_id: str, path: str) -> IO[bytes]:
        rel = clean_relpath(path)
        if not rel:
            raise InvalidParameterValue("An artifact path is required")
        try:
            # Streamed: a caller reading up to its size cap stops the transfer there.
            return self.session.open("/get-artifact", {"run_uuid": run_id, "path": rel})
        except NotFound:
            raise ResourceDoesNotExist(f"No artifact {rel!r} in run {run_id}") from None

    def walk_artifacts(self, run_id: str, *, max_files: int = MAX_WALK_FILES) -> list[FileInfo]:
        """Every file of the run's artifact tree, through one artifacts/list call per folder."""
        files: list[FileInfo] = []
        stack = [""]
        while stack:
            folder = stack.pop()
            if folder.count("/") >= MAX_ARTIFACT_DEPTH:
                self.problem(f"run {run_id} artifacts", f"folder {folder!r} is too deep; not listed")
                continue
            try:
                entries = self.list_artifacts(run_id, folder or None)
            except NotFound:
                continue
            for info in entries:
                if info.is_dir:
                    stack.append(info.path)
                elif len(files) >= max_files:
                    self.problem(f"run {run_id} artifacts", f"more than {max_files} artifact files; the rest are left out")
                    return sorted(files, key=lambda f: f.path)
                else:
                    files.append(info)
        return sorted(files, key=lambda f: f.path)

    # -- logged models (MLflow 3), through the logged-models endpoints --------------------------
    def logged_models(self, experiment_ids: Sequence[str]) -> list[LoggedModel]:
        return models.rest_models(self, experiment_ids)

    def walk_model_artifacts(self, model: LoggedModel, *, max_files: int = MAX_WALK_FILES) -> list[FileInfo]:
        return models.rest_walk(self, model, self.problem, max_files)

    def open_model_artifact(self, model: LoggedModel, path: str) -> IO[bytes]:
        return models.rest_open(self, model, path)

    # -- plumbing ------------------------------------------------------------------------------
    def _listing_problem(self, what: str):
        return lambda message: self.problem(f"{self.uri} {what}", message)

    def close(self) -> None:
        self.session.close()


def _id_order(experiment_id: str) -> tuple[int, int | str]:
    return (0, int(experiment_id)) if experiment_id.isdigit() else (1, experiment_id)
