"""Review of access.md, nineteenth pass: the login rate limit is no way to lock a person out,
`halo users disable` says when the user was disabled already, no redirect of the service is built
from the request's Host header, and a viewer reads the Access page (keys and users) without its forms."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient

from halo_platform.access import users
from halo_platform.access.keys import create_key
from halo_platform.cli import cli
from halo_platform.core.store import StoreResource

PASSWORD = "a long enough password"
STRANGER, ADMIN_DESK = "198.51.100.9", "203.0.113.7"


@pytest.fixture
def people(store: StoreResource) -> None:
    for name, role in (("vera", "viewer"), ("otto", "operator"), ("ada", "admin")):
        users.create_user(store, name, role, PASSWORD)


def _sign_in(app: FastAPI, name: str, password: str, address: str) -> TestClient:
    """A browser at `address` that sent the sign-in form; `.answer` is the form's answer."""
    browser = TestClient(app, client=(address, 50000), follow_redirects=False)
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/ui/login").text).group(1)
    browser.answer = browser.post("/ui/login", data={"name": name, "password": password, "csrf_token": token})
    return browser


def test_a_strangers_wrong_passwords_from_another_address_do_not_lock_the_admin_out(app: FastAPI, people: None) -> None:  # noqa: ARG001
    """Five wrong passwords for a name in 15 minutes refused that name from everywhere: anyone who
    knew the admin's name locked them out of the Control Center (a denial of service). Failures
    count per name from one address (and per address): the stranger's address is refused, the admin's is not."""
    for _ in range(users.MAX_FAILURES_PER_NAME):
        wrong = _sign_in(app, "ada", "a guessed password", STRANGER).answer
        assert wrong.status_code == 401 and users.WRONG_LOGIN in wrong.text
    assert _sign_in(app, "ada", PASSWORD, ADMIN_DESK).answer.status_code == 303  # was 429: locked out
    refused = _sign_in(app, "ada", PASSWORD, STRANGER).answer
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0  # the guessing address stays slowed


def test_disabling_a_user_disabled_already_says_so_as_revoking_a_revoked_key_does(halo_env, store: StoreResource) -> None:  # noqa: ANN001, ARG001
    """`halo users disable` on a disabled user exited 0 and printed "disabled rina", as if it had
    done something; `halo keys revoke` of a revoked key is one error line and exit 2. The first
    disable's time and author are kept."""
    users.create_user(store, "rina", "viewer", PASSWORD)
    create_key(store, "partner", ["tasks:read"])
    for command in (("keys", "revoke", "partner"), ("users", "disable", "rina")):
        done = CliRunner().invoke(cli, list(command))
        assert done.exit_code == 0, done.stderr
    (before,) = users.list_users(store)
    revoked_again = CliRunner().invoke(cli, ["keys", "revoke", "partner"])
    again = CliRunner().invoke(cli, ["users", "disable", "rina"])
    assert (again.exit_code, revoked_again.exit_code) == (2, 2)
    assert again.stderr == "error: user 'rina' is disabled already\n" and again.stdout == ""
    assert users.list_users(store) == [before]


def test_a_second_disable_on_the_access_page_says_the_user_is_disabled_already(app: FastAPI, store: StoreResource,
                                                                                people: None) -> None:  # noqa: ARG001
    admin = _sign_in(app, "ada", PASSWORD, ADMIN_DESK)
    csrf = {"csrf_token": users.session(store, admin.cookies["halo_session"]).csrf_token}
    assert admin.post("/ui/access/users/vera/disable", data=csrf).status_code == 303
    again = admin.post("/ui/access/users/vera/disable", data=csrf)
    assert again.status_code == 422 and "user &#39;vera&#39; is disabled already" in again.text


@pytest.mark.parametrize("path", ["/ui/", "/ui/tasks/", "/ui/access/", "/ui/login/", "/v1/tasks/"])
def test_a_trailing_slash_is_redirected_to_a_path_of_this_service_whatever_the_host_header(app: FastAPI, people: None,  # noqa: ARG001
                                                                                           path: str) -> None:
    """`/ui/` answered `Location: http://<the request's Host>/ui`: a forged Host header (a poisoned
    cache, a proxy passing it on) sent people to another site. The Location is the path alone."""
    for browser in (TestClient(app, follow_redirects=False), _sign_in(app, "ada", PASSWORD, ADMIN_DESK)):
        moved = browser.get(path + "?q=1", headers={"host": "evil.example"})
        assert moved.status_code == 307 and moved.headers["location"] == path.rstrip("/") + "?q=1"


def test_a_viewer_reads_the_keys_and_users_on_the_access_page_without_its_forms(app: FastAPI, store: StoreResource,
                                                                                 people: None) -> None:  # noqa: ARG001
    """access.md: a viewer reads everything; only an admin edits keys and users. The Access page
    was a 403 for a viewer (and an operator); it lists the keys and users, never a secret or a
    hash, and offers no form: each change stays refused."""
    key = create_key(store, "partner", ["tasks:read"])
    for name in ("vera", "otto"):
        browser = _sign_in(app, name, PASSWORD, ADMIN_DESK)
        page = browser.get("/ui/access")
        assert page.status_code == 200, page.text[:200]
        assert 'href="/ui/access"' in page.text  # offered in the navigation
        assert '<tr data-key="partner">' in page.text and all(f'<tr data-user="{u}">' in page.text for u in ("vera", "otto", "ada"))
        assert key.split("_", 2)[2] not in page.text and "$argon2" not in page.text
        assert "<form" not in page.text.split("<main", 1)[1] and "needs the admin role" in page.text
        csrf = {"csrf_token": users.session(store, browser.cookies["halo_session"]).csrf_token}
        assert browser.post("/ui/access/users/ada/disable", data=csrf).status_code == 403
