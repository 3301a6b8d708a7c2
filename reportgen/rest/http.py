"""The HTTP session for an MLflow tracking server, on requests and urllib3's Retry: credentials and TLS
from MLflow's environment variables, timeouts, retries with backoff, redirects, one-line errors.

Credentials come from the URI's userinfo or MLflow's environment variables and never appear in a message;
requests drops them when a redirect leads to another host, port or scheme (Session.should_strip_auth).
A connection pool serves the threads of one process only: a forked child (the build's run-page workers)
opens its own, since two processes reading answers off one socket read each other's bytes.
"""
from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import random
import socket
import ssl
import time
from pathlib import Path
from typing import IO, Any, Callable, Mapping
from urllib.parse import unquote, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from reportgen.errors import ReportgenError, ResourceDoesNotExist
from reportgen.uri import redact_uri

ENV_TOKEN = "MLFLOW_TRACKING_TOKEN"
ENV_USERNAME = "MLFLOW_TRACKING_USERNAME"
ENV_PASSWORD = "MLFLOW_TRACKING_PASSWORD"
ENV_INSECURE_TLS = "MLFLOW_TRACKING_INSECURE_TLS"
ENV_CERT_PATH = "MLFLOW_TRACKING_SERVER_CERT_PATH"
ENV_CLIENT_CERT_PATH = "MLFLOW_TRACKING_CLIENT_CERT_PATH"
ENV_TIMEOUT = "MLFLOW_HTTP_REQUEST_TIMEOUT"
ENV_MAX_RETRIES = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"

DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_RETRIES = 5
BACKOFF_BASE = 0.5  # seconds; doubled on each retry, with jitter
BACKOFF_CAP = 30.0  # no single wait (Retry-After included) is longer than this
MAX_REDIRECTS = 5
POOL_SIZE = 16  # keep-alive connections kept per host: the history readers' threads and some to spare
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ServerError(ReportgenError):
    """A tracking server refused or failed a request; carries the HTTP status and MLflow's error code."""

    def __init__(
        self, message: str, *, status: int | None = None, error_code: str = "INTERNAL_ERROR", server_message: str = ""
    ) -> None:
        ReportgenError.__init__(self, message, error_code=error_code)  # not super(): NotFound's MRO
        self.status = status
        self.server_message = server_message  # the server's own message, without our prefix


class NotFound(ServerError, ResourceDoesNotExist):
    """HTTP 404 (an unknown run, or an endpoint the server does not have)."""

    def __init__(self, message: str, *, server_code: str | None = None, server_message: str = "") -> None:
        ServerError.__init__(self, message, status=404, error_code=server_code or "RESOURCE_DOES_NOT_EXIST",
                             server_message=server_message)
        # MLflow's error_code as the server sent it (None for a bare 404: an unknown endpoint).
        self.server_code = server_code


def parse_json(body: bytes) -> Any:
    """JSON as MLflow servers write it: NaN and +-Infinity may come bare (Python's json reads those)."""
    if not body:
        return {}
    return json.loads(body)


