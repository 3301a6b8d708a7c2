"""Text pieces shared by summaries and checks: Markdown escaping of data strings, number and delta
formats, and Markdown or plain-text tables."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

MAX_CELL = 80  # characters of one data string shown in a table cell (a 1 MB run name stays a cell)

# Characters that mean something inline in GitHub/GitLab Markdown: emphasis, code, links, tables,
# strikethrough, math; ":" and "www." so that GFM does not turn a URL in a name into a link.
# Backslash-escaping any ASCII punctuation is valid CommonMark.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~$!#:])")
_WWW = re.compile(r"(www)\.", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
# Bidi and zero-width controls are shown as their code point, so a name cannot hide or reorder text.
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# @user and @org/team ping people in a PR comment: shown in a code span, where GitHub and GitLab never
# link them (a mention needs no word character before the @).
_MENTION = re.compile(r"(?<![A-Za-z0-9_])@[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9][A-Za-z0-9_.-]*)?")


def clip(text: str, limit: int = MAX_CELL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain_text(value: object, *, limit: int = MAX_CELL) -> str:
    """A data string on one line, control and invisible characters made harmless, clipped to `limit`."""
    text = "" if value is None else str(value)
    text = _CONTROL.sub(" ", text)
    text = _INVISIBLE.sub(lambda m: f"<U+{ord(m.group(0)):04X}>", text)
    return clip(text.strip(), limit)


def md_escape(value: object, *, limit: int = MAX_CELL) -> str:
    """A data string as inert Markdown text: it shows as written in a table cell or a heading, and
    never becomes HTML, a link, emphasis, code or a new table column or line."""
    text = plain_text(value, limit=limit)
    parts = _MENTION.split(text)
    mentions = [f"`{m}`" for m in _MENTION.findall(text)]  # only [A-Za-z0-9_./-]: nothing to escape
    escaped = [_md_inline(part) for part in parts]
    return "".join(p for pair in zip(escaped, mentions + [""]) for p in pair)


def _md_inline(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _WWW.sub(r"\1\\.", _MD_SPECIAL.sub(r"\\\1", text))


def md_url(url: str) -> str:
    """A URL safe inside Markdown link parentheses (spaces and brackets percent-encoded)."""
    return "".join(f"%{ord(c):02X}" if c in " ()<>\"'`|\\" or ord(c) < 33 else c for c in url)


def fmt_value(value: float | None, *, digits: int = 4) -> str:
    """A metric value: `digits` significant digits; NaN, +inf, -inf spelled out; None as an em dash."""
    if value is None:
        return "—"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    text = f"{value:.{digits}g}"
    return "0" if text == "-0" else text


def fmt_signed(value: float, *, digits: int = 3) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return "±0" if value == 0 else f"{value:+.{digits}g}"


@dataclass(frozen=True)
class Delta:
    """candidate - baseline, as an absolute and a percent of |baseline|, judged by the metric's direction.

    verdict: better, worse, same, higher or lower (direction unknown), or none (a side is missing).
    """

    absolute: float | None
    percent: float | None
    verdict: str


MARKS = {"better": "✅ better", "worse": "❌ worse", "same": "➖ same", "higher": "▲ higher", "lower": "▼ lower",
         "none": ""}


def delta(candidate: float | None, baseline: float | None, direction: str | None) -> Delta:
    if candidate is None or baseline is None or math.isnan(candidate) or math.isnan(baseline):
        return Delta(None, None, "none")
    if candidate == baseline:
        return Delta(0.0, 0.0, "same")
    with_inf = math.isinf(candidate) or math.isinf(baseline)
    absolute = candidate - baseline
    if math.isnan(absolute):  # inf - inf: both infinite, same sign handled above
        return Delta(None, None, "none")
    percent = None if baseline == 0 or with_inf else absolute / abs(baseline) * 100.0
    up = absolute > 0
    if direction is None:
        verdict = "higher" if up else "lower"
    else:
        verdict = "better" if up == (direction == "max") else "worse"
    return Delta(absolute, percent, verdict)


def fmt_delta(d: Delta) -> str:
    if d.verdict == "none" or d.absolute is None:
        return ""
    if d.verdict == "same":
        return MARKS["same"]
    percent = "n/a" if d.percent is None else f"{d.percent:+.2f}%"
    return f"{fmt_signed(d.absolute)} ({percent}) {MARKS[d.verdict]}"


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: Sequence[bool] | None = None) -> str:
    """A GitHub-flavoured Markdown table; cells must already be escaped (md_escape)."""
    right = list(right) if right is not None else [False] * len(headers)
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def plain_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded with spaces, for terminals and CI logs; cells are plain_text already."""
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)
