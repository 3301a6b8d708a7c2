"""MLflow's fluent API (mlflow.start_run, mlflow.log_metric, ...): an active-run stack per thread.

Mirrors mlflow/tracking/fluent.py: logging with no active run starts one, nested runs get
mlflow.parentRunId, an ActiveRun used as a context manager ends FINISHED, or FAILED on an error.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import threading
from typing import Any, Sequence

from reportgen.errors import InvalidParameterValue, ReportgenError, ResourceDoesNotExist
from reportgen.model import Experiment, LifecycleStage, Run, RunStatus, RunTag, ViewType
from reportgen.tracking import _uri, context
from reportgen.tracking.client import TrackingClient

ENV_RUN_ID = "MLFLOW_RUN_ID"
ENV_EXPERIMENT_NAME = "MLFLOW_EXPERIMENT_NAME"
ENV_EXPERIMENT_ID = "MLFLOW_EXPERIMENT_ID"
SEARCH_MAX_RESULTS_PANDAS = 100000

set_tracking_uri = _uri.set_tracking_uri
get_tracking_uri = _uri.get_tracking_uri
is_tracking_uri_set = _uri.is_tracking_uri_set

_active_experiment_id: str | None = None
_thread_state = threading.local()
_clients: dict[str, TrackingClient] = {}


class ActiveRun(Run):
    """The run start_run returns: a Run (info and data as of its start) and a context manager."""

    def __enter__(self) -> "ActiveRun":
        return self

    def __exit__(self, exc_type, exc_val, exc_tb) -> bool:
        # By id, not identity: a run may have been ended and resumed inside the block.
        if any(run.info.run_id == self.info.run_id for run in _stack()):
            end_run(RunStatus.FINISHED if exc_type is None else RunStatus.FAILED)
        return exc_type is None


def _stack() -> list[ActiveRun]:
    stack = getattr(_thread_state, "stack", None)
    if stack is None:
        stack = _thread_state.stack = []
    return stack


def _client() -> TrackingClient:
    """One client per tracking URI, so per-run caches survive between fluent calls."""
    uri = _uri.get_tracking_uri()
    client = _clients.get(uri)
    if client is None:
        client = _clients[uri] = TrackingClient(uri)
    return client


# -- experiments ----------------------------------------------------------------------------------
def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None) -> Experiment:
    """Make an experiment active by name (created when missing) or by id."""
    global _active_experiment_id
    if (experiment_name is None) == (experiment_id is None):
        raise InvalidParameterValue("Must specify exactly one of: `experiment_id` or `experiment_name`.")
    client = _client()
    if experiment_id is None:
        experiment = client.get_experiment_by_name(experiment_name)
        if experiment is None:
            try:
                experiment = client.get_experiment(client.create_experiment(experiment_name))
            except ReportgenError as exc:
                # Another process created it between our look-up and our create: use theirs.
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                experiment = client.get_experiment_by_name(experiment_name)
    else:
        try:
            experiment = client.get_experiment(str(experiment_id))
        except ResourceDoesNotExist:
            raise ResourceDoesNotExist(f"Experiment with ID '{experiment_id}' does not exist.") from None
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        raise InvalidParameterValue(
            f"Cannot set a deleted experiment {experiment.name!r} as the active experiment. "
            "You can restore the experiment, or permanently delete the experiment to create a new one."
        )
    _active_experiment_id = experiment.experiment_id
    return experiment


def _get_experiment_id() -> str:
    if _active_experiment_id:
        return _active_experiment_id
    name = os.environ.get(ENV_EXPERIMENT_NAME)
    if name:
        experiment = _client().get_experiment_by_name(name)
        return experiment.experiment_id if experiment else _client().create_experiment(name)
    return os.environ.get(ENV_EXPERIMENT_ID) or "0"


def create_experiment(name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None) -> str:
    return _client().create_experiment(name, artifact_location, tags)


def get_experiment(experiment_id: str) -> Experiment:
    return _client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    return _client().get_experiment_by_name(name)


def search_experiments(
    view_type: ViewType | int = ViewType.ACTIVE_ONLY,
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
) -> list[Experiment]:
    return list(_client().search_experiments(view_type, max_results, filter_string, order_by))


def delete_experiment(experiment_id: str) -> None:
    _client().delete_experiment(experiment_id)


def restore_experiment(experiment_id: str) -> None:
    _client().restore_experiment(experiment_id)


def set_experiment_tag(key: str, value: Any) -> None:
    _client().set_experiment_tag(_get_experiment_id(), key, value)


def set_experiment_tags(tags: dict[str, Any]) -> None:
    for key, value in tags.items():
        set_experiment_tag(key, value)


# -- runs -----------------------------------------------------------------------------------------
def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start a new run, or resume `run_id` (status back to RUNNING), and make it the active run."""
    stack = _stack()
    if isinstance(experiment_id, int) and not isinstance(experiment_id, bool):
        experiment_id = str(experiment_id)
    if stack and not nested:
        raise ReportgenError(
            f"Run with UUID {stack[0].info.run_id} is already active. To start a new run, first end the "
            "current run with mlflow.end_run(). To start a nested run, call start_run with nested=True"
        )
    client = _client()
    user_tags = {key: str(value) for key, value in (tags or {}).items()}
    if description:
        if context.NOTE in user_tags:
            raise InvalidParameterValue(
                f"Description is already set via the tag {context.NOTE} in tags. Remove the key "
                f"{context.NOTE} from the tags or omit the description."
            )
        user_tags[context.NOTE] = description
    existing_id = run_id or os.environ.pop(ENV_RUN_ID, None)
    if existing_id:
        run = _resume(client, existing_id, run_name, user_tags)
    else:
        if parent_run_id:
            if stack and parent_run_id != stack[-1].info.run_id:
                raise ReportgenError(
                    f"Current run with UUID {stack[-1].info.run_id} does not match the specified "
                    f"parent_run_id {parent_run_id}. To start a new nested run under the parent run with "
                    f"UUID {stack[-1].info.run_id}, first end the current run with mlflow.end_run()."
                )
            if client.get_run(parent_run_id).info.lifecycle_stage == LifecycleStage.DELETED:
                raise ReportgenError(
                    f"Cannot start run under parent run with ID {parent_run_id} because it is in the deleted state."
                )
        elif stack:
            parent_run_id = stack[-1].info.run_id
        if parent_run_id:
            user_tags[context.PARENT_RUN_ID] = parent_run_id
        if run_name:
            user_tags[context.RUN_NAME] = run_name
        run = client.create_run(
            experiment_id if experiment_id is not None else _get_experiment_id(),
            tags=context.resolve_tags(user_tags),
            run_name=run_name,
        )
    active = ActiveRun(info=run.info, data=run.data, inputs=run.inputs)
    stack.append(active)
    return active


