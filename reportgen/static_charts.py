"""Static images of Vega-Lite specs (vl-convert), for site pages read without JavaScript and for the
images of `reportgen summary`: the rendering call, the Vega-Lite version both pin, and ids made stable."""
from __future__ import annotations

import re

from reportgen.errors import ReportgenError

# Altair 6.3 emits Vega-Lite 6.4 specs; pin the bundle to the same minor so specs and runtime agree.
VL_VERSION = "6.4"
STATIC_WIDTH = 520
# Whether this process has started vl-convert's engine (its threads do not survive a fork: a forked
# child that draws with an engine inherited half-started hangs).
_ENGINE = {"started": False}
_COUNTER_ID_RE = re.compile(rb"\b(clip|gradient_|pattern_|marker_)(\d+)\b")


def engine_started() -> bool:
    return _ENGINE["started"]


def mark_engine_started() -> None:
    """Called before any vl-convert call that starts its engine."""
    _ENGINE["started"] = True


def render_static(spec: dict, fmt: str = "svg") -> bytes:
    """A static image of a Vega-Lite spec ("svg" or "png"), for pages read with JavaScript off."""
    import vl_convert

    if spec.get("width") == "container":
        # No container outside a browser: give the plot the width it typically gets in a page.
        spec = {**spec, "width": STATIC_WIDTH}
    mark_engine_started()
    try:
        if fmt == "svg":
            return vl_convert.vegalite_to_svg(spec, vl_version=VL_VERSION).encode("utf-8")
        if fmt == "png":
            return vl_convert.vegalite_to_png(spec, vl_version=VL_VERSION, scale=1)
    except BaseException as exc:  # a bad spec panics inside vl-convert (pyo3 PanicException)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise ReportgenError(f"cannot render a static chart image: {str(exc).splitlines()[0]}") from None
    raise ReportgenError(f"unknown static image format {fmt!r}: use 'svg' or 'png'")


def stable_svg_ids(svg: bytes) -> bytes:
    """vl-convert numbers clip paths and gradients with per-process counters; renumber them per image
    so that rebuilds (and summaries) are byte-identical."""
    numbers: dict[bytes, bytes] = {}

    def renumber(match: re.Match[bytes]) -> bytes:
        key = match.group(0)
        return numbers.setdefault(key, match.group(1) + str(len(numbers) + 1).encode())

    return _COUNTER_ID_RE.sub(renumber, svg)
