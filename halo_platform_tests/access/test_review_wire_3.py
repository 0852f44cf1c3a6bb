"""Ambiguous or differently-cased input reaching the HTTP service (uvicorn on 127.0.0.1), third review.

Pinned here: a GraphQL request naming a key twice (`query`, a variable) or giving a query
parameter twice was read as its last value, where every other JSON route refuses it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from halo_platform_tests.core.test_http_hostile import serving
from halo_platform_tests.fixtures.access import bearer, make_key

TYPENAME = "{ __typename }"
ALIASED = "{ other: __typename }"


@pytest.fixture
def http(app) -> Iterator[httpx.Client]:  # noqa: ANN001
    with serving(app) as (host, port), httpx.Client(base_url=f"http://{host}:{port}", timeout=30) as client:
        yield client


def assert_refused(answer: httpx.Response, status: int, error: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {"error": error, "detail": None}


# -- GraphQL ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "key"), [
    (f'{{"query": "{TYPENAME}", "query": "{ALIASED}"}}', "query"),
    ('{"query": "query($f: String!) { freshness(feed: $f) { feed } }", "variables": {"f": "hl7", "f": "acme"}}', "f"),
    (f'{{"query": "{TYPENAME}", "operationName": null, "operationName": null}}', "operationName"),
])
def test_a_graphql_body_naming_a_key_twice_is_400_naming_it(app, http, raw, key) -> None:  # noqa: ANN001
    """`query` twice ran the last document; a variable given twice ran with its last value (a gateway
    or a log reading the first one saw another request)."""
    answer = http.post("/graphql", content=raw, headers={**bearer(make_key(app, "availability:read")), "content-type": "application/json"})
    assert_refused(answer, 400, f"{key!r} is given twice in one JSON object")


def test_a_graphql_get_giving_a_parameter_twice_is_400_naming_it(app, http) -> None:  # noqa: ANN001
    key = {**bearer(make_key(app, "availability:read")), "accept": "application/json"}
    answer = http.get("/graphql", params=[("query", TYPENAME), ("query", ALIASED)], headers=key)
    assert_refused(answer, 400, "query: given 2 times, the route takes one")
    variables = '{"f": "hl7", "f": "acme"}'
    answer = http.get("/graphql", params={"query": "query($f: String!) { freshness(feed: $f) { feed } }", "variables": variables}, headers=key)
    assert_refused(answer, 400, "'f' is given twice in one JSON object")
    # one of each is answered as before
    answer = http.get("/graphql", params={"query": ALIASED}, headers=key)
    assert answer.status_code == 200 and answer.json() == {"data": {"other": "Query"}}, answer.text
