"""Control Center defects found in review ui24, the Requests list: its "requests 1–N of M" and its
rows were two reads, so a request made between them was counted and not listed (each test failed
before its fix)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from halo_platform.access import users
from halo_platform.core.store import StoreResource
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.http import create_app
from halo_platform.reports.audit import requests_t
from halo_platform.sinks import SinksResource
from halo_platform_tests.fixtures.access import signed_in_client
from halo_platform_tests.ui.test_form_refusals import _html

PASSWORD = "a long enough password"
WHO = "ui24-race"
AT = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)


def _request(i: int) -> dict:
    return {"request_id": f"ui24-{i:03d}", "root_request_id": f"ui24-{i:03d}", "task": "campaign_alerts", "payload": {},
            "trigger": "manual", "requested_by": WHO, "status": "SUCCEEDED", "outputs": [], "stats": {},
            "created_at": AT + dt.timedelta(seconds=i)}


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def admin_of(request: pytest.FixtureRequest, halo_env) -> Iterator[tuple[StoreResource, TestClient]]:  # noqa: ANN001
    """An admin's Control Center on a store of each kind, holding three requests of WHO."""
    urls = {"sqlite": lambda: halo_env["HALO_DB_URL"], "postgresql": lambda: request.getfixturevalue("migrated_pg_url"),
            "mariadb": lambda: request.getfixturevalue("migrated_mysql_url")}
    store = StoreResource(db_url=urls[request.param]())
    users.create_user(store, "ada", "admin", PASSWORD)
    with store.write() as conn:
        conn.execute(requests_t.insert(), [_request(i) for i in range(3)])
    providers = ProvidersResource()
    yield store, signed_in_client(create_app({"store": store, "providers": providers, "sinks": SinksResource()}), "ada", PASSWORD)
    providers.close()
    store.dispose()


def test_a_request_made_while_the_list_is_read_is_counted_only_if_listed(admin_of: tuple[StoreResource, TestClient]) -> None:
    """A request of WHO is made (another connection, committed) as soon as the list's first read of
    the log has run, as a run worker or the API may at any time. Read apart, the rows were the three
    before it and the count, read next, four: "requests 1–3 of 4" over three rows, on every store
    (PostgreSQL reads each statement on its own snapshot). Now the count is of the rows listed."""
    store, admin = admin_of
    made: list[str] = []

    def make_one_after_the_first_read(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001, ARG001, PLR0913
        if not made and requests_t.name in statement and WHO in str(parameters) and statement.lstrip().upper().startswith("SELECT"):
            made.append(statement)
            with store.write() as other:
                other.execute(requests_t.insert().values(**_request(3)))

    sa.event.listen(store.engine, "after_cursor_execute", make_one_after_the_first_read)
    try:
        page = _html(admin.get("/ui/requests", params={"who": WHO}), 200)
    finally:
        sa.event.remove(store.engine, "after_cursor_execute", make_one_after_the_first_read)
    assert made  # the request was made while the page was read
    listed = re.findall(r'href="/ui/requests/(ui24-\d+)"', page)
    said = " ".join(re.search(r'id="requests-shown"[^>]*>([^<]*)<', page).group(1).split())
    assert said == f"requests 1–{len(listed)} of {len(listed)}", (said, listed)
    assert listed == ["ui24-002", "ui24-001", "ui24-000"]  # the request made after the read is on the next load
    assert re.findall(r'href="/ui/requests/(ui24-\d+)"', _html(admin.get("/ui/requests", params={"who": WHO}), 200))[0] == "ui24-003"
