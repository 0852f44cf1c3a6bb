# ruff: noqa: F811 - the fixtures imported from test_page_edges are the tests' arguments
"""Control Center defects found in review ui22 (each test failed before its fix): the Requests
audit log showed its newest 200 requests and no way to the older ones but the date filters (whole
days: a schedule running every minute left most of a day's requests out of reach). The Schedules
page described each schedule from scratch (croniter run several times a row, cron_descriptor's
locale file read anew): 300 schedules took over its 300 ms budget; what depends on the cron alone
is now kept, and these tests pin that the kept answers stay each zone's and each call's. Dates
typed by hand (a key's expiry, the Requests filters, the Availability week) took 2099-W01-1 and
20990101 beside errors naming YYYY-MM-DD, and a key's rate and a rotation's overlap read other
scripts' digits (١٢ as 12), which a routing weight refuses."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from halo_platform.access.keys import create_key, list_keys
from halo_platform.core.store import StoreResource
from halo_platform.reports.audit import list_requests, requests_t
from halo_platform.ui.requests import LIMIT
from halo_platform.ui.schedules import describe
from halo_platform_tests.ui.test_form_refusals import _error, _html
from halo_platform_tests.ui.test_page_edges import admin, app, store  # noqa: F401 - the same seeded store, app and clients

AT = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)


def _log(store: StoreResource, count: int, tie: int) -> list[dict]:
    """`count` requests, `tie` of them created at each second, their ids not in the order they were
    made, alternately of ada and bob; as the log lists them (newest first, then by id)."""
    rows = [{"request_id": f"r-{i * 37 % 1009:04d}", "root_request_id": "r", "task": "campaign_alerts", "payload": {},
             "trigger": "schedule", "requested_by": ("ada", "bob")[i % 2], "status": "SUCCEEDED", "outputs": [],
             "stats": {}, "created_at": AT - dt.timedelta(seconds=i // tie)} for i in range(count)]
    with store.write() as conn:
        conn.execute(requests_t.insert(), rows)
    return sorted(rows, key=lambda r: (r["created_at"], r["request_id"]), reverse=True)


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def any_store(request: pytest.FixtureRequest, halo_env) -> Iterator[StoreResource]:  # noqa: ANN001
    urls = {"sqlite": lambda: halo_env["HALO_DB_URL"], "postgresql": lambda: request.getfixturevalue("migrated_pg_url"),
            "mariadb": lambda: request.getfixturevalue("migrated_mysql_url")}
    made = StoreResource(db_url=urls[request.param]())
    yield made
    made.dispose()


def test_list_requests_pages_on_created_at_then_request_id_through_ties(any_store: StoreResource) -> None:
    """Each page starts past the last request of the one before, also among requests of one instant
    across the page's end: every request is listed once, in the log's order, on every store."""
    ids = [r["request_id"] for r in _log(any_store, 23, 4)]
    pages, older_than = [], None
    while page := list_requests(any_store, limit=5, older_than=older_than):
        pages.append([r["request_id"] for r in page])
        older_than = (dt.datetime.fromisoformat(page[-1]["created_at"]), page[-1]["request_id"])
    assert sum(pages, []) == ids
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]


def _older(page: str) -> str | None:
    found = re.search(r'<a href="([^"]*)" id="older-requests"', page)
    return html.unescape(found.group(1)) if found else None


@pytest.mark.parametrize("who", ["", "ada"])
def test_the_requests_page_links_to_older_requests_until_the_log_ends(admin: TestClient, store: StoreResource, who: str) -> None:
    """The page showed the newest LIMIT requests and said to narrow the filters: now an "Older
    requests" link pages on, with the filters kept, through requests of one second across a page's
    end (seven requests a second), to the first request of the log."""
    wanted = [r["request_id"] for r in _log(store, (2 if who else 1) * (2 * LIMIT + 10), 7) if who in ("", r["requested_by"])]
    url: str | None = "/ui/requests" + (f"?who={who}" if who else "")
    seen, pages = [], 0
    while url:
        page = admin.get(url)
        assert page.status_code == 200, page.text
        seen += re.findall(r'href="/ui/requests/(r-\d+)"', page.text)
        pages, url = pages + 1, _older(page.text)
        assert url is None or url.startswith("/ui/requests?")
        assert ("Back to the newest requests" in page.text) == (pages > 1)
    assert seen == wanted
    assert pages == 3


@pytest.mark.parametrize("cursor", ["x", "2026-12-01T09:00:00+00:00", "2026-12-01T09:00:00 r-0001", "2026-13-01T09:00:00+00:00 r-1",
                                    "0001-01-01T00:00:00+05:00 r-1", "2026-12-01T09:00:00+00:00 r-\x00"])
def test_a_requests_page_link_nobody_wrote_is_refused_beside_a_link_to_the_newest(admin: TestClient, store: StoreResource,
                                                                                 cursor: str) -> None:
    """A cursor edited by hand (no instant, no zone, no request id, a NUL, a time out of range) is a
    refusal on the page, not a 500 nor a page from some other place in the log."""
    _log(store, 3, 1)
    page = admin.get("/ui/requests", params={"older_than": cursor})
    assert page.status_code == 422, page.text
    assert "not a page of the log" in page.text or "cannot be stored" in page.text
    assert 'href="/ui/requests/r-' not in page.text
    assert "Back to the newest requests" in page.text


def test_a_cron_described_in_two_zones_says_each_zone_and_its_runs_in_it() -> None:
    """The words of a cron are kept once made: the zone each schedule runs in is still its own."""
    jakarta, utc = describe("0 6 * * 1", "Asia/Jakarta"), describe("0 6 * * 1", "UTC")
    assert (jakarta["words"], utc["words"]) == ("every Monday at 06:00, Asia/Jakarta", "every Monday at 06:00, UTC")
    assert [run.split(" ", 3)[3] for run in jakarta["runs"] + utc["runs"]] == ["WIB (UTC+07:00)"] * 5 + ["UTC"] * 5


def test_a_refused_cron_is_refused_each_time_it_is_described() -> None:
    """A cron that passed is kept as passing; a refusal is not kept as a pass (nor the other way)."""
    never = {"field": "cron", "error": "cron expression '0 6 31 4 *' never fires (no such date)"}
    assert [describe("0 6 31 4 *", "UTC") for _ in range(2)] == [never, never]
    assert describe("0 6 30 4 *", "UTC")["words"] == "At 06:00, on day 30 of the month, only in April, UTC"


NOT_YYYY_MM_DD = ["20990101", "2099-W01-1", "2099-001"]


@pytest.mark.parametrize("expires", NOT_YYYY_MM_DD)
def test_a_keys_expiry_is_written_yyyy_mm_dd_or_refused(admin: TestClient, store: StoreResource, expires: str) -> None:
    form = {"csrf_token": admin.csrf, "name": "partner", "scope": "tasks:read", "expires": expires}
    assert _error(_html(admin.post("/ui/access/keys", data=form), 422), "key.expires") == "a date, YYYY-MM-DD"
    assert list_keys(store) == []


@pytest.mark.parametrize("rate", ["١٢", "1_0", "1e1"])
def test_a_keys_rate_is_written_in_digits_0_to_9_as_a_weight_is(admin: TestClient, store: StoreResource, rate: str) -> None:
    form = {"csrf_token": admin.csrf, "name": "partner", "scope": "tasks:read", "rate": rate}
    assert _error(_html(admin.post("/ui/access/keys", data=form), 422), "key.rate") == "a number of requests per second"
    assert list_keys(store) == []


def test_a_rotations_overlap_is_written_in_digits_0_to_9(admin: TestClient, store: StoreResource) -> None:
    create_key(store, "partner", ["tasks:read"])
    page = _html(admin.post("/ui/access/keys/partner/rotate", data={"csrf_token": admin.csrf, "overlap_hours": "١٢"}), 422)
    assert "overlap: a number of hours" in html.unescape(page)
    assert [k["name"] for k in list_keys(store)] == ["partner"]  # not rotated


@pytest.mark.parametrize("field", ["since", "before"])
@pytest.mark.parametrize("day", NOT_YYYY_MM_DD)
def test_a_requests_date_filter_is_written_yyyy_mm_dd_or_refused(admin: TestClient, store: StoreResource, field: str, day: str) -> None:
    assert _error(_html(admin.get("/ui/requests", params={field: day}), 422), field) == f"not a date (YYYY-MM-DD): {day}"


@pytest.mark.parametrize("week", NOT_YYYY_MM_DD)
def test_the_availability_week_is_written_yyyy_mm_dd_or_refused(admin: TestClient, store: StoreResource, week: str) -> None:
    assert _error(_html(admin.get("/ui/availability", params={"week": week}), 422), "week") == "Expected a date YYYY-MM-DD."
