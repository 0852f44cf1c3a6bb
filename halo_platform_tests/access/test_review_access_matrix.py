"""Review of access.md over a running app, black-box: every route of the service against every
kind of caller (none, a malformed header, a revoked, expired or wrong-scope key, each role's
session, a session showing another's CSRF token), and what a person meets around signing in."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from halo_platform.access import users
from halo_platform.access.keys import key_hash, keys_t, list_keys, revoke_key
from halo_platform.core.store import StoreResource
from halo_platform_tests.fixtures.access import bearer, make_key

PASSWORD = "a long enough password"
ROLES = ("viewer", "operator", "admin")
ROLE_SCOPES = {"viewer": {"messages:read", "tasks:read", "availability:read"},
               "operator": {"messages:read", "tasks:read", "availability:read", "tasks:request"}, "admin": None}

# (method, path, the scope it needs; None: any identity)
API = [
    ("GET", "/openapi.json", None), ("GET", "/docs", None),
    ("GET", "/v1/tasks", "tasks:read"), ("POST", "/v1/tasks/payment_reconciliation/requests", "tasks:request"),
    ("GET", "/v1/task-requests/r1", "tasks:read"),
    ("GET", "/v1/availability?feed=acme&provider_id=AC001", "availability:read"),
    ("GET", "/v1/availability/group?feed=acme&provider_ids=AC001", "availability:read"),
    ("GET", "/v1/slots?feed=acme&provider_id=AC001", "availability:read"),
    ("GET", "/fhir/Slot?schedule=Schedule/acme.AC001", "availability:read"),
    ("POST", "/fhir/Slot/_search?schedule=Schedule/acme.AC001", "availability:read"),
    ("GET", "/graphql?query={__typename}", "availability:read"), ("POST", "/graphql", "availability:read"),
    ("POST", "/v1/messages/sms", "messages:send"), ("POST", "/v1/messages/email", "messages:send"),
    ("POST", "/v1/messages/push", "messages:send"), ("GET", "/v1/messages/m1", "messages:read"),
    ("POST", "/v1/suppressions", "messages:send"), ("POST", "/v1/suppressions/lift", "admin"),
]
# (method, path, the lowest role that may use it)
UI = [
    ("GET", "/ui", "viewer"), ("GET", "/ui/tasks", "viewer"), ("GET", "/ui/tasks/payment_reconciliation", "viewer"),
    ("POST", "/ui/tasks/payment_reconciliation", "operator"), ("GET", "/ui/requests", "viewer"),
    ("GET", "/ui/requests/r1", "viewer"), ("GET", "/ui/requests/r1/live", "viewer"), ("GET", "/ui/requests/r1/outputs/0", "viewer"),
    ("GET", "/ui/schedules", "viewer"), ("GET", "/ui/schedules/weekly/preview", "viewer"), ("GET", "/ui/schedules/weekly", "viewer"),
    ("GET", "/ui/schedules/weekly/history", "viewer"),
    ("POST", "/ui/schedules/weekly", "operator"), ("GET", "/ui/routing", "viewer"), ("GET", "/ui/routing/history", "viewer"),
    ("GET", "/ui/routing/edit", "viewer"), ("POST", "/ui/routing/edit", "admin"), ("GET", "/ui/routing/new", "viewer"),
    ("POST", "/ui/routing/new", "admin"), ("GET", "/ui/providers", "viewer"), ("POST", "/ui/providers/switch", "admin"),
    ("GET", "/ui/messages", "viewer"), ("GET", "/ui/availability", "viewer"), ("GET", "/ui/access", "viewer"),
    ("POST", "/ui/access/keys", "admin"), ("POST", "/ui/access/keys/partner/revoke", "admin"),
    ("POST", "/ui/access/keys/partner/rotate", "admin"), ("POST", "/ui/access/users", "admin"),
    ("POST", "/ui/access/users/vera/password", "admin"), ("POST", "/ui/access/users/vera/disable", "admin"),
]

# what answers without an identity (access.md, README): /health, signing in and out, the providers'
# callbacks (each checks its provider's signature), and the static files the sign-in page and /docs load
OPEN = {("GET", "/health"), ("HEAD", "/health"), ("GET", "/ui/login"), ("POST", "/ui/login"), ("GET", "/ui/logout"), ("POST", "/ui/logout"),
        *((method, f"/v1/{kind}/{{provider}}{slash}") for method in ("GET", "POST") for kind in ("callbacks", "inbound") for slash in ("", "/"))}
OPEN_MOUNTS = {"/static", "/ui/static"}


def _routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route of the running app, mounts as (`*`, their path)."""
    return {(method, context.path) for context in iter_route_contexts(app.routes) for method in (context.methods or {"*"})}


