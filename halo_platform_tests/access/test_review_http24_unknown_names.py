"""Review http24: an unknown query parameter is repeated quoted and cut (`core.text.echo`), as every
other message repeats a caller's value."""

from __future__ import annotations

import pytest

from halo_platform.core.text import echo
from halo_platform_tests.fixtures.access import authorized_client


@pytest.mark.parametrize(("query", "said"), [
    ("feed=acme&provider_id=P1&a%0Ab=1", "'a\\nb'"),
    ("feed=acme&provider_id=P1&%E2%80%AEx=1", "'\\u202ex'"),
    ("feed=acme&provider_id=P1&form=1&" + "y" * 1_000 + "=1", f"'form', {echo('y' * 1_000)}"),
])
def test_an_unknown_query_parameter_is_repeated_quoted_and_cut(app, query, said):  # noqa: ANN001
    """`unknown query parameter(s) a` + a line break + `b`: the names were repeated as sent, a
    U+202E reversing the rest of the line, a line break splitting it, where every other message
    quotes the caller's value (`core.text.echo`: its repr, cut to 100 characters)."""
    answer = authorized_client(app).get(f"/v1/availability?{query}")
    assert answer.status_code == 422 and answer.json()["error"] == (
        f"unknown query parameter(s) {said}; known: feed, provider_id, from, to"), answer.text


def test_a_graphql_get_repeats_an_unknown_parameter_quoted(app):  # noqa: ANN001
    answer = authorized_client(app).get("/graphql", params={"query": "{__typename}", "a\x1b[2Jb": "1"})
    assert (answer.status_code, answer.json()["error"]) == (
        400, "unknown query parameter(s) 'a\\x1b[2Jb'; known: query, variables, operationName, extensions"), answer.text
