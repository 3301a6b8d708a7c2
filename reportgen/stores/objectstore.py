"""Artifacts on object storage (s3://, gs://, Azure's wasbs:// and abfss://), listed, read and written
through fsspec (the optional extras reportgen[s3], [gcs], [azure]), with credentials only from each
service's own provider chain and endpoints from the variables MLflow reads (MLFLOW_S3_ENDPOINT_URL...).
"""
from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable
from urllib.parse import urlsplit

from reportgen.errors import InvalidParameterValue, ReportgenError, ResourceDoesNotExist
from reportgen.model import FileInfo
from reportgen.stores._artifact_names import clean_relpath, shown_name, unpublishable
from reportgen.stores._objectfs import BACKENDS, describe, filesystem, noted
from reportgen.uri import redact_uri, scheme_of

# Requests in flight at once for one upload or one batch of reads: enough to hide a store's latency,
# few enough that a report never floods a shared bucket or the machine's sockets.
MAX_CONCURRENCY = 8
# Objects listed for a run's cache key at most (the walk lists twice what it keeps).
SIGNATURE_LIMIT = 200_000
# What one run's read-ahead may hold in memory; the files past it are read one by one.
MAX_PREFETCH_BYTES = 64 * 1024 * 1024
_LOCK = threading.Lock()
# (root URI, relative path) -> the bytes read ahead for it, taken (once) by open_file.
_PREFETCHED: dict[tuple[str, str], bytes] = {}


def is_object_uri(uri: str) -> bool:
    return bool(uri) and scheme_of(uri) in BACKENDS


def missing_extra(uri: str) -> str:
    """'' when the package that reads this URI's scheme is installed, else the one-line advice."""
    package, extra, _ = BACKENDS[scheme_of(uri)]
    if importlib.util.find_spec(package) is not None:
        return ""
    return f"{scheme_of(uri)}:// artifacts need {package}: pip install 'reportgen[{extra}]'"


@dataclass(frozen=True)
class ObjectRoot:
    """A folder of objects: `bucket` (an Azure container) and `prefix` (no slash at either end);
    `account` is the Azure storage account. str() is the URI, as messages and cache keys show it."""

    scheme: str
    bucket: str
    prefix: str = ""
    account: str = ""

    @property
    def uri(self) -> str:
        host = f"{self.bucket}@{self.account}" if self.account else self.bucket
        return f"{self.scheme}://{host}/{self.prefix}" if self.prefix else f"{self.scheme}://{host}"

    @property
    def path(self) -> str:
        """The root as fsspec names it: bucket/prefix."""
        return f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket

    def child(self, rel: str) -> "ObjectRoot":
        return ObjectRoot(self.scheme, self.bucket, "/".join(p for p in (self.prefix, rel) if p), self.account)

    def __str__(self) -> str:
        return self.uri


def parse(uri: str) -> ObjectRoot:
    """The ObjectRoot of s3://bucket/prefix, gs://bucket/prefix, wasbs://container@account.blob.../prefix
    or abfss://filesystem@account.dfs.../prefix; InvalidParameterValue for anything else (a user:password
    in the URI, a query, a '..' in the prefix)."""
    scheme = scheme_of(uri)
    if scheme not in BACKENDS:
        raise InvalidParameterValue(f"{scheme}: is not an object store URI")
    parts = urlsplit(uri)
    if parts.query or parts.fragment:
        raise InvalidParameterValue(f"object store URI {redact_uri(uri)!r} has a query or fragment")
    host, account = parts.netloc, ""
    if scheme in ("wasbs", "abfss"):
        host, _, domain = host.partition("@")
        account = domain.split(".", 1)[0]
        if not account:
            raise InvalidParameterValue(f"{scheme}: URI needs container@account.<domain>: {redact_uri(uri)!r}")
    if not host or "@" in host or ":" in host or "/" in host:
        raise InvalidParameterValue(f"object store URI {redact_uri(uri)!r} names no plain bucket")

    return ObjectRoot(scheme, host, clean_relpath(parts.path.strip("/")), account)


