"""The gather's share of MLflow 3's logged models: each experiment's models read from its store, redacted
like runs, their MLmodel summarised, and their files listed and planned under the same size limits as
the runs' artifacts (after them, so a store's run copies do not depend on its models).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from reportgen import mlruns
from reportgen.errors import ReportgenError, ResourceDoesNotExist
from reportgen.model import LoggedModel, Problem
from reportgen.redaction import Redactor
from reportgen.selection import url_key
from reportgen.site import fmt
from reportgen.site.artifacts.plan import Budget, PlannedFile, plan_run
from reportgen.site.artifacts.preview import preview_for, preview_kind
from reportgen.site.schemas import schema_columns
from reportgen.stores._logged_models_read import files_signature
from reportgen.stores._meta import parse_meta
from reportgen.stores.artifacts import clean_relpath

MLMODEL = "MLmodel"
MLMODEL_MAX_BYTES = 1 << 20
EXAMPLE_BYTES = 16 * 1024  # of the input example shown on the run page
MAX_FLAVOR_FIELDS = 24
MAX_FIELD_CHARS = 300


@dataclass(frozen=True)
class ModelEntry:
    """One logged model as the site shows it: the model (redacted), its folder name under
    e/<experiment>/models/, its MLmodel summary (None when unread) and its planned files."""

    model: LoggedModel
    key: str
    card: dict[str, Any] | None = None
    files: tuple[PlannedFile, ...] = ()
    files_listed: bool = False  # False: the build left artifacts out, or the files could not be listed
    signature: str = ""  # of its files, for the build cache
    read_as: LoggedModel | None = field(default=None, repr=False)  # unredacted: for the store's calls only

    @property
    def flavors(self) -> list[str]:
        return [flavor["name"] for flavor in (self.card or {}).get("flavors", [])]


@dataclass
class ExperimentModels:
    """The logged models an experiment's pages show: those of its shown runs and those of no run."""

    entries: list[ModelEntry] = field(default_factory=list)
    _by_run: dict[str | None, list[ModelEntry]] | None = field(default=None, repr=False)

    def of_run(self, run_id: str | None) -> list[ModelEntry]:
        """The models whose source run is `run_id` (None: of no run); asked once for each run page and key."""
        if self._by_run is None:
            self._by_run = {}
            for entry in self.entries:
                self._by_run.setdefault(entry.model.source_run_id, []).append(entry)
        return list(self._by_run.get(run_id, ()))


def redact_model(redactor: Redactor, model: LoggedModel) -> LoggedModel:
    """The model under the run rules: secret-named params and tags hidden, credentials cut out of texts."""
    metrics = tuple(replace(m, dataset_name=redactor.text(m.dataset_name)) if m.dataset_name else m
                    for m in model.metrics)
    return replace(model, name=redactor.text(model.name), artifact_location=redactor.text(model.artifact_location),
                   status_message=redactor.text(model.status_message) if model.status_message else model.status_message,
                   model_type=redactor.text(model.model_type) if model.model_type else model.model_type,
                   params=redactor.mapping(model.params), tags=redactor.mapping(model.tags), metrics=metrics)


def gather_models(site: Any, experiments: list[Any], budget: Budget | None, *, strict: bool) -> None:
    """These experiments' models (exp.models), their MLmodel summaries and file plans (None budget: the build
    leaves artifacts out, and the models' files too)."""
    def warn(path: str, message: str) -> None:
        if strict:
            raise ReportgenError(f"{path}: {message}")
        site.problems.append(Problem(path=path, message=message))

    for exp in experiments:
        try:
            found = exp.store.logged_models([exp.experiment.experiment_id])
        except ReportgenError as exc:
            warn(f"experiment {exp.experiment.experiment_id} logged models", f"cannot list: {exc}; models left out")
            found = []
        shown = {run.info.run_id for run in exp.runs}
        entries = []
        used: set[str] = set()
        for model in found:
            if model.source_run_id and model.source_run_id not in shown:
                continue  # a model of a run the report leaves out (filtered, deleted)
            key = url_key(model.model_id)
            while key.casefold() in used:
                key += "_"
            used.add(key.casefold())
            # A model of no run has no page to list its files on: they are not copied (nor counted in the budget).
            files_budget = budget if model.source_run_id else None
            entries.append(_entry(exp.store, redact_model(site.redactor, model), model, key, files_budget, warn))
        exp.models = ExperimentModels(entries)


def _entry(store: Any, shown: LoggedModel, model: LoggedModel, key: str, budget: Budget | None,
           warn: Callable[[str, str], None]) -> ModelEntry:
    """The store is asked with the model as read (its artifact location unredacted), the page gets `shown`."""
    card = read_card(store, model, warn)
    if budget is None:
        return ModelEntry(shown, key, card, read_as=model)
    walker = ModelFiles(store, model)
    files = tuple(plan_run(walker, model.model_id, budget, warn))
    return ModelEntry(shown, key, card, files, walker.listed, files_signature(store, model), read_as=model)


