"""The Availability page opened without a week shows the week of the provider's own today: it showed
the week of the window's first date (today at UTC-12), so on a Monday morning in Europe (Sunday at
UTC-12) an operator saw last week, every day 'No available time' but its Sunday (`make run`, Monday
2026-12-07 02:55 in Paris: the week of 2026-11-30)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from halo_platform.access import users
from halo_platform.availability.tables import AvailableSpan, SchedulingItem, SchedulingItemHours
from halo_platform.core.store import StoreResource
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.http import create_app

PASSWORD = "a long enough password"
MONDAY_0155_UTC = dt.datetime(2026, 12, 7, 1, 55, tzinfo=dt.UTC)  # 02:55 in Paris, Sunday 13:55 at UTC-12


@pytest.fixture
def client(halo_env, monkeypatch):  # noqa: ANN001, ANN201
    """A viewer's client; acme's AC001 works in Europe/Paris, and the clock reads Monday 01:55 UTC."""
    store = StoreResource(db_url=halo_env["HALO_DB_URL"])
    with store.write() as conn:
        conn.execute(sa.insert(SchedulingItem.__table__).values(feed="acme", item_id="hours:AC001", kind="hours", version=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                                                                deleted=False, fingerprint=1, tz="Europe/Paris", updated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
        conn.execute(sa.insert(SchedulingItemHours.__table__).values(feed="acme", item_id="hours:AC001", n=0, provider_id="AC001",
                                                                     weekday=0, start_minute=540, end_minute=1020))
        start = dt.datetime(2026, 12, 7, 8, tzinfo=dt.UTC)  # Monday 09:00 in Paris
        conn.execute(sa.insert(AvailableSpan.__table__).values(feed="acme", provider_id="AC001", span_date=start.date(),
                                                               start_at=start, end_at=start + dt.timedelta(hours=8)))
    users.create_user(store, "vera", "viewer", PASSWORD)
    monkeypatch.setattr("halo_platform.availability.pipeline.utcnow", lambda: MONDAY_0155_UTC)  # the clock `today()` reads
    providers = ProvidersResource()
    client = TestClient(create_app({"store": store, "providers": providers}), raise_server_exceptions=False)
    client.cookies.set("halo_session", users.login(store, "vera", PASSWORD, "test"))
    yield client
    providers.close()
    store.dispose()


def test_the_default_week_is_the_providers_local_this_week(client) -> None:  # noqa: ANN001
    answer = client.get("/ui/availability", params={"feed": "acme", "provider": "AC001"})
    assert answer.status_code == 200, answer.text[:300]
    assert "week of 2026-12-07" in answer.text and "week of 2026-11-30" not in answer.text
    assert "Europe/Paris local times, 1 span" in answer.text and "09:00" in answer.text