def test_the_matrix_covers_every_route_of_the_running_app(app: FastAPI) -> None:
    """The matrix below is written out; a route added later, or left out of it, was refused by
    nothing but its own test: the Access page's Rotate form was in no list. Every route the app
    serves is either open (`OPEN`, `OPEN_MOUNTS`) or has a row of the matrix."""
    rows = [(method, path.partition("?")[0]) for method, path, _ in API + UI]

    def in_matrix(method: str, path: str) -> bool:
        pattern = re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path))
        return any(m == method and re.fullmatch(pattern, row) for m, row in rows)

    served = _routes(app)
    unlisted = sorted((m, p) for m, p in served if (m, p) not in OPEN and p not in OPEN_MOUNTS and not in_matrix(m, p))
    assert unlisted == [], unlisted
    assert OPEN <= served and {p for _, p in served} >= OPEN_MOUNTS  # the open list names no route that is gone


@pytest.fixture
def store(halo_env) -> Iterator[StoreResource]:  # noqa: ANN001
    made = StoreResource(db_url=halo_env["HALO_DB_URL"])
    for role in ROLES:
        users.create_user(made, role, role, PASSWORD)
    users.create_user(made, "vera", "viewer", PASSWORD)
    yield made
    made.dispose()


def _client(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False)


def _signed_in(app: FastAPI, store: StoreResource, name: str) -> tuple[TestClient, str]:
    """A client holding `name`'s session, and the session's CSRF token."""
    client = _client(app)
    client.cookies.set("halo_session", users.login(store, name, PASSWORD, "test"))
    return client, users.session(store, client.cookies["halo_session"]).csrf_token


def _csrf_of_login_page(client: TestClient, url: str = "/ui/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).text).group(1)


def _allowed(role: str, scope: str | None) -> bool:
    return scope is None or ROLE_SCOPES[role] is None or scope in ROLE_SCOPES[role]


def _json_refusal(answer, status: int, *secrets: str) -> None:  # noqa: ANN001 - httpx's Response
    assert answer.status_code == status, (answer.request.method, answer.request.url, answer.status_code, answer.text[:200])
    assert answer.headers["content-type"].startswith("application/json"), answer.headers["content-type"]
    body = answer.json()
    assert set(body) == {"error", "detail"} and body["error"], body
    for secret in secrets:
        assert secret not in answer.text


@pytest.mark.parametrize(("method", "path", "scope"), API, ids=[f"{m} {p}" for m, p, _ in API])
def test_every_api_route_refuses_each_bad_credential_as_json(app: FastAPI, store: StoreResource, method: str, path: str,
                                                             scope: str | None) -> None:
    """access.md: no key or an unknown, revoked or expired key -> 401; a valid key without the
    route's scope -> 403; both JSON `{"error", "detail"}`, naming neither the key nor its hash."""
    revoked, expired = make_key(app, "admin", name="revoked"), make_key(app, "admin", name="expired")
    revoke_key(store, "revoked")
    with store.write() as conn:
        conn.execute(keys_t.update().where(keys_t.c.name == "expired").values(expires_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)))
    other = "tasks:read" if scope != "tasks:read" else "messages:read"
    wrong = make_key(app, other, name="wrong")
    client = _client(app)
    refused = {401: [{}, {"Authorization": "Basic YWRhOnB3"}, {"Authorization": "Bearer"}, {"Authorization": "Bearer halo_x_y"},
                     {"Authorization": revoked}, bearer(revoked), bearer(expired)],
               403: [bearer(wrong)] if scope is not None else []}
    for status, headers_list in refused.items():
        for headers in headers_list:
            answer = client.request(method, path, headers=headers, json={})
            _json_refusal(answer, status, *(k for key in (revoked, expired, wrong) for k in (key, key_hash(key))))
    assert client.request(method, path, headers=bearer(make_key(app, *(scope or "tasks:read",))), json={}).status_code not in (401, 403)


