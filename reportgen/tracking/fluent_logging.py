"""The logging half of the fluent API (mlflow.log_param, log_metric, log_artifact, log_image, log_input,
...): each call goes to the active run, starting one when there is none, as in MLflow.

synchronous=False (or MLFLOW_ENABLE_ASYNC_LOGGING=true) queues the write and returns a RunOperations;
flush_async_logging() waits for everything queued.
"""
from __future__ import annotations

from typing import Any

from reportgen.model import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from reportgen.tracking import _env, async_logging
from reportgen.tracking.async_logging import RunOperations
from reportgen.tracking.fluent import _client, _get_or_start_run, _run_id

DATASET_CONTEXT_TAG = "mlflow.data.context"


def flush_async_logging() -> None:
    async_logging.flush()


def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    return _client().log_param(_run_id(), key, value, synchronous=synchronous)


def log_params(
    params: dict[str, Any], synchronous: bool | None = None, run_id: str | None = None
) -> RunOperations | None:
    rows = [Param(key, str(value)) for key, value in params.items()]
    return _client().log_batch(_run_id(run_id), params=rows, synchronous=synchronous)


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    synchronous: bool | None = None,
    timestamp: int | None = None,
    run_id: str | None = None,
    **_ignored: Any,
) -> RunOperations | None:
    # MLflow's fluent API treats 0/None alike here: `timestamp or now`, `step or 0`.
    return _client().log_metric(_run_id(run_id), key, value, timestamp or _env.now_ms(), step or 0,
                                synchronous=synchronous)


def log_metrics(
    metrics: dict[str, float],
    step: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
    timestamp: int | None = None,
    **_ignored: Any,
) -> RunOperations | None:
    timestamp = timestamp or _env.now_ms()
    rows = [Metric(key, value, timestamp, step or 0) for key, value in metrics.items()]
    return _client().log_batch(_run_id(run_id), metrics=rows, synchronous=synchronous)


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> RunOperations | None:
    return _client().set_tag(_run_id(), key, value, synchronous=synchronous)


def set_tags(tags: dict[str, Any], synchronous: bool | None = None) -> RunOperations | None:
    rows = [RunTag(key, str(value)) for key, value in tags.items()]
    return _client().log_batch(_run_id(), tags=rows, synchronous=synchronous)


def delete_tag(key: str) -> None:
    _client().delete_tag(_run_id(), key)


def log_artifact(local_path: str, artifact_path: str | None = None, run_id: str | None = None) -> None:
    """A file, or a folder as artifact_path/<folder name>/ (MLflow's behaviour for a folder)."""
    _client().log_artifact(_run_id(run_id), local_path, artifact_path)


def log_artifacts(local_dir: str, artifact_path: str | None = None, run_id: str | None = None) -> None:
    _client().log_artifacts(_run_id(run_id), local_dir, artifact_path)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    _client().log_text(_run_id(run_id), text, artifact_file)


def log_dict(dictionary: Any, artifact_file: str, run_id: str | None = None) -> None:
    _client().log_dict(_run_id(run_id), dictionary, artifact_file)


def log_figure(figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None) -> None:
    _client().log_figure(_run_id(), figure, artifact_file, save_kwargs=save_kwargs)


def log_image(
    image: Any,
    artifact_file: str | None = None,
    key: str | None = None,
    step: int | None = None,
    timestamp: int | None = None,
    synchronous: bool | None = False,
) -> RunOperations | None:
    """An image file (artifact_file) or an image per step under a key (MLflow's default: not waited on)."""
    return _client().log_image(_run_id(), image, artifact_file, key, step, timestamp, synchronous)


def log_table(data: Any, artifact_file: str, run_id: str | None = None) -> None:
    _client().log_table(_run_id(run_id), data, artifact_file)


def _dataset_input(dataset: Any, context: str | None, tags: dict[str, str] | None) -> DatasetInput:
    """A DatasetInput from our Dataset entity or an mlflow.data dataset (its _to_mlflow_entity())."""
    entity = dataset._to_mlflow_entity() if hasattr(dataset, "_to_mlflow_entity") else dataset
    input_tags = [InputTag(key, str(value)) for key, value in (tags or {}).items()]
    if context:
        input_tags.append(InputTag(DATASET_CONTEXT_TAG, context))
    return DatasetInput(entity, tuple(input_tags))


def log_input(
    dataset: Dataset | Any | None = None,
    context: str | None = None,
    tags: dict[str, str] | None = None,
    model: Any = None,
) -> None:
    """A dataset the active run used, with its context ("training", "eval", ...) as an input tag."""
    run_id = _get_or_start_run().info.run_id
    datasets = [_dataset_input(dataset, context, tags)] if dataset is not None else None
    _client().log_inputs(run_id, datasets=datasets, models=[model] if model else None)


def log_inputs(
    datasets: list[Any] | None = None,
    contexts: list[str | None] | None = None,
    tags_list: list[dict[str, str] | None] | None = None,
    models: list[Any] | None = None,
) -> None:
    datasets = datasets or []
    contexts = contexts or [None] * len(datasets)
    tags_list = tags_list or [None] * len(datasets)
    if not len(datasets) == len(contexts) == len(tags_list):
        raise ValueError("datasets, contexts and tags_list must have the same length")
    items = [_dataset_input(d, c, t) for d, c, t in zip(datasets, contexts, tags_list) if d is not None]
    _client().log_inputs(_get_or_start_run().info.run_id, datasets=items, models=models)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    run = _get_or_start_run()
    return _client().get_artifact_uri(run.info.run_id, artifact_path)
