"""Markdown notes and artifacts rendered to HTML and sanitized with nh3 (python-markdown keeps raw HTML).

Links keep only http, https and relative targets; images only relative sources, so a note can never
make the published report load anything from the network.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import markdown
import nh3
from markupsafe import Markup

# Beyond this a note is cut: markdown costs ~1.4 ms/KB and a page must stay readable.
MAX_MARKDOWN_CHARS = 200_000
_EXTENSIONS = ["tables", "fenced_code", "sane_lists"]
_LINK_SCHEMES = {"http", "https"}


def _is_relative(url: str) -> bool:
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and not url.startswith("//")


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    # nh3 already drops javascript:, data: and unknown schemes; this narrows further.
    if tag == "img" and attribute == "src" and not _is_relative(value.strip()):
        return None
    return value


def sanitize_html(html: str) -> Markup:
    """Untrusted HTML reduced to inert formatting (no script, style, iframe, form, on* or remote image)."""
    cleaned = nh3.clean(
        html,
        url_schemes=_LINK_SCHEMES,
        attribute_filter=_attribute_filter,
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(cleaned)  # noqa: S704 - nh3 output is sanitized HTML


def render_markdown(text: str, *, max_chars: int = MAX_MARKDOWN_CHARS) -> Markup:
    """Markdown text (a run note, a README artifact) as sanitized HTML."""
    if len(text) > max_chars:
        text = text[:max_chars] + "\n\n*(cut: the text is longer than the report shows)*"
    html = markdown.markdown(text, extensions=_EXTENSIONS, output_format="html")
    return sanitize_html(html)
