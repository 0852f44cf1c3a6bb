"""Review http24: a query string whose percent-escapes are not UTF-8 is refused on every route, in
one place (`core.http.RequestGuard`): it was read with U+FFFD in place of the bytes."""

from __future__ import annotations

import pytest

from halo_platform_tests.fixtures.access import authorized_client

NOT_UTF8 = {"error": "query string: not UTF-8 (a percent-escape such as %FF decodes to no text): send text as UTF-8", "detail": None}


@pytest.mark.parametrize("url", [
    "/health?x=%ff",
    "/v1/availability?feed=%ff&provider_id=P1",
    "/v1/availability?f%ffeed=acme&provider_id=P1",
    "/v1/availability?feed=acme&provider_id=%C3",  # a UTF-8 sequence cut short
    "/v1/availability?feed=acme&provider_id=%ED%A0%80",  # a surrogate, which UTF-8 does not encode
    "/v1/slots?feed=acme&provider_id=P1&type=%C0%AF",  # an overlong '/'
    "/fhir/Slot?schedule=Schedule/%ff",
    "/graphql?query=%ff",
    "/v1/tasks?x=%80",
    "/ui?next=%fe",
])
def test_a_query_whose_escapes_are_not_utf8_is_refused_on_every_route(app, url):  # noqa: ANN001
    """`?feed=%ff` was read as U+FFFD: `/v1/availability` answered "unknown feed '\\ufffd'", FHIR
    "got 'Schedule/\\ufffd'", GraphQL a syntax error at U+FFFD, `/health` and `/ui` a 200, each
    answering another question than the one sent. Refused before any route reads it, the same 422
    everywhere (the service's answer to a value it cannot read, as for a body that is not JSON)."""
    answer = authorized_client(app, raise_server_exceptions=False).get(url)
    assert (answer.status_code, answer.json()) == (422, NOT_UTF8), answer.text


@pytest.mark.parametrize("url", ["/health?x=%C3%A9", "/health?%E2%80%AE=%F0%9F%98%80", "/health?x=%25ff", "/health?x=+%2B&y"])
def test_a_query_of_utf8_text_is_read(app, url):  # noqa: ANN001
    """Escaped UTF-8 (é, U+202E, an emoji) and an escaped `%` are text: answered as before."""
    answer = authorized_client(app).get(url)
    assert answer.status_code == 200, answer.text
