"""The rules for artifact path names every reader shares (local folders, object stores, a server's
listing): which names are never published, how a path is shown in a message, and which relative paths
are refused for escaping their root.
"""
from __future__ import annotations

from urllib.parse import unquote

from reportgen.errors import InvalidParameterValue


def unpublishable(name: str) -> str:
    """Why an artifact file or folder name is never listed, copied or previewed ('' when it may be).

    Hidden names (.git, .env, .ssh, any name starting with '.') hold a tool's state or a user's
    secrets, never a run's output; a name that is not UTF-8 (surrogate-escaped by the OS) cannot be
    written into a page."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not UTF-8; skipped"
    if name.startswith("."):
        return "hidden file or folder (a name starting with '.'); never published"
    return ""


def shown_name(text: str) -> str:
    """A path as a message can carry it: bytes that are not UTF-8 shown as \\xNN escapes."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte (from JSON, say)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def clean_relpath(path: str | None) -> str:
    """A relative artifact path checked for escapes: '' for the root.

    Percent-escapes are decoded first (twice-encoded too), then '..', absolute paths, backslashes,
    NUL and drive letters are refused with InvalidParameterValue.
    """
    if path is None:
        return ""
    decoded = str(path)
    for _ in range(3):  # decode until stable, so %252e%252e is seen as '..' as well
        again = unquote(decoded)
        if again == decoded:
            break
        decoded = again
    if "\x00" in decoded or "\\" in decoded:
        raise InvalidParameterValue(f"Invalid artifact path {path!r}: backslash or NUL")
    if decoded.startswith("/") or (len(decoded) > 1 and decoded[1] == ":"):
        raise InvalidParameterValue(f"Invalid artifact path {path!r}: absolute paths are not allowed")
    parts = [p for p in decoded.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidParameterValue(f"Invalid artifact path {path!r}: '..' is not allowed")
    return "/".join(parts)
