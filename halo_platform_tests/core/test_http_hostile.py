"""Hostile input against the HTTP service: every 4xx (405 included) is JSON `{"error", "detail"}`,
bodies over 1 MiB get 413 while they stream (before any parser), nesting that would blow the
parsers' recursion is refused with 400, GraphQL has depth/alias/field/size limits, and whatever
still escapes answers a JSON 500 without internals."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from graphql import get_introspection_query

from halo_platform.core.http import MAX_BODY_BYTES, MAX_JSON_DEPTH, nesting_depth
from halo_platform.http import create_app
from halo_platform_tests.fixtures.access import authorized_client, make_key


@contextmanager
def serving(app) -> Iterator[tuple[str, int]]:  # noqa: ANN001
    """`app` served by uvicorn (the server `halo serve` runs) on a free loopback port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield sock.getsockname()
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def assert_error_body(response, status: int) -> dict:  # noqa: ANN001
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers["content-type"]
    body = response.json()
    assert set(body) == {"error", "detail"} and isinstance(body["error"], str) and body["error"], body
    return body


@pytest.fixture
def client(halo_env) -> TestClient:  # noqa: ANN001
    return authorized_client(create_app(), raise_server_exceptions=False)


def test_a_method_a_route_does_not_allow_is_a_json_405_that_lists_the_allowed_ones(client):
    response = client.delete("/health")
    assert_error_body(response, 405)
    assert response.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize("path, allowed", [
    ("/graphql", "GET, HEAD, POST"), ("/v1/callbacks/twilio", "GET, POST"), ("/v1/messages/sms", "POST"), ("/v1/messages/m1", "GET, HEAD"),
])
def test_a_405_lists_the_methods_of_the_resource_named(client, path, allowed):
    """/graphql and the callbacks are one route per method; Starlette's 405 named only the first one's.
    `/v1/messages/sms` is its own resource even though `GET /v1/messages/{id}` would match its path."""
    response = client.request("OPTIONS", path)
    assert_error_body(response, 405)
    assert response.headers["allow"] == allowed


@pytest.mark.parametrize("method, path, kwargs, status", [
    ("POST", "/graphql", {"content": b"{ __typename }", "headers": {"content-type": "text/plain"}}, 400),
    ("POST", "/graphql", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 400),
    ("GET", "/graphql", {"headers": {"accept": "application/json"}}, 400),
    ("PUT", "/graphql", {}, 405),
    ("POST", "/graphql", {"json": "AAA"}, 400),
    ("POST", "/graphql", {"json": 1}, 400),
    ("POST", "/graphql", {"content": b"\xff\r\x12\xc8\xa0z", "headers": {"content-type": "application/json"}}, 400),
    ("POST", "/graphql", {"json": {"query": "0", "operationName": {}}}, 400),
    ("POST", "/v1/tasks/payment_reconciliation/requests", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 422),
])
def test_graphql_and_framework_rejections_are_json_error_bodies(client, method, path, kwargs, status):
    """These came from strawberry (text/plain) or from Starlette/FastAPI (`{"detail": ...}`)."""
    assert_error_body(client.request(method, path, **kwargs), status)


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize("path", ["/v1/messages/sms", "/graphql", "/v1/tasks/payment_reconciliation/requests"])
def test_a_json_body_nested_100000_deep_is_a_json_400_not_a_recursion_error(client, path):
    body = assert_error_body(client.post(path, content=DEEP, headers={"content-type": "application/json"}), 400)
    assert "nested" in body["error"]


def test_graphql_variables_nested_deep_in_the_query_string_are_refused_too(client):
    variables = quote("[" * 5000 + "]" * 5000)
    response = client.get(f"/graphql?query=%7B__typename%7D&variables={variables}", headers={"accept": "application/json"})
    assert_error_body(response, 400)


