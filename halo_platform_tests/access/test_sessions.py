"""People sign in: a CSRF-protected form, one generic failure message, a rate limit on failures,
an HTTP-only SameSite session cookie that carries the role's rights; a change by session needs
the session's CSRF token; signing out or disabling the user ends the session."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from halo_platform.access import users

PASSWORD = "a long enough password"
SMS = {"to": "+6281234567890", "body": "Your appointment is at 10:00", "priority": "NORMAL"}


def form_token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD, next_: str = "/ui"):  # noqa: ANN201
    token = form_token(client.get("/ui/login").text)
    return client.post("/ui/login", data={"name": name, "password": password, "csrf_token": token, "next": next_}, follow_redirects=False)


def session_csrf(store, client: TestClient) -> str:  # noqa: ANN001
    """The CSRF token of the client's session (what every page of the Control Center carries)."""
    return users.session(store, client.cookies["halo_session"]).csrf_token


@pytest.fixture
def people(store):  # noqa: ANN001, ANN201
    for name, role in (("vera", "viewer"), ("otto", "operator"), ("ada", "admin")):
        users.create_user(store, name, role, PASSWORD)


def test_a_user_signs_in_with_an_http_only_same_site_cookie_and_reaches_the_ui(app, people) -> None:  # noqa: ANN001, ARG001
    client = TestClient(app)
    assert client.get("/ui", follow_redirects=False).headers["location"] == "/ui/login?next=/ui"
    done = sign_in(client, "ada")
    assert done.status_code == 303 and done.headers["location"] == "/ui"
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("halo_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=43200" in cookie and "Path=/" in cookie
    home = client.get("/ui", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/ui/tasks"  # signed in: the first page


@pytest.mark.parametrize(("name", "password"), [("ada", "wrong password!"), ("nobody", PASSWORD), ("ada", ""), ("", "")])
def test_a_failed_login_says_only_wrong_name_or_password(app, people, name: str, password: str) -> None:  # noqa: ANN001, ARG001
    page = sign_in(TestClient(app), name, password)
    assert page.status_code == 401 and "wrong name or password" in page.text and "halo_session" not in page.headers.get("set-cookie", "")


def test_a_disabled_user_cannot_sign_in_and_loses_the_session(app, store, people) -> None:  # noqa: ANN001, ARG001
    client = TestClient(app)
    assert sign_in(client, "vera").status_code == 303
    assert client.get("/v1/messages/m1").status_code == 404  # signed in: reads
    users.disable_user(store, "vera")
    assert client.get("/v1/messages/m1").status_code == 401
    assert sign_in(TestClient(app), "vera").status_code == 401


def test_a_login_without_the_forms_csrf_token_is_refused(app, people) -> None:  # noqa: ANN001, ARG001
    client = TestClient(app)
    client.get("/ui/login")
    forged = client.post("/ui/login", data={"name": "ada", "password": PASSWORD, "csrf_token": "guess"}, follow_redirects=False)
    assert forged.status_code == 403 and "halo_session" not in forged.headers.get("set-cookie", "")


def test_failed_logins_are_rate_limited_per_name_even_with_the_right_password(app, people) -> None:  # noqa: ANN001, ARG001
    client = TestClient(app)
    for _ in range(users.MAX_FAILURES_PER_NAME):
        assert sign_in(client, "otto", "not the password").status_code == 401
    throttled = sign_in(client, "otto")
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0 and "try again later" in throttled.text
    assert sign_in(client, "ada").status_code == 303  # another name from the same address still signs in


def test_a_sign_in_forgets_the_names_failures_from_that_address(app, people) -> None:  # noqa: ANN001, ARG001
    """A person mistypes their password four times (caps lock), then signs in: those failures were
    theirs. They stayed counted for 15 minutes, so one more typo that quarter of an hour (another
    tab, after signing out) made the fifth, and the right password was then refused "too many
    failed logins" from the person's own desk: the limit locked the real user out. A success
    forgets the failures of its name from its address; a guesser without the password never gets one."""
    client = TestClient(app)
    for _ in range(users.MAX_FAILURES_PER_NAME - 1):
        assert sign_in(client, "otto", "not the password").status_code == 401
    assert sign_in(client, "otto").status_code == 303
    assert sign_in(client, "otto", "not the password").status_code == 401
    assert sign_in(client, "otto").status_code == 303


def test_roles_map_to_scopes_and_changes_need_the_csrf_token(app, store, people) -> None:  # noqa: ANN001, ARG001
    viewer, operator, admin = TestClient(app), TestClient(app), TestClient(app)
    for client, name in ((viewer, "vera"), (operator, "otto"), (admin, "ada")):
        assert sign_in(client, name).status_code == 303
    assert viewer.get("/v1/tasks").status_code == 200
    assert viewer.post("/v1/tasks/payment_reconciliation/requests", json={"payload": {}}).status_code == 403
    assert operator.post("/v1/messages/sms", json=SMS).status_code == 403  # sending is not an operator's
    no_token = admin.post("/v1/messages/sms", json=SMS)
    assert no_token.status_code == 403 and no_token.json()["error"] == "missing or wrong CSRF token"
    csrf = session_csrf(store, admin)
    sent = admin.post("/v1/messages/sms", json=SMS, headers={"X-CSRF-Token": csrf})
    assert sent.status_code == 202, sent.text
    assert admin.get(f"/v1/messages/{sent.json()['id']}").json()["created_by"] == "ada"
    assert admin.post("/graphql", json={"query": "{ __typename }"}).status_code == 200  # queries change nothing: no token


def test_signing_out_ends_the_session(app, store, people) -> None:  # noqa: ANN001, ARG001
    client = TestClient(app)
    sign_in(client, "ada")
    token = client.cookies["halo_session"]
    csrf = session_csrf(store, client)
    assert client.post("/ui/logout", data={"csrf_token": "wrong"}).status_code == 403
    out = client.post("/ui/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert TestClient(app, cookies={"halo_session": token}).get("/v1/tasks").status_code == 401


def test_signing_out_answers_a_person_with_a_page_whatever_the_session(app, store, people) -> None:  # noqa: ANN001, ARG001
    """Sign out with a session that had expired answered the API's 401 JSON (`Authorization:
    Bearer <API key>`), and a sign-out form without its token a 403 JSON body. Signed out
    already: on to the sign-in page. A token that is not the session's: a page saying the
    person is still signed in (a forged form must not sign anyone out)."""
    expired = TestClient(app, cookies={"halo_session": "a session that ended"}).post("/ui/logout", data={"csrf_token": "x"}, follow_redirects=False)
    assert (expired.status_code, expired.headers["location"]) == (303, "/ui/login")
    assert "halo_session=" in expired.headers.get("set-cookie", "")  # the dead cookie is dropped
    client = TestClient(app)
    sign_in(client, "ada")
    forged = client.post("/ui/logout", data={"csrf_token": "wrong"})
    assert (forged.status_code, forged.headers["content-type"][:9]) == (403, "text/html")
    assert "still signed in" in forged.text
    assert client.get("/ui/requests").status_code == 200


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_the_next_page_after_sign_in_is_never_another_site(app, people, target: str) -> None:  # noqa: ANN001, ARG001
    assert sign_in(TestClient(app), "ada", next_=target).headers["location"] == "/ui"


def test_failed_logins_are_rate_limited_per_address_across_names(app, people) -> None:  # noqa: ANN001, ARG001
    client = TestClient(app)
    for i in range(users.MAX_FAILURES_PER_CLIENT):
        assert sign_in(client, f"guess{i}", "not the password").status_code == 401
    assert sign_in(client, "ada").status_code == 429  # the right password of another name, from that address


def test_each_change_made_on_the_access_page_records_the_signed_in_admin_and_shows_it(app, store, people) -> None:  # noqa: ANN001, ARG001
    """access.md: every change records who made it. Revoking a key, creating a user, a new
    password and disabling a user from /ui/access each store the admin's name and the time, and
    the page lists them beside the key or user."""
    from halo_platform.access.keys import create_key, list_keys

    create_key(store, "partner", ["tasks:read"], created_by="ada")
    client = TestClient(app)
    assert sign_in(client, "ada").status_code == 303
    csrf = {"csrf_token": session_csrf(store, client)}
    for path, form in (("/ui/access/keys/partner/revoke", {}),
                       ("/ui/access/users", {"name": "nina", "role": "viewer", "password": PASSWORD, "password_again": PASSWORD}),
                       ("/ui/access/users/vera/disable", {}),
                       ("/ui/access/users/otto/password", {"password": PASSWORD + "!", "password_again": PASSWORD + "!"})):
        done = client.post(path, data={**csrf, **form}, follow_redirects=False)
        assert done.status_code == 303, (path, done.text)
    (key,) = list_keys(store)
    listed = {u["name"]: u for u in users.list_users(store)}
    assert key["revoked_by"] == "ada" and key["revoked_at"] is not None
    assert listed["nina"]["created_by"] == "ada" and listed["vera"]["disabled_by"] == "ada" and listed["vera"]["disabled_at"]
    assert listed["otto"]["password_changed_by"] == "ada" and listed["otto"]["password_changed_at"]
    page = client.get("/ui/access").text
    row = {name: re.search(rf'<tr data-{kind}="{name}">(.*?)</tr>', page, re.S).group(1)
           for kind, name in (("key", "partner"), ("user", "nina"), ("user", "vera"), ("user", "otto"))}
    assert re.search(r"revoked [\d-]+ [\d:]+(?: UTC)? by ada", row["partner"]), row["partner"]
    assert "by ada" in row["nina"] and re.search(r"disabled [\d-]+ [\d:]+(?: UTC)? by ada", row["vera"]), row["vera"]
    assert re.search(r"[\d-]+ [\d:]+(?: UTC)? by ada", row["otto"]), row["otto"]
