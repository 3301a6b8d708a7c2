"""Vega's JavaScript as one shared local asset, and static chart images for pages read without JavaScript.

The bundle comes from vl-convert (Vega, Vega-Lite and vega-embed in one classic script), so reports need
no CDN; it is cached on disk per vl-convert version because producing it costs ~2 s per process.
"""
from __future__ import annotations

import os
import re
import tempfile
from functools import lru_cache
from pathlib import Path

from reportgen.errors import ReportgenError
from reportgen.static_charts import VL_VERSION, mark_engine_started

BUNDLE_PATH = Path("static") / "vendor" / "vega-bundle.js"
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _escape_non_ascii(text: str) -> str:
    # \uXXXX is valid in JS strings, regexes, template literals and identifiers, so the bundle reads
    # the same whatever charset a host serves it with. Astral characters become surrogate pairs.
    def escape(match: re.Match[str]) -> str:
        data = match.group(0).encode("utf-16-be")
        return "".join(f"\\u{data[i]:02x}{data[i + 1]:02x}" for i in range(0, len(data), 2))

    return _NON_ASCII.sub(escape, text)


def _wrap(bundle: str) -> str:
    # The bundle declares short top-level consts (n, t, ...); a function scope keeps them from clashing
    # with page scripts. It assigns window.vegaEmbed itself, which is the one export the pages use.
    return (
        "/* Vega, Vega-Lite and vega-embed, bundled by vl-convert (BSD-3-Clause licences). */\n"
        "(function () {\n" + _escape_non_ascii(bundle) + "\n})();\n"
    )


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "reportgen"


@lru_cache(maxsize=1)
def vega_bundle_text() -> str:
    """The wrapped, ASCII-only bundle; read from the user cache when vl-convert's version matches."""
    import vl_convert

    cache_file = _cache_dir() / f"vega-bundle-vlc{vl_convert.__version__}-vl{VL_VERSION}.js"
    try:
        text = cache_file.read_text(encoding="ascii")
        if text.startswith("/* Vega") and text.rstrip().endswith("})();"):
            return text
    except (OSError, UnicodeDecodeError):
        pass
    mark_engine_started()
    try:
        text = _wrap(vl_convert.javascript_bundle(vl_version=VL_VERSION))
    except BaseException as exc:  # vl-convert panics (a BaseException) instead of raising
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise ReportgenError(f"cannot produce the Vega JavaScript bundle with vl-convert: {exc}") from None
    _write_cache(cache_file, text)
    return text


def _write_cache(cache_file: Path, text: str) -> None:
    # A cache is a convenience: any failure to write it is ignored; a temp file + replace keeps a
    # concurrent build from reading half a bundle.
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_file.parent, prefix=".vega-bundle-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text)
        os.replace(tmp, cache_file)
    except OSError:
        pass


def write_assets(out_dir: str | os.PathLike[str]) -> Path:
    """Write static/vendor/vega-bundle.js under out_dir; returns the file's path."""
    target = Path(out_dir) / BUNDLE_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(vega_bundle_text(), encoding="ascii")
    return target
