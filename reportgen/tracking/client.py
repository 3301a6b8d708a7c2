"""TrackingClient (also MlflowClient): MLflow's client API over a tracking URI.

Writes go to the file store writer (reportgen.tracking.filestore), or for http(s) URIs to the REST
writer (reportgen.tracking.rest_writer); reads go to reportgen's store readers (reportgen.stores),
so what is read is what any reportgen report sees.
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

from reportgen import validation
from reportgen.errors import InvalidParameterValue, UnsupportedError
from reportgen.model import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    LifecycleStage,
    Metric,
    Run,
    RunData,
    RunStatus,
    ViewType,
)
from reportgen.tracking import _env, _experiment_search, _uri, async_logging, context
from reportgen.tracking._client_artifacts import ArtifactMethods
from reportgen.tracking.filestore import FileStoreWriter, writer_for
from reportgen.uri import HTTP_SCHEMES, SQL_SCHEMES, local_path, scheme_of

SEARCH_MAX_RESULTS_DEFAULT = 1000
PARAM_VALIDATION_HINT = (
    "\n\nThe cause of this error is typically due to repeated calls to an individual run_id event"
    " logging: log each value in its own (nested) run."
)


class PagedList(list):
    """A list with MLflow's `token` for the next page (None when this was the last page)."""

    def __init__(self, items: Iterable[Any], token: str | None = None) -> None:
        super().__init__(items)
        self.token = token


def _page(items: list[Any], max_results: int | None, page_token: str | None) -> PagedList:
    start = 0
    if page_token:
        try:
            start = int(page_token)
        except ValueError:
            raise InvalidParameterValue(f"Invalid page token {page_token!r}") from None
    if max_results is None:
        return PagedList(items[start:])
    if not isinstance(max_results, int) or max_results < 1:
        raise InvalidParameterValue(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer"
        )
    end = start + max_results
    return PagedList(items[start:end], str(end) if end < len(items) else None)


def _chunks(metrics: list, params: list, tags: list) -> Iterable[tuple[list, list, list]]:
    """MLflow's log_batch split: params and tags by 100, metrics filling each request up to 1000."""
    step = validation.MAX_PARAMS_TAGS_PER_BATCH
    for start in range(0, max(len(params), len(tags)), step):
        chunk_params, chunk_tags = params[start:start + step], tags[start:start + step]
        room = min(validation.MAX_ENTITIES_PER_BATCH - len(chunk_params) - len(chunk_tags),
                   validation.MAX_METRICS_PER_BATCH)
        yield metrics[:room], chunk_params, chunk_tags
        metrics = metrics[room:]
    for start in range(0, len(metrics), validation.MAX_METRICS_PER_BATCH):
        yield metrics[start:start + validation.MAX_METRICS_PER_BATCH], [], []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _dataset_input(item: Any, index: int) -> DatasetInput:
    """Our DatasetInput from one with MLflow's fields (MLflow's own entities included), checked."""
    dataset = getattr(item, "dataset", None)
    if dataset is None:
        raise InvalidParameterValue(f"datasets[{index}] is not a DatasetInput: {type(item).__name__}")
    fields = {}
    for name in ("name", "digest", "source_type", "source"):
        value = getattr(dataset, name, None)
        if not isinstance(value, str) or not value:
            raise InvalidParameterValue(f"datasets[{index}].dataset.{name} must be a non-empty string")
        fields[name] = value
    for name in ("schema", "profile"):
        fields[name] = getattr(dataset, name, None)
    tags = tuple(InputTag(_str(tag.key), _str(tag.value)) for tag in (getattr(item, "tags", None) or ()))
    return DatasetInput(Dataset(**fields), tags)


