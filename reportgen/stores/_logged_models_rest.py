"""A tracking server's logged models: logged-models/search, and a model's files through its
artifacts/directories listing and the ajax-api files endpoint; every path the server sends is checked like a
local one before it is used.
"""
from __future__ import annotations

from typing import IO, Any, Mapping, Sequence

from reportgen.errors import InvalidParameterValue, ResourceDoesNotExist
from reportgen.model import FileInfo, LifecycleStage, LoggedModel, ModelMetric
from reportgen.rest import entities, paging
from reportgen.rest.http import NotFound, ServerError
from reportgen.stores._logged_models_read import Problem, model_from_fields
from reportgen.stores.artifacts import clean_relpath

API = "/api/2.0/mlflow"
SEARCH_PAGE = 100  # MLflow's default page of search_logged_models (its stores page any size)
MAX_LISTED_FOLDERS = 2000
MAX_DEPTH = 64


def rest_models(store: Any, experiment_ids: Sequence[str]) -> list[LoggedModel]:
    """The models of those experiments through logged-models/search; [] from a server without it (MLflow 2)."""
    ids = list(dict.fromkeys(map(str, experiment_ids)))
    if not ids:
        return []

    def fetch(token: str | None) -> dict:
        body: dict[str, Any] = {"experiment_ids": ids, "max_results": SEARCH_PAGE}
        if token:
            body["page_token"] = token
        return store.session.post_json(f"{API}/logged-models/search", body)

    where = f"{store.uri} logged-models/search"
    models: dict[str, LoggedModel] = {}
    try:
        for item in paging.pages(fetch, "models", on_problem=lambda m: store.problem(where, m)):
            try:
                model = _rest_model(item)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                shown = (item.get("info") or {}).get("model_id", "?") if isinstance(item, dict) else "?"
                store.problem(f"{store.uri} logged model {str(shown)[:80]}",
                              f"unreadable logged model ({str(exc)[:200]}); model skipped")
                continue
            if model.lifecycle_stage == LifecycleStage.ACTIVE:
                models[model.model_id] = model
    except NotFound:
        return []
    except ServerError as exc:
        if exc.status not in (400, 501):
            raise
        store.problem(where, f"the server cannot list logged models ({exc.message}); models left out")
    return sorted(models.values(), key=lambda m: m.model_id)


def _rest_model(item: Mapping[str, Any]) -> LoggedModel:
    info, data = item["info"], item.get("data") or {}
    fields = {**info, "artifact_location": info.get("artifact_uri"),
              "creation_timestamp": info.get("creation_timestamp_ms"),
              "last_updated_timestamp": info.get("last_updated_timestamp_ms")}
    metrics = [ModelMetric(key=str(m["key"]), value=entities.to_float(m.get("value", 0.0)),
                           timestamp=int(m.get("timestamp") or 0), step=int(m.get("step") or 0),
                           run_id=m.get("run_id"), dataset_name=m.get("dataset_name"),
                           dataset_digest=m.get("dataset_digest"))
               for m in data.get("metrics") or ()]
    return model_from_fields(fields, params=entities._pairs(data.get("params")),
                             tags=entities._pairs(info.get("tags")), metrics=metrics)


def rest_walk(store: Any, model: LoggedModel, problem: Problem, max_files: int) -> list[FileInfo]:
    """Every file of a model on a server, one artifacts/directories call per folder; paths checked."""
    where = f"logged model {model.model_id} artifacts"
    files: list[FileInfo] = []
    stack, listed = [""], 0
    while stack and listed < MAX_LISTED_FOLDERS:
        folder = stack.pop()
        listed += 1
        if folder.count("/") >= MAX_DEPTH:
            problem(where, f"folder {folder!r} is too deep; not listed")
            continue
        params = {"artifact_directory_path": folder} if folder else {}
        try:
            page = store.session.get_json(f"{API}/logged-models/{model.model_id}/artifacts/directories", params)
        except NotFound:
            continue
        for entry in page.get("files") or ():
            raw = entry.get("path") if isinstance(entry, dict) else None
            try:
                rel = clean_relpath(raw if isinstance(raw, str) else None)
            except InvalidParameterValue as exc:
                problem(where, f"unsafe artifact path from the server skipped: {exc.message}")
                continue
            if not rel or (rel.rsplit("/", 1)[0] if "/" in rel else "") != folder:
                problem(where, f"artifact path {str(raw)[:200]!r} is not inside {folder or 'the root'}; skipped")
                continue
            if entry.get("is_dir"):
                stack.append(rel)
            elif len(files) >= max_files:
                problem(where, f"more than {max_files} files; the rest are left out")
                return sorted(files, key=lambda f: f.path)
            else:
                size = entry.get("file_size")
                files.append(FileInfo(rel, False, None if size is None else int(size)))
    return sorted(files, key=lambda f: f.path)


def rest_open(store: Any, model: LoggedModel, path: str) -> IO[bytes]:
    rel = clean_relpath(path)
    if not rel:
        raise InvalidParameterValue("An artifact path is required")
    try:  # MLflow serves a model's file under ajax-api only (its UI's route)
        return store.session.open(f"/ajax-api/2.0/mlflow/logged-models/{model.model_id}/artifacts/files",
                                  {"artifact_file_path": rel})
    except NotFound:
        raise ResourceDoesNotExist(f"No file {rel!r} in logged model {model.model_id}") from None
