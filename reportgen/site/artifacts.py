"""A run's artifacts in the site: a bounded walk through the store API, copies under sanitized names, and
previews (images, escaped text, CSV tables, sanitized markdown, HTML in a sandboxed iframe).

Files are read only through Store.open_artifact (which refuses symlinks, special files and paths outside
the run); here the output names are made safe and sizes are capped per file and per site.
"""
from __future__ import annotations

import base64
import hashlib
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from reportgen.errors import ReportgenError
from reportgen.site.artifact_preview import preview_for, preview_kind
from reportgen.stores.artifacts import unpublishable

# Walk bounds: a run with a million files or a deep tree must not stall the build.
MAX_DEPTH = 16
MAX_ENTRIES_PER_RUN = 2000
MAX_PREVIEWS_PER_RUN = 40
HEAD_BYTES = 64 * 1024
MAX_COMPARE_IMAGES = 12
_CHUNK = 1 << 20
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
class Budget:
    """Bytes the site may still take in copied artifacts."""

    per_file: int
    remaining: int


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
    base = _SAFE_NAME_RE.sub("_", posixpath.basename(path)).lstrip("._")[:80] or "file"
    if extension(base) not in SERVED_AS_IS:  # the cleaned, cut name is what a host sees
        base += SAFE_SUFFIX
    return f"{digest}-{base}"


class RunArtifacts:
    """Walks, copies and previews the artifacts of one run into `<out>/<run_dir>/files/`."""

    def __init__(self, store: Any, run_id: str, *, out_dir: Path, run_dir: str, budget: Budget,
                 warn: Callable[[str, str], None], copy: bool = True) -> None:
        self.store = store
        self.run_id = run_id
        self.out_dir = out_dir
        self.run_dir = run_dir
        self.budget = budget
        self.warn = warn
        self.copy = copy
        self.entries = 0
        self.previews = 0
        self.copied_bytes = 0

    def _where(self, path: str) -> str:
        return f"run {self.run_id} artifact {path!r}"  # repr: control characters and surrogates escaped

    def _publishable(self, path: str) -> bool:
        """False (with a problem) for a path with a hidden or non-UTF-8 part. A local store's walk
        leaves those out already; a server's listing is checked here."""
        for part in path.split("/"):
            reason = unpublishable(part)
            if reason:
                self.warn(self._where(path), reason)
                return False
        return True

    def walk(self) -> list[ArtifactNode]:
        """The run's artifact tree: Store.walk_artifacts lists every regular file (symlinks and special
        files are skipped there, with a problem each); folders are rebuilt from the paths."""
        try:
            infos = self.store.walk_artifacts(self.run_id, max_files=MAX_ENTRIES_PER_RUN)
        except ReportgenError as exc:
            self.warn(self._where(""), f"cannot list artifacts: {exc}")
            return []
        root = ArtifactNode(name="", path="", is_dir=True)
        folders: dict[str, ArtifactNode] = {"": root}
        for info in sorted(infos, key=lambda item: item.path):
            if not self._publishable(info.path):
                continue
            parts = info.path.split("/")
            if len(parts) > MAX_DEPTH:
                self.warn(self._where(info.path), f"deeper than {MAX_DEPTH} folders; not listed")
                continue
            parent = root
            for depth in range(1, len(parts)):
                prefix = "/".join(parts[:depth])
                if prefix not in folders:
                    folders[prefix] = ArtifactNode(name=parts[depth - 1], path=prefix, is_dir=True)
                    parent.children.append(folders[prefix])
                parent = folders[prefix]
            parent.children.append(
                self._file(ArtifactNode(name=parts[-1], path=info.path, is_dir=False, size=info.file_size))
            )
        _folders_first(root)
        return root.children

    def _read(self, path: str, limit: int) -> tuple[bytes, bool]:
        """At most `limit` bytes of the file and whether there was more."""
        with self.store.open_artifact(self.run_id, path) as handle:
            data = handle.read(limit + 1)
        return data[:limit], len(data) > limit

    def _file(self, node: ArtifactNode) -> ArtifactNode:
        kind = preview_kind(node.path)
        wants_preview = self.previews < MAX_PREVIEWS_PER_RUN and kind != "download"
        fits = node.size is None or node.size <= self.budget.per_file
        if self.copy and not fits:
            self.warn(self._where(node.path), "not copied: larger than --max-artifact-size")
            node.note = "too large to copy"
        try:
            if self.copy and fits and self.budget.remaining > 0:
                data, more = self._copy(node)
            elif wants_preview:
                data, more = self._read(node.path, HEAD_BYTES)
            else:
                data, more = b"", True
        except (ReportgenError, OSError) as exc:
            self.warn(self._where(node.path), f"skipped: {exc}")
            node.note = "not readable"
            return node
        if self.copy and node.href is None and not node.note:
            node.note = "too large to copy" if not fits or more else "not copied (site size limit)"
        if wants_preview and data:
            node.preview = preview_for(kind, data, truncated=more, href=node.href, data_uri=_data_uri)
            if node.preview is not None:
                self.previews += 1
        return node

    def _copy(self, node: ArtifactNode) -> tuple[bytes, bool]:
        limit = min(self.budget.per_file, self.budget.remaining)
        data, more = self._read(node.path, limit)
        if more:
            reason = "larger than --max-artifact-size" if limit == self.budget.per_file else "site size limit reached"
            self.warn(self._where(node.path), f"not copied: {reason}")
            node.note = "too large to copy" if limit == self.budget.per_file else "not copied (site size limit)"
            return data[:HEAD_BYTES], True
        relative = f"{self.run_dir}/files/{safe_file_name(node.path)}"
        target = self.out_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self.budget.remaining -= len(data)
        self.copied_bytes += len(data)
        node.href = relative
        node.size = len(data)
        return data, False


def image_artifacts(nodes: list[ArtifactNode], limit: int = MAX_COMPARE_IMAGES) -> list[dict[str, str]]:
    """The copied images of a tree, depth first (path and href relative to the site root), at most `limit`."""
    found: list[dict[str, str]] = []
    stack = list(reversed(nodes))
    while stack and len(found) < limit:
        node = stack.pop()
        if node.is_dir:
            stack.extend(reversed(node.children))
        elif node.href and node.preview and node.preview.get("kind") == "image" and node.preview.get("src") == node.href:
            found.append({"path": node.path, "href": node.href})
    return found


def _folders_first(node: ArtifactNode) -> None:
    node.children.sort(key=lambda child: (not child.is_dir, child.name))
    for child in node.children:
        if child.is_dir:
            _folders_first(child)


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def size_limit_reached(nodes: list[ArtifactNode]) -> bool:
    """Whether some file of the tree was not copied because the site size limit was reached."""
    return any(node.note == "not copied (site size limit)" or size_limit_reached(node.children) for node in nodes)