@pytest.mark.parametrize("body, depth", [
    (b"", 0), (b"{}", 1), (b'{"a": [1, {"b": []}]}', 4), (b'"[[[["', 0), (b'["\\"[[", [[]]]', 3),
    (b'{"k": "\\\\"}', 1), (b"a[b][c]=1", 1), (b"]]]][[", 2), (b'"unterminated [[[', 0),
])
def test_nesting_depth_counts_brackets_outside_json_strings(body, depth):
    assert nesting_depth(body, limit=100) == depth


def test_nesting_depth_stops_counting_past_the_limit_in_linear_time():
    """A pathological body (escaped quotes that never close, a million brackets) is scanned quickly."""
    started = time.perf_counter()
    assert nesting_depth(b'"' + b'\\"' * 400_000, limit=MAX_JSON_DEPTH) == 0
    assert nesting_depth(b"[" * 1_000_000, limit=MAX_JSON_DEPTH) == MAX_JSON_DEPTH + 1
    assert nesting_depth(b"[]," * 300_000, limit=MAX_JSON_DEPTH) == 1
    assert time.perf_counter() - started < 10  # quadratic scanning would take hours; a busy CI machine gets room


def test_json_nested_within_the_limit_still_reaches_the_route(client):
    nested = "[" * (MAX_JSON_DEPTH - 2) + "]" * (MAX_JSON_DEPTH - 2)
    response = client.post("/graphql", content=f'{{"query": "{{ __typename }}", "variables": {{"x": {nested}}}}}',
                           headers={"content-type": "application/json"})
    assert response.status_code == 200 and response.json() == {"data": {"__typename": "Query"}}


def _read_response(sock: socket.socket) -> tuple[int, dict, dict]:
    sock.settimeout(10)
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {raw!r}"
        raw += chunk
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers["content-length"])
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(lines[0].split()[1]), headers, json.loads(rest[:length])


def _authorization(app: FastAPI) -> bytes:
    """The header line of a new key: without one the request is refused 401 before its body matters."""
    return f"Authorization: Bearer {make_key(app)}\r\n".encode()


def test_a_declared_100_mb_body_is_refused_413_before_a_byte_of_it_is_read(halo_env):
    """The client announces 100 MB and sends 1 KiB: the answer comes at once (nothing waits for, buffers or parses the rest)."""
    app = create_app()
    with serving(app) as address, socket.create_connection(address) as sock:
        sock.sendall(b"POST /v1/messages/sms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + _authorization(app)
                     + b"Content-Length: 104857600\r\n\r\n" + b'{"to": "' + b"1" * 1024)
        started = time.monotonic()
        status, headers, body = _read_response(sock)
        assert time.monotonic() - started < 5
    assert status == 413 and headers["content-type"] == "application/json"
    assert set(body) == {"error", "detail"} and body["detail"] == {"limit_bytes": MAX_BODY_BYTES}


def test_a_chunked_body_without_content_length_is_cut_off_413_once_it_passes_1_mib(halo_env):
    """No Content-Length: the limit is counted while the chunks stream in; the server answers as soon
    as the running total passes 1 MiB, while the client still has megabytes to send."""
    chunk = b"9" * 65536
    sent = 0
    app = create_app()
    with serving(app) as address, socket.create_connection(address) as sock:
        sock.sendall(b"POST /v1/messages/sms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + _authorization(app)
                     + b"Transfer-Encoding: chunked\r\n\r\n" + b'7\r\n{"to": \r\n')
        while sent < 16 * MAX_BODY_BYTES and not select.select([sock], [], [], 0)[0]:
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
            time.sleep(0.002)  # let the server keep pace, so `sent` says where it answered
        status, _headers, body = _read_response(sock)
    assert status == 413 and set(body) == {"error", "detail"}
    # the answer came while the client was still sending (kernel buffers on loopback hold a few MiB)
    assert MAX_BODY_BYTES <= sent < 16 * MAX_BODY_BYTES