def _resume(client: TrackingClient, run_id: str, run_name: str | None, tags: dict[str, str]) -> Run:
    run = client.get_run(run_id)
    if _active_experiment_id is not None and _active_experiment_id != run.info.experiment_id:
        raise ReportgenError(
            f"Cannot start run with ID {run_id} because active experiment ID does not match "
            "environment run ID. Make sure --experiment-name or --experiment-id matches experiment "
            "set with set_experiment(), or just use command-line arguments"
        )
    if run.info.lifecycle_stage == LifecycleStage.DELETED:
        raise ReportgenError(f"Cannot start run with ID {run_id} because it is in the deleted state.")
    writer = client._writer()
    writer.update_run_info(run_id, status=RunStatus.RUNNING, end_time=run.info.end_time, run_name=run_name)
    if tags:
        client.log_batch(run_id, tags=[RunTag(key, value) for key, value in tags.items()])
    return client.get_run(run_id)


def end_run(status: str = RunStatus.FINISHED) -> None:
    """End the active run (FINISHED unless told otherwise); nothing happens without one."""
    stack = _stack()
    if not stack:
        return
    os.environ.pop(ENV_RUN_ID, None)
    run = stack.pop()
    _thread_state.last_run_id = run.info.run_id
    _client().set_terminated(run.info.run_id, status)


def active_run() -> ActiveRun | None:
    stack = _stack()
    return stack[-1] if stack else None


def last_active_run() -> Run | None:
    """The active run, else the last run ended in this thread (read fresh from the store)."""
    run = active_run()
    if run is not None:
        return run
    last_id = getattr(_thread_state, "last_run_id", None)
    return get_run(last_id) if last_id else None


def get_run(run_id: str) -> Run:
    return _client().get_run(run_id)


def get_parent_run(run_id: str) -> Run | None:
    return _client().get_parent_run(run_id)


def delete_run(run_id: str) -> None:
    _client().delete_run(run_id)


def restore_run(run_id: str) -> None:
    _client().restore_run(run_id)


def _get_or_start_run() -> ActiveRun:
    stack = _stack()
    return stack[-1] if stack else start_run()


def _run_id(run_id: str | None = None) -> str:
    if run_id:
        return run_id
    stack = _stack()
    return (stack[-1] if stack else start_run()).info.run_id


# -- search ---------------------------------------------------------------------------------------
def search_runs(
    experiment_ids: list[str] | None = None,
    filter_string: str = "",
    run_view_type: ViewType | int = ViewType.ACTIVE_ONLY,
    max_results: int = SEARCH_MAX_RESULTS_PANDAS,
    order_by: list[str] | None = None,
    output_format: str = "pandas",
    search_all_experiments: bool = False,
    experiment_names: list[str] | None = None,
):
    """Runs as a DataFrame shaped like mlflow.search_runs (or a list of Run with output_format="list")."""
    if experiment_ids and experiment_names:
        raise InvalidParameterValue("Only experiment_ids or experiment_names can be used, but not both")
    client = _client()
    if experiment_names:
        found = [client.get_experiment_by_name(name) for name in experiment_names if name is not None]
        ids: Sequence[str] = [e.experiment_id for e in found if e is not None]
    elif experiment_ids:
        ids = [str(i) for i in experiment_ids]
    elif search_all_experiments:
        ids = [e.experiment_id for e in client.search_experiments(ViewType.ACTIVE_ONLY, None)]
    else:
        ids = [_get_experiment_id()]
    runs = list(client.search_runs(ids, filter_string, run_view_type, max_results, order_by)) if ids else []
    if output_format == "list":
        return runs
    if output_format != "pandas":
        raise ValueError(
            f"Unsupported output format: {output_format}. Supported string values are 'pandas' or 'list'"
        )
    from reportgen.frames import runs_frame

    return runs_frame(runs)


def _end_runs_at_exit() -> None:
    # MLflow ends the active run when the interpreter exits normally; a killed process leaves it RUNNING.
    with contextlib.suppress(Exception):
        while _stack():
            end_run()


atexit.register(_end_runs_at_exit)
