"""The REST client against a fake tracking server (http.server on 127.0.0.1): auth headers, retries and
backoff, error messages, redirects, paging loops and stalls, hostile artifact paths, NaN/Infinity."""
from __future__ import annotations

import json
import math
import os
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import pytest

from reportgen.errors import InvalidParameterValue, ReportgenError, ResourceDoesNotExist
from reportgen.rest.http import HttpSession, ServerError
from reportgen.stores.rest import RestStore
from reportgen.tracking.rest_writer import MAX_REQUEST_BYTES, RestWriter

API = "/api/2.0/mlflow"
AJAX = "/ajax-api/2.0/mlflow"
RUN = "a" * 32

Reply = tuple[int, dict[str, str], bytes]


def _json(status: int, payload: Any, **headers: str) -> Reply:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(payload).encode()


class FakeServer:
    """Routes (method, path) to a function(request) -> Reply; records every request."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[tuple[str, str], Callable[[dict], Reply]] = {}
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as MLflow's server

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = {
                    "method": self.command, "path": parts.path, "query": parse_qs(parts.query),
                    "headers": dict(self.headers), "body": self.rfile.read(length) if length else b"",
                    "client": self.client_address,
                }
                fake.requests.append(request)
                route = fake.routes.get((self.command, parts.path))
                status, headers, body = route(request) if route else (404, {}, b"<html>no route</html>")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if isinstance(body, bytes):
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.end_headers()  # a body made as it is sent (an iterator of chunks)
                try:
                    for chunk in body:
                        self.wfile.write(chunk)
                except OSError:
                    pass  # the client stopped reading
                finally:
                    body.close()

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *args: Any) -> None:
                pass

        class Quiet(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (timeout tests): not the test's output

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        if tls:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def route(self, method: str, path: str, reply: Callable[[dict], Reply] | Reply) -> None:
        self.routes[(method, path)] = reply if callable(reply) else (lambda _request: reply)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.close()


@pytest.fixture
def other_server():
    fake = FakeServer()
    yield fake
    fake.close()


def session(url: str, env: dict[str, str] | None = None, **kwargs: Any) -> tuple[HttpSession, list[float]]:
    sleeps: list[float] = []
    return HttpSession(url, env=env or {}, sleep=sleeps.append, timeout=5, **kwargs), sleeps


def store(url: str, **kwargs: Any) -> RestStore:
    http, _ = session(url)
    return RestStore(url, session=http, workers=2, **kwargs)


# -- auth ---------------------------------------------------------------------------------------
def test_bearer_token_from_env(server):
    server.route("GET", "/health", (200, {}, b"OK"))
    http, _ = session(server.url, {"MLFLOW_TRACKING_TOKEN": "tok-123"})
    http.request("GET", "/health")
    assert server.requests[-1]["headers"]["Authorization"] == "Bearer tok-123"


def test_basic_auth_from_env_and_from_uri(server):
    server.route("GET", "/health", (200, {}, b"OK"))
    http, _ = session(server.url, {"MLFLOW_TRACKING_USERNAME": "ann", "MLFLOW_TRACKING_PASSWORD": "pw"})
    http.request("GET", "/health")
    assert server.requests[-1]["headers"]["Authorization"] == "Basic YW5uOnB3"  # ann:pw
    http, _ = session(f"http://bob:s%40cret@127.0.0.1:{server.port}")
    http.request("GET", "/health")
    assert server.requests[-1]["headers"]["Authorization"] == "Basic Ym9iOnNAY3JldA=="  # bob:s@cret


def test_no_credentials_no_header(server):
    server.route("GET", "/health", (200, {}, b"OK"))
    http, _ = session(server.url)
    http.request("GET", "/health")
    assert "Authorization" not in server.requests[-1]["headers"]


def test_password_never_in_messages(server):
    server.route("GET", f"{API}/experiments/search", _json(500, {"error_code": "INTERNAL_ERROR", "message": "boom"}))
    url = f"http://bob:hunter2@127.0.0.1:{server.port}"
    http, _ = session(url, max_retries=1)
    reader = RestStore(url, session=http)
    with pytest.raises(ServerError) as caught:
        reader.search_experiments()
    assert "hunter2" not in str(caught.value) and "hunter2" not in reader.uri
    assert "boom" in str(caught.value) and "\n" not in str(caught.value)


# -- retries ------------------------------------------------------------------------------------
def test_retries_429_and_503_then_success(server):
    answers = iter([
        _json(429, {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "slow down"}, **{"Retry-After": "2"}),
        _json(503, {"message": "busy"}),
        _json(503, {"message": "busy"}),
        _json(200, {"experiments": [{"experiment_id": "0", "name": "Default"}]}),
    ])
    server.route("GET", f"{API}/experiments/search", lambda _r: next(answers))
    http, sleeps = session(server.url)
    assert http.get_json(f"{API}/experiments/search")["experiments"][0]["name"] == "Default"
    assert len(server.requests) == 4
    assert sleeps[0] == 2.0  # Retry-After honoured
    assert 0.5 <= sleeps[1] < sleeps[2]  # exponential backoff after that
    assert sleeps[2] >= 2 * 0.5 * 2


def test_retry_after_is_capped(server):
    answers = iter([_json(429, {}, **{"Retry-After": "100000"}), _json(200, {})])
    server.route("GET", "/x", lambda _r: next(answers))
    http, sleeps = session(server.url)
    http.request("GET", "/x")
    assert sleeps == [30.0]


def test_bounded_retries_then_clear_error(server):
    server.route("GET", f"{API}/runs/get", _json(503, {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "down for maintenance"}))
    http, sleeps = session(server.url, max_retries=3)
    with pytest.raises(ServerError) as caught:
        http.get_json(f"{API}/runs/get", {"run_id": RUN})
    assert len(server.requests) == 4 and len(sleeps) == 3
    message = str(caught.value)
    assert "503" in message and "down for maintenance" in message and "\n" not in message
    assert caught.value.error_code == "TEMPORARILY_UNAVAILABLE"


def test_connection_refused_is_retried_then_one_line_error():
    free = FakeServer()
    url = free.url
    free.close()  # nothing listens there now
    http, sleeps = session(url, max_retries=2)
    with pytest.raises(ServerError) as caught:
        http.request("GET", "/health")
    assert len(sleeps) == 2
    assert "cannot reach the tracking server" in str(caught.value) and "after 3 attempts" in str(caught.value)


@pytest.mark.parametrize("status, words", [
    (401, "401 Unauthorized"), (403, "403 Forbidden"), (404, "404 Not Found"),
])
def test_auth_and_missing_errors_carry_server_message(server, status, words):
    server.route("GET", f"{API}/runs/get",
                 _json(status, {"error_code": "SOME_CODE", "message": f"server says {status}\nsecond line"}))
    http, sleeps = session(server.url)
    with pytest.raises(ServerError) as caught:
        http.get_json(f"{API}/runs/get", {"run_id": RUN})
    message = str(caught.value)
    assert words in message and f"server says {status} second line" in message and "\n" not in message
    assert caught.value.error_code == "SOME_CODE"
    assert sleeps == []  # never retried
    if status == 404:
        assert isinstance(caught.value, ResourceDoesNotExist)


def test_unknown_run_is_resource_does_not_exist(server):
    server.route("GET", f"{API}/runs/get", _json(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Run 'x' not found"}))
    with pytest.raises(ResourceDoesNotExist, match="Run 'bbb' not found"):
        store(server.url).get_run("bbb")


# -- redirects ----------------------------------------------------------------------------------
@pytest.mark.parametrize("credentials", [
    {"env": {"MLFLOW_TRACKING_TOKEN": "secret-token"}}, {"env": {"MLFLOW_TRACKING_USERNAME": "ann",
                                                                "MLFLOW_TRACKING_PASSWORD": "pw"}},
    {"userinfo": "bob:hunter2@"},
])
@pytest.mark.parametrize("elsewhere", ["other port", "other host name"])
def test_redirect_to_other_origin_drops_credentials(server, other_server, credentials, elsewhere):
    target = other_server if elsewhere == "other port" else server
    landing = f"{other_server.url}/landing" if elsewhere == "other port" else f"http://localhost:{server.port}/landing"
    target.route("GET", "/landing", (200, {}, b"OK"))
    server.route("GET", "/start", (302, {"Location": landing}, b""))
    http, _ = session(f"http://{credentials.get('userinfo', '')}127.0.0.1:{server.port}", credentials.get("env"))
    assert http.request("GET", "/start").content == b"OK"
    first = next(r for r in server.requests if r["path"] == "/start")
    assert first["headers"]["Authorization"].startswith(("Bearer ", "Basic "))
    assert target.requests[-1]["path"] == "/landing" and "Authorization" not in target.requests[-1]["headers"]


def test_same_origin_redirect_keeps_credentials(server):
    server.route("GET", "/landing", (200, {}, b"OK"))
    server.route("GET", "/start", (307, {"Location": "/landing"}, b""))
    http, _ = session(server.url, {"MLFLOW_TRACKING_TOKEN": "t"})
    assert http.request("GET", "/start").content == b"OK"
    assert server.requests[-1]["path"] == "/landing" and server.requests[-1]["headers"]["Authorization"] == "Bearer t"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_opens_connections_of_its_own(server):
    server.route("GET", "/health", (200, {}, b"OK"))
    http, _ = session(server.url)
    http.request("GET", "/health")  # the parent now keeps a connection alive
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, never return into pytest
        answer = b"0"
        try:
            answer = b"1" if http.request("GET", "/health").content == b"OK" else b"0"
            http.close()
        finally:
            os.write(write, answer)
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.close(read)
    os.waitpid(pid, 0)
    http.request("GET", "/health")
    clients = [r["client"] for r in server.requests]
    assert clients[0] == clients[2] != clients[1]  # the child had its own socket; the parent's still works


def test_redirect_loop_stops(server):
    server.route("GET", "/a", (302, {"Location": "/b"}, b""))
    server.route("GET", "/b", (302, {"Location": "/a"}, b""))
    http, _ = session(server.url)
    with pytest.raises(ServerError, match="redirects"):
        http.request("GET", "/a")
    assert len(server.requests) <= 7


# -- paging -------------------------------------------------------------------------------------
def _experiments(ids: list[str], token: str | None) -> Reply:
    page: dict[str, Any] = {"experiments": [{"experiment_id": i, "name": f"e{i}"} for i in ids]}
    if token:
        page["next_page_token"] = token
    return _json(200, page)


def test_pages_are_followed(server):
    pages = {None: (["0", "1"], "t1"), "t1": (["2"], "t2"), "t2": (["3"], None)}
    server.route("GET", f"{API}/experiments/search",
                 lambda r: _experiments(*pages[(r["query"].get("page_token") or [None])[0]]))
    assert [e.experiment_id for e in store(server.url).search_experiments()] == ["0", "1", "2", "3"]


def test_repeated_page_token_stops_with_a_problem(server):
    server.route("GET", f"{API}/experiments/search", lambda r: _experiments(["0"], "same"))
    reader = store(server.url)
    with pytest.warns(UserWarning, match="repeated page token"):
        found = reader.search_experiments()
    assert [e.experiment_id for e in found] == ["0"]
    assert len(server.requests) == 2
    assert any("repeated page token" in p.message for p in reader.problems)
    with pytest.raises(ReportgenError, match="repeated page token"):
        store(server.url, strict=True).search_experiments()


def test_stalled_paging_stops(server):
    counter = iter(range(10**6))
    server.route("GET", f"{API}/experiments/search", lambda r: _experiments([], f"tok{next(counter)}"))
    reader = store(server.url)
    with pytest.warns(UserWarning, match="empty pages"):
        assert reader.search_experiments() == []
    assert len(server.requests) == 3


# -- histories ----------------------------------------------------------------------------------
def _run_json(run_id: str, metrics: dict[str, float]) -> dict:
    return {
        "info": {"run_id": run_id, "experiment_id": "1", "status": "FINISHED", "lifecycle_stage": "active",
                 "artifact_uri": f"mlflow-artifacts:/1/{run_id}/artifacts"},
        "data": {"metrics": [{"key": k, "value": v, "timestamp": 1, "step": 0} for k, v in metrics.items()]},
    }


def test_nan_and_infinity_in_json_both_forms(server):
    server.route("GET", f"{API}/runs/get", _json(200, {"run": _run_json(RUN, {"m": 1.0})}))
    raw = (b'{"metrics": [{"key": "m", "value": NaN, "timestamp": 1, "step": 0},'
           b'{"key": "m", "value": "NaN", "timestamp": 2, "step": 1},'
           b'{"key": "m", "value": Infinity, "timestamp": 3, "step": 2},'
           b'{"key": "m", "value": "Infinity", "timestamp": 4, "step": 3},'
           b'{"key": "m", "value": -Infinity, "timestamp": 5, "step": 4},'
           b'{"key": "m", "value": "-Infinity", "timestamp": 6, "step": 5},'
           b'{"key": "m", "value": "2.5", "timestamp": "7", "step": "6"}]}')
    server.route("GET", f"{API}/metrics/get-history", (200, {"Content-Type": "application/json"}, raw))
    frame = store(server.url, history_mode="paged").metric_histories([RUN])
    values = list(frame["value"])
    assert math.isnan(values[0]) and math.isnan(values[1])
    assert values[2:6] == [math.inf, math.inf, -math.inf, -math.inf] and values[6] == 2.5
    assert list(frame["step"]) == list(range(7)) and list(frame["timestamp"]) == list(range(1, 8))


def test_missing_bulk_endpoints_fall_back_to_get_history(server):
    server.route("GET", f"{API}/runs/get", lambda r: _json(200, {"run": _run_json(r["query"]["run_id"][0], {"m": 1.0})}))
    server.route("GET", f"{API}/metrics/get-history",
                 _json(200, {"metrics": [{"key": "m", "value": 1.0, "timestamp": 1, "step": s} for s in range(3)]}))
    frame = store(server.url).metric_histories([RUN, "b" * 32])  # bulk endpoints: bare 404 (no route)
    assert len(frame) == 6
    paths = [r["path"] for r in server.requests]
    assert paths.count(f"{AJAX}/metrics/get-history-bulk") == 1
    assert paths.count(f"{API}/metrics/get-history") == 2
    sampled = store(server.url, max_points=2).metric_histories([RUN])
    assert list(sampled["step"]) == [0, 2]


SIZES = {"1" * 32: 3, "2" * 32: 20_000, "3" * 32: 10_000, "4" * 32: 30_000}


def _points(run_id: str) -> list[dict]:
    return [{"run_id": run_id, "key": "m", "value": float(s), "timestamp": 10 + s, "step": s} for s in range(SIZES[run_id])]


def test_exact_bulk_answers_cut_at_the_cap_are_completed(server):
    server.route("GET", f"{API}/runs/get", lambda r: _json(200, {"run": _run_json(r["query"]["run_id"][0], {"m": 1.0})}))

    def bulk(request):  # like MLflow: sorted by run, cut at max_results (and never more than 25000)
        limit = min(int(request["query"]["max_results"][0]), 25_000)
        items = [p for run_id in sorted(request["query"]["run_id"]) for p in _points(run_id)]
        stray = [{"run_id": "c" * 32, "key": "m", "value": 9, "timestamp": 1, "step": 0}]  # never asked for
        return _json(200, {"metrics": (stray + items)[:limit]})

    def history(request):
        run_id = request["query"]["run_id"][0]
        start = int((request["query"].get("page_token") or ["0"])[0])
        page = _points(run_id)[start:start + int(request["query"]["max_results"][0])]
        end = start + len(page)
        return _json(200, {"metrics": page, **({"next_page_token": str(end)} if end < SIZES[run_id] else {})})

    server.route("GET", f"{AJAX}/metrics/get-history-bulk", bulk)
    server.route("GET", f"{API}/metrics/get-history", history)
    frame = store(server.url).metric_histories(list(SIZES))
    counts = {str(k): v for k, v in frame.groupby("run_id", observed=True).size().items()}
    assert counts == SIZES
    assert frame[frame["run_id"] == "4" * 32]["step"].tolist() == list(range(30_000))
    paged = [r["query"]["run_id"] for r in server.requests if r["path"] == f"{API}/metrics/get-history"]
    assert paged == [["4" * 32], ["4" * 32]]  # only the series longer than one bulk answer
    bulk_calls = [r for r in server.requests if r["path"] == f"{AJAX}/metrics/get-history-bulk"]
    assert len(bulk_calls) <= 4


def test_sampled_histories_use_the_interval_endpoint(server):
    server.route("GET", f"{API}/runs/get", _json(200, {"run": _run_json(RUN, {"m": 1.0})}))

    def interval(request):
        limit = int(request["query"]["max_results"][0])
        return _json(200, {"metrics": [{"run_id": RUN, "key": "m", "value": 1, "timestamp": 1, "step": s * 2}
                                       for s in range(limit)]})

    server.route("GET", f"{API}/metrics/get-history-bulk-interval", interval)
    sampled = store(server.url, max_points=100).metric_histories([RUN])
    assert len(sampled) == 100 and sampled["step"].iloc[-1] == 198
    assert not [r for r in server.requests if "get-history-bulk" in r["path"] and "interval" not in r["path"]]


def test_sampled_histories_send_the_whole_step_range_or_do_without(server):
    server.route("GET", f"{API}/runs/get", _json(200, {"run": _run_json(RUN, {"m": 1.0})}))
    points = [{"run_id": RUN, "key": "m", "value": 1, "timestamp": 1, "step": s} for s in (0, 5, 9)]

    def strict(request):  # a server whose steps are 32-bit: refuses the 64-bit bounds
        if "start_step" in request["query"]:
            return _json(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "start_step out of range"})
        return _json(200, {"metrics": points})

    server.route("GET", f"{API}/metrics/get-history-bulk-interval", _json(200, {"metrics": points}))
    reader = store(server.url, max_points=3)
    assert reader.metric_histories([RUN])["step"].tolist() == [0, 5, 9]
    asked = [r["query"] for r in server.requests if r["path"].endswith("bulk-interval")]
    assert [(q["start_step"], q["end_step"]) for q in asked] == [([str(-(2**63))], [str(2**63 - 1)])]

    server.requests.clear()
    server.route("GET", f"{API}/metrics/get-history-bulk-interval", strict)
    reader = store(server.url, max_points=3)
    assert reader.metric_histories([RUN])["step"].tolist() == [0, 5, 9]
    assert reader.metric_histories([RUN])["step"].tolist() == [0, 5, 9]  # the range is not asked again
    asked = [r["query"] for r in server.requests if r["path"].endswith("bulk-interval")]
    assert ["start_step" in q for q in asked] == [True, False, False]


def _searchable_server(server, *, refuse_filters: bool = False) -> list[dict]:
    """Experiment 1 with runs 1..4 (metric m = 0..3, param p = a|b); runs/search ignores filters (the
    client must still apply them) or refuses them with a 400. Returns the runs/search bodies."""
    bodies: list[dict] = []
    runs = []
    for i in range(4):
        run = _run_json(str(i + 1) * 32, {"m": float(i)})
        run["data"]["params"] = [{"key": "p", "value": "ab"[i % 2]}]
        runs.append(run)

    def search(request):
        body = json.loads(request["body"])
        bodies.append(body)
        if refuse_filters and "filter" in body:
            return _json(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "bad filter"})
        return _json(200, {"runs": runs})

    server.route("GET", f"{API}/experiments/get",
                 _json(200, {"experiment": {"experiment_id": "1", "name": "e", "lifecycle_stage": "active"}}))
    server.route("POST", f"{API}/runs/search", search)
    return bodies


@pytest.mark.parametrize("refuse", [False, True])
def test_search_filters_in_mlflows_grammar_are_sent_others_stay_local(server, refuse):
    bodies = _searchable_server(server, refuse_filters=refuse)
    reader = store(server.url)
    cases = {
        "metrics.m >= 1 and params.p = 'a'": ["3" * 32],
        "metrics.m < 1 OR params.p = 'b'": ["1" * 32, "2" * 32, "4" * 32],
        "(metrics.m = 3)": ["4" * 32],
        "params.p IN ('b')": ["2" * 32, "4" * 32],
        "": ["1" * 32, "2" * 32, "3" * 32, "4" * 32],
    }
    sent = []
    for text, expected in cases.items():
        bodies.clear()
        assert sorted(r.run_id for r in reader.search_run_objects(["1"], text)) == expected, text
        sent.append([b.get("filter") for b in bodies])
    first = ["metrics.m >= 1 AND params.p = 'a'", None] if refuse else ["metrics.m >= 1 AND params.p = 'a'"]
    assert sent == [first, [None], [None], [None], [None]]


def test_history_paging_loop_is_a_problem(server):
    server.route("GET", f"{API}/runs/get", _json(200, {"run": _run_json(RUN, {"m": 1.0})}))
    server.route("GET", f"{API}/metrics/get-history",
                 _json(200, {"metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": 0}], "next_page_token": "x"}))
    reader = store(server.url, history_mode="paged")
    with pytest.warns(UserWarning, match="repeated page token"):
        frame = reader.metric_histories([RUN])
    assert len(frame) == 2  # two pages read, then the loop was seen


# -- artifacts ----------------------------------------------------------------------------------
HOSTILE = ["../../etc/passwd", "/etc/passwd", "%2e%2e/secret", "%252e%252e/x", "..\\win", "other/x.txt", "ok/../../x"]


def _listing(request) -> Reply:
    path = (request["query"].get("path") or [""])[0]
    if path == "":
        files = [{"path": p, "is_dir": False, "file_size": 1} for p in HOSTILE]
        files += [{"path": "good.txt", "is_dir": False, "file_size": 4}, {"path": "sub", "is_dir": True}]
    elif path == "sub":
        files = [{"path": "sub/inner.txt", "is_dir": False, "file_size": 5}, {"path": "../escape", "is_dir": True}]
    else:
        files = []
    return _json(200, {"root_uri": "mlflow-artifacts:/1/x/artifacts", "files": files})


def test_hostile_artifact_paths_are_skipped(server):
    server.route("GET", f"{API}/artifacts/list", _listing)
    reader = store(server.url)
    with pytest.warns(UserWarning):
        files = reader.walk_artifacts(RUN)
    assert [f.path for f in files] == ["good.txt", "sub/inner.txt"]
    assert len([p for p in reader.problems if "artifact" in p.message]) == len(HOSTILE) + 1


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "%2e%2e/x", "a/../../x", "a\\b"])
def test_open_artifact_refuses_escaping_paths_before_any_request(server, path):
    with pytest.raises(InvalidParameterValue):
        store(server.url).open_artifact(RUN, path)
    assert server.requests == []


def test_download_writes_only_inside_the_destination(server, tmp_path):
    from reportgen.tracking import artifacts

    server.route("GET", f"{API}/artifacts/list", _listing)
    server.route("GET", "/get-artifact", lambda r: (200, {}, r["query"]["path"][0].encode()))
    dst = tmp_path / "dst"
    dst.mkdir()
    with pytest.warns(UserWarning):
        artifacts.download(store(server.url), RUN, None, dst)
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["dst/good.txt", "dst/sub/inner.txt"]
    assert (dst / "sub/inner.txt").read_bytes() == b"sub/inner.txt"


class _Chunks:
    """`count` chunks of 64 KiB made as they are sent; `sent` counts them, `done` is set at the end."""

    def __init__(self, count: int, byte: bytes = b"x") -> None:
        self.count, self.byte, self.sent, self.done = count, byte, 0, threading.Event()

    def reply(self, _request: dict) -> Reply:
        return 200, {"Content-Length": str(self.count * 65536)}, self

    def __iter__(self):
        for _ in range(self.count):
            self.sent += 1
            yield self.byte * 65536

    def close(self) -> None:
        self.done.set()


def test_artifact_download_is_streamed_and_stops_at_the_callers_cap(server):
    big = _Chunks(16 * 1024)  # 1 GiB if it were all read
    server.route("GET", "/get-artifact", big.reply)
    reader = store(server.url)
    with reader.open_artifact(RUN, "big.bin") as handle:
        assert handle.read(1001) == b"x" * 1001  # what the site does: read up to its cap + 1
    assert big.done.wait(30)
    assert big.sent * 65536 < 64 * 2**20  # the transfer stopped (socket buffers took a little)
    small = _Chunks(2, b"y")
    server.route("GET", "/get-artifact", small.reply)
    with reader.open_artifact(RUN, "small.bin") as handle:  # the session is still usable
        assert handle.read() == b"y" * 131072


def test_artifact_download_cut_short_is_an_error_not_a_short_file(server):
    half = _Chunks(4)  # 256 KiB sent of the 512 KiB announced, then the server hangs up
    server.route("GET", "/get-artifact", lambda r: (200, {"Content-Length": str(8 * 65536), "Connection": "close"}, half))
    with pytest.raises(ServerError, match=r"GET /get-artifact: the download broke off \(IncompleteRead\)"):
        with store(server.url).open_artifact(RUN, "big.bin") as handle:
            handle.read()


def test_artifact_download_streams_to_disk_and_reuses_the_connection(server, tmp_path):
    from reportgen.tracking import artifacts

    server.route("GET", f"{API}/artifacts/list", _json(200, {"files": [{"path": "big.bin", "is_dir": False}]}))
    reader = store(server.url)
    for attempt in range(2):
        body = _Chunks(80, bytes([65 + attempt]))  # 5 MiB
        server.route("GET", "/get-artifact", body.reply)
        out = tmp_path / str(attempt)
        out.mkdir()
        artifacts.download(reader, RUN, "big.bin", out)
        assert (out / "big.bin").read_bytes() == bytes([65 + attempt]) * (80 * 65536)
    clients = {r["client"] for r in server.requests if r["path"] == "/get-artifact"}
    assert len(clients) == 1  # a body read to its end gives its connection back to the pool


def test_get_artifact_errors_are_not_streamed(server):
    server.route("GET", "/get-artifact", _json(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "gone"}))
    with pytest.raises(ResourceDoesNotExist, match="No artifact 'a.txt'"):
        store(server.url).open_artifact(RUN, "a.txt")
    server.route("GET", "/get-artifact", _json(500, {"error_code": "INTERNAL_ERROR", "message": "disk on fire"}))
    with pytest.raises(ServerError, match="disk on fire"):
        store(server.url).open_artifact(RUN, "a.txt")


# -- writer -------------------------------------------------------------------------------------
def test_log_batch_splits_to_count_and_size_limits(server):
    from reportgen.tracking.client import TrackingClient
    from reportgen.tracking import rest_writer
    from reportgen.model import Metric, Param, RunTag

    bodies: list[dict] = []
    server.route("POST", f"{API}/runs/log-batch", lambda r: (bodies.append(json.loads(r["body"])), _json(200, {}))[1])
    client = TrackingClient(server.url)
    http, _ = session(server.url)
    rest_writer._writers[server.url] = RestWriter(server.url, session=http)
    try:
        client.log_batch(
            RUN,
            metrics=[Metric("m", float(i), 1, i) for i in range(2500)] + [Metric("n", math.nan, 1, 0)],
            params=[Param(f"p{i}", "x" * 6000) for i in range(100)],
            tags=[RunTag(f"t{i}", "y" * 8000) for i in range(100)],
        )
    finally:
        rest_writer._writers.pop(server.url, None)
    sizes = [len(server_request["body"]) for server_request in server.requests]
    assert all(size <= MAX_REQUEST_BYTES for size in sizes)
    assert all(len(b["metrics"]) <= 1000 and len(b["params"]) <= 100 and len(b["tags"]) <= 100 for b in bodies)
    assert all(len(b["metrics"]) + len(b["params"]) + len(b["tags"]) <= 1000 for b in bodies)
    assert sum(len(b["metrics"]) for b in bodies) == 2501
    assert sorted(p["key"] for b in bodies for p in b["params"]) == sorted(f"p{i}" for i in range(100))
    assert sum(len(b["tags"]) for b in bodies) == 100
    assert {"key": "n", "value": "NaN", "timestamp": 1, "step": 0} in [m for b in bodies for m in b["metrics"]]


def test_writer_turns_server_refusals_into_mlflow_errors(server):
    server.route("POST", f"{API}/runs/log-parameter", _json(400, {
        "error_code": "INVALID_PARAMETER_VALUE", "message": "Changing param values is not allowed. Param with key='a'"}))
    http, _ = session(server.url)
    with pytest.raises(InvalidParameterValue, match=r"^Changing param values is not allowed"):
        RestWriter(server.url, session=http).log_param(RUN, "a", "2")


def test_artifact_upload_goes_through_the_proxy(server, tmp_path):
    server.route("GET", f"{API}/runs/get", _json(200, {"run": _run_json(RUN, {})}))
    puts = []
    server.route("PUT", f"/api/2.0/mlflow-artifacts/artifacts/1/{RUN}/artifacts/dir/a%20b.txt",
                 lambda r: (puts.append(r["body"]), (200, {}, b"{}"))[1])
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a b.txt").write_bytes(b"data")
    http, _ = session(server.url)
    RestWriter(server.url, session=http).upload_artifacts(RUN, Path(tmp_path))
    assert puts == [b"data"]


def test_artifact_upload_is_sent_from_disk_and_again_on_a_retry(server, tmp_path):
    server.route("GET", f"{API}/runs/get", _json(200, {"run": _run_json(RUN, {})}))
    answers = iter([(503, {}, b"busy"), (200, {}, b"{}")])
    puts = []
    server.route("PUT", f"/api/2.0/mlflow-artifacts/artifacts/1/{RUN}/artifacts/big.bin",
                 lambda r: (puts.append(r), next(answers))[1])
    data = bytes(range(256)) * 8192  # 2 MiB
    (tmp_path / "big.bin").write_bytes(data)
    http, _ = session(server.url)
    RestWriter(server.url, session=http).upload_artifacts(RUN, Path(tmp_path))
    assert [r["body"] == data for r in puts] == [True, True]
    assert puts[-1]["headers"]["Content-Length"] == str(len(data))


def test_credential_order_matches_mlflow(server):
    server.route("GET", "/health", (200, {}, b"OK"))
    env = {"MLFLOW_TRACKING_USERNAME": "ann", "MLFLOW_TRACKING_PASSWORD": "pw", "MLFLOW_TRACKING_TOKEN": "tok"}
    http, _ = session(f"http://bob:x@127.0.0.1:{server.port}", env)
    http.request("GET", "/health")
    assert server.requests[-1]["headers"]["Authorization"] == "Basic YW5uOnB3"  # username+password first
    http, _ = session(f"http://bob:x@127.0.0.1:{server.port}", {"MLFLOW_TRACKING_TOKEN": "tok"})
    http.request("GET", "/health")
    assert server.requests[-1]["headers"]["Authorization"] == "Bearer tok"  # then the token


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as two PEM files."""
    import datetime
    import ipaddress

    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _tls_server(folder: Path, client_ca: Path | None = None) -> tuple[FakeServer, Path]:
    cert, key = _certificate(folder, "server")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    fake = FakeServer(tls=context)
    fake.route("GET", "/health", (200, {}, b"OK"))
    return fake, cert


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_checks_the_server_against_the_given_bundle_or_not_at_all(tmp_path):
    server, cert = _tls_server(tmp_path)
    try:
        strict, sleeps = session(server.url)
        with pytest.raises(ServerError, match=r"TLS failed \(.*certificate") as caught:
            strict.request("GET", "/health")
        assert "\n" not in str(caught.value) and sleeps == []  # a certificate that fails is not retried
        assert server.requests == []
        bundle, _ = session(server.url, {"MLFLOW_TRACKING_SERVER_CERT_PATH": str(cert)})
        assert bundle.request("GET", "/health").content == b"OK"
        insecure, _ = session(server.url, {"MLFLOW_TRACKING_INSECURE_TLS": "true"})
        assert insecure.request("GET", "/health").content == b"OK"
    finally:
        server.close()


