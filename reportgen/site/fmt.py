"""Display formatting shared by every page (Jinja filters): times in UTC, durations, numbers with NaN and
infinities spelled out, sizes, visible control characters, links limited to http and https.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from urllib.parse import urlsplit

from reportgen.limits import CLIP_CHARS

# Bidi overrides, zero-width and other invisible characters that can disguise a name (shown as [U+XXXX]).
_INVISIBLE_RE = re.compile("[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def visible(text: object) -> str:
    """Text with control, bidi and zero-width characters made visible as [U+XXXX]."""
    value = "" if text is None else str(text)
    return _INVISIBLE_RE.sub(lambda m: f"[U+{ord(m.group()):04X}]", value)


def cut(text: str, limit: int = CLIP_CHARS) -> str:
    """The display rule for a long value, everywhere (tables, chart data, labels, images): at most
    `limit` characters, then an ellipsis. The data keeps the whole value; a page may show more of it
    behind a click (up to limits.FULL_VALUE_MAX_CHARS)."""
    return text if len(text) <= limit else text[:limit] + "…"


def clip(text: object, limit: int = CLIP_CHARS) -> str:
    """cut() of the text with its invisible characters made visible."""
    return cut(visible(text), limit)


def timestamp(ms: int | None) -> str:
    if ms is None:
        return ""
    try:
        moment = dt.datetime.fromtimestamp(int(ms) / 1000, tz=dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return str(ms)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(start: int | None, end: int | None) -> str:
    if start is None or end is None or end < start:
        return ""
    seconds = (int(end) - int(start)) / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s"


def number(value: object) -> str:
    """A metric value for display: 6 significant digits, NaN and infinities spelled out."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        number_ = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number_):
        return "NaN"
    if math.isinf(number_):
        return "+inf" if number_ > 0 else "-inf"
    if number_ == int(number_) and abs(number_) < 1e15:
        return str(int(number_))
    return f"{number_:.6g}"


def number_and_sort(value: float) -> tuple[str, str]:
    """(shown text, sort value) of a float cell: number()'s text; the exact repr to sort finite values by."""
    if value != value:
        return "NaN", "NaN"
    if value in (math.inf, -math.inf):
        shown = "+inf" if value > 0 else "-inf"
        return shown, shown
    if value == int(value) and abs(value) < 1e15:
        return str(int(value)), repr(value)
    return f"{value:.6g}", repr(value)


def size(num_bytes: int | None) -> str:
    if num_bytes is None:
        return ""
    value = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{num_bytes} B"


def http_url(url: object) -> str | None:
    """The URL when it is http or https (safe to put in href), else None (show it as text)."""
    if not isinstance(url, str):
        return None
    candidate = url.strip()
    if any(ch in candidate for ch in "\x00\r\n\t ") or not candidate:
        return None
    parts = urlsplit(candidate)
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return candidate
    return None


FILTERS = {
    "visible": visible,
    "clip": clip,
    "timestamp": timestamp,
    "number": number,
    "size": size,
}
