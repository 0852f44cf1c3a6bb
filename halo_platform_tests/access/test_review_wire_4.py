# ruff: noqa: F811 - the fixtures imported from test_review_wire_3 are the tests' arguments
"""Ambiguous or differently-cased input reaching the HTTP service (uvicorn on 127.0.0.1), fourth review.

Pinned here: a GraphQL request sent as `Application/JSON` (media types are case-insensitive) was
refused 400 "Unsupported content type", where every other JSON route takes it. A Control Center
form giving a field twice that the earlier review left out (a provider's switch, the hidden rule
of a routing edit, the two passwords, a task form's one-time key, a schedule's enabled box) was
applied with its last value.
A request with two Authorization headers was read as the first (two Idempotency-Key or X-CSRF-Token
headers likewise)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import httpx
import pytest

from halo_platform.access import users
from halo_platform.delivery.autopilot import state_changes
from halo_platform_tests.access.test_review_wire_3 import (  # noqa: F401 - the same served app, Control Center and sign-in
    PASSWORD,
    SCHEDULE,
    TYPENAME,
    _saved,
    _signed_in,
    assert_refused,
    center,
    http,
)
from halo_platform_tests.fixtures.access import bearer, make_key

FORM = {"content-type": "application/x-www-form-urlencoded"}

# -- GraphQL ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["Application/JSON", "APPLICATION/JSON; charset=UTF-8"])
def test_a_graphql_body_whose_media_type_is_not_in_lower_case_is_answered(app, http, content_type) -> None:  # noqa: ANN001
    """Strawberry compared the media type as written: `Application/JSON` was a 400 "Unsupported
    content type" where every other JSON route reads the body."""
    key = make_key(app, "availability:read")
    answer = http.post("/graphql", content=f'{{"query": "{TYPENAME}"}}', headers={**bearer(key), "content-type": content_type})
    assert answer.status_code == 200 and answer.json() == {"data": {"__typename": "Query"}}, answer.text
    # another media type is still refused, in the service's JSON body (saying to send JSON: test_review_http17)
    answer = http.post("/graphql", content=f'{{"query": "{TYPENAME}"}}', headers={**bearer(key), "content-type": "Text/Plain"})
    assert_refused(answer, 400, "body: send JSON with the header Content-Type: application/json (got Text/Plain)")


# -- Control Center forms naming a field twice -----------------------------------------------------


def _post(client: httpx.Client, path: str, csrf: str, fields: list[tuple[str, str]]) -> httpx.Response:
    return client.post(path, content=urlencode([("csrf_token", csrf), *fields]), headers=FORM)


def _alert(page: str, field: str) -> str | None:
    """The error a page shows with the id `<field>-error`, or None."""
    found = re.search(rf'<(small|p) [^>]*\bid="{re.escape(field)}-error"[^>]*>([^<]*)</\1>', page)
    return found and found.group(2)


SWITCH = [("provider", "sandbox_sms_a"), ("state", "off"), ("reason", "maintenance")]


@pytest.mark.parametrize(("extra", "twice"), [
    ([("state", "auto")], "state"), ([("reason", "other")], "reason"), ([("provider", "sandbox_sms_a")], "provider"),
])
def test_a_provider_switch_giving_a_field_twice_is_refused_beside_its_reason(center, store, extra, twice) -> None:  # noqa: ANN001
    """`state=off&state=auto` handed the provider back to the autopilot, `provider=a&provider=b`
    switched b off: the last value was applied."""
    csrf = _signed_in(center, store)
    answer = _post(center, "/ui/providers/switch", csrf, [*SWITCH, *extra])
    assert answer.status_code == 422, answer.text[:500]
    assert _alert(answer.text, "reason.sandbox_sms_a") == f"{twice}: given more than once", answer.text
    assert state_changes(store) == []
    assert _post(center, "/ui/providers/switch", csrf, SWITCH).status_code == 303  # one of each is applied
    assert [c["provider"] for c in state_changes(store)] == ["sandbox_sms_a"]


UNSHOWN = [  # (form, what it sends: a field the page shows no error beside given twice, where the page says so, the field)
    ("/ui/routing/edit", [("rule", "email/*/TEXT"), ("rule", "sms/*/TEXT"), ("weight.sandbox_sms_a", "7"), ("reason", "r")], "rule", "rule"),
    ("/ui/access/users", [("name", "vera"), ("role", "viewer"), ("password", PASSWORD), ("password_again", "x" * 12),
                          ("password_again", PASSWORD)], "user.password", "password_again"),
    ("/ui/tasks/payment_reconciliation", [("idempotency_key", "k1"), ("idempotency_key", "k2"), ("tolerance", "0.01"),
                                          ("sinks", "outbox")], "form", "idempotency_key"),
]


@pytest.mark.parametrize(("path", "fields", "where", "twice"), UNSHOWN, ids=[f"{p}:{f}" for p, _, _, f in UNSHOWN])
def test_a_hidden_or_repeated_field_given_twice_is_refused_and_saves_nothing(center, store, path, fields, where, twice) -> None:  # noqa: ANN001
    """The routing edit's hidden `rule` given twice edited the last rule named; a new user's
    `password_again` was compared by its last value; a task form's one-time key was the last."""
    csrf = _signed_in(center, store)
    before = _saved(store)
    answer = _post(center, path, csrf, fields)
    assert answer.status_code == 422, answer.text[:500]
    assert _alert(answer.text, where) == f"{twice}: given more than once", answer.text
    assert _saved(store) == before