class _Retry(Retry):
    """urllib3's Retry, waiting through the session's `pause` (tests record the waits), with a pause
    before the first retry too (urllib3 retries at once) and Retry-After capped at BACKOFF_CAP."""

    def __init__(self, *args: Any, pause: Callable[[float], None] = time.sleep, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pause = pause

    def new(self, **kwargs: Any) -> _Retry:
        retry = super().new(**kwargs)
        retry.pause = self.pause
        return retry

    def get_backoff_time(self) -> float:
        attempt = max(len(self.history) - 1, 0)
        return min(BACKOFF_BASE * 2**attempt * (1 + random.random() * 0.25), BACKOFF_CAP)

    def sleep(self, response: urllib3.BaseHTTPResponse | None = None) -> None:
        wait = self.get_retry_after(response) if response is not None else None
        self.pause(min(self.get_backoff_time() if wait is None else wait, BACKOFF_CAP))


def _authorization(uri: str, env: Mapping[str, str]) -> str | None:
    """The Authorization header, in MLflow's order: username and password, the token, the URI's userinfo."""
    user, password = env.get(ENV_USERNAME), env.get(ENV_PASSWORD)
    if not (user and password):
        token = env.get(ENV_TOKEN)
        if token:
            return f"Bearer {token}"
        parts = urlsplit(uri)
        if parts.username is None:
            return None
        user, password = unquote(parts.username), unquote(parts.password or "")
    return "Basic " + base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")


def _verify(env: Mapping[str, str]) -> bool | str:
    """requests' `verify`: a CA bundle, or no check at all; the bundle is loaded once here so that a bad
    path fails before the first request, in one line."""
    insecure = (env.get(ENV_INSECURE_TLS) or "").strip().lower() in ("1", "true", "yes")
    cert = env.get(ENV_CERT_PATH)
    if insecure and cert:
        raise ReportgenError(f"Set only one of {ENV_INSECURE_TLS} and {ENV_CERT_PATH}")
    if cert:
        try:
            ssl.create_default_context(cafile=cert)
        except (OSError, ssl.SSLError) as exc:
            raise ReportgenError(f"{ENV_CERT_PATH}={cert}: cannot load the certificate ({exc.strerror or exc})") from None
    return cert or not insecure


class HttpSession:
    """Requests against one server (`base_uri`, e.g. http://host:5000 or https://host/prefix)."""

    def __init__(
        self, base_uri: str, *, timeout: float | None = None, max_retries: int | None = None,
        env: Mapping[str, str] | None = None, sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        env = os.environ if env is None else env
        parts = urlsplit(base_uri)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ReportgenError(f"Not an http(s) tracking URI: {redact_uri(base_uri)}")
        self.display = redact_uri(base_uri).rstrip("/")
        self._base = parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1], query="", fragment="").geturl().rstrip("/")
        self.timeout = float(env.get(ENV_TIMEOUT) or DEFAULT_TIMEOUT) if timeout is None else timeout
        self.max_retries = int(env.get(ENV_MAX_RETRIES) or DEFAULT_MAX_RETRIES) if max_retries is None else max_retries
        self._authorization = _authorization(base_uri, env)
        self._verify = _verify(env)
        self._client_cert = env.get(ENV_CLIENT_CERT_PATH) or None
        self._sleep = sleep
        self._pid = os.getpid()
        self._session = self._new_session()

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        # Only what this session was given: no proxies, .netrc or CA bundle from the environment.
        session.trust_env = False
        session.verify = self._verify
        session.cert = self._client_cert
        session.max_redirects = MAX_REDIRECTS
        session.headers.update({"Accept": "application/json", "User-Agent": "reportgen"})
        if self._authorization:
            session.headers["Authorization"] = self._authorization
        retry = _Retry(
            total=self.max_retries, connect=self.max_retries, read=self.max_retries, status=self.max_retries,
            other=0,  # a certificate that fails to verify fails again: no retry of TLS errors
            status_forcelist=RETRY_STATUSES, allowed_methods=None,  # POSTs too, as MLflow's client retries them
            raise_on_status=False, pause=self._sleep,
        )
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=retry)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def _requests(self) -> requests.Session:
        if self._pid != os.getpid():  # a forked child: the parent's pool is not ours to read from
            self._session, self._pid = self._new_session(), os.getpid()
        return self._session

    # -- public ----------------------------------------------------------------------------------
    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return parse_json(self.request("GET", path, params=params).content)

    def post_json(self, path: str, body: Mapping[str, Any]) -> Any:
        data = json.dumps(body, allow_nan=True).encode("utf-8")
        return parse_json(self.request("POST", path, data=data, content_type="application/json").content)

    def open(self, path: str, params: Mapping[str, Any] | None = None) -> IO[bytes]:
        """GET `path` as a binary file object that reads the body as it arrives (close it)."""
        response = self.request("GET", path, params=params, stream=True)
        if response.status_code != 200:  # a redirect's or a 204's body: already read
            return io.BytesIO(response.content)
        return io.BufferedReader(_Body(response, f"{self.display}: GET {path}"))

    def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, data: bytes | Path | None = None,
        content_type: str | None = None, stream: bool = False,
    ) -> requests.Response:
        """One request with retries (429, 5xx, connection errors) and redirects; errors raise ServerError.

        data: bytes, or a local file sent from disk (read again on a retry). stream: a 200 answer's body
        is left unread (see open); any other answer is read whole.
        """
        headers = {"Content-Type": content_type} if content_type else None
        try:
            with (open(data, "rb") if isinstance(data, Path) else contextlib.nullcontext(data)) as body:
                response = self._requests().request(method, self._base + path, params=params, data=body,
                                                    headers=headers, timeout=self.timeout, stream=stream)
                if stream and response.status_code != 200:
                    response.content  # noqa: B018 (read now: only a 200's body is left for the caller)
        except requests.TooManyRedirects:
            raise ServerError(f"{self.display}{path}: more than {MAX_REDIRECTS} redirects") from None
        except requests.exceptions.SSLError as exc:
            raise ServerError(f"{self.display}: TLS failed ({_reason(exc)}); check {ENV_CERT_PATH} or "
                              f"{ENV_CLIENT_CERT_PATH}") from None
        except requests.RequestException as exc:
            raise ServerError(f"{self.display}: cannot reach the tracking server ({_reason(exc)}) after "
                              f"{self.max_retries + 1} attempts") from None
        return _checked(response, f"{method} {self.display}{path}")

    def close(self) -> None:
        """Close the idle connections (the session stays usable: it opens new ones when needed)."""
        if self._pid == os.getpid():  # a forked child never touches the parent's pool, not even to close it
            self._session.close()


