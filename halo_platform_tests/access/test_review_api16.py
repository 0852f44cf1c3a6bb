"""Review of the HTTP service (session api16): HEAD where GET works, the message routes refusing
what the other JSON routes refuse, group availability naming a provider twice, an empty sink name."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from halo_platform_tests.fixtures.access import authorized_client, bearer, make_key


@pytest.mark.parametrize("path", ["/v1/tasks", "/v1/availability?feed=acme&provider_id=AC001", "/openapi.json", "/ui/tasks"])
def test_head_answers_wherever_get_does_with_the_same_status_and_headers_and_no_body(app, path):  # noqa: ANN001
    """RFC 9110 has a general-purpose server answer HEAD wherever it answers GET; every route
    but `/health` answered HEAD with a 405, so a monitor, proxy or link checker probing
    `HEAD /v1/tasks` with a valid key was told the resource did not allow it. HEAD gets the
    GET's status and headers, without the body."""
    client = authorized_client(app, "admin")
    got, head = client.get(path), client.head(path)
    assert got.status_code == head.status_code == 200, (got.text, head.text)
    assert head.content == b"" and head.headers["content-type"] == got.headers["content-type"]


def test_head_is_authenticated_and_authorized_exactly_like_get(app):  # noqa: ANN001
    """HEAD goes through the GET route's guard: 401 without a key or with a wrong one, 403 with a
    key lacking the scope, 404 for what does not exist, never the resource's headers for free."""
    anonymous = TestClient(app)
    assert anonymous.head("/v1/tasks").status_code == 401
    assert anonymous.head("/v1/tasks").headers["www-authenticate"] == "Bearer"
    assert anonymous.head("/v1/tasks", headers=bearer("halo_nope_nope")).status_code == 401
    reader = make_key(app, "messages:read")
    assert anonymous.head("/v1/tasks", headers=bearer(reader)).status_code == 403
    assert anonymous.head("/v1/messages/no-such-message", headers=bearer(reader)).status_code == 404
    assert anonymous.head("/health").status_code == 200


def test_head_on_a_post_only_route_is_still_a_405_and_a_405_lists_head_beside_get(app):  # noqa: ANN001
    """HEAD is not a way into a POST route; the 405 of a resource read with GET lists HEAD too."""
    client = authorized_client(app, "admin")
    assert client.get("/v1/suppressions").status_code == client.head("/v1/suppressions").status_code == 405
    refused = client.delete("/v1/tasks")
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"