def test_a_body_just_under_the_limit_passes_the_guard(client):
    padding = "x" * (MAX_BODY_BYTES - 100)
    response = client.post("/graphql", json={"query": "{ __typename }", "variables": {"padding": padding}})
    assert response.status_code == 200 and response.json() == {"data": {"__typename": "Query"}}


def test_an_unhandled_exception_is_a_json_500_without_internals(halo_env):
    app = create_app()

    @app.get("/explode")
    def explode() -> dict:
        raise RuntimeError("password=hunter2 at /srv/halo/secret.py")

    response = TestClient(app, raise_server_exceptions=False).get("/explode")
    assert response.status_code == 500 and response.json() == {"error": "internal error", "detail": None}
    assert "hunter2" not in response.text and "Traceback" not in response.text


def _graphql(client: TestClient, query: str) -> dict:
    response = client.post("/graphql", json={"query": query})
    assert response.status_code == 200, response.text
    return response.json()


def _aliases(count: int) -> str:
    return "{" + " ".join(f'a{i}:availableSpans(feed:"hl7",providerId:"DR001"){{spanDate}}' for i in range(count)) + "}"


def test_graphql_refuses_300_aliases_with_a_short_answer_instead_of_megabytes(client):
    response = client.post("/graphql", json={"query": _aliases(300)})
    assert response.json()["data"] is None and len(response.content) < 1000


def test_graphql_refuses_more_than_20_aliases_naming_the_limit(client):
    assert _graphql(client, _aliases(21))["errors"][0]["message"] == "21 aliases found. Allowed: 20"


def test_graphql_refuses_a_query_written_deeper_than_the_depth_limit_before_parsing_it(client):
    """graphql-core's parser recurses per level; the written nesting is refused before it runs."""
    written = "{ __schema { types { " + "ofType { " * 20 + "name" + " }" * 20 + " } } }"
    assert "nested deeper than 15 levels" in _graphql(client, written)["errors"][0]["message"]


def test_graphql_refuses_too_many_fields_even_without_aliases(client):
    """Fragments spread many times multiply the fields to resolve without a single alias."""
    fragments = "fragment F0 on __Type { name kind description }\n" + "\n".join(
        f"fragment F{i} on __Type {{ ...F{i - 1} ofType {{ ...F{i - 1} }} }}" for i in range(1, 10))
    query = fragments + "\n{ __schema { types { ...F9 } } }"
    assert "fields" in _graphql(client, query)["errors"][0]["message"]


def test_graphql_refuses_an_oversized_query_document(client):
    query = "{ __typename } #" + "x" * 50_000
    assert "too large" in _graphql(client, query)["errors"][0]["message"]


def test_a_graphql_selection_nested_thousands_deep_is_an_error_not_a_500(client):
    query = "{" * 5000 + "}" * 5000
    response = client.post("/graphql", json={"query": query})
    assert response.status_code < 500 and "errors" in response.json()


def test_graphiql_introspection_still_fits_within_the_limits(client):
    body = _graphql(client, get_introspection_query(descriptions=True))
    assert "errors" not in body and body["data"]["__schema"]["queryType"]["name"] == "Query"


@pytest.mark.parametrize("body", [b'{"payload": {"sinks": ["\\ud800"]}}', b'{"sinks": ["\\ud800"]}', b'{"payload": {"\\ud800": 1}}'])
def test_an_error_that_repeats_a_lone_surrogate_is_its_422_not_a_500(halo_env, body) -> None:
    """JSON may escape a lone surrogate; the error naming it was rendered as UTF-8, which raised."""
    app = create_app()
    client = authorized_client(app, "tasks:request")
    answer = client.post("/v1/tasks/campaign_alerts/requests", content=body, headers={"content-type": "application/json"})
    assert "\ud800" in assert_error_body(answer, 422)["error"]  # as the caller wrote it: JSON escapes it


NOT_A_NUMBER_PYTHON_READS = b'{"to": 1' + b"0" * 5000 + b"}"  # a ValueError past 4300 digits, not a JSONDecodeError


