"""Review of the availability API's edges (http23): what a caller reads when the server's
configuration is broken, and hostile query strings on REST, GraphQL and FHIR."""

from __future__ import annotations

import logging
import re

import pytest

from halo_platform.core.http import public_message
from halo_platform.core.store import StoreResource
from halo_platform.http import create_app
from halo_platform_tests.fixtures.access import authorized_client

BROKEN_FEEDS = {
    "invalid YAML": "feeds:\n  hl7: {format: hl7\n",
    "not a mapping": "feeds: [hl7]\n",
    "bad feed name": "feeds:\n  Bad-Name: {format: hl7}\n",
}
REQUESTS = [
    ("get", "/v1/availability?feed=hl7&provider_id=DR001", None),
    ("get", "/v1/slots?feed=hl7&provider_id=DR001", None),
    ("get", "/v1/availability/group?feed=hl7&provider_ids=DR001,DR002", None),
    ("get", "/fhir/Slot?schedule=Schedule/hl7.DR001", None),
    ("post", "/graphql", {"query": '{ availableSpans(feed: "hl7", providerId: "DR001") { spanDate } }'}),
]


@pytest.fixture
def client(halo_env):  # noqa: ANN001
    store = StoreResource(db_url=halo_env["HALO_DB_URL"])
    yield authorized_client(create_app({"store": store}), "availability:read", raise_server_exceptions=False)
    store.dispose()


def _answer(client, method: str, path: str, body: dict | None) -> tuple[int, str]:  # noqa: ANN001
    response = client.request(method.upper(), path, json=body)
    if path == "/graphql":
        assert response.status_code == 200, response.text
        return 422, response.json()["errors"][0]["message"]
    assert set(response.json()) == {"error", "detail"}, response.text
    return response.status_code, response.json()["error"]


@pytest.mark.parametrize("broken", BROKEN_FEEDS)
@pytest.mark.parametrize("method, path, body", REQUESTS)
def test_a_broken_feeds_file_is_answered_without_the_server_path(client, tmp_path, monkeypatch, caplog,  # noqa: ANN001
                                                                  broken, method, path, body) -> None:
    """The 422 named the server's file (`/srv/halo/config/emr_feeds.yaml: invalid YAML: ...`) to
    any caller with a key: the caller reads the file's name and the problem, the log keeps the path."""
    secret_dir = tmp_path / "srv-private-dir"
    secret_dir.mkdir()
    feeds = secret_dir / "emr_feeds.yaml"
    feeds.write_text(BROKEN_FEEDS[broken])
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    with caplog.at_level(logging.INFO):
        status, error = _answer(client, method, path, body)
    assert status == 422
    assert "srv-private-dir" not in error and str(tmp_path) not in error, error
    assert error.startswith("emr_feeds.yaml: "), error
    assert "\n" not in error
    assert str(feeds) in caplog.text  # the operator still reads where


