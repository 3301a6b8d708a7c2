"""Run pages rendered by a pool of forked worker processes: each run page is independent, and with
thousands of runs they are most of a build. Workers inherit everything gathered (fork), are sent a run's
index and its artifact tree, and send back only small results (warnings, metric summaries).

Every process forked here (and the image helper) dies with the build: on Linux it asks the kernel for
SIGKILL when its parent goes (PR_SET_PDEATHSIG), so a killed build leaves no worker behind.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Callable, Iterator

# Below this many runs a fork costs more than it saves.
PARALLEL_FROM_RUNS = 300
MAX_WORKERS = 4

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask, which a container or taskset narrows)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_workers(run_count: int) -> int:
    if run_count < PARALLEL_FROM_RUNS or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(MAX_WORKERS, cpu_count()))


def capped_workers(requested: int, run_count: int) -> int:
    """Worker processes for `run_count` run pages: never more than the CPUs or the runs (-j 100000 on a
    two-run store forked thousands of processes)."""
    return max(1, min(requested, cpu_count(), run_count))


def die_with_parent(parent: int) -> None:
    """In a forked child, first thing: be killed when `parent` dies (Linux; the kernel tells the child of
    the death of the thread that forked it, which here outlives every child). A parent already gone
    before the call: exit now."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl to be found: the getppid check still helps
            pass
    if os.getppid() != parent:
        os._exit(1)


def forked_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of `workers` forked processes that die with this one."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=die_with_parent, initargs=(os.getpid(),))


_render: Callable[..., Any] | None = None  # in a worker process: what its pool renders


def _start_worker(render: Callable[..., Any], parent: int) -> None:
    global _render
    die_with_parent(parent)
    _render = render


def _call(*args: Any) -> Any:
    assert _render is not None
    return _render(*args)


class RunPagePool:
    """render(*args) of every submitted job, results in submission order: in this process when
    workers <= 1 (at once), else in `workers` forked processes (each of which dies with this one)."""

    def __init__(self, render: Callable[..., Any], workers: int) -> None:
        self.render = render
        self.pool: ProcessPoolExecutor | None = None
        if workers > 1:
            # Forked at the first submit: the render function and what it reaches are inherited, not sent.
            self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                            initializer=_start_worker, initargs=(render, os.getpid()))
        self._done: list[Any] = []
        self._pending: list[Future[Any]] = []

    def submit(self, *args: Any) -> None:
        if self.pool is None:
            self._done.append(self.render(*args))
        else:
            self._pending.append(self.pool.submit(_call, *args))

    def results(self) -> Iterator[Any]:
        """The results in submission order, each as soon as it and those before it are done."""
        yield from self._done
        for future in self._pending:
            yield future.result()

    def __enter__(self) -> "RunPagePool":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
