"""Review of the HTTP API as a hostile client meets it (session api15): every route over the real
app, each refusal a 4xx in the service's JSON error body, never a 500, nothing half-written."""

from __future__ import annotations

import pytest

from halo_platform_tests.fixtures.access import authorized_client

# a JSON integer longer than Python reads (4,300 digits) is still valid JSON
LONG_INTEGER = "9" * 5000


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_graphql_request_with_an_integer_python_will_not_read_is_a_400_not_a_500(app, method):  # noqa: ANN001
    """Python's JSON reader refuses an integer of more than 4,300 digits with a ValueError that is
    no JSONDecodeError, the only one strawberry answers: such a body (POST) or `variables` (GET)
    was a 500 "internal error" and a traceback in the log. It is a body that cannot be read, a
    400 with the reason, as bad JSON is on this route."""
    client = authorized_client(app, "availability:read", raise_server_exceptions=False)
    variables = f'{{"n": {LONG_INTEGER}}}'
    if method == "POST":
        answer = client.post("/graphql", content=f'{{"query": "{{ __typename }}", "variables": {variables}}}',
                             headers={"content-type": "application/json"})
    else:
        answer = client.get("/graphql", params={"query": "{ __typename }", "variables": variables})
    assert answer.status_code == 400 and answer.json() == {"error": "Unable to parse request body as JSON", "detail": None}, answer.text
