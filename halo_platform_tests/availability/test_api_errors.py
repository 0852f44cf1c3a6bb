"""What REST and GraphQL answer when a query fails below the API: a value the database cannot take
is the caller's mistake, answered 422 (REST) or with a GraphQL error saying so; anything else is a
generic error. Neither ever carries the SQL, its parameters or an exception's text; and a
WebSocket upgrade to /graphql (the schema has no subscriptions) is refused, never a 500."""

import base64
import json
import logging
import os
import socket

import pytest

from halo_platform.availability import service
from halo_platform.core.store import StoreResource
from halo_platform.http import create_app
from halo_platform_tests.core.test_http_hostile import serving
from halo_platform_tests.fixtures.access import authorized_client, make_key

INTERNALS = ("SELECT", "psycopg", "sqlalchemy", "available_spans", "Traceback", "[SQL", "parameters", "0x00")


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def client(request, halo_env):
    """An API client of the service over each store: PostgreSQL's driver refuses a NUL in text,
    SQLite and MariaDB looked such an id up (200, no spans); the service refuses it first."""
    url = halo_env["HALO_DB_URL"] if request.param == "sqlite" else request.getfixturevalue(
        {"postgresql": "migrated_pg_url", "mariadb": "migrated_mysql_url"}[request.param])
    store = StoreResource(db_url=url)
    yield authorized_client(create_app({"store": store}), "availability:read", raise_server_exceptions=False)
    store.dispose()


@pytest.mark.parametrize("query", [
    '{ availableSpans(feed: "hl7", providerId: "a\\u0000b") { spanDate } }',
    '{ nextAvailable(feed: "hl7", providerId: "a\\u0000b", durationMinutes: 30) { startAt } }',
    '{ groupAvailability(feed: "hl7", providerIds: ["a\\u0000b", "c"]) { startAt } }',
    '{ slots(feed: "hl7", providerId: "a\\u0000b") { startAt } }',
])
def test_a_nul_in_a_graphql_argument_is_the_same_clear_error_on_every_store(client, query):
    """psycopg's DataError's text (the SQL and its parameters) was the answer on PostgreSQL."""
    response = client.post("/graphql", json={"query": query})
    assert response.status_code == 200, response.text
    assert [e["message"] for e in response.json()["errors"]] == [service.UNSTORABLE]
    assert not [word for word in INTERNALS if word in response.text], response.text


def test_a_lone_surrogate_in_a_graphql_variable_is_the_same_clear_error(client):
    """JSON lets a variable carry `\\ud800`, which has no UTF-8: the store's encoding failed and the
    caller read "internal error" (a traceback in the log)."""
    query = 'query($p: String!) { availableSpans(feed: "hl7", providerId: $p) { spanDate } }'
    body = json.dumps({"query": query, "variables": {"p": "a\ud800b"}})  # escaped as \ud800 (ensure_ascii)
    response = client.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    assert [e["message"] for e in response.json()["errors"]] == [service.UNSTORABLE]


@pytest.mark.parametrize("path", [
    "/v1/availability?feed=hl7&provider_id=a%00b",
    "/v1/slots?feed=hl7&provider_id=a%00b",  # read through the driver's own cursor: psycopg's DataError was a 500
    "/v1/availability/group?feed=hl7&provider_ids=a%00b,c",
    "/v1/availability/group?feed=hl7&provider_ids=c,a%00b&mode=all",
])
def test_a_nul_in_a_rest_parameter_is_a_422_without_internals_on_every_store(client, path):
    response = client.get(path)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == service.UNSTORABLE
    assert not [word for word in INTERNALS if word in response.text], response.text


def test_an_unexpected_resolver_error_is_a_generic_graphql_error_logged_with_its_traceback(halo_env, store, monkeypatch, caplog):
    """Only a HaloError's message is for the caller; any other exception's text may name tables,
    values or paths, so the caller reads a generic message and the log keeps the traceback."""
    def broken(*_args, **_kwargs):
        raise RuntimeError("SELECT secret FROM available_spans WHERE provider_id = 'x'")

    monkeypatch.setattr(service, "spans", broken)
    caplog.set_level(logging.INFO)
    client = authorized_client(create_app({"store": store}), "availability:read")
    body = client.post("/graphql", json={"query": '{ availableSpans(feed: "acme", providerId: "J1") { spanDate } }'}).json()
    assert [e["message"] for e in body["errors"]] == ["internal error"] and body["errors"][0]["path"] == ["availableSpans"]
    assert "secret" not in str(body)
    assert "RuntimeError: SELECT secret" in caplog.text  # the operator still sees what happened



@pytest.mark.parametrize(("query", "variables"), [
    ('query($p: String!) { availableSpans(feed: "acme", providerId: $p) { spanDate } }', {"p": 7}),  # a variable of the wrong type
    ('{ availableSpans(feed: "acme", providerId: 7) { spanDate } }', None),  # an argument of the wrong type
    ('{ availableSpans(feed: "acme") { spanDate } }', None),  # a required argument left out
    ('{ availableSpans(feed: "acme", providerId: "J1") { noSuchField } }', None),
    ('{ availableSpans(', None),  # not GraphQL
])
def test_a_caller_s_malformed_graphql_is_one_info_line_not_an_error_with_a_traceback(halo_env, store, caplog, query, variables):
    """Strawberry logged every malformed query at ERROR with a stack: a monitoring alert and a page of
    traceback for each mistake a caller makes. The caller still reads what is wrong."""
    caplog.set_level(logging.INFO)
    client = authorized_client(create_app({"store": store}), "availability:read")
    body = client.post("/graphql", json={"query": query, "variables": variables}).json()
    assert body["errors"] and body["errors"][0]["message"] != "internal error"
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("graphql: refused: ")] == [
        f"graphql: refused: {body['errors'][0]['message']}"]
    assert "Traceback" not in caplog.text

def _websocket_upgrade(host: str, port: int, headers: str = "") -> str:
    with socket.create_connection((host, port), timeout=10) as sock:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                      f"Sec-WebSocket-Protocol: graphql-transport-ws\r\n{headers}\r\n").encode())
        return sock.recv(4096).decode(errors="replace")


@pytest.mark.parametrize("with_key", [False, True])
def test_a_websocket_upgrade_to_graphql_is_refused_not_a_500(halo_env, caplog, with_key):
    """strawberry registers a WebSocket route for subscriptions by default; the route's guard
    (which takes an HTTP request) crashed on it with a TypeError, a traceback and a 500."""
    app = create_app()
    headers = f"Authorization: Bearer {make_key(app, 'availability:read')}\r\n" if with_key else ""
    caplog.set_level(logging.ERROR)
    with serving(app) as (host, port):
        answer = _websocket_upgrade(host, port, headers)
    assert answer.startswith("HTTP/1.1 403 "), answer[:200]
    assert "Traceback" not in caplog.text and "Exception in ASGI application" not in caplog.text, caplog.text[-800:]
