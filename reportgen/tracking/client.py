"""TrackingClient (also MlflowClient): MLflow's client API over a tracking URI.

Writes go to the file store writer (reportgen.tracking.filestore), or for http(s) URIs to the REST
writer (reportgen.tracking.rest_writer); reads go to reportgen's store readers (reportgen.stores),
so what is read is what any reportgen report sees.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import yaml

from reportgen import validation
from reportgen.errors import InvalidParameterValue, UnsupportedError
from reportgen.model import (
    Experiment,
    FileInfo,
    LifecycleStage,
    Metric,
    Run,
    RunData,
    RunStatus,
    ViewType,
)
from reportgen.tracking import _env, _experiment_search, _uri, artifacts, context
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


class TrackingClient:
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
        if self._scheme in SQL_SCHEMES:
            raise UnsupportedError(
                f"logging to a {self._scheme} tracking store ({self.tracking_uri}) is not supported yet: "
                "reportgen can read it, and logs to file stores (a folder or file: URI)"
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
    ) -> None:
        timestamp = timestamp if timestamp is not None else _env.now_ms()
        step = step if step is not None else 0
        value = validation.metric_value(value)
        validation.validate_metric(key, value, timestamp, step)
        self._writer().log_metric(run_id, key, value, int(timestamp), int(step))

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Any] = (),
        tags: Sequence[Any] = (),
        synchronous: bool | None = None,
    ) -> None:
        """Metrics, params and tags (objects with .key/.value, metrics also .timestamp/.step)."""
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

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> None:
        text = _str(value)
        validation.validate_tag(key, text)
        self._writer().set_tag(run_id, key, text)

    def delete_tag(self, run_id: str, key: str) -> None:
        self._writer().delete_tag(run_id, key)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        validation.validate_run_id(run_id)
        return self._store().get_metric_history(run_id, key)

    # -- artifacts --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _artifact_root(self, run_id: str) -> Iterator[Path]:
        """The folder to write a run's artifacts into: the run's own, or (for a tracking server) a
        staging folder uploaded when the block ends, so both get the same path and file checks."""
        writer = self._writer()
        upload = getattr(writer, "upload_artifacts", None)
        if upload is None:
            yield artifacts.artifact_root(writer.artifact_uri(validation.validate_run_id(run_id)))
            return
        with tempfile.TemporaryDirectory(prefix="reportgen-upload-") as staging:
            yield Path(staging)
            upload(run_id, Path(staging))

    def log_artifact(self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        with self._artifact_root(run_id) as root:
            artifacts.log_artifact(root, local_path, artifact_path)

    def log_artifacts(self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        with self._artifact_root(run_id) as root:
            artifacts.log_artifacts(root, local_dir, artifact_path)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        with self._artifact_root(run_id) as root:
            artifacts.write_artifact(root, artifact_file, text.encode("utf-8"))

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        """JSON (indent 2), or YAML when the file ends in .yml/.yaml, as MLflow writes them."""
        if os.path.splitext(artifact_file)[1] in (".yml", ".yaml"):
            try:
                text = yaml.safe_dump(dictionary, indent=2, default_flow_style=False)
            except yaml.YAMLError as exc:
                raise InvalidParameterValue(f"cannot write {artifact_file} as YAML: {exc}") from None
        else:
            text = json.dumps(dictionary, indent=2, default=str)
        self.log_text(run_id, text, artifact_file)

    def log_figure(
        self, run_id: str, figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None
    ) -> None:
        """A matplotlib figure saved in the format its file suffix names (PNG, SVG, PDF, ...)."""
        try:
            import matplotlib.figure
        except ImportError:
            raise UnsupportedError("log_figure needs matplotlib: pip install matplotlib") from None
        if not isinstance(figure, matplotlib.figure.Figure):
            raise InvalidParameterValue(
                f"Unsupported figure object type: '{type(figure).__name__}' (only matplotlib figures)"
            )
        import io

        buffer = io.BytesIO()
        suffix = os.path.splitext(artifact_file)[1].lstrip(".").lower() or "png"
        figure.savefig(buffer, format=suffix, **(save_kwargs or {}))
        with self._artifact_root(run_id) as root:
            artifacts.write_artifact(root, artifact_file, buffer.getvalue())

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        validation.validate_run_id(run_id)
        return self._store().list_artifacts(run_id, validation.validate_artifact_path(path))

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        validation.validate_run_id(run_id)
        return artifacts.download(self._store(), run_id, path, dst_path)

    def get_artifact_uri(self, run_id: str, artifact_path: str | None = None) -> str:
        uri = self.get_run(run_id).info.artifact_uri
        relative = validation.validate_artifact_path(artifact_path)
        return f"{uri.rstrip('/')}/{relative}" if relative else uri


MlflowClient = TrackingClient

