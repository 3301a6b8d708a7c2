"""The write step of a run's artifacts: the copies the plan (artifacts.plan) decided, under sanitized
names, and the run page's tree with previews (images, escaped text, CSV tables, sanitized markdown, HTML
in a sandboxed iframe) made from the bytes read.

Files are read only through Store.open_artifact (which refuses symlinks, special files and paths outside
the run).
"""
from __future__ import annotations

import base64
import hashlib
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from reportgen.errors import ReportgenError
from reportgen.site.artifacts.plan import PlannedFile, where
from reportgen.site.artifacts.preview import preview_for, preview_kind
from reportgen.site.artifacts.thumbnails import thumb_href, write_thumbnail
from reportgen.stores.objectstore import prefetch_run

HEAD_BYTES = 64 * 1024
# The only extensions a copy keeps: types every common static host (GitHub and GitLab Pages, Netlify,
# S3, nginx, Apache, python -m http.server) maps to a passive MIME type that no browser runs script
# in on the site's origin. Every other name, and a name without an extension, gets SAFE_SUFFIX: an
# allowlist, because a blocklist misses .xht, .shtm, .rss, .atom, .xsd and whatever a host's table
# maps to an active type next, and an extension a host does not know is served with no type at all
# (Apache), which the browser sniffs, as HTML when the file starts like HTML.
SERVED_AS_IS = frozenset(
    {"png", "jpg", "jpeg", "gif", "webp", "bmp", "ico", "avif", "txt", "csv", "tsv", "json", "pdf"}
)
SAFE_SUFFIX = ".txt"  # text/plain everywhere; the page's link downloads it (download attribute) either way
_SAFE_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class ArtifactNode:
    name: str
    path: str
    is_dir: bool
    size: int | None = None
    href: str | None = None  # relative to the site root; None when not copied
    note: str = ""
    preview: dict[str, Any] | None = None
    children: list["ArtifactNode"] = field(default_factory=list)


def extension(path: str) -> str:
    base = posixpath.basename(path)
    return base.rsplit(".", 1)[1].lower() if "." in base.strip(".") else ""


def safe_file_name(path: str) -> str:
    """An output file name that cannot escape its folder or collide: hash of the path + cleaned name,
    ending in an extension of SERVED_AS_IS (the name's own, or SAFE_SUFFIX appended)."""
    digest = hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    base = _SAFE_NAME_RE.sub("_", posixpath.basename(path)).lstrip("._")
    kept = extension(base)
    if len(base) > 80 and kept in SERVED_AS_IS:  # cut the stem: MLflow's step images have 90-character names
        base = base[:79 - len(kept)].rstrip(".") + "." + kept
    base = base[:80] or "file"
    if extension(base) not in SERVED_AS_IS:  # the cleaned, cut name is what a host sees
        base += SAFE_SUFFIX
    return f"{digest}-{base}"


def write_artifacts(store: Any, run_id: str, planned: list[PlannedFile], *, out_dir: Path, run_dir: str,
                    warn: Callable[[str, str], None]) -> list[ArtifactNode]:
    """Copies the planned files of one run into `<out_dir>/<run_dir>/files/` and returns the run page's
    tree of them, folders first, with previews made from the bytes read."""
    # Files in an object store are read ahead, several at once: the same bytes _write reads.
    prefetch_run(store, run_id, [(item.path, _limit(item)) for item in planned if item.copy or item.preview])
    return file_tree(_write(store, run_id, item, file_node(item), out_dir, run_dir, warn) for item in planned)


def file_node(item: PlannedFile, *, href: str | None = None) -> ArtifactNode:
    return ArtifactNode(name=item.path.rsplit("/", 1)[-1], path=item.path, is_dir=False, size=item.size,
                        note=item.note, href=href)


def file_tree(files: Iterable[ArtifactNode]) -> list[ArtifactNode]:
    """Files as a tree of the folders their paths name, folders first and by name at every level."""
    root = ArtifactNode(name="", path="", is_dir=True)
    folders: dict[str, ArtifactNode] = {"": root}
    for node in files:
        parts = node.path.split("/")
        parent = root
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            if prefix not in folders:
                folders[prefix] = ArtifactNode(name=parts[depth - 1], path=prefix, is_dir=True)
                parent.children.append(folders[prefix])
            parent = folders[prefix]
        parent.children.append(node)
    _folders_first(root)
    return root.children


def _limit(item: PlannedFile) -> int:
    """The bytes a copy (its listed size) or a preview (its head) needs; one more is read."""
    return (item.size or 0) if item.copy else HEAD_BYTES


def _write(store: Any, run_id: str, item: PlannedFile, node: ArtifactNode, out_dir: Path, run_dir: str,
           warn: Callable[[str, str], None]) -> ArtifactNode:
    if not item.copy and not item.preview:
        return node
    # A planned copy reads one byte more than listed: a file that grew since the listing is not copied.
    limit = _limit(item)
    try:
        with store.open_artifact(run_id, item.path) as handle:
            data = handle.read(limit + 1)
    except (ReportgenError, OSError) as exc:
        warn(where(run_id, item.path), f"skipped: {exc}")
        node.note = "not readable"
        return node
    more = len(data) > limit
    data = data[:limit]
    if item.copy and more:
        warn(where(run_id, item.path), "not copied: it changed while the report was built")
        node.note = "changed while copying"
    elif item.copy:
        relative = f"{run_dir}/files/{safe_file_name(item.path)}"
        target = out_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        node.href = relative
        node.size = len(data)
        if item.thumb:  # a per-step image: its thumbnail, from the same bytes
            write_thumbnail(data, out_dir / thumb_href(run_dir, target.name), limit=item.thumb,
                            warn=lambda message: warn(where(run_id, item.path), message))
    if item.preview and data:
        truncated = node.href is None and (more or len(data) > HEAD_BYTES)
        node.preview = preview_for(preview_kind(item.path), data if node.href else data[:HEAD_BYTES],
                                   truncated=truncated, href=node.href, data_uri=_data_uri)
    return node


def copied_paths(nodes: list[ArtifactNode]) -> set[str]:
    """The artifact paths of a tree that were copied into the site."""
    found: set[str] = set()
    stack = list(nodes)
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.href:
            found.add(node.path)
    return found


def _folders_first(node: ArtifactNode) -> None:
    node.children.sort(key=lambda child: (not child.is_dir, child.name))
    for child in node.children:
        if child.is_dir:
            _folders_first(child)


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
