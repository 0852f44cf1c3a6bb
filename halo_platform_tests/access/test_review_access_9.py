"""Review of access.md, ninth pass: what a person meets signing in to the Control Center, over the
service's app (the FastAPI TestClient, as the other sign-in tests)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from halo_platform.access import users
from halo_platform.core.store import StoreResource

PASSWORD = "a long enough password"


def _form_token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_each_sign_in_page_a_browser_opened_signs_in(app, store: StoreResource) -> None:  # noqa: ANN001
    """A session ends (12 h, a sign-out, a new password) while a person has several Control Center
    tabs open; each one reloaded goes to the sign-in page. Each page minted its own form token into
    the one login-CSRF cookie, so only the page opened last could sign in: the first tab's right
    name and password were refused 403 "the form expired; sign in again", the password typed lost.
    The form's token guards against a sign-in forged from another site; every page of the same
    browser may carry the same one."""
    users.create_user(store, "ada", "viewer", PASSWORD)
    browser = TestClient(app, follow_redirects=False)
    tabs = {page: _form_token(browser.get(f"/ui/login?next={page}").text) for page in ("/ui/tasks", "/ui/requests", "/ui/schedules")}
    for page, token in tabs.items():  # the first tab, then the others (signed in already: the form still works)
        answer = browser.post("/ui/login", data={"name": "ada", "password": PASSWORD, "csrf_token": token, "next": page})
        assert (answer.status_code, answer.headers.get("location")) == (303, page), re.findall(r'class="error"[^>]*>([^<]+)', answer.text)
    assert browser.get("/ui/tasks").status_code == 200
    # a token of no page of this browser is refused as before
    assert browser.post("/ui/login", data={"name": "ada", "password": PASSWORD, "csrf_token": "x" * 43, "next": "/ui"}).status_code == 403


def test_signing_in_again_as_the_same_person_leaves_the_forms_of_the_browsers_pages_working(app, store: StoreResource) -> None:  # noqa: ANN001
    """The same tabs, signed in from each in turn: every sign-in ends the browser's session and
    makes a new one (right: the token changes), whose new CSRF token no page opened before knew,
    so the first tab's Access page, opened after its sign-in, had its form refused 403 "nothing
    was saved". Signing in again as the person the browser is signed in as keeps the session's
    CSRF token; signing in as someone else does not."""
    users.create_user(store, "ada", "admin", PASSWORD)
    users.create_user(store, "bob", "admin", PASSWORD)
    browser = TestClient(app, follow_redirects=False)
    first, second, third = (_form_token(browser.get("/ui/login?next=/ui/access").text) for _ in range(3))
    assert browser.post("/ui/login", data={"name": "ada", "password": PASSWORD, "csrf_token": first, "next": "/ui/access"}).status_code == 303
    page_token = _form_token(browser.get("/ui/access").text)  # the first tab's Access page
    signed_in_before = browser.cookies["halo_session"]
    assert browser.post("/ui/login", data={"name": "ada", "password": PASSWORD, "csrf_token": second, "next": "/ui/access"}).status_code == 303
    assert browser.cookies["halo_session"] != signed_in_before and users.session(store, signed_in_before) is None  # a new session all the same
    made = browser.post("/ui/access/keys", data={"csrf_token": page_token, "name": "partner", "scope": "tasks:read"})
    assert made.status_code == 201 and 'id="new-key"' in made.text, made.text[:300]
    # another person signing in in this browser gets a token of their own
    assert browser.post("/ui/login", data={"name": "bob", "password": PASSWORD, "csrf_token": third, "next": "/ui/access"}).status_code == 303
    assert users.session(store, browser.cookies["halo_session"]).csrf_token != page_token
    assert browser.post("/ui/access/keys", data={"csrf_token": page_token, "name": "other", "scope": "tasks:read"}).status_code == 403
