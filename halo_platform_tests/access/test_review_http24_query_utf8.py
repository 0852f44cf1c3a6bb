"""Review http24: a query string whose percent-escapes are not UTF-8 is refused on every route, in
one place (`core.http.text_is_utf8`, once the route's guards know the caller): it was read with
U+FFFD in place of the bytes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from halo_platform.access import users
from halo_platform_tests.fixtures.access import authorized_client, bearer, make_key, signed_in_client

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


@pytest.mark.parametrize(("method", "url"), [
    ("GET", "/v1/tasks?x=%ff"), ("GET", "/v1/availability?feed=%ff&provider_id=P1"), ("GET", "/fhir/Slot?schedule=Schedule/%ff"),
    ("GET", "/graphql?query=%ff"), ("POST", "/graphql?x=%ff"), ("POST", "/v1/messages/sms?x=%ff"), ("GET", "/openapi.json?x=%ff"),
])
def test_a_query_that_is_not_utf8_is_refused_only_once_the_caller_is_known(app, method, url):  # noqa: ANN001
    """access.md: nobody gets an answer without an identity (401), nor without the route's scope
    (403). The query's 422 came first, before the guard, so an anonymous caller was told about
    the request where it must only hear that it has no identity. The caller is checked first;
    the 422 is the answer of a caller the route admits."""
    anonymous = TestClient(app, raise_server_exceptions=False).request(method, url)
    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "authentication required: `Authorization: Bearer <API key>`")
    unscoped = TestClient(app, raise_server_exceptions=False).request(method, url, headers=bearer(make_key(app, "tasks:request")))
    assert unscoped.status_code == (422 if url.startswith("/openapi.json") else 403), unscoped.text
    admitted = authorized_client(app, raise_server_exceptions=False).request(method, url)
    assert (admitted.status_code, admitted.json()) == (422, NOT_UTF8), admitted.text
    key = make_key(app)  # the Authorization header given twice: which one was meant cannot be told, before anything else
    twice = TestClient(app).request(method, url, headers=[("Authorization", f"Bearer {key}"), ("Authorization", f"Bearer {key}")])
    assert twice.status_code == 400 and "Authorization header is given more than once" in twice.json()["error"]


@pytest.mark.parametrize(("method", "url"), [
    ("GET", "/v1/messages/%ff"), ("GET", "/v1/task-requests/%C3"), ("POST", "/v1/tasks/%ff/requests"), ("GET", "/v1/messages/%ff?x=1"),
])
def test_a_path_that_is_not_utf8_is_refused_once_the_caller_is_known(app, method, url):  # noqa: ANN001
    """`/v1/messages/%ff` reached the route as the id '\\ufffd' and was answered "no message '\\ufffd'",
    a question other than the one sent, as the query's escapes were. The same refusal, naming the
    path, after the same guards: 401 without an identity, 403 without the scope, then the 422."""
    anonymous = TestClient(app, raise_server_exceptions=False).request(method, url)
    assert anonymous.status_code == 401, anonymous.text
    unscoped = TestClient(app, raise_server_exceptions=False).request(method, url, headers=bearer(make_key(app, "availability:read")))
    assert unscoped.status_code == 403, unscoped.text
    admitted = authorized_client(app, raise_server_exceptions=False).request(method, url, json={"payload": {}})
    assert (admitted.status_code, admitted.json()) == (422, {**NOT_UTF8, "error": NOT_UTF8["error"].replace("query string", "path")})


def test_a_control_center_address_whose_path_is_not_utf8_sends_a_person_to_sign_in_first(app):  # noqa: ANN001
    """A page's path is no API question: without a session the person signs in first, as on any page."""
    answer = TestClient(app, follow_redirects=False).get("/ui/tasks/%ff")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/login?next="), answer.text


@pytest.mark.parametrize("url", ["/ui?x=%ff", "/ui?next=%fe", "/ui/tasks?x=%C3", "/ui/requests?status=%ff", "/ui/schedules/%ff",
                                 "/ui/routing/history?rule=%ED%A0%80", "/ui/access?x=%80"])
def test_a_control_center_address_that_is_not_utf8_sends_a_person_without_a_session_to_sign_in(app, store, url):  # noqa: ANN001
    """`/ui?x=%ff` without a session was the 422 where every other address of a page sends a person to
    sign in: the refusal came before the page's guard, and told somebody without an identity about
    the request (an API key is no session: it was the 422 too). The page's guard comes first, as an
    API route's does: the redirect to sign in (401 for a live fragment), then, signed in, the 422."""
    for anonymous in (TestClient(app, follow_redirects=False), TestClient(app, follow_redirects=False, headers=bearer(make_key(app)))):
        answer = anonymous.get(url)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/login?next="), answer.text
    fragment = TestClient(app, follow_redirects=False).get(url, headers={"HX-Request": "true"})
    assert fragment.status_code == 401 and fragment.headers["hx-redirect"].startswith("/ui/login?next=")
    users.create_user(store, "ada", "viewer", "a long password 1")
    answer = signed_in_client(app, "ada", "a long password 1").get(url)
    assert answer.status_code == 422 and answer.json()["error"].endswith("not UTF-8 (a percent-escape such as %FF decodes to no text): send text as UTF-8")


def test_a_control_center_form_whose_query_is_not_utf8_is_refused_as_its_page_refuses_a_person(app, store):  # noqa: ANN001
    """A form posted without a session, or by a person whose role may not use it, heard the 422 too:
    now the sign-in page saying the form was lost (401), and the 403 page."""
    anonymous = TestClient(app, follow_redirects=False).post("/ui/access/keys?x=%ff", data={"name": "k"})
    assert anonymous.status_code == 401 and "nothing was saved" in anonymous.text
    users.create_user(store, "ada", "viewer", "a long password 1")
    viewer = signed_in_client(app, "ada", "a long password 1")
    assert viewer.post("/ui/access/keys?x=%ff", data={"name": "k", "csrf_token": viewer.csrf}).status_code == 403
