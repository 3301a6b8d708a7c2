"""Markdown notes and artifacts rendered to HTML and sanitized with nh3 (python-markdown keeps raw HTML),
and a note's relative links resolved against the files copied into the site.

Links keep only http, https and relative targets. Images are dropped, except those a note's LocalLinks
resolved to a copied file (a remote one would go online), so a note can never make the report load
anything from elsewhere.
"""
from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import markdown
import nh3
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup

# Beyond this a note is cut: markdown costs ~1.4 ms/KB and a page must stay readable.
MAX_MARKDOWN_CHARS = 200_000
_EXTENSIONS = ["tables", "fenced_code", "sane_lists"]
_LINK_SCHEMES = {"http", "https"}


_TAGS = set(nh3.ALLOWED_TAGS) - {"img"}


@dataclass
class LocalLinks:
    """Relative link targets resolved against a set of files (artifact path -> URL from the page);
    `missed` keeps, in order, each relative target that matched none."""

    urls: dict[str, str]
    missed: list[str] = field(default_factory=list)
    made: set[str] = field(default_factory=set)  # the URLs handed out: the only image sources let through

    @staticmethod
    def is_local(target: str) -> bool:
        """A target to resolve: no scheme or host, not site-absolute ('/...') and not a fragment ('#...')."""
        if not target or target.startswith(("/", "#", "\\")):
            return False
        parts = urlsplit(target)
        return not parts.scheme and not parts.netloc

    def resolve(self, target: str) -> str | None:
        """The URL of the file a relative target names (its fragment kept; a query means nothing to a
        copied file), or None when it names no file or climbs out of the run's artifacts with '..'."""
        parts = urlsplit(target)
        for path in dict.fromkeys((parts.path, unquote(parts.path))):
            normal = posixpath.normpath(path)
            if normal.startswith("../") or normal in ("..", ".") or normal not in self.urls:
                continue
            url = self.urls[normal] + (f"#{parts.fragment}" if parts.fragment else "")
            self.made.add(url)
            return url
        if target not in self.missed:
            self.missed.append(target)
        return None

    def attribute(self, element: str, attribute: str, value: str) -> str | None:
        """nh3's attribute filter (it has checked the scheme before): the targets of links and images
        written as raw HTML resolved too, and an image's source kept only when it is a resolved file."""
        target = {"a": "href", "img": "src"}.get(element) == attribute
        if not target or value in self.made:
            return value
        if self.is_local(value):
            return self.resolve(value)
        return None if element == "img" else value


class _ResolveLinks(Treeprocessor):
    """Markdown links and images with a relative target: pointed at the copied file, or made plain text
    (a span with the link's content or the image's alt text) when none matches."""

    def __init__(self, md: markdown.Markdown, links: LocalLinks) -> None:
        super().__init__(md)
        self.links = links

    def run(self, root: ET.Element) -> None:
        for element in root.iter():
            name = {"a": "href", "img": "src"}.get(element.tag)
            target = element.get(name) if name else None
            if target is None or not self.links.is_local(target):
                continue
            url = self.links.resolve(target)
            if url is not None:
                element.set(name, url)
                continue
            alt = element.get("alt", "") if element.tag == "img" else None
            element.tag = "span"
            element.attrib.clear()
            if alt is not None:
                element.text = alt


class _LinksExtension(Extension):
    def __init__(self, links: LocalLinks) -> None:
        super().__init__()
        self.links = links

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 - python-markdown's name
        # After "inline" (20), which makes the links and images; before "unescape" (0).
        md.treeprocessors.register(_ResolveLinks(md, self.links), "reportgen_local_links", 15)


def sanitize_html(html: str, *, links: LocalLinks | None = None) -> Markup:
    """Untrusted HTML reduced to inert formatting (no script, style, iframe, form, on* or remote image).
    With `links`, relative targets are resolved by it and images are kept with the sources it resolved."""
    cleaned = nh3.clean(
        html,
        tags=_TAGS | {"img"} if links else _TAGS,
        attribute_filter=links.attribute if links else None,
        url_schemes=_LINK_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(cleaned)  # noqa: S704 - nh3 output is sanitized HTML


def render_markdown(text: str, *, max_chars: int = MAX_MARKDOWN_CHARS, links: LocalLinks | None = None) -> Markup:
    """Markdown text (a run note, a README artifact) as sanitized HTML; with `links`, relative links and
    images resolved by it (those it cannot resolve become text and are listed in `links.missed`)."""
    if len(text) > max_chars:
        text = text[:max_chars] + "\n\n*(cut: the text is longer than the report shows)*"
    extensions: list = [*_EXTENSIONS, _LinksExtension(links)] if links else _EXTENSIONS
    html = markdown.markdown(text, extensions=extensions, output_format="html")
    return sanitize_html(html, links=links)
