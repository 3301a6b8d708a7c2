"""A small HTTP session for an MLflow tracking server: auth, TLS options, timeouts, bounded retries
with backoff, redirects handled here (credentials never cross origins), one-line errors.

Standard library only (http.client); keep-alive connections shared by the threads of a session, never by
processes: a forked child (the build's run-page workers) drops the idle connections it inherited and opens
its own, since two processes reading answers off one socket read each other's bytes (a JSONDecodeError
on a 300-run server). Credentials come from the URI's userinfo or MLflow's environment variables and never
appear in a message.
"""
from __future__ import annotations

import base64
import http.client
import io
import json
import os
import random
import socket
import ssl
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Mapping
from urllib.parse import unquote, urlencode, urljoin, urlsplit

from reportgen.errors import ReportgenError, ResourceDoesNotExist
from reportgen.uri import redact_uri

ENV_TOKEN = "MLFLOW_TRACKING_TOKEN"
ENV_USERNAME = "MLFLOW_TRACKING_USERNAME"
ENV_PASSWORD = "MLFLOW_TRACKING_PASSWORD"
ENV_INSECURE_TLS = "MLFLOW_TRACKING_INSECURE_TLS"
ENV_CERT_PATH = "MLFLOW_TRACKING_SERVER_CERT_PATH"
ENV_TIMEOUT = "MLFLOW_HTTP_REQUEST_TIMEOUT"
ENV_MAX_RETRIES = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"

DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_RETRIES = 5
BACKOFF_BASE = 0.5  # seconds; doubled on each retry, with jitter
BACKOFF_CAP = 30.0  # no single wait (Retry-After included) is longer than this
MAX_REDIRECTS = 5
MAX_IDLE = 16  # idle keep-alive connections kept per session
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


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


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes
    stream: "BodyStream | None" = None  # a 200 asked for with stream=True: the body, not read yet

    def json(self) -> Any:
        return parse_json(self.body)


class BodyStream(io.RawIOBase):
    """A response body read from the socket only as the caller reads it, so a large artifact is never
    held whole and a caller that stops at its size cap stops the transfer. The connection goes back to
    the session's pool when the body was read to its end, and is closed otherwise."""

    def __init__(self, session: "HttpSession", target: tuple[str, str, int], conn: http.client.HTTPConnection,
                 raw: http.client.HTTPResponse, where: str) -> None:
        super().__init__()
        self._session, self._target, self._conn, self._raw, self._where = session, target, conn, raw, where
        self._finished = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            count = self._raw.readinto(buffer)
        except (OSError, http.client.HTTPException) as exc:
            self._finish(reusable=False)
            reason = "timed out" if isinstance(exc, socket.timeout) else type(exc).__name__
            raise ServerError(f"{self._where}: the download broke off ({reason})") from None
        if count == 0 and len(buffer):
            self._finish(reusable=not self._raw.will_close)
        return count

    def close(self) -> None:
        self._finish(reusable=False)  # an unread rest of the body: the connection cannot be reused
        super().close()

    def _finish(self, *, reusable: bool) -> None:
        if self._finished:
            return
        self._finished = True
        if reusable:
            self._session._release(self._target, self._conn)
        else:
            self._raw.close()  # the response holds its own handle on the socket
            self._conn.close()


def parse_json(body: bytes) -> Any:
    """JSON as MLflow servers write it: NaN and +-Infinity may come bare (Python's json reads those)."""
    if not body:
        return {}
    return json.loads(body)


