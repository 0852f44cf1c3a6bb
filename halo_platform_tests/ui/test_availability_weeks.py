"""The Availability page's week, without a browser: the calendar covers what the store can hold
(core.models.EARLIEST_DATE to LATEST_DATE). A week outside it is the page again with the error
beside the week field (it was the API's bare JSON 422, and 9999-12-31 a 500: the links to the
neighbouring weeks overflowed `date`); the first and last weeks show, without a link out of range."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from halo_platform.access import users
from halo_platform.availability.tables import AvailableSpan
from halo_platform.core.store import StoreResource
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.http import create_app

PASSWORD = "a long enough password"


@pytest.fixture
def client(halo_env):  # noqa: ANN001, ANN201
    """A viewer's client of an app whose store holds one acme span of AC001 (so AC001 can be picked)."""
    store = StoreResource(db_url=halo_env["HALO_DB_URL"])
    start = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
    with store.write() as conn:
        conn.execute(sa.insert(AvailableSpan.__table__).values(feed="acme", provider_id="AC001", span_date=start.date(),
                                                               start_at=start, end_at=start + dt.timedelta(hours=1)))
    users.create_user(store, "vera", "viewer", PASSWORD)
    providers = ProvidersResource()
    client = TestClient(create_app({"store": store, "providers": providers}), raise_server_exceptions=False)
    client.cookies.set("halo_session", users.login(store, "vera", PASSWORD, "test"))
    yield client
    providers.close()
    store.dispose()


def _week(client: TestClient, week: str):  # noqa: ANN202 - httpx's Response
    return client.get("/ui/availability", params={"feed": "acme", "provider": "AC001", "week": week})


@pytest.mark.parametrize("week", ["1899-12-25", "1899-12-31", "2200-01-06", "2999-01-01", "9999-12-31", "0001-01-01"])
def test_a_week_outside_the_calendar_is_refused_beside_the_week_field(client, week: str) -> None:  # noqa: ANN001
    answer = _week(client, week)
    assert answer.status_code == 422, (answer.status_code, answer.text[:200])
    assert answer.headers["content-type"].startswith("text/html")
    assert '<small id="week-error" class="error" role="alert">' in answer.text
    assert f"{week} is out of range (1900-01-01 to 2199-12-31)" in answer.text
    assert f'id="week" name="week" type="date" value="{week}"' in answer.text  # what was typed stays
    assert 'id="previous-week"' not in answer.text and 'id="next-week"' not in answer.text


@pytest.mark.parametrize(("week", "monday", "links"), [
    ("1900-01-03", "1900-01-01", {"next-week"}),  # 1900-01-01 is a Monday: no week before it
    ("2199-12-31", "2199-12-30", {"previous-week"}),  # a Tuesday: its week runs past the calendar's last day
    ("2026-01-07", "2026-01-05", {"previous-week", "next-week"}),
])
def test_the_first_and_last_weeks_show_with_links_only_to_weeks_in_the_calendar(client, week: str, monday: str,  # noqa: ANN001
                                                                                 links: set[str]) -> None:
    answer = _week(client, week)
    assert answer.status_code == 200, (answer.status_code, answer.text[:200])
    assert f"week of {monday}" in answer.text
    assert {name for name in ("previous-week", "next-week") if f'id="{name}"' in answer.text} == links
    if monday == "2026-01-05":
        assert "1 span)" in answer.text and "week=2025-12-29" in answer.text and "week=2026-01-12" in answer.text


def test_opened_without_a_week_the_calendar_shows_the_week_of_the_providers_own_today(client, halo_env, monkeypatch) -> None:  # noqa: ANN001
    """It showed the week of the window's first date (today at UTC-12): on a Monday morning in Europe
    (Sunday at UTC-12) an operator saw last week (`make run`, Monday 2026-12-07 02:55 in Paris: the
    week of 2026-11-30, every day 'No available time' but its Sunday)."""
    from halo_platform.availability.tables import SchedulingItem, SchedulingItemHours

    store = StoreResource(db_url=halo_env["HALO_DB_URL"])
    with store.write() as conn:  # AC001 works in Europe/Paris
        conn.execute(sa.insert(SchedulingItem.__table__).values(feed="acme", item_id="hours:AC001", kind="hours", deleted=False,
                                                                version=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), fingerprint=1,
                                                                tz="Europe/Paris", updated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
        conn.execute(sa.insert(SchedulingItemHours.__table__).values(feed="acme", item_id="hours:AC001", n=0, provider_id="AC001",
                                                                     weekday=0, start_minute=540, end_minute=1020))
    store.dispose()
    # Monday 01:55 UTC: 02:55 in Paris, Sunday 13:55 at UTC-12 (the clock `today()` reads)
    monkeypatch.setattr("halo_platform.availability.pipeline.utcnow", lambda: dt.datetime(2026, 12, 7, 1, 55, tzinfo=dt.UTC))
    answer = client.get("/ui/availability", params={"feed": "acme", "provider": "AC001"})
    assert answer.status_code == 200, answer.text[:300]
    assert "AC001 · week of 2026-12-07" in answer.text and "week of 2026-11-30" not in answer.text
    assert "Europe/Paris local times" in answer.text
