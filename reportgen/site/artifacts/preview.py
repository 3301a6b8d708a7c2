"""What a run page shows for one artifact file, by kind: image, svg, html, markdown, table (CSV, or the
JSON of MLflow's log_table), text or a download link only. Every preview is plain data for the template, which escapes it.
"""
from __future__ import annotations

import csv
import io
import json
import posixpath
from typing import Any, Callable

from reportgen.site.markdown_html import render_markdown

IMAGE_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "gif", "webp", "bmp", "ico", "avif"})
TEXT_EXTENSIONS = frozenset(
    {"txt", "log", "json", "jsonl", "yaml", "yml", "toml", "ini", "cfg", "conf", "py", "sh", "r", "sql",
     "js", "ts", "java", "c", "h", "cpp", "hpp", "go", "rs", "rb", "ipynb", "xml", "css", "out", "err",
     "diff", "patch", "properties", "env", "tex", "rst"}
)
TEXT_NAMES = frozenset({"MLmodel", "Dockerfile", "Makefile", "requirements.txt", "LICENSE", "README"})
MAX_TEXT_LINES = 200
MAX_TEXT_CHARS = 32_000
MAX_TABLE_ROWS = 50
MAX_TABLE_COLUMNS = 40
MAX_CELL_CHARS = 200
# A log_table file is shown whole up to these bounds (the page holds every row; TABLE_PAGE_ROWS at a time
# show, the first page without JavaScript); past them the beginning, and the file is one click away.
TABLE_PAGE_ROWS = 500
MAX_LOGGED_TABLE_ROWS = 10_000
MAX_LOGGED_TABLE_CELLS = 100_000
MAX_INLINE_BYTES = 512 * 1024  # svg as data: URI, html in srcdoc
# The policy of an HTML preview: no request to anywhere. The sandbox stops its scripts but not its
# fetches, and a srcdoc frame inherits the page's policy, whose 'self' lets CSS @import, fonts,
# background images, <img> and <link> reach the site's own host (a beacon in a published report).
PREVIEW_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
# First in the srcdoc: the parser puts a leading <meta> into the document's <head> before anything
# of the artifact, so the policy holds from the first byte (a later policy could only add limits).
PREVIEW_HEAD = f'<meta http-equiv="Content-Security-Policy" content="{PREVIEW_CSP}">'


def preview_kind(path: str) -> str:
    base = posixpath.basename(path)
    ext = base.rsplit(".", 1)[1].lower() if "." in base.strip(".") else ""
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext == "svg":
        return "svg"
    if ext in ("html", "htm", "xhtml"):
        return "html"
    if ext in ("md", "markdown"):
        return "markdown"
    if ext in ("csv", "tsv"):
        return "table"
    if ext in TEXT_EXTENSIONS or base in TEXT_NAMES:
        return "text"
    if not ext:
        return "sniff"
    return "download"


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _text(data: bytes, *, truncated: bool) -> dict[str, Any]:
    text = _decode(data[:MAX_TEXT_CHARS * 4])
    lines = text.splitlines()
    cut = truncated or len(lines) > MAX_TEXT_LINES or len(text) > MAX_TEXT_CHARS
    text = "\n".join(lines[:MAX_TEXT_LINES])[:MAX_TEXT_CHARS]
    return {"kind": "text", "text": text, "truncated": cut}


def _json(data: bytes, *, truncated: bool) -> dict[str, Any]:
    if not truncated:
        try:
            value = json.loads(_decode(data))
            table = _logged_table(value)
            if table:
                return table
            pretty = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
            return _text(pretty.encode("utf-8"), truncated=False)
        except (ValueError, RecursionError):
            pass
    return _text(data, truncated=truncated)


def is_logged_table(value: Any) -> bool:
    """True for the JSON log_table writes (pandas' "split" orient: columns and rows of cells)."""
    return (isinstance(value, dict) and {"columns", "data"} <= value.keys() <= {"columns", "data", "index"}
            and isinstance(value["columns"], list) and isinstance(value["data"], list)
            and all(isinstance(row, list) for row in value["data"]))


def _logged_table(value: Any) -> dict[str, Any] | None:
    if not is_logged_table(value):
        return None
    columns = value["columns"][:MAX_TABLE_COLUMNS]
    rows = value["data"][:min(MAX_LOGGED_TABLE_ROWS, MAX_LOGGED_TABLE_CELLS // max(1, len(columns)))]
    return {"kind": "logged_table", "header": [_cell(name) for name in columns],
            "rows": [[_cell(cell) for cell in row[:len(columns)]] for row in rows],
            "page_rows": TABLE_PAGE_ROWS, "total_rows": len(value["data"]),
            "truncated": len(rows) < len(value["data"]) or len(columns) < len(value["columns"])}


def _cell(value: Any) -> str:
    """A cell as text: JSON's own spelling for numbers, true/false and nested values (an image cell of
    log_table is a dict naming its file), nothing for null."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text[:MAX_CELL_CHARS]


def _table(data: bytes, *, delimiter: str, truncated: bool) -> dict[str, Any]:
    text = _decode(data)
    if truncated and "\n" in text:
        text = text[: text.rfind("\n")]  # drop the half line at the cut
    rows = []
    try:
        for index, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter)):
            if index > MAX_TABLE_ROWS:
                truncated = True
                break
            rows.append([cell[:MAX_CELL_CHARS] for cell in row[:MAX_TABLE_COLUMNS]])
    except csv.Error:
        return _text(data, truncated=truncated)
    if not rows:
        return _text(data, truncated=truncated)
    return {"kind": "table", "header": rows[0], "rows": rows[1:], "truncated": truncated}


def preview_for(kind: str, data: bytes, *, truncated: bool, href: str | None,
                data_uri: Callable[[bytes, str], str]) -> dict[str, Any] | None:
    """The preview of one file from its bytes (whole or head); None when nothing useful can be shown."""
    if kind == "image":
        return {"kind": "image", "src": href} if href else None
    if kind == "svg":
        if truncated or len(data) > MAX_INLINE_BYTES:
            return None
        # As an <img> source an SVG never runs script; a data: URI keeps it off the site's origin.
        return {"kind": "image", "src": data_uri(data, "image/svg+xml")}
    if kind == "html":
        if truncated or len(data) > MAX_INLINE_BYTES:
            return _text(data, truncated=truncated)
        return {"kind": "html", "srcdoc": PREVIEW_HEAD + _decode(data)}
    if kind == "markdown":
        return {"kind": "markdown", "html": render_markdown(_decode(data)), "truncated": truncated}
    if kind == "table":
        return _table(data, delimiter="\t" if data[:4096].count(b"\t") > data[:4096].count(b",") else ",",
                      truncated=truncated)
    if kind == "text":
        return _json(data, truncated=truncated) if data[:1] in (b"{", b"[") else _text(data, truncated=truncated)
    if kind == "sniff":
        head = data[:8192]
        if b"\x00" in head:
            return None
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # a multi-byte character cut at the end is fine
                return None
        return _text(data, truncated=truncated)
    return None
