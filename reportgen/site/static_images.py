"""Static chart images (for pages read without JavaScript) drawn by a helper process.

vl-convert holds the GIL while it draws, and its first image of a process costs ~1-2 s (engine start):
a helper forked when the build starts warms the engine up while this process reads the stores, then
draws beside the page rendering. The helper is forked only from a process that has not started vl-convert
itself (the engine's threads do not survive a fork: a child drawing with it hangs); otherwise, without
fork, or if the helper dies, images are drawn in-process.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Sequence

from reportgen.errors import ReportgenError
from reportgen.site.jsonblock import json_text
from reportgen.site.parallel import forked_pool

# A helper that does not answer in time (a hang no guard foresaw) is killed and images are drawn here.
HELPER_TIMEOUT_S = 60.0
HELPER_TIMEOUT_PER_SPEC_S = 5.0
_WARM_UP_SPEC = {"mark": "point", "data": {"values": [{"a": 1}]},
                 "encoding": {"x": {"field": "a", "type": "quantitative"}}}


def _draw(spec: dict) -> bytes | str:
    """SVG bytes, or the message of the ReportgenError (exceptions need not cross the process pipe)."""
    from reportgen.static_charts import render_static

    try:
        return render_static(spec, "svg")
    except ReportgenError as exc:
        return exc.message


def _spec_key(spec: dict) -> str:
    from reportgen.static_charts import VL_VERSION

    text = json_text(spec)
    return hashlib.blake2b(f"{_vl_convert_version()}\0{VL_VERSION}\0{text}".encode("utf-8", "surrogatepass"),
                           digest_size=20).hexdigest()


def _vl_convert_version() -> str:
    try:
        return metadata.version("vl-convert-python")
    except metadata.PackageNotFoundError:
        return "?"


def _keep(path: Path, image: bytes) -> None:
    """Write a cached image atomically; a cache that cannot be written only costs time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temp.write_bytes(image)
        os.replace(temp, path)
    except OSError:
        pass


def _warm_up() -> None:
    # The engine's start (~1-2 s of CPU) runs while the build reads the stores: at a lower priority,
    # so that it takes a spare core, not the read's (a cached read is threads on both cores).
    try:
        os.nice(10)
    except (AttributeError, OSError):
        pass
    _draw(_WARM_UP_SPEC)


def _safe_to_fork() -> bool:
    from reportgen.static_charts import engine_started

    # Other threads (a progress bar's refresh, OpenBLAS pools) hold nothing the helper uses, as for the
    # run-page workers; vl-convert's own engine threads are the hazard.
    return not engine_started()


class ImageMaker:
    """Draws specs as SVG, in a forked helper process when `helper` (and fork exists), else here.
    cache_dir: images kept under a digest of their spec and vl-convert's version (incremental builds)."""

    def __init__(self, *, helper: bool, cache_dir: Path | None = None) -> None:
        self.pool: ProcessPoolExecutor | None = None
        self.cache_dir = cache_dir
        self.used: set[str] = set()  # file names in cache_dir this build used (the rest may go)
        self.lock = threading.Lock()  # one draw at a time (start() draws on a thread)
        if helper and "fork" in multiprocessing.get_all_start_methods() and _safe_to_fork():
            self.pool = forked_pool(1)  # killed with this process, not left drawing forever
            self.pool.submit(_warm_up)

    def start(self, specs: Sequence[dict]) -> Callable[[], list[bytes | str]]:
        """Starts drawing the specs and returns the function that waits for draw()'s results. With a helper
        the drawing runs meanwhile (a thread waits for the helper; draws take turns); without one it
        happens when the results are asked for (vl-convert holds the GIL: a thread would gain nothing)."""
        if self.pool is None:
            return lambda: self.draw(specs)
        outcome: list[Any] = []

        def wait_for_helper() -> None:
            try:
                outcome.append(self.draw(specs))
            except BaseException as exc:  # noqa: BLE001 - raised again by finish()
                outcome.append(exc)

        thread = threading.Thread(target=wait_for_helper, name="reportgen-images", daemon=True)
        thread.start()

        def finish() -> list[bytes | str]:
            thread.join()
            if isinstance(outcome[0], BaseException):
                raise outcome[0]
            return outcome[0]

        return finish

    def draw(self, specs: Sequence[dict]) -> list[bytes | str]:
        """One result per spec: SVG bytes or an error message."""
        with self.lock:
            return self._draw_cached(specs)

    def _draw_cached(self, specs: Sequence[dict]) -> list[bytes | str]:
        if self.cache_dir is None:
            return self._draw_all(specs)
        paths = [self.cache_dir / f"{_spec_key(spec)}.svg" for spec in specs]
        self.used.update(path.name for path in paths)
        results: list[bytes | str | None] = []
        for path in paths:
            try:
                results.append(path.read_bytes())
            except OSError:
                results.append(None)
        missing = [n for n, found in enumerate(results) if found is None]
        for n, image in zip(missing, self._draw_all([specs[n] for n in missing])):
            results[n] = image
            if isinstance(image, bytes):
                _keep(paths[n], image)
        return [image if image is not None else "" for image in results]

    def _draw_all(self, specs: Sequence[dict]) -> list[bytes | str]:
        if not specs:
            return []
        if self.pool is not None:
            timeout = HELPER_TIMEOUT_S + HELPER_TIMEOUT_PER_SPEC_S * len(specs)
            try:
                return list(self.pool.map(_draw, specs, timeout=timeout))
            except (BrokenProcessPool, TimeoutError):
                self.close()
        return [_draw(spec) for spec in specs]

    def close(self) -> None:
        """Ends the helper. It is killed rather than let finish: it has drawn every image asked of it, and may still
        be starting the engine (1-2 s that an exiting `reportgen build` process waited for when no image had
        to be drawn, as in most rebuilds); a hung one would outlive the build."""
        if self.pool is not None:
            for process in list((getattr(self.pool, "_processes", None) or {}).values()):
                process.kill()
            self.pool.shutdown(wait=True, cancel_futures=True)  # killed: the wait is short, and no hook fails at exit
            self.pool = None