@pytest.mark.parametrize("path", ["/v1/messages/sms", "/v1/tasks/payment_reconciliation/requests", "/v1/suppressions"])
@pytest.mark.parametrize("body", [b"{not json", b'{"to": "\xff"}', NOT_A_NUMBER_PYTHON_READS])
def test_a_json_body_that_does_not_parse_is_the_same_422_on_every_route(client, path, body):
    """The routes FastAPI reads a model for answered bytes that are not UTF-8 and a 5,000-digit
    number with its 400 "There was an error parsing the body", and broken syntax with a 422
    "1: JSON decode error"; `/v1/messages/*`, which read their body themselves, a 422 "body: must
    be a JSON object". access.md lists 422 for a body the route refuses: one 422, one error line."""
    refused = client.post(path, content=body, headers={"content-type": "application/json"})
    assert assert_error_body(refused, 422) == {"error": "body: not valid JSON", "detail": None}


def test_the_openapi_document_says_a_body_that_is_not_json_is_a_422(client):
    for path, operation in (("/v1/suppressions", "post"), ("/v1/messages/sms", "post"), ("/v1/tasks/{task}/requests", "post")):
        responses = client.get("/openapi.json").json()["paths"][path][operation]["responses"]
        assert "not JSON" in responses["422"]["description"] and "not JSON" not in responses["400"]["description"], path


def _raw(address: tuple[str, int], request: bytes) -> tuple[bytes, bytes]:
    """The head and the body of the server's answer to `request`, read until it closes the connection."""
    with socket.create_connection(address) as sock:
        sock.settimeout(10)
        sock.sendall(request)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    return head, body


def test_health_answers_head_as_get_without_a_body_or_a_key_and_opens_nothing_else(halo_env):
    """Monitoring probes often ask with HEAD: `/health` answered 405. HEAD is GET without the body
    (RFC 9110), still open to anyone; no other route answers HEAD, keyless or not."""
    app = create_app()
    with serving(app) as address:
        head, body = _raw(address, b"HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and body == b"", (head, body)
        head, body = _raw(address, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and json.loads(body) == {"status": "ok"}
    anonymous = TestClient(app)
    for path in ("/v1/tasks", "/v1/messages/m1", "/openapi.json", "/docs", "/v1/task-requests/r1", "/v1/availability"):
        assert anonymous.head(path).status_code in (401, 405), path


HUGE = "9" * 1_000_000
SHOWN = "'" + "9" * 100 + "…'"  # what an error repeats of HUGE


@pytest.mark.parametrize("path, body, error", [
    ("/v1/tasks/payment_reconciliation/requests", {"payload": {"period_start": HUGE}},
     f"payment_reconciliation: invalid payload: period_start: not an ISO date (YYYY-MM-DD): {SHOWN}"),
    ("/v1/tasks/campaign_alerts/requests", {"payload": {"as_of": HUGE}},
     f"campaign_alerts: invalid payload: as_of: not an ISO date (YYYY-MM-DD): {SHOWN}"),
    ("/v1/tasks/campaign_alerts/requests", {"sinks": [HUGE]}, f"unknown sink(s): {'9' * 100}…; known: alerts, outbox"),
    ("/v1/messages/sms", {"to": "+33612345678", "country": HUGE, "body": "hi"},
     f"country: {SHOWN} is not an ISO 3166-1 alpha-2 country code"),
    ("/v1/messages/sms", {"to": "+33612345678", "body": "hi", HUGE: 1}, f"unknown field(s) for sms: {'9' * 100}…"),
])
def test_an_error_repeats_at_most_100_characters_of_a_huge_value(client, path, body, error):
    """A 1 MB value was repeated whole in the 422's error (and in its detail): a 1 MB answer, log
    line or CLI line. What the error says is unchanged; what it repeats is cut with an ellipsis."""
    refused = client.post(path, json=body)
    assert assert_error_body(refused, 422)["error"] == error
    assert len(refused.content) < 2000, len(refused.content)