def _checked_rel(root: ObjectRoot, name: str) -> str:
    """The path of a listed object relative to root, or InvalidParameterValue: a key is any string in
    object storage, and '../x', '/x', 'a//b' or a backslash must never become a path in a report."""
    prefix = root.path + "/"
    if not name.startswith(prefix):
        raise InvalidParameterValue(f"object {name!r} is not under {root.path!r}")
    rel = name[len(prefix):]

    if clean_relpath(rel) != rel:
        raise InvalidParameterValue(f"object key {rel!r} is not a plain relative path")
    return rel


def _listing(root: ObjectRoot, limit: int) -> dict[str, dict]:
    """The objects under root/ (name -> fsspec info), at most `limit` of them: S3's pages are read only
    until then (a prefix of a million keys is not listed whole); FileNotFoundError for a bucket that is
    not there, PermissionError for credentials it refuses."""
    fs = filesystem(root)
    pages = getattr(fs, "_iterdir", None) if root.scheme == "s3" else None
    if pages is None:
        return dict(list(fs.find(root.path + "/", detail=True, withdirs=False).items())[:limit])
    from fsspec.asyn import sync

    async def first() -> dict[str, dict]:
        found: dict[str, dict] = {}
        async for info in pages(root.bucket, delimiter="", prefix=root.prefix + "/"):
            found[info["name"]] = info
            if len(found) >= limit:
                break  # leaving the generator stops the paging
        return found

    return sync(fs.loop, first)


def walk(root: ObjectRoot, *, on_skip: Callable[[str, str], None], max_files: int) -> list[FileInfo]:
    """Every object of the run's folder with the size the listing gives (so the copy plan decides
    before a byte is read); unsafe and hidden keys, folder markers and everything past max_files are
    left out, each with on_skip(where, why). A listing that fails is one on_skip, and []."""

    limit = 2 * max_files + 1  # room for the keys left out below
    try:
        found = _listing(root, limit)
    except ReportgenError as exc:
        on_skip(root.uri, f"cannot list artifacts: {exc.message}")
        return []
    except Exception as exc:  # noqa: BLE001  (any client error: one run's artifacts, never the build)
        on_skip(root.uri, f"cannot list artifacts: {describe(noted(root, exc))}")
        return []
    files: list[FileInfo] = []
    for name in sorted(found):
        info = found[name]
        if name.endswith("/") or info.get("type") == "directory":
            continue  # a folder marker (size 0, key ending in '/'), as MLflow skips them
        try:
            rel = _checked_rel(root, name)
        except InvalidParameterValue as exc:
            on_skip(f"{root.uri}/{shown_name(name[len(root.path) + 1:])}", f"unsafe object key skipped: {exc.message}")
            continue
        reason = next((why for why in map(unpublishable, rel.split("/")) if why), "")
        if reason:
            on_skip(f"{root.uri}/{shown_name(rel)}", reason)
            continue
        if len(files) >= max_files:
            on_skip(root.uri, f"more than {max_files} artifact files; the rest are left out")
            break
        size = info.get("size")
        files.append(FileInfo(rel, False, int(size) if isinstance(size, int) and size >= 0 else None))
    else:
        if len(found) >= limit:
            on_skip(root.uri, f"more than {limit - 1} objects listed; the rest are left out")
    return files


def list_dir(root: ObjectRoot, path: str | None) -> list[FileInfo]:
    """One level under `path`, like MLflow's list_artifacts; a missing prefix lists as []."""

    rel = clean_relpath(path)
    folder = root.child(rel)
    try:
        entries = filesystem(root).ls(folder.path + "/", detail=True)
    except FileNotFoundError as exc:
        if "bucket does not exist" in str(exc).lower():  # S3's NoSuchBucket, as s3fs words it
            raise ReportgenError(f"cannot list {folder.uri}: {describe(exc)}") from None
        return []  # no such prefix: a run without artifacts
    except ReportgenError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ReportgenError(f"cannot list {folder.uri}: {describe(noted(root, exc))}") from None
    infos = []
    for entry in entries:
        name = entry.get("name", "").rstrip("/")
        try:
            child = _checked_rel(root, name)
        except InvalidParameterValue:
            continue  # an unsafe key is never listed (walk reports it)
        if not child or child == rel:
            continue
        if entry.get("type") == "directory":
            infos.append(FileInfo(child, True, None))
        else:
            infos.append(FileInfo(child, False, entry.get("size")))
    return sorted(infos, key=lambda f: f.path)


