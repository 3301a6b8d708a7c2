"""Logging with synchronous=False: calls run in order on one background thread, each returning a
RunOperations whose wait() blocks until it is written (MLflow's mlflow.utils.async_logging).

Whether a call without `synchronous` is asynchronous follows MLFLOW_ENABLE_ASYNC_LOGGING, as in MLflow.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Iterable

from reportgen.errors import ReportgenError

ENV_ENABLE_ASYNC = "MLFLOW_ENABLE_ASYNC_LOGGING"

_logger = logging.getLogger(__name__)
_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_pending: set[Future] = set()


class RunOperations:
    """The pending writes of one or more asynchronous logging calls."""

    def __init__(self, operation_futures: Iterable[Future] | None = None) -> None:
        self._operation_futures = list(operation_futures or [])

    def wait(self) -> None:
        """Block until every write is done; raise one MlflowException naming all that failed."""
        failed = []
        for future in self._operation_futures:
            try:
                future.result()
            except Exception as exc:  # every failure is reported, not only the first
                failed.append(exc)
        if failed:
            raise ReportgenError(
                "The following failures occurred while performing one or more async logging "
                f"operations: {failed}"
            )


def is_synchronous(synchronous: bool | None) -> bool:
    if synchronous is not None:
        return bool(synchronous)
    return os.environ.get(ENV_ENABLE_ASYNC, "").strip().lower() not in ("true", "1")


def submit(function: Callable[..., Any], *args: Any, **kwargs: Any) -> RunOperations:
    """Queue a call behind all earlier ones (one worker thread keeps MLflow's per-process order)."""
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reportgen-async-logging")
        future = _executor.submit(function, *args, **kwargs)
        _pending.add(future)
    future.add_done_callback(_done)
    return RunOperations([future])


def _done(future: Future) -> None:
    with _lock:
        _pending.discard(future)
    exc = future.exception()
    if exc is not None:
        # As MLflow's queue: a failure nobody waits for is still told, in the log.
        _logger.error("async logging failed: %s", exc)


def flush() -> None:
    """Wait until everything queued so far is written (failures stay on their RunOperations)."""
    with _lock:
        pending = list(_pending)
    wait(pending)


atexit.register(flush)
