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
