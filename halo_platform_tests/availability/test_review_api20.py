"""Review of the EMR read APIs and the HTTP service's edges (api20): GraphQL over GET naming
parameters GraphQL has not."""

import json

import pytest

from halo_platform.http import create_app
from halo_platform_tests.fixtures.access import authorized_client

QUERY = "query Spans($provider: String! = \"nobody\") { availableSpans(feed: \"acme\", providerId: $provider) { startAt } }"
KNOWN = "known: query, variables, operationName, extensions"


@pytest.mark.parametrize("params, unknown", [
    ({"query": QUERY, "varibles": json.dumps({"provider": "P1"})}, "varibles"),
    ({"query": QUERY, "operation_name": "Spans"}, "operation_name"),
    ({"qeury": QUERY}, "qeury"),
    ({"query": QUERY, "Variables": "{}", "api_key": "x"}, "Variables, api_key"),
])
@pytest.mark.parametrize("accept", ["application/json", "*/*", "text/html"])
def test_a_graphql_get_naming_a_parameter_graphql_has_not_is_a_400_naming_it(store, halo_env, params, unknown, accept):
    """`?query=...&varibles={...}` (a typo) ran the query with its variables' defaults, answered as
    if they had been read; `?qeury=...` answered the GraphiQL page to curl (which accepts */*), or
    'No GraphQL query found'. A POST body naming another key is a 400 naming it: so is a GET."""
    client = authorized_client(create_app({"store": store}), "availability:read")
    answer = client.get("/graphql", params=params, headers={"Accept": accept})
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"error": f"unknown query parameter(s) {unknown}; {KNOWN}", "detail": None}


def test_a_graphql_get_of_its_four_parameters_runs_and_a_bare_one_is_the_graphiql_page(store, halo_env):
    client = authorized_client(create_app({"store": store}), "availability:read")
    params = {"query": QUERY, "variables": json.dumps({"provider": "P1"}), "operationName": "Spans", "extensions": "{}"}
    answer = client.get("/graphql", params=params)
    assert answer.status_code == 200 and answer.json() == {"data": {"availableSpans": []}}, answer.text
    page = client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
