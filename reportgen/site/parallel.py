"""Run pages rendered by forked worker processes: each run page is independent, and with thousands of
runs they are most of a build. Workers inherit everything gathered (fork), render an interleaved share
of the runs and send back only small results: image lists, warnings, page counts.

Every process forked here (and the image helper) dies with the build: on Linux it asks the kernel for
SIGKILL when its parent goes (PR_SET_PDEATHSIG), so a killed build leaves no worker behind.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import Any, Callable, Sequence

# Below this many runs a fork costs more than it saves.
PARALLEL_FROM_RUNS = 300
MAX_WORKERS = 4

# Set in the parent just before forking; the workers read it instead of receiving pickled data.
_JOB: dict[str, Any] = {}


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


def _work(index: int) -> dict[str, Any]:
    builder, items, render_one, workers = _JOB["builder"], _JOB["items"], _JOB["render_one"], _JOB["workers"]
    builder.report = lambda *args, **kwargs: None  # the parent's progress bar is not ours to draw
    builder.problems = []
    builder.pages = 0
    # Each worker may copy its share of the remaining site budget (decided before the fork, so the
    # outcome depends only on the worker count).
    builder.budget = replace(builder.budget, remaining=builder.budget.remaining // workers)
    stores = builder.site.stores
    before = [len(getattr(store, "problems", [])) for store in stores]
    results = {position: render_one(items[position]) for position in range(index, len(items), workers)}
    store_problems = [p for store, n in zip(stores, before) for p in getattr(store, "problems", [])[n:]]
    return {"results": results, "problems": builder.problems, "store_problems": store_problems,
            "pages": builder.pages}


def render_runs(builder: Any, items: Sequence[Any], render_one: Callable[[Any], Any], *, workers: int,
                progress: Callable[[int], None], meanwhile: Callable[[], None] | None = None) -> list[Any]:
    """[render_one(item) for item in items] (run pages), in `workers` forked processes (1: in this one).
    Warnings and store problems of the workers are added to the builder and the stores.
    meanwhile: other work of this process, done while the workers render (after them when serial)."""
    if workers <= 1:
        result = []
        for item in items:
            result.append(render_one(item))
            progress(1)
        if meanwhile is not None:
            meanwhile()
        return result
    workers = capped_workers(workers, len(items))
    _JOB.update(builder=builder, items=list(items), render_one=render_one, workers=workers)
    try:
        with forked_pool(workers) as pool:
            # A fork pool starts every worker at the first submit: the parent's own work below runs
            # beside them (and after the fork, so the workers do not inherit vl-convert's threads).
            pending = pool.map(_work, range(workers))
            if meanwhile is not None:
                meanwhile()
            outcomes = list(pending)
    finally:
        _JOB.clear()
    results: dict[int, Any] = {}
    for outcome in outcomes:
        results.update(outcome["results"])
        builder.problems.extend(outcome["problems"])
        builder.pages += outcome["pages"]
        builder.extra_store_problems.extend(outcome["store_problems"])
        progress(len(outcome["results"]))
    return [results[position] for position in range(len(items))]