@pytest.mark.parametrize(("method", "path", "scope"), API, ids=[f"{m} {p}" for m, p, _ in API])
def test_every_api_route_takes_each_roles_session_as_the_role_allows(app: FastAPI, store: StoreResource, method: str, path: str,
                                                                     scope: str | None) -> None:
    """A session reads what its role reads; a change by session needs its own CSRF token: none,
    or the token of another user's session, is 403."""
    _, vera_csrf = _signed_in(app, store, "vera")
    for role in ROLES:
        client, csrf = _signed_in(app, store, role)
        if not _allowed(role, scope):
            _json_refusal(client.request(method, path, headers={"X-CSRF-Token": csrf}, json={}), 403)
            continue
        if method == "POST" and not path.startswith("/graphql"):
            for headers in ({}, {"X-CSRF-Token": vera_csrf}, {"X-CSRF-Token": ""}):
                _json_refusal(client.request(method, path, headers=headers, json={}), 403)
        answer = client.request(method, path, headers={"X-CSRF-Token": csrf}, json={})
        assert answer.status_code not in (401, 403), (role, method, path, answer.status_code, answer.text[:200])


def test_every_control_center_route_answers_only_a_session_of_a_high_enough_role(app: FastAPI, store: StoreResource) -> None:
    """README: every page and every POST checks the person's role and every form its CSRF token.
    Without a session (a key does not sign a person in) a page goes to sign-in and a form gets the
    sign-in page (401); a role too low gets the 403 page; a form without its session's token, or
    with another user's, the 403 page; and none of them changes anything."""
    key = make_key(app, "admin", name="partner")
    _, vera_csrf = _signed_in(app, store, "vera")
    sessions = {role: _signed_in(app, store, role) for role in ROLES}
    anonymous = _client(app)
    for method, path, lowest in UI:
        for headers in ({}, bearer(key), {"Authorization": "Bearer junk"}):
            answer = anonymous.request(method, path, headers=headers, data={"csrf_token": "x"} if method == "POST" else None)
            if method == "GET":
                assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/login?next="), (path, answer.status_code)
            else:
                assert answer.status_code == 401 and "nothing was saved" in answer.text, (path, answer.status_code)
        for role, (client, csrf) in sessions.items():
            allowed = ROLES.index(role) >= ROLES.index(lowest)
            if method == "GET":
                assert (client.get(path).status_code == 403) is not allowed, (role, path)
                continue
            for data in ({}, {"csrf_token": vera_csrf}, {"csrf_token": ""}, {"csrf_token": csrf}):
                answer = client.post(path, data={**data, "name": "made", "scope": "admin", "role": "viewer",
                                                 "password": PASSWORD, "password_again": PASSWORD})
                if data.get("csrf_token") != csrf or not allowed:
                    assert answer.status_code == 403 and answer.headers["content-type"].startswith("text/html"), (role, path, data)
                else:
                    assert answer.status_code not in (401, 403) and answer.status_code < 500, (role, path, answer.status_code)
    # only the forms of a high enough role showing their own session's token changed anything
    assert {(k["name"], k["created_by"], k["revoked_by"]) for k in list_keys(store)} == {("partner", None, "admin"), ("made", "admin", None)}
    assert {u["name"] for u in users.list_users(store)} == {*ROLES, "vera", "made"}


@pytest.mark.parametrize(("form", "page"), [
    ("/ui/access/keys", "/ui/access"), ("/ui/access/users/vera/disable", "/ui/access"),
    ("/ui/providers/switch", "/ui/providers"), ("/ui/routing/edit", "/ui/routing/edit?rule=sms/*/TEXT"),
])
def test_signing_in_after_a_form_sent_without_a_session_goes_back_to_the_forms_page(app: FastAPI, store: StoreResource,
                                                                                    form: str, page: str) -> None:
    """README: a form sent once the session has ended gets the sign-in page (401) saying nothing
    was saved, "Sign in, then send it again". Signing in went on to the address the form was
    posted to: for the Access page's forms and the provider switch a GET there is a JSON 405
    (`{"error":"Method Not Allowed"}` in the person's browser), and the routing form lost its rule
    (a 404 page). The person goes back to the page the form was on (the browser's Referer)."""
    admin, csrf = _signed_in(app, store, "admin")
    users.logout(store, admin.cookies["halo_session"])
    refused = admin.post(form, data={"csrf_token": csrf, "name": "k2", "scope": "admin"}, headers={"Referer": f"http://testserver{page}"})
    assert refused.status_code == 401 and "nothing was saved" in refused.text
    target = re.search(r'name="next" value="([^"]+)"', refused.text).group(1).replace("&amp;", "&")
    signed = admin.post("/ui/login", data={"name": "admin", "password": PASSWORD, "csrf_token": _csrf_of_login_page(admin),
                                           "next": target})
    assert signed.status_code == 303
    back = admin.get(signed.headers["location"])
    assert back.status_code == 200 and back.headers["content-type"].startswith("text/html"), (signed.headers["location"], back.text[:200])
    assert list_keys(store) == []
