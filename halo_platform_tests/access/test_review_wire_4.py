# ruff: noqa: F811 - the fixtures imported from test_review_wire_3 are the tests' arguments
"""Ambiguous or differently-cased input reaching the HTTP service (uvicorn on 127.0.0.1), fourth review.

Pinned here: a GraphQL request sent as `Application/JSON` (media types are case-insensitive) was
refused 400 "Unsupported content type", where every other JSON route takes it."""

from __future__ import annotations

import pytest

from halo_platform_tests.access.test_review_wire_3 import (  # noqa: F401 - the same served app
    TYPENAME,
    assert_refused,
    http,
)
from halo_platform_tests.fixtures.access import bearer, make_key

# -- GraphQL ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["Application/JSON", "APPLICATION/JSON; charset=UTF-8"])
def test_a_graphql_body_whose_media_type_is_not_in_lower_case_is_answered(app, http, content_type) -> None:  # noqa: ANN001
    """Strawberry compared the media type as written: `Application/JSON` was a 400 "Unsupported
    content type" where every other JSON route reads the body."""
    key = make_key(app, "availability:read")
    answer = http.post("/graphql", content=f'{{"query": "{TYPENAME}"}}', headers={**bearer(key), "content-type": content_type})
    assert answer.status_code == 200 and answer.json() == {"data": {"__typename": "Query"}}, answer.text
    # another media type is still refused, in the service's JSON body
    answer = http.post("/graphql", content=f'{{"query": "{TYPENAME}"}}', headers={**bearer(key), "content-type": "Text/Plain"})
    assert_refused(answer, 400, "Unsupported content type")
