"""Identity under requests that come at once or in an unexpected shape: guesses sent together
are checked no more than the login limit allows, keys made at once under one name leave one
active key, and a session posting a form body to a JSON route gets a 4xx, never a 500."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from halo_platform.access import keys, users
from halo_platform.access.tables import User
from halo_platform.core.errors import HaloError
from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform_tests.access.test_sessions import PASSWORD, people, session_csrf, sign_in  # noqa: F401 - people is a fixture
from halo_platform_tests.fixtures.databases import while_uncommitted

AT_ONCE = 12


def at_once(fn: Callable[[int], str]) -> list[str]:
    """`fn(i)` for i in 0..AT_ONCE-1, all started together; their results."""
    barrier, results = threading.Barrier(AT_ONCE), []

    def run(i: int) -> None:
        barrier.wait()
        results.append(fn(i))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(AT_ONCE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.fixture(params=["sqlite", "migrated_pg_url", "migrated_mysql_url"])
def any_store(request, store) -> StoreResource:  # noqa: ANN001
    if request.param == "sqlite":
        return store
    server = StoreResource(db_url=request.getfixturevalue(request.param))
    request.addfinalizer(server.dispose)
    server.engine  # noqa: B018 - migrated before the race
    return server


def test_guesses_sent_at_once_are_checked_no_more_than_the_limit(any_store) -> None:
    users.create_user(any_store, "ada", "admin", PASSWORD)

    def guess(i: int) -> str:
        try:
            users.login(any_store, "ada", f"wrong guess {i}", "203.0.113.7")
        except users.LoginThrottled:
            return "throttled"
        except HaloError:
            return "checked"
        return "signed in"

    outcomes = at_once(guess)
    assert outcomes.count("checked") <= users.MAX_FAILURES_PER_NAME, outcomes  # all 12 were checked
    assert outcomes.count("checked") + outcomes.count("throttled") == AT_ONCE


def test_a_right_password_takes_its_attempt_back(store) -> None:
    users.create_user(store, "ada", "admin", PASSWORD)
    for _ in range(users.MAX_FAILURES_PER_NAME * 2):
        users.login(store, "ada", PASSWORD, "203.0.113.7")  # never throttled: successes are not failures


def test_keys_made_at_once_under_one_name_leave_one_active_key(any_store) -> None:
    def create(i: int) -> str:
        try:
            keys.create_key(any_store, "partner", ["messages:send"])
        except HaloError as exc:
            return str(exc)
        return "made"

    outcomes = at_once(create)
    assert outcomes.count("made") == 1, outcomes
    assert {o for o in outcomes if o != "made"} == {"an active key named 'partner' exists; revoke it first"}
    assert [k["name"] for k in keys.list_keys(any_store) if k["revoked_at"] is None] == ["partner"]
    keys.revoke_key(any_store, "partner")
    keys.create_key(any_store, "partner", ["messages:send"])  # a revoked key's name is free again



def test_a_user_made_while_another_transaction_makes_the_same_name_is_refused_as_taken(any_store) -> None:
    """The other transaction's row is not committed when this one looks, so it finds no user and
    inserts: on PostgreSQL and MariaDB the insert then failed on the unique name with the
    driver's error (a 500 from the Access page) instead of "exists"."""
    theirs = [(User.__table__, [{"name": "grace", "role": "admin", "password_hash": "x", "created_at": utcnow()}])]
    outcome = while_uncommitted(any_store, theirs, lambda: users.create_user(any_store, "grace", "viewer", PASSWORD))
    assert outcome == "a user named 'grace' exists"
    assert [(u["name"], u["role"]) for u in users.list_users(any_store)] == [("grace", "admin")]


@pytest.mark.parametrize("channel", ["sms", "email", "push"])
def test_a_session_posting_a_form_body_to_a_json_route_gets_a_422(app, store, people, channel) -> None:  # noqa: ARG001, F811
    client = TestClient(app)
    assert sign_in(client, "ada").status_code == 303
    answer = client.post(f"/v1/messages/{channel}", data={"csrf_token": session_csrf(store, client), "to": "+33612345678", "body": "x"})
    assert answer.status_code == 422 and answer.json()["error"]  # RuntimeError: Stream consumed, a 500