def test_tls_client_certificate(tmp_path):
    client_cert, client_key = _certificate(tmp_path, "client")
    server, cert = _tls_server(tmp_path, client_ca=client_cert)
    try:
        env = {"MLFLOW_TRACKING_SERVER_CERT_PATH": str(cert)}
        without, _ = session(server.url, env, max_retries=0)
        with pytest.raises(ServerError, match="TLS failed"):
            without.request("GET", "/health")
        both = tmp_path / "client.pem"  # certificate and key in one file, as MLflow's variable takes them
        both.write_bytes(client_cert.read_bytes() + client_key.read_bytes())
        http, _ = session(server.url, {**env, "MLFLOW_TRACKING_CLIENT_CERT_PATH": str(both)})
        assert http.request("GET", "/health").content == b"OK"
        assert len(server.requests) == 1
    finally:
        server.close()


def test_tls_settings_that_cannot_work_fail_before_any_request():
    with pytest.raises(ReportgenError, match="only one of"):
        HttpSession("https://127.0.0.1:1", env={"MLFLOW_TRACKING_INSECURE_TLS": "true",
                                                "MLFLOW_TRACKING_SERVER_CERT_PATH": "/x.pem"})
    with pytest.raises(ReportgenError, match="cannot load the certificate"):
        HttpSession("https://127.0.0.1:1", env={"MLFLOW_TRACKING_SERVER_CERT_PATH": "/no/such.pem"})
    with pytest.raises(ReportgenError, match="Not an http"):
        HttpSession("ftp://host/x", env={})


def test_a_server_that_does_not_answer_times_out(server):
    import time as _time

    server.route("GET", "/slow", lambda _r: (_time.sleep(1.0), (200, {}, b"late"))[1])
    http = HttpSession(server.url, env={}, sleep=lambda _s: None, timeout=0.2, max_retries=1)
    with pytest.raises(ServerError, match="timed out"):
        http.request("GET", "/slow")
    assert len(server.requests) == 2