def test_a_missing_feeds_file_is_answered_without_the_server_path(client, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("HALO_FEEDS_FILE", str(tmp_path / "srv-private-dir" / "emr_feeds.yaml"))
    for method, path, body in REQUESTS:
        status, error = _answer(client, method, path, body)
        assert (status, error) == (422, "configuration file not found: emr_feeds.yaml"), (path, error)


def test_a_server_path_is_written_as_its_file_name_and_a_callers_value_stays(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    spaced = tmp_path / "My Halo" / "feeds.yaml"  # a folder with a blank: the configured file is known whole
    monkeypatch.setenv("HALO_FEEDS_FILE", str(spaced))
    assert public_message(f"{spaced}: invalid YAML: x") == "feeds.yaml: invalid YAML: x"
    assert public_message("configuration file not found: /etc/halo/sinks.yaml") == "configuration file not found: sinks.yaml"
    assert public_message("~/halo/a.yaml: line\n2") == "a.yaml: line 2"
    # a value of the caller's a message repeats is quoted; a route or an id is no server path
    for kept in ("schedule: expected Schedule/<id>, got '/etc/passwd'", "unknown feed 'a/b'; known: acme, fhir, hl7"):
        assert public_message(kept) == kept


NO_QUERY = {"error": "No GraphQL query found in the request", "detail": None}


@pytest.mark.parametrize("query", ["", " ", " \n\t\r", ",,", "# a comment only", "\ufeff"])
def test_a_blank_graphql_query_is_the_400_of_an_empty_one(client, query) -> None:  # noqa: ANN001
    """`{"query": ""}` was a 400 and `{"query": " "}` a 200 with a syntax error: a document of
    nothing GraphQL reads (blanks, commas, comments, a byte order mark) is no query, by POST or GET."""
    response = client.post("/graphql", json={"query": query})
    assert (response.status_code, response.json()) == (400, NO_QUERY), response.text
    response = client.get("/graphql", params={"query": query}, headers={"accept": "application/json"})
    assert (response.status_code, response.json()) == (400, NO_QUERY), response.text


HUGE = "A" * 10_000
MAX_ERROR_LINE = 1_000  # an error repeats at most ECHO_LIMIT characters of a value, beside its own words


@pytest.mark.parametrize("method, path, body", [
    ("get", f"/fhir/Slot?schedule=Schedule/hl7.DR001&status={HUGE}", None),
    ("get", f"/fhir/Slot?schedule=Schedule/hl7.DR001&status:{HUGE}=free", None),
    ("get", f"/fhir/Slot?schedule=Schedule/hl7.DR001&{HUGE}=1", None),  # Prefer: handling=strict
    ("get", f"/v1/slots?feed=hl7&provider_id=DR001&type={HUGE}", None),
    ("get", f"/v1/availability?feed={HUGE}&provider_id=DR001", None),
    ("get", f"/graphql?query=%7B__typename%7D&operationName={HUGE}", None),
    ("post", "/graphql", {"query": "{ __typename }", "operationName": HUGE}),
    ("post", "/graphql", {"query": f'{{ freshness(feed: "{HUGE}") {{ lagSeconds }} }}'}),
    ("post", "/graphql", {"query": f'{{ slots(feed: "hl7", providerId: "DR001", type: "{HUGE}") {{ startAt }} }}'}),
])
def test_a_huge_value_is_not_sent_back_whole(client, method, path, body) -> None:  # noqa: ANN001
    """A 10 kB value came back whole in the error (FHIR twice: the error and its OperationOutcome,
    20 kB): an error repeats at most the first ECHO_LIMIT characters of what the caller sent."""
    response = client.request(method.upper(), path, json=body, headers={"Prefer": "handling=strict"})
    assert response.status_code in (200, 400, 422), response.text
    assert len(response.text) < 2 * MAX_ERROR_LINE, (len(response.text), response.text[:300])


def test_fhir_status_codes_are_repeated_quoted(client) -> None:  # noqa: ANN001
    """`status=%00,%E2%80%AE,a%0Ab` was repeated as the raw characters (a NUL, a right-to-left
    override, a line break) in the error line; each unknown code is quoted, as the other parameters' values are."""
    response = client.get("/fhir/Slot?schedule=Schedule/hl7.DR001&status=free,%00,%E2%80%AE,a%0Ab,open")
    assert response.status_code == 422, response.text
    assert response.json()["error"] == ("status: unknown '\\x00', 'a\\nb', 'open', '\\u202e'; "
                                        "known: busy, free, busy-unavailable, busy-tentative, entered-in-error")


@pytest.mark.parametrize("query_string", ["variables=%7B%22f%22:%22hl7%22%7D", "operationName=Q", "query=%7B__typename%7D", "form=1"])
def test_a_graphql_post_refuses_what_its_query_string_names(client, query_string) -> None:  # noqa: ANN001
    """POST /graphql?variables=... ran the body's query with the variables' defaults, as if they had
    been read (strawberry reads a POST's body alone): a POST's request is its JSON body, and a
    query parameter beside it is refused, as an unknown one is on a GET."""
    body = {"query": 'query Q($f: String! = "acme") { freshness(feed: $f) { feed } }'}
    response = client.post(f"/graphql?{query_string}", json=body)
    name = query_string.partition("=")[0]
    assert (response.status_code, response.json()) == (400, {
        "error": f"unknown query parameter(s) {name!r}; known: none (a POST sends its request in the JSON body)",
        "detail": None}), response.text
    assert client.post("/graphql", json=body).json() == {"data": {"freshness": {"feed": "acme"}}}


@pytest.mark.parametrize("formats", ["_format=xml&_format=json", "_format=json&_format=xml", "_format=json&_format=json"])
def test_a_fhir_search_giving_format_twice_is_refused_as_count_twice_is(client, formats) -> None:  # noqa: ANN001
    """`_format=xml&_format=json` was answered JSON and `_format=json&_format=xml` a 406: the last
    one won, where a proxy or a log reads the first; `_count`, `_offset`, `_at` and `service-type`
    given twice are refused."""
    response = client.get(f"/fhir/Slot?schedule=Schedule/hl7.DR001&{formats}")
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "_format: give at most one"
    assert response.json()["detail"]["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("query", ["{ __typename }", "x", " ,\ufeff\t{ __typename }", "# c\n{ __typename }", "#\r\n#\n,x",
                                   " ", ",", "# c", "# c\n", "\ufeff", "#{ __typename }", "#" * 40])
def test_the_documented_graphql_query_is_what_the_service_takes(client, query) -> None:  # noqa: ANN001
    """The OpenAPI document said a query is any non-empty string, and a blank one is the 400 'No
    GraphQL query found': its pattern says a query holds a token, as the service reads it (a
    schemathesis case of `","` was a valid request refused)."""
    spec = client.app.openapi()["paths"]["/graphql"]
    body = spec["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]["query"]
    parameter = next(p for p in spec["get"]["parameters"] if p["name"] == "query")
    assert body["pattern"] == parameter["schema"]["pattern"]
    documented = re.search(body["pattern"], query) is not None
    response = client.post("/graphql", json={"query": query})
    assert (response.json() != NO_QUERY) == documented, (response.status_code, response.text)