def test_a_schedule_whose_enabled_box_is_given_twice_is_refused_beside_it_and_saves_nothing(center, store) -> None:  # noqa: ANN001
    """`enabled=on&enabled=` (the box is sent once by a browser, as `on`) disabled the schedule,
    where two crons are refused."""
    csrf = _signed_in(center, store)
    before = _saved(store)
    answer = _post(center, "/ui/schedules/weekly", csrf, [*SCHEDULE, ("enabled", "")])
    assert answer.status_code == 422, answer.text[:500]
    assert _alert(answer.text, "enabled") == "given more than once", answer.text
    assert _saved(store) == before


@pytest.mark.parametrize(("passwords", "twice"), [
    ([("password", "x" * 12), ("password", PASSWORD), ("password_again", PASSWORD)], "password"),
    ([("password", PASSWORD), ("password_again", "x" * 12), ("password_again", PASSWORD)], "password_again"),
])
def test_a_new_password_given_twice_is_refused_beside_it_and_changes_nothing(center, store, passwords, twice) -> None:  # noqa: ANN001
    """`password=A&password=B&password_again=B` set B."""
    csrf = _signed_in(center, store)
    users.create_user(store, "vera", "viewer", "the first password")
    answer = _post(center, "/ui/access/users/vera/password", csrf, passwords)
    assert answer.status_code == 422, answer.text[:500]
    assert _alert(answer.text, "password.vera") == f"{twice}: given more than once", answer.text
    assert users.login(store, "vera", "the first password", "127.0.0.1")  # unchanged

@pytest.mark.parametrize("twice", ["name", "csrf_token", "next"])
def test_a_sign_in_giving_a_field_twice_is_refused_and_signs_nobody_in(center, store, twice) -> None:  # noqa: ANN001
    """`name=ada&name=bob&password=<bob's>` signed in bob: which person the form meant cannot be told."""
    users.create_user(store, "ada", "admin", PASSWORD)
    users.create_user(store, "bob", "viewer", PASSWORD)
    token = re.search(r'name="csrf_token" value="([^"]+)"', center.get("/ui/login").text).group(1)
    fields = [("name", "ada"), ("password", PASSWORD), ("csrf_token", token), ("next", "/ui")]
    fields += [{"name": ("name", "bob"), "csrf_token": ("csrf_token", token), "next": ("next", "/ui/messages")}[twice]]
    answer = center.post("/ui/login", content=urlencode(fields), headers=FORM)
    assert answer.status_code == 422, answer.text[:300]
    assert f"{twice}: given more than once" in answer.text
    assert "halo_session" not in center.cookies


def test_a_form_giving_its_csrf_token_twice_is_refused_and_saves_nothing(center, store) -> None:  # noqa: ANN001
    """`csrf_token=wrong&csrf_token=<right>` was read as the last and the user made."""
    csrf = _signed_in(center, store)
    answer = center.post("/ui/access/users", headers=FORM, content=urlencode(
        [("csrf_token", "wrong"), ("csrf_token", csrf), ("name", "eve"), ("role", "viewer"), ("password", "p" * 14), ("password_again", "p" * 14)]))
    assert answer.status_code == 403, answer.text[:300]
    assert "eve" not in {u["name"] for u in users.list_users(store)}


# -- Two Authorization headers (or another header read once) -----------------------------------------------------------------


@pytest.mark.parametrize("order", ["valid first", "wrong first"])
@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/tasks"), ("POST", "/graphql"), ("GET", "/health")])
def test_a_request_with_two_authorization_headers_is_400(app, http, order, method, path) -> None:  # noqa: ANN001
    """Read as the first: a valid key then a wrong one was let in (a proxy or a log reading the
    last saw another caller), the reverse refused for the wrong key."""
    valid, wrong = f"Bearer {make_key(app)}", "Bearer halo_nokey_nosecret"
    twice = [("authorization", valid), ("authorization", wrong)]
    answer = http.request(method, path, json={"query": TYPENAME} if method == "POST" else None,
                          headers=twice if order == "valid first" else twice[::-1])
    assert_refused(answer, 400, "the Authorization header is given more than once; send one")
    assert http.get("/v1/tasks", headers={"authorization": valid}).status_code == 200


@pytest.mark.parametrize(("header", "shown"), [("idempotency-key", "Idempotency-Key"), ("x-csrf-token", "X-CSRF-Token")])
def test_a_request_giving_another_header_read_once_twice_is_400_and_queues_nothing(app, store, http, header, shown) -> None:  # noqa: ANN001
    """`Idempotency-Key: a` and `Idempotency-Key: b` were read as a: a retry sending them in the
    other order made a second request."""
    headers = [*bearer(make_key(app)).items(), (header, "first"), (header, "second")]
    answer = http.post("/v1/tasks/payment_reconciliation/requests", json={"payload": {"tolerance": 0.01}}, headers=headers)
    assert_refused(answer, 400, f"the {shown} header is given more than once; send one")
    assert _saved(store)[0] == 0