def open_file(root: ObjectRoot, path: str) -> IO[bytes]:
    """An object for reading in blocks (range requests: nothing is read before the caller reads)."""

    rel = clean_relpath(path)
    if not rel:
        raise InvalidParameterValue("An artifact path is required")
    with _LOCK:
        ahead = _PREFETCHED.pop((root.uri, rel), None)
    if ahead is not None:
        return io.BytesIO(ahead)
    target = root.child(rel)
    try:
        return filesystem(root).open(target.path, "rb", block_size=4 * 1024 * 1024, cache_type="readahead")
    except FileNotFoundError:
        raise ResourceDoesNotExist(f"No artifact at {rel!r} ({target.uri})") from None
    except ReportgenError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ReportgenError(f"cannot read {target.uri}: {describe(noted(root, exc))}") from None


def prefetch(root: ObjectRoot, wanted: list[tuple[str, int]]) -> None:
    """Read ahead the first limit + 1 bytes of each (path, limit), MAX_CONCURRENCY range requests in
    flight and MAX_PREFETCH_BYTES in all, for the open_file calls that follow (a copy reads one byte
    more than planned to see a file that grew). What this drops, or fails to read, open_file reads
    itself, and reports. Replaces the read-ahead of the run before."""
    batch: list[tuple[str, int]] = []
    total = 0
    for rel, limit in wanted:
        if total + limit + 1 > MAX_PREFETCH_BYTES:
            break
        batch.append((rel, limit))
        total += limit + 1
    with _LOCK:
        _PREFETCHED.clear()
    if len(batch) < 2:  # one file gains nothing
        return
    try:
        found = filesystem(root).cat_ranges([root.child(rel).path for rel, _ in batch], [0] * len(batch),
                                            [limit + 1 for _, limit in batch], batch_size=MAX_CONCURRENCY,
                                            on_error="return")
    except Exception as exc:  # noqa: BLE001  (open_file will meet the same error and say it)
        noted(root, exc)
        return
    with _LOCK:
        for (rel, _), data in zip(batch, found):
            if isinstance(data, bytes):
                _PREFETCHED[(root.uri, rel)] = data


def prefetch_run(store: Any, run_id: str, wanted: list[tuple[str, int]]) -> None:
    """Before the copy step opens a run's files one by one: when they are in an object store, read
    them ahead, several at once (prefetch). A local folder, or a store that resolves no root (a
    server reads through its own API), needs nothing."""
    resolve = getattr(store, "_resolved_root", None)
    if resolve is None or not wanted:
        return
    try:
        root = resolve(run_id).path
    except ReportgenError:
        return
    if isinstance(root, ObjectRoot):
        prefetch(root, wanted)


def signature(root: ObjectRoot) -> str:
    """A digest of the listing (keys, sizes, ETags or times): it changes when an object is added,
    removed or rewritten. For the build cache; a listing that fails gives its error's digest."""
    digest = hashlib.blake2b(digest_size=16)
    try:
        found = _listing(root, SIGNATURE_LIMIT)
    except Exception as exc:  # noqa: BLE001
        digest.update(f"!{type(noted(root, exc)).__name__}".encode())
        return digest.hexdigest()
    for name in sorted(found):
        info = found[name]
        stamp = info.get("ETag") or info.get("etag") or info.get("LastModified") or info.get("last_modified") or ""
        digest.update(f"{name}\0{info.get('size')}\0{stamp}\0".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def upload_folder(uri: str, local_dir: Path) -> None:
    """Every file under local_dir to uri/<its relative path>, streamed from disk (multipart for large
    files), MAX_CONCURRENCY at a time: the logging client's log_artifact(s) to an object store root."""
    advice = missing_extra(uri)
    if advice:
        raise ReportgenError(advice)
    root = parse(uri)
    sources, targets = [], []
    for dirpath, _, filenames in os.walk(local_dir):
        for name in sorted(filenames):
            source = Path(dirpath) / name
            sources.append(str(source))
            targets.append(root.child(source.relative_to(local_dir).as_posix()).path)
    if not sources:
        return
    try:
        filesystem(root).put(sources, targets, batch_size=MAX_CONCURRENCY)
    except ReportgenError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ReportgenError(f"cannot upload artifacts to {root.uri}: {describe(noted(root, exc))}") from None
