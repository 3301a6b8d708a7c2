"""Static chart images (for pages read without JavaScript) drawn by a helper process.

vl-convert holds the GIL while it draws, and its first image of a process costs ~1-2 s (engine start):
a helper forked when the build starts warms the engine up while this process reads the stores, then
draws beside the page rendering. The helper is forked only from a process that has not started vl-convert
itself (the engine's threads do not survive a fork: a child drawing with it hangs); otherwise, without
fork, or if the helper dies, images are drawn in-process.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Sequence

from reportgen.errors import ReportgenError

# A helper that does not answer in time (a hang no guard foresaw) is killed and images are drawn here.
HELPER_TIMEOUT_S = 60.0
HELPER_TIMEOUT_PER_SPEC_S = 5.0
_WARM_UP_SPEC = {"mark": "point", "data": {"values": [{"a": 1}]},
                 "encoding": {"x": {"field": "a", "type": "quantitative"}}}


def _draw(spec: dict) -> bytes | str:
    """SVG bytes, or the message of the ReportgenError (exceptions need not cross the process pipe)."""
    from reportgen.site.assets import render_static

    try:
        return render_static(spec, "svg")
    except ReportgenError as exc:
        return exc.message


def _warm_up() -> None:
    _draw(_WARM_UP_SPEC)


def _safe_to_fork() -> bool:
    from reportgen.site.assets import engine_started

    # Other threads (a progress bar's refresh, OpenBLAS pools) hold nothing the helper uses, as for the
    # run-page workers; vl-convert's own engine threads are the hazard.
    return not engine_started()


class ImageMaker:
    """Draws specs as SVG, in a forked helper process when `helper` (and fork exists), else here."""

    def __init__(self, *, helper: bool) -> None:
        self.pool: ProcessPoolExecutor | None = None
        if helper and "fork" in multiprocessing.get_all_start_methods() and _safe_to_fork():
            self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
            self.pool.submit(_warm_up)

    def draw(self, specs: Sequence[dict]) -> list[bytes | str]:
        """One result per spec: SVG bytes or an error message."""
        if self.pool is not None:
            timeout = HELPER_TIMEOUT_S + HELPER_TIMEOUT_PER_SPEC_S * len(specs)
            try:
                return list(self.pool.map(_draw, specs, timeout=timeout))
            except (BrokenProcessPool, TimeoutError):
                self.close(kill=True)
        return [_draw(spec) for spec in specs]

    def close(self, *, kill: bool = False) -> None:
        if self.pool is not None:
            if kill:  # a hung helper would otherwise outlive the build
                for process in list((getattr(self.pool, "_processes", None) or {}).values()):
                    process.kill()
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
