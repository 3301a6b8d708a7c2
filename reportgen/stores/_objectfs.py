"""The fsspec filesystems behind reportgen.stores.objectstore: one per scheme, account and setting in a
process, made from the variables MLflow's own clients read, with credentials left to each service's
provider chain; a storage error as one redacted line; endpoints that did not answer, remembered briefly.
"""
from __future__ import annotations

import functools
import hashlib
import os
import threading
import time
from typing import Any

from reportgen.errors import ReportgenError
from reportgen.redaction import redact_text

_LOCK = threading.Lock()

# scheme -> (the fsspec package that reads it, the reportgen extra that installs it, fsspec's protocol)
BACKENDS = {
    "s3": ("s3fs", "s3", "s3"),
    "gs": ("gcsfs", "gcs", "gs"),
    "wasbs": ("adlfs", "azure", "abfs"),
    "abfss": ("adlfs", "azure", "abfs"),
}
# An error message from a storage service is cut to this (a whole XML body helps nobody).
MAX_ERROR_CHARS = 200
# Filesystems whose endpoint did not answer -> (when, why): the next runs of a build fail at once
# instead of each waiting out the client's retries (about 3 s a call on a refused port, far more on a
# dropped one); asked again after UNREACHABLE_FOR seconds.
_UNREACHABLE: dict[tuple, tuple[float, str]] = {}
UNREACHABLE_FOR = 60.0
_CONNECTION_ERRORS = frozenset({"EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError",
                                "ServerTimeoutError", "ConnectionRefusedError"})


def _s3_options() -> dict[str, Any]:
    """s3fs's options from the variables MLflow's S3 client reads; credentials and region stay with
    botocore's own chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, ~/.aws, instance roles...)."""
    options: dict[str, Any] = {"use_listings_cache": False}
    client: dict[str, Any] = {}
    config: dict[str, Any] = {"connect_timeout": 10, "read_timeout": 60, "retries": {"max_attempts": 3}}
    endpoint = os.environ.get("MLFLOW_S3_ENDPOINT_URL")
    if endpoint:
        options["endpoint_url"] = endpoint
    if os.environ.get("MLFLOW_S3_IGNORE_TLS", "").strip().lower() in ("true", "1"):
        client["verify"] = False
    style = os.environ.get("MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE", "auto")
    if style != "auto":
        config["s3"] = {"addressing_style": style}
    if os.environ.get("MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION", "").lower() == "unsigned":
        options["anon"] = True  # a public bucket, as MLflow reads it
    extra = os.environ.get("MLFLOW_S3_UPLOAD_EXTRA_ARGS")
    if extra:
        import json

        try:
            options["s3_additional_kwargs"] = dict(json.loads(extra))
        except (ValueError, TypeError):
            raise ReportgenError("MLFLOW_S3_UPLOAD_EXTRA_ARGS is not a JSON object") from None
    options["client_kwargs"] = client
    options["config_kwargs"] = config
    return options


# Variables a filesystem is made from (the first five), or whose change must make a new one: a
# provider chain reads credentials once per client, and a process may change them (a test, a notebook).
_SETTINGS_ENV = ("MLFLOW_S3_ENDPOINT_URL", "MLFLOW_S3_IGNORE_TLS", "MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE",
                 "MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION", "MLFLOW_S3_UPLOAD_EXTRA_ARGS")
_CREDENTIAL_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                   "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                   "GOOGLE_APPLICATION_CREDENTIALS", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCESS_KEY")


def _settings(root: Any) -> tuple:
    """The key of a filesystem in this process: the scheme, the settings read, and a digest of the
    credential variables (the credentials themselves are never kept in a key)."""
    digest = hashlib.blake2b("\0".join(os.environ.get(name, "") for name in _CREDENTIAL_ENV).encode(),
                             digest_size=16).hexdigest()
    return (root.scheme, root.account, os.getpid(), digest) + tuple(os.environ.get(n, "") for n in _SETTINGS_ENV)


@functools.lru_cache(maxsize=16)
def _filesystem(settings: tuple) -> Any:
    scheme, account = settings[0], settings[1]
    package, extra, protocol = BACKENDS[scheme]
    try:
        import fsspec
    except ImportError:
        raise ReportgenError(f"{scheme}:// artifacts need {package}: pip install 'reportgen[{extra}]'") from None
    try:
        if scheme == "s3":
            return fsspec.filesystem(protocol, skip_instance_cache=True, **_s3_options())
        if scheme == "gs":  # gcsfs's own chain: GOOGLE_APPLICATION_CREDENTIALS, gcloud, metadata
            return fsspec.filesystem(protocol, skip_instance_cache=True)
        # adlfs: MLflow's AZURE_STORAGE_CONNECTION_STRING / AZURE_STORAGE_ACCESS_KEY, else Azure's
        # DefaultAzureCredential chain (anon=False)
        return fsspec.filesystem(
            protocol, skip_instance_cache=True, account_name=account, anon=False,
            connection_string=os.environ.get("AZURE_STORAGE_CONNECTION_STRING"),
            account_key=os.environ.get("AZURE_STORAGE_ACCESS_KEY"),
        )
    except ImportError:
        raise ReportgenError(f"{scheme}:// artifacts need {package}: pip install 'reportgen[{extra}]'") from None
    except ValueError as exc:  # fsspec: "Protocol not known"
        raise ReportgenError(f"{scheme}:// artifacts: {describe(exc)}") from None


def filesystem(root: Any) -> Any:
    """The fsspec filesystem of a root, one per scheme, account and setting in a process (a forked
    worker makes its own: an async client's loop does not survive a fork)."""
    key = _settings(root)
    with _LOCK:
        down = _UNREACHABLE.get(key)
        if down is not None and time.monotonic() - down[0] < UNREACHABLE_FOR:
            raise ReportgenError(down[1])
        return _filesystem(key)


def noted(root: Any, exc: BaseException) -> BaseException:
    """exc, after remembering its endpoint as unreachable when it is a connection failure."""
    if _CONNECTION_ERRORS & {cls.__name__ for cls in type(exc).__mro__}:
        with _LOCK:
            _UNREACHABLE[_settings(root)] = (time.monotonic(), f"object store unreachable: {describe(exc)}")
    return exc


def describe(exc: BaseException) -> str:
    """A storage error as one short line: its kind and message, redacted (a service never echoes a
    secret key, but a signed URL or a token in a message must not reach a page or a log either)."""
    kinds = {FileNotFoundError: "not found", PermissionError: "access denied"}
    kind = next((name for cls, name in kinds.items() if isinstance(exc, cls)), type(exc).__name__)
    text = " ".join(str(exc).split())[:MAX_ERROR_CHARS]
    return redact_text(f"{kind}: {text}" if text else kind)
