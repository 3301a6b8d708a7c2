"""The artifacts an `mlflow server --serve-artifacts` keeps for its clients: its database (or file store)
holds `mlflow-artifacts:` URIs, and the files are under the folder it was started with as
--artifacts-destination (a folder, or an object store: s3://bucket/prefix, gs://, Azure). Maps one to the
other, confined like any artifact root (stores/artifacts.py).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence
from urllib.parse import urlsplit

from reportgen.errors import InvalidParameterValue, ReportgenError
from reportgen.stores import objectstore
from reportgen.stores.artifacts import (
    ArtifactRoot, ObjectRoot, clean_relpath, local_artifact_dir, object_root, resolve_root, shown_name,
)
from reportgen.uri import redact_uri, scheme_of

SERVER_SCHEME = "mlflow-artifacts"
# Run ids named in the one problem a store records for the artifacts it left on the server.
NAMED_RUNS = 10
HOW_TO_INCLUDE = ("to include them, pass --artifacts-destination PATH (the folder or s3:// URI the server was "
                  "started with as --artifacts-destination; Python: artifacts_destination=), or build from the "
                  "server's URL")


def is_server_uri(uri: str) -> bool:
    return bool(uri) and scheme_of(uri) == SERVER_SCHEME


def destination_folder(uri: str | os.PathLike[str]) -> Path | ObjectRoot:
    """The local folder of an --artifacts-destination (a path or a file: URI), absolute, or its object
    store root (s3://bucket/prefix...); a one-line ReportgenError for another scheme, an object store
    whose extra is not installed, or a folder that is not there."""
    text = os.fspath(uri)
    scheme = scheme_of(text)
    if objectstore.is_object_uri(text):
        advice = objectstore.missing_extra(text)
        if advice:
            raise ReportgenError(f"--artifacts-destination {redact_uri(text)!r}: {advice}")
        try:
            return objectstore.parse(text)
        except InvalidParameterValue as exc:
            raise ReportgenError(f"--artifacts-destination: {exc.message}") from None
    if scheme != "file":
        raise ReportgenError(f"--artifacts-destination {redact_uri(text)!r}: {scheme}: destinations are not "
                             "supported (a local folder, a file: URI, s3://, gs://, wasbs:// or abfss://)")
    folder = local_artifact_dir(text)
    if folder is None:
        raise ReportgenError(f"--artifacts-destination {redact_uri(text)!r}: a file: URI with a host, query or "
                             "fragment is not a local folder")
    folder = Path(os.path.abspath(folder.expanduser()))
    if not folder.is_dir():
        raise ReportgenError(f"--artifacts-destination {shown_name(str(folder))!r}: no such folder")
    return folder


def root_on_destination(artifact_uri: str, destination: Path | ObjectRoot, run_id: str) -> ArtifactRoot:
    """The run's folder for `mlflow-artifacts:/<path>` (or `mlflow-artifacts://host:port/<path>`):
    <destination>/<path>, which must be the run's own folder inside the destination (no '..', no
    symlink out, the run's id in its path), as the server itself would serve it."""
    parts = urlsplit(artifact_uri)
    try:
        rel = clean_relpath(parts.path.lstrip("/"))
    except InvalidParameterValue as exc:
        return ArtifactRoot(None, f"artifact URI {shown_name(artifact_uri)!r} refused: {exc.message}")
    if parts.query or parts.fragment:
        return ArtifactRoot(None, f"artifact URI {shown_name(artifact_uri)!r} has a query or fragment; not read")
    if isinstance(destination, ObjectRoot):
        return object_root(destination.child(rel).uri, run_id)
    return resolve_root(str(destination / rel) if rel else str(destination), fallback=None,
                        allowed=[destination], run_id=run_id)


def left_out(run_ids: Sequence[str]) -> str:
    """The message of a store's one problem about the runs whose artifacts stayed on the server."""
    count = len(run_ids)
    named = ", ".join(run_ids[:NAMED_RUNS]) + (f" and {count - NAMED_RUNS} more" if count > NAMED_RUNS else "")
    runs = "1 run" if count == 1 else f"{count} runs"
    return (f"artifacts unavailable: the tracking server keeps those of {runs} (mlflow-artifacts: URIs), left out "
            f"of the report: run{'' if count == 1 else 's'} {named}; {HOW_TO_INCLUDE}")