class TrackingClient(ArtifactMethods):
    """MLflow's MlflowClient for file stores (writing) and every store reportgen reads."""

    def __init__(self, tracking_uri: str | os.PathLike[str] | None = None, registry_uri: str | None = None) -> None:
        if isinstance(tracking_uri, os.PathLike):
            tracking_uri = os.path.abspath(os.fspath(tracking_uri))
        self.tracking_uri = tracking_uri or _uri.get_tracking_uri()
        self._scheme = scheme_of(self.tracking_uri)
        self._reader = None
        self._file_writer: FileStoreWriter | None = None

    # -- plumbing ---------------------------------------------------------------------------------
    def _writer(self) -> FileStoreWriter:
        if self._file_writer is not None:
            return self._file_writer
        if self._scheme == "file":
            writer = writer_for(local_path(self.tracking_uri))
            writer.ensure_root()
            self._file_writer = writer
            return writer
        if self._scheme == "sqlite":
            from reportgen.tracking import sqlstore

            # Same method names as FileStoreWriter, over MLflow's SQL schema (stdlib sqlite3).
            writer = sqlstore.writer_for(self.tracking_uri)
            writer.ensure_root()  # MLflow creates the schema and experiment 0 when it opens the store
            self._file_writer = writer
            return writer
        if self._scheme in SQL_SCHEMES:
            raise UnsupportedError(
                f"logging to a {self._scheme} tracking store ({self.tracking_uri}) is not supported yet: "
                "reportgen can read it, and logs to SQLite (sqlite:///path.db), file stores and tracking servers"
            )
        if self._scheme in HTTP_SCHEMES:
            from reportgen.tracking import rest_writer

            # Same method names as FileStoreWriter, sent as REST calls to the server.
            self._file_writer = rest_writer.writer_for(self.tracking_uri)
            return self._file_writer
        raise UnsupportedError(f"tracking URI scheme '{self._scheme}' is not supported yet: {self.tracking_uri}")

    def _store(self):
        """The reader of this URI; file stores are read fresh from disk on each call."""
        if self._reader is None:
            if self._scheme == "file":
                from reportgen.stores.file import FileStore

                self._writer()  # MLflow creates the root and experiment 0 on first access
                self._reader = FileStore(str(local_path(self.tracking_uri)))
            else:
                from reportgen.stores import open_store

                if self._scheme == "sqlite":
                    self._writer()  # the database and experiment 0 exist before the first read, as in MLflow
                self._reader = open_store(self.tracking_uri)
        return self._reader

    # -- experiments ------------------------------------------------------------------------------
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
    ) -> str:
        return self._writer().create_experiment(name, artifact_location, tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self._store().get_experiment(str(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self._store().get_experiment_by_name(name)

    def search_experiments(
        self,
        view_type: ViewType | int = ViewType.ACTIVE_ONLY,
        max_results: int | None = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        experiments = self._store().search_experiments(ViewType.coerce(view_type))
        experiments = _experiment_search.filter_experiments(experiments, filter_string)
        experiments = _experiment_search.sort_experiments(experiments, order_by)
        return _page(experiments, max_results, page_token)

    def list_experiments(
        self, view_type: ViewType | int = ViewType.ACTIVE_ONLY, max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """The pre-2.0 API: experiments ordered by id."""
        experiments = self._store().search_experiments(ViewType.coerce(view_type))
        return _page(_experiment_search.sort_experiments(experiments, ["experiment_id ASC"]), max_results, page_token)

    def delete_experiment(self, experiment_id: str) -> None:
        self._writer().delete_experiment(str(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        self._writer().restore_experiment(str(experiment_id))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._writer().rename_experiment(str(experiment_id), new_name)

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        self._writer().set_experiment_tag(str(experiment_id), key, value)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._writer().delete_experiment_tag(str(experiment_id), key)

    # -- runs -------------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: dict[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Run:
        """A new RUNNING run; user_id comes from the mlflow.user tag ("unknown" without it), as in MLflow."""
        tags = {key: _str(value) for key, value in (tags or {}).items()}
        experiment_id = validation.validate_experiment_id(
            "0" if experiment_id is None else experiment_id
        )
        info = self._writer().create_run(
            experiment_id,
            user_id=tags.get(context.USER, "unknown"),
            start_time=start_time or _env.now_ms(),
            tags=tags,
            run_name=run_name,
        )
        tags.setdefault(context.RUN_NAME, info.run_name)
        return Run(info=info, data=RunData(tags=tags))

    def get_run(self, run_id: str) -> Run:
        validation.validate_run_id(run_id)
        return self._store().get_run(run_id)

    def get_parent_run(self, run_id: str) -> Run | None:
        parent_id = self.get_run(run_id).data.tags.get(context.PARENT_RUN_ID)
        return self.get_run(parent_id) if parent_id else None

    def search_runs(
        self,
        experiment_ids: str | Sequence[str],
        filter_string: str = "",
        run_view_type: ViewType | int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        ids = [experiment_ids] if isinstance(experiment_ids, (str, int)) else list(experiment_ids)
        runs = self._store().search_run_objects(
            [str(i) for i in ids], filter_string or None, order_by, ViewType.coerce(run_view_type), None
        )
        return _page(list(runs), max_results, page_token)

    def set_terminated(self, run_id: str, status: str | None = None, end_time: int | None = None) -> None:
        status = RunStatus.to_string(status or RunStatus.FINISHED)
        async_logging.flush()  # what was logged asynchronously lands before the run ends
        self._writer().update_run_info(run_id, status=status, end_time=end_time or _env.now_ms())

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        writer = self._writer()
        info = writer.run_info(run_id)
        writer.update_run_info(
            run_id, status=RunStatus.to_string(status) if status else info.status, run_name=name
        )

    def delete_run(self, run_id: str) -> None:
        self._writer().set_lifecycle(validation.validate_run_id(run_id), LifecycleStage.DELETED)

    def restore_run(self, run_id: str) -> None:
        self._writer().set_lifecycle(validation.validate_run_id(run_id), LifecycleStage.ACTIVE)

    # -- logging ----------------------------------------------------------------------------------
    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        """The value when written (synchronous), else a RunOperations to wait on."""
        if not async_logging.is_synchronous(synchronous):
            return async_logging.submit(self.log_param, run_id, key, value, synchronous=True)
        text = _str(value)
        validation.validate_param(key, text)
        try:
            self._writer().log_param(run_id, key, text)
        except InvalidParameterValue as exc:
            if exc.message.startswith("Changing param values"):
                raise InvalidParameterValue(exc.message + PARAM_VALIDATION_HINT) from None
            raise
        return value

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool | None = None,
        dataset_name: str | None = None,
        dataset_digest: str | None = None,
        model_id: str | None = None,
    ) -> async_logging.RunOperations | None:
        timestamp = timestamp if timestamp is not None else _env.now_ms()
        if not async_logging.is_synchronous(synchronous):
            return async_logging.submit(self.log_metric, run_id, key, value, timestamp, step, synchronous=True)
        step = step if step is not None else 0
        value = validation.metric_value(value)
        validation.validate_metric(key, value, timestamp, step)
        self._writer().log_metric(run_id, key, value, int(timestamp), int(step))
        return None

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Any] = (),
        tags: Sequence[Any] = (),
        synchronous: bool | None = None,
    ) -> async_logging.RunOperations | None:
        """Metrics, params and tags (objects with .key/.value, metrics also .timestamp/.step)."""
        if not async_logging.is_synchronous(synchronous):
            return async_logging.submit(self.log_batch, run_id, list(metrics), list(params), list(tags),
                                        synchronous=True)
        metrics = validation.check_sequence("metrics", metrics)
        params = validation.check_sequence("params", params)
        tags = validation.check_sequence("tags", tags)
        metric_rows = []
        for index, metric in enumerate(metrics):
            value = validation.metric_value(metric.value)
            validation.validate_metric(metric.key, value, metric.timestamp, metric.step, path=f"metrics[{index}]")
            metric_rows.append((metric.key, value, int(metric.timestamp), int(metric.step)))
        param_rows = []
        for index, param in enumerate(params):
            text = _str(param.value)
            validation.validate_param(param.key, text, path=f"params[{index}]")
            param_rows.append((param.key, text))
        tag_rows = []
        for index, tag in enumerate(tags):
            text = _str(tag.value)
            validation.validate_tag(tag.key, text, path=f"tags[{index}]")
            tag_rows.append((tag.key, text))
        validation.validate_param_keys_unique(key for key, _ in param_rows)
        writer = self._writer()
        # Split like MLflow's client, so each store call stays within MLflow's per-request limits.
        for chunk_metrics, chunk_params, chunk_tags in _chunks(metric_rows, param_rows, tag_rows):
            validation.validate_batch_limits(len(chunk_metrics), len(chunk_params), len(chunk_tags))
            writer.log_batch(run_id, chunk_metrics, chunk_params, chunk_tags)
        return None

    def set_tag(
        self, run_id: str, key: str, value: Any, synchronous: bool | None = None
    ) -> async_logging.RunOperations | None:
        if not async_logging.is_synchronous(synchronous):
            return async_logging.submit(self.set_tag, run_id, key, value, synchronous=True)
        text = _str(value)
        validation.validate_tag(key, text)
        self._writer().set_tag(run_id, key, text)
        return None

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput] | None = None, models: Any = None) -> None:
        """Dataset inputs of a run: each dataset once per experiment, each input once per run (as MLflow)."""
        if models:
            raise UnsupportedError("log_inputs with models is not supported yet: log the model's datasets instead")
        items = [_dataset_input(item, index) for index, item in enumerate(datasets or [])]
        if items:
            self._writer().log_inputs(validation.validate_run_id(run_id), items)

    def delete_tag(self, run_id: str, key: str) -> None:
        self._writer().delete_tag(run_id, key)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        validation.validate_run_id(run_id)
        return self._store().get_metric_history(run_id, key)


MlflowClient = TrackingClient

