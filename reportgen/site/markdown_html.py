"""Markdown notes and artifacts rendered to HTML and sanitized with nh3 (python-markdown keeps raw HTML).

Links keep only http, https and relative targets, and images are dropped (a remote one would go online,
a relative one points nowhere in the site), so a note can never make the report load anything.
"""
from __future__ import annotations

import markdown
import nh3
from markupsafe import Markup

# Beyond this a note is cut: markdown costs ~1.4 ms/KB and a page must stay readable.
MAX_MARKDOWN_CHARS = 200_000
_EXTENSIONS = ["tables", "fenced_code", "sane_lists"]
_LINK_SCHEMES = {"http", "https"}


_TAGS = set(nh3.ALLOWED_TAGS) - {"img"}


def sanitize_html(html: str) -> Markup:
    """Untrusted HTML reduced to inert formatting (no script, style, iframe, form, on* or remote image)."""
    cleaned = nh3.clean(
        html,
        tags=_TAGS,
        url_schemes=_LINK_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(cleaned)  # noqa: S704 - nh3 output is sanitized HTML


def render_markdown(text: str, *, max_chars: int = MAX_MARKDOWN_CHARS) -> Markup:
    """Markdown text (a run note, a README artifact) as sanitized HTML."""
    if len(text) > max_chars:
        text = text[:max_chars] + "\n\n*(cut: the text is longer than the report shows)*"
    html = markdown.markdown(text, extensions=_EXTENSIONS, output_format="html")
    return sanitize_html(html)