class ModelFiles:
    """A model's files as plan_run and write_artifacts ask a store for a run's (walk, open)."""

    def __init__(self, store: Any, model: LoggedModel) -> None:
        self.store, self.model = store, model
        self.listed = False

    def walk_artifacts(self, _model_id: str, *, max_files: int) -> list[Any]:
        found = self.store.walk_model_artifacts(self.model, max_files=max_files)
        self.listed = True
        return found

    def open_artifact(self, _model_id: str, path: str) -> Any:
        return self.store.open_model_artifact(self.model, path)


def read_card(store: Any, model: LoggedModel, warn: Callable[[str, str], None]) -> dict[str, Any] | None:
    """The MLmodel file's summary: flavors (with their scalar settings), MLflow version, creation time,
    size, signature and input example; None when the model has no MLmodel (still pending) or it is bad."""
    where = f"logged model {model.model_id} {MLMODEL}"
    try:
        with store.open_model_artifact(model, MLMODEL) as handle:
            data = handle.read(MLMODEL_MAX_BYTES + 1)
    except ResourceDoesNotExist:
        return None
    except (ReportgenError, OSError) as exc:
        warn(where, f"cannot read: {exc}")
        return None
    if len(data) > MLMODEL_MAX_BYTES:
        warn(where, f"larger than {MLMODEL_MAX_BYTES} bytes; not summarised")
        return None
    try:  # meta.yaml's parser: depth, huge numbers, anchors refused first; libyaml when it applies
        value = parse_meta(data)
    except mlruns.MetaError as exc:
        warn(where, f"not a readable MLmodel ({str(exc).replace('meta.yaml', 'MLmodel')[:200]}); not summarised")
        return None
    if not isinstance(value, dict):
        warn(where, "not a mapping; not summarised")
        return None
    card = summarise(value)
    card["example"] = _example(store, model, card["input_example"]) if card["input_example"] else None
    return card


def _example(store: Any, model: LoggedModel, path: str) -> dict[str, Any] | None:
    """A preview of the model's input example (the MLmodel names it): its JSON pretty-printed, or as a table
    when it is one; the first EXAMPLE_BYTES only. None when it is not there or not text."""
    try:
        rel = clean_relpath(path)
        if preview_kind(rel) != "text":
            return None
        with store.open_model_artifact(model, rel) as handle:
            data = handle.read(EXAMPLE_BYTES + 1)
    except (ReportgenError, OSError):
        return None  # a missing or unreadable example costs its preview only (its file is listed either way)
    return preview_for("text", data[:EXAMPLE_BYTES], truncated=len(data) > EXAMPLE_BYTES, href=None,
                       data_uri=lambda raw, mime: "")


def _scalar(value: Any) -> str | None:
    if isinstance(value, (dict, list)):
        return None
    return fmt.cut("" if value is None else str(value), MAX_FIELD_CHARS)


def summarise(mlmodel: dict[str, Any]) -> dict[str, Any]:
    """What the pages show of an MLmodel mapping (plain data: it goes into cache keys)."""
    flavors = []
    raw = mlmodel.get("flavors")
    for name, settings in (raw.items() if isinstance(raw, dict) else ()):
        pairs = []
        if isinstance(settings, dict):
            for key, value in list(settings.items())[:MAX_FLAVOR_FIELDS]:
                text = _scalar(value)
                if text is not None and text not in ("", "None"):
                    pairs.append([fmt.cut(str(key), 100), text])
        flavors.append({"name": fmt.cut(str(name), 200), "settings": pairs})
    signature = mlmodel.get("signature")
    example = mlmodel.get("saved_input_example_info")
    return {
        "flavors": flavors,
        "mlflow_version": _scalar(mlmodel.get("mlflow_version")) or "",
        "created": _scalar(mlmodel.get("utc_time_created")) or "",
        "size": mlmodel.get("model_size_bytes") if isinstance(mlmodel.get("model_size_bytes"), int) else None,
        "signature": _signature(signature) if isinstance(signature, dict) else None,
        "input_example": (_scalar(example.get("artifact_path")) or "") if isinstance(example, dict) else "",
    }


def _signature(signature: dict[str, Any]) -> dict[str, list[str]] | None:
    """Each part of a signature (a JSON list of column or tensor specs in a string) as "name: type" lines."""
    parts = {}
    for part in ("inputs", "outputs", "params"):
        text = signature.get(part)
        if not isinstance(text, str) or not text.strip():
            continue
        lines = schema_columns(json.dumps({"mlflow_colspec": _loaded(text)}))
        parts[part] = lines if lines is not None else [fmt.cut(text, MAX_FIELD_CHARS)]
    return parts or None


def _loaded(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None
