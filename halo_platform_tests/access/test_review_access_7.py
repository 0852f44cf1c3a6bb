"""Review of access.md (helper access7): actions of the Control Center's Access page reach the row
a person clicked, and nothing else."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from halo_platform.access import users
from halo_platform.access.keys import check_key, create_key, keys_t, list_keys
from halo_platform.core.store import StoreResource

PASSWORD = "a long enough password"


@pytest.fixture
def store(halo_env) -> Iterator[StoreResource]:  # noqa: ANN001
    made = StoreResource(db_url=halo_env["HALO_DB_URL"])
    users.create_user(made, "ada", "admin", PASSWORD)
    yield made
    made.dispose()


def _signed_in(app: FastAPI, name: str = "ada") -> TestClient:
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text).group(1)
    answer = client.post("/ui/login", data={"name": name, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 303, answer.text
    return client


def _expire(store: StoreResource, key: str) -> None:
    """The key's expiry moved to an hour ago, as if its day had come."""
    with store.write() as conn:
        conn.execute(keys_t.update().where(keys_t.c.prefix == key.split("_")[1])
                     .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)))


def _forms(page: str) -> list[tuple[str, dict[str, str]]]:
    """Each revoke form of the keys table: (its row's state text, its action and hidden fields)."""
    found = []
    for row in re.findall(r'<tr data-key="[^"]*">(.*?)</tr>', page, re.S):
        form = re.search(r'<form method="post" action="([^"]+/revoke)"(.*?)</form>', row, re.S)
        if form:
            fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(2)))
            found.append((row, {"action": form.group(1), **fields}))
    return found


def test_revoking_an_expired_key_on_the_access_page_leaves_the_new_key_of_its_name_working(app: FastAPI, store: StoreResource) -> None:
    # the partner's key expired; a new key of the same name replaced it (the name is freed), and the
    # page lists both, the expired one with its Revoke button: clicking it must not cut the partner off
    old = create_key(store, "partner", ["tasks:read"], expires=dt.date.today() + dt.timedelta(days=2))
    _expire(store, old)
    new = create_key(store, "partner", ["tasks:read"])
    client = _signed_in(app)
    page = client.get("/ui/access").text
    expired = [fields for row, fields in _forms(page) if "expired" in row]
    assert len(expired) == 1, page
    fields = expired[0]
    answer = client.post(fields.pop("action"), data=fields)
    assert answer.status_code in (303, 404, 422), answer.text

    assert check_key(store, new).refused is None, "the new key was revoked by the expired row's button"
    assert client.get("/v1/tasks", headers={"Authorization": f"Bearer {new}"}).status_code == 200
    by_prefix = {k["prefix"]: k for k in list_keys(store)}
    assert by_prefix[new.split("_")[1]]["revoked_at"] is None
    assert check_key(store, old).refused is not None


def test_a_revoke_button_of_a_page_opened_before_the_key_was_replaced_revokes_nothing_new(app: FastAPI, store: StoreResource) -> None:
    # a page opened while 'partner' was the first key; meanwhile (another tab, the CLI) that key was
    # revoked and a new 'partner' made: the stale button is about the first key, not the new one
    create_key(store, "partner", ["tasks:read"])
    client = _signed_in(app)
    (_, fields), = _forms(client.get("/ui/access").text)
    with store.write() as conn:
        conn.execute(keys_t.update().where(keys_t.c.name == "partner").values(revoked_at=dt.datetime.now(dt.UTC), active_name=None))
    new = create_key(store, "partner", ["tasks:read"])
    answer = client.post(fields.pop("action"), data=fields)
    assert answer.status_code in (303, 404, 422), answer.text
    assert check_key(store, new).refused is None
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(keys_t).where(keys_t.c.revoked_at.is_(None))).scalar() == 1


def _framing_refused(headers) -> bool:  # noqa: ANN001
    csp = headers.get("content-security-policy", "")
    return headers.get("x-frame-options", "").upper() == "DENY" and "frame-ancestors 'none'" in csp