class _Body(io.RawIOBase):
    """A 200 answer's body read only as the caller reads it, so a large artifact is never held whole and a
    caller that stops at its size cap stops the transfer. A body read to its end gives its connection
    back to the pool (urllib3 does that); one closed before is dropped with its connection."""

    def __init__(self, response: requests.Response, where: str) -> None:
        super().__init__()
        self._response, self._where = response, where
        response.raw.decode_content = True  # a gzip-encoded answer arrives as the file's bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            return self._response.raw.readinto(buffer)
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            self._response.close()
            raise ServerError(f"{self._where}: the download broke off ({_reason(exc)})") from None

    def close(self) -> None:
        self._response.close()
        super().close()


def _reason(exc: BaseException) -> str:
    """What went wrong, in a few words, from the chain of errors requests and urllib3 wrap one in another."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = getattr(exc, "reason", None) if isinstance(exc, urllib3.exceptions.MaxRetryError) else (
            exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc.__cause__ or exc.__context__)
    for error in reversed(seen):  # the innermost first: the socket's or TLS's own error
        if isinstance(error, ssl.SSLError):
            return _one_line(getattr(error, "verify_message", None) or error.reason or str(error), 120)
        if isinstance(error, (TimeoutError, urllib3.exceptions.ReadTimeoutError)):  # socket.timeout too
            return "timed out"
        if isinstance(error, socket.gaierror):
            return "unknown host"
        if isinstance(error, OSError) and type(error) is not OSError:
            return type(error).__name__  # ConnectionRefusedError, ConnectionResetError...
    return type(seen[-1]).__name__


def _checked(response: requests.Response, where: str) -> requests.Response:
    status = response.status_code
    if status < 400:
        return response
    code, message = _error_fields(response.content)
    if status == 401:
        text = f"{where}: 401 Unauthorized (check {ENV_TOKEN} or {ENV_USERNAME}/{ENV_PASSWORD})"
    elif status == 403:
        text = f"{where}: 403 Forbidden (these credentials may not do this)"
    elif status == 404:
        text = f"{where}: 404 Not Found"
    else:
        text = f"{where}: HTTP {status}"
    if message:
        text += f": {message}"
    if status == 404:
        raise NotFound(text, server_code=code, server_message=message)
    raise ServerError(text, status=status, error_code=code or _default_code(status), server_message=message)


def _default_code(status: int) -> str:
    return {400: "INVALID_PARAMETER_VALUE", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
            429: "REQUEST_LIMIT_EXCEEDED"}.get(status, "INTERNAL_ERROR")


def _error_fields(body: bytes) -> tuple[str | None, str]:
    """MLflow's {"error_code", "message"}, else the first line of a short text body; one line."""
    try:
        payload = parse_json(body)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and ("message" in payload or "error_code" in payload):
        code = payload.get("error_code")
        message = str(payload.get("message") or "")
        return (str(code) if code else None), _one_line(message)
    text = body[:300].decode("utf-8", "replace")
    return None, "" if "<" in text else _one_line(text)


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