@dataclass
class _Credentials:
    header: str | None = None  # the Authorization value

    @classmethod
    def find(cls, uri: str, env: Mapping[str, str]) -> "_Credentials":
        # MLflow's order: username and password, then the token; userinfo in the URI last.
        user, password = env.get(ENV_USERNAME), env.get(ENV_PASSWORD)
        if user and password:
            return cls._basic(user, password)
        token = env.get(ENV_TOKEN)
        if token:
            return cls(f"Bearer {token}")
        parts = urlsplit(uri)
        if parts.username is not None:
            return cls._basic(unquote(parts.username), unquote(parts.password or ""))
        return cls()

    @classmethod
    def _basic(cls, user: str, password: str) -> "_Credentials":
        return cls("Basic " + base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii"))


def _origin(scheme: str, host: str, port: int | None) -> tuple[str, str, int]:
    return scheme, host.lower(), port or (443 if scheme == "https" else 80)


@dataclass
class HttpSession:
    """Requests against one server (`base_uri`, e.g. http://host:5000 or https://host/prefix)."""

    base_uri: str
    timeout: float | None = None
    max_retries: int | None = None
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_uri)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ReportgenError(f"Not an http(s) tracking URI: {redact_uri(self.base_uri)}")
        self.display = redact_uri(self.base_uri).rstrip("/")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._creds = _Credentials.find(self.base_uri, self.env)
        if self.timeout is None:
            self.timeout = float(self.env.get(ENV_TIMEOUT) or DEFAULT_TIMEOUT)
        if self.max_retries is None:
            self.max_retries = int(self.env.get(ENV_MAX_RETRIES) or DEFAULT_MAX_RETRIES)
        self._ssl = self._ssl_context() if self._scheme == "https" else None
        # Idle keep-alive connections, shared by all threads (at most MAX_IDLE kept).
        self._idle: list[tuple[tuple[str, str, int], http.client.HTTPConnection]] = []
        self._lock = threading.Lock()
        _SESSIONS[id(self)] = self

    def _forget_connections(self) -> None:
        """In a forked child: the inherited idle connections are the parent's (their sockets are shared);
        closing our copies of the descriptors sends nothing on them. The lock may have been held by a
        thread of the parent that does not exist here."""
        self._lock = threading.Lock()
        idle, self._idle = self._idle, []
        for _, conn in idle:
            try:
                conn.close()
            except OSError:
                pass

    def _ssl_context(self) -> ssl.SSLContext:
        insecure = (self.env.get(ENV_INSECURE_TLS) or "").strip().lower() in ("1", "true", "yes")
        cert = self.env.get(ENV_CERT_PATH)
        if insecure and cert:
            raise ReportgenError(f"Set only one of {ENV_INSECURE_TLS} and {ENV_CERT_PATH}")
        try:
            context = ssl.create_default_context(cafile=cert or None)
        except (OSError, ssl.SSLError) as exc:
            raise ReportgenError(f"{ENV_CERT_PATH}={cert}: cannot load the certificate ({exc.strerror or exc})") from None
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    # -- public ----------------------------------------------------------------------------------
    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params).json()

    def post_json(self, path: str, body: Mapping[str, Any]) -> Any:
        data = json.dumps(body, allow_nan=True).encode("utf-8")
        return self.request("POST", path, data=data, content_type="application/json").json()

    def open(self, path: str, params: Mapping[str, Any] | None = None) -> IO[bytes]:
        """GET `path` as a binary file object that reads the body as it arrives (close it)."""
        response = self.request("GET", path, params=params, stream=True)
        return io.BufferedReader(response.stream) if response.stream else io.BytesIO(response.body)

    def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, data: bytes | Path | None = None,
        content_type: str | None = None, stream: bool = False,
    ) -> Response:
        """One request with retries (429, 5xx, connection errors) and redirects; errors raise ServerError.

        data: bytes, or a local file sent from disk (read again on a retry). stream: a 200 answer's
        body is left on the socket as response.stream (see BodyStream) instead of read into body.
        """
        url = f"{self._scheme}://{self._netloc()}{self._prefix}{path}"
        if params:
            url += "?" + urlencode(params, doseq=True)
        origin = _origin(self._scheme, self._host, self._port)
        for _ in range(MAX_REDIRECTS + 1):
            response = self._with_retries(method, url, data, content_type, origin, stream)
            if response.status not in REDIRECT_STATUSES:
                return self._checked(response, method, path)
            location = response.headers.get("location")
            if not location:
                return self._checked(response, method, path)
            url = urljoin(url, location)
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                method, data, content_type = "GET", None, None
        raise ServerError(f"{self.display}{path}: more than {MAX_REDIRECTS} redirects")

    def close(self) -> None:
        """Close the idle connections (the session stays usable: it opens new ones when needed)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for _, conn in idle:
            conn.close()

    # -- internals -------------------------------------------------------------------------------
    def _netloc(self) -> str:
        return f"{self._host}:{self._port}" if self._port else self._host

    def _with_retries(
        self, method: str, url: str, data: bytes | Path | None, content_type: str | None,
        origin: tuple[str, str, int], stream: bool = False,
    ) -> Response:
        parts = urlsplit(url)
        target = _origin(parts.scheme, parts.hostname or "", parts.port)
        headers = {"Accept": "application/json", "User-Agent": "reportgen"}
        if content_type:
            headers["Content-Type"] = content_type
        # Credentials go only to the origin they were given for: never after a cross-origin redirect.
        if self._creds.header and target == origin:
            headers["Authorization"] = self._creds.header
        selector = parts.path + (f"?{parts.query}" if parts.query else "")
        attempt = 0
        while True:
            try:
                response = self._send(target, method, selector or "/", data, headers, stream=stream)
            except (OSError, http.client.HTTPException) as exc:
                if attempt >= self.max_retries:
                    reason = "timed out" if isinstance(exc, socket.timeout) else type(exc).__name__
                    raise ServerError(
                        f"{self.display}: cannot reach the tracking server ({reason}) after {attempt + 1} attempts"
                    ) from None
                self.sleep(self._backoff(attempt, None))
                attempt += 1
                continue
            if response.status in RETRY_STATUSES and attempt < self.max_retries:
                self.sleep(self._backoff(attempt, response.headers.get("retry-after")))
                attempt += 1
                continue
            return response

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(max(float(retry_after), 0.0), BACKOFF_CAP)
            except ValueError:
                pass  # an HTTP date: fall back to our own backoff
        return min(BACKOFF_BASE * (2**attempt) * (1 + random.random() * 0.25), BACKOFF_CAP)

    def _send(
        self, target: tuple[str, str, int], method: str, selector: str, data: bytes | Path | None,
        headers: dict[str, str], *, stream: bool = False,
    ) -> Response:
        conn, reused = self._acquire(target)
        try:
            if isinstance(data, Path):  # sent from disk in blocks by http.client, never read whole
                with open(data, "rb") as source:
                    size = os.fstat(source.fileno()).st_size
                    conn.request(method, selector, body=source, headers={**headers, "Content-Length": str(size)})
            else:
                conn.request(method, selector, body=data, headers=headers)
            raw = conn.getresponse()
            if stream and raw.status == 200:
                where = f"{self.display}: GET {urlsplit(selector).path}"
                return Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, b"",
                                BodyStream(self, target, conn, raw, where))
            body = raw.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            conn.close()
            if not reused:
                raise
            # A kept-alive connection the server closed meanwhile: one fresh try, not a retry.
            return self._send(target, method, selector, data, headers, stream=stream)
        except BaseException:
            conn.close()
            raise
        if (raw.getheader("connection") or "").lower() == "close":
            conn.close()
        else:
            self._release(target, conn)
        return Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, body)

    def _acquire(self, target: tuple[str, str, int]) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            for index, (where, conn) in enumerate(self._idle):
                if where == target:
                    del self._idle[index]
                    return conn, True
        return self._connect(target), False

    def _release(self, target: tuple[str, str, int], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE:
                self._idle.append((target, conn))
                return
        conn.close()

    def _connect(self, target: tuple[str, str, int]) -> http.client.HTTPConnection:
        scheme, host, port = target
        if scheme == "https":
            context = self._ssl or ssl.create_default_context()
            return http.client.HTTPSConnection(host, port, timeout=self.timeout, context=context)
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def _checked(self, response: Response, method: str, path: str) -> Response:
        if response.status < 400:
            return response
        code, message = _error_fields(response)
        where = f"{method} {self.display}{path}"
        if response.status == 401:
            text = f"{where}: 401 Unauthorized (check {ENV_TOKEN} or {ENV_USERNAME}/{ENV_PASSWORD})"
        elif response.status == 403:
            text = f"{where}: 403 Forbidden (these credentials may not do this)"
        elif response.status == 404:
            text = f"{where}: 404 Not Found"
        else:
            text = f"{where}: HTTP {response.status}"
        if message:
            text += f": {message}"
        if response.status == 404:
            raise NotFound(text, server_code=code, server_message=message)
        raise ServerError(text, status=response.status, error_code=code or _default_code(response.status),
                          server_message=message)


# Every live session, for the fork hook below (weak: a session still goes away with its store; keyed by
# id, as a dataclass with eq is not hashable).
_SESSIONS: "weakref.WeakValueDictionary[int, HttpSession]" = weakref.WeakValueDictionary()


def _after_fork_in_child() -> None:
    for session in list(_SESSIONS.values()):
        session._forget_connections()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _default_code(status: int) -> str:
    return {400: "INVALID_PARAMETER_VALUE", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
            429: "REQUEST_LIMIT_EXCEEDED"}.get(status, "INTERNAL_ERROR")


def _error_fields(response: Response) -> tuple[str | None, str]:
    """MLflow's {"error_code", "message"}, else the first line of a short text body; one line."""
    try:
        payload = parse_json(response.body)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and ("message" in payload or "error_code" in payload):
        code = payload.get("error_code")
        message = str(payload.get("message") or "")
        return (str(code) if code else None), _one_line(message)
    text = response.body[:300].decode("utf-8", "replace")
    return None, "" if "<" in text else _one_line(text)


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