def test_no_page_of_the_control_center_or_the_docs_can_be_framed_by_another_page(app: FastAPI, store: StoreResource) -> None:
    # framed by another page (of a sibling site, whose frames carry SameSite=Lax cookies), an
    # admin's Access page or Providers page under a decoy is a click on Revoke, Disable or Switch off
    create_key(store, "partner", ["tasks:read"])
    client = _signed_in(app)
    for path in ("/ui/access", "/ui/providers", "/ui/routing", "/ui/tasks", "/ui/schedules", "/docs", "/graphql"):
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.status_code)
        assert _framing_refused(answer.headers), (path, dict(answer.headers))
    anonymous = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    assert _framing_refused(anonymous.get("/ui/login").headers)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/access").text).group(1)
    refused = client.post("/ui/access/keys", data={"csrf_token": token, "name": "", "scope": "admin"})  # a page with its error
    assert refused.status_code == 422 and _framing_refused(refused.headers)


def test_no_control_center_page_is_kept_by_a_cache_but_its_stylesheet(app: FastAPI, store: StoreResource) -> None:
    """Only the Access page said Cache-Control: no-store: every other page (its CSRF token, a
    feed's availability, the messages, a report's file) could be kept by the browser's cache and
    shown again from it once the person had signed out on a shared computer."""
    client = _signed_in(app)
    for path in ("/ui/access", "/ui/providers", "/ui/routing", "/ui/tasks", "/ui/schedules", "/ui/messages",
                 "/ui/availability", "/ui/requests", "/ui/no-such-page"):
        answer = client.get(path)
        assert answer.status_code in (200, 404), (path, answer.status_code)
        assert answer.headers.get("cache-control") == "no-store", (path, dict(answer.headers))
    anonymous = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    assert anonymous.get("/ui/login").headers.get("cache-control") == "no-store"
    assert client.get("/ui").headers.get("cache-control") == "no-store"  # a redirect to the first page
    stylesheet = re.search(r'href="(/ui/static/[^"]+)"', client.get("/ui/access").text).group(1)
    assert "no-store" not in client.get(stylesheet).headers.get("cache-control", "")


def test_a_sign_in_checked_against_the_old_password_while_an_admin_sets_a_new_one_opens_no_session(store: StoreResource) -> None:
    # the password leaked; the admin gives the user a new one (every session ends) while someone
    # signs in with the leaked one: checked against the old hash, that sign-in must not come out
    # with a session that the reset was meant to end
    import threading
    import time

    from halo_platform.access.tables import LoginFailure, UserSession

    failures_t, sessions_t = LoginFailure.__table__, UserSession.__table__
    outcome: list[str] = []

    def sign_in() -> None:
        try:
            outcome.append(users.login(store, "ada", PASSWORD, "10.0.0.9"))
        except Exception as exc:  # noqa: BLE001 - what the test is about
            outcome.append(type(exc).__name__)

    new_hash = users._hasher.hash("the new password, not leaked")
    racer = threading.Thread(target=sign_in)
    racer.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the attempt is counted: its check of the password (argon2) is under way
        with store.read() as conn:
            if conn.execute(sa.select(sa.func.count()).select_from(failures_t)).scalar():
                break
        time.sleep(0.001)
    with store.write() as conn:  # what set_password writes, committed while the old password is being checked
        conn.execute(users.users_t.update().where(users.users_t.c.name == "ada")
                     .values(password_hash=new_hash, password_changed_at=dt.datetime.now(dt.UTC), password_changed_by="admin"))
        conn.execute(sessions_t.delete())
        time.sleep(0.5)
    racer.join()
    with store.read() as conn:
        live = conn.execute(sa.select(sa.func.count()).select_from(sessions_t)).scalar()
    assert live == 0 and outcome == ["HaloError"], (outcome, live)
    assert users.session(store, "x") is None


@pytest.mark.parametrize("db", ["pg", "mysql"])
def test_a_sign_in_still_works_and_a_reset_password_still_ends_sessions_on_postgresql_and_mariadb(db: str, request) -> None:  # noqa: ANN001
    store = StoreResource(db_url=request.getfixturevalue("migrated_pg_url" if db == "pg" else "migrated_mysql_url"))
    try:
        users.create_user(store, "ada", "admin", PASSWORD)
        token = users.login(store, "ada", PASSWORD, "10.0.0.9")
        assert users.session(store, token) is not None
        users.set_password(store, "ada", "the new password, not leaked")
        assert users.session(store, token) is None
        with pytest.raises(Exception, match="wrong name or password"):
            users.login(store, "ada", PASSWORD, "10.0.0.9")
        assert users.session(store, users.login(store, "ada", "the new password, not leaked", "10.0.0.9")) is not None
    finally:
        store.dispose()
