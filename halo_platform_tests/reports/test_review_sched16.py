"""A review of task schedules (reports.md "Task Schedule"; access.md: the Schedules page says each
cron in words beside its next runs): inputs the other schedule tests do not cover."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from halo_platform.access import users
from halo_platform.core.errors import HaloError
from halo_platform.core.store import StoreResource
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.http import create_app
from halo_platform.reports.schedules import cron_in_words, next_runs, set_schedule, validate_schedule
from halo_platform.reports.sensors import evaluate_schedules
from halo_platform.sinks import SinksResource

UTC = dt.UTC


@pytest.mark.parametrize(("cron", "words", "days"), [
    ("0 6 1 * *", "At 06:00, on day 1 of the month, UTC", [1, 1, 1]),  # monthly
    ("0 6 1,15 * *", "At 06:00, on day 1 and 15 of the month, UTC", [1, 15, 1]),
    ("0 6 */10 * *", "At 06:00, on day 1, 11, 21, and 31 of the month, UTC", [1, 11, 21]),
    ("59 23 31 12 *", "At 23:59, on day 31 of the month, only in December, UTC", [31, 31, 31]),
])
def test_a_cron_on_days_of_the_month_is_said_without_every_weekday(cron, words, days):
    """`0 6 1 * *` runs on the 1st of each month; the Schedules page said 'At 06:00, on day 1 of the
    month, Sunday through Saturday', as it says `0 6 1 * 0-6`, which runs every day (cron's OR)."""
    assert cron_in_words(cron, "UTC") == words
    assert [t.day for t in next_runs(cron, "UTC", 3, after=dt.datetime(2025, 12, 31, 23, 59, 30, tzinfo=UTC))] == days


@pytest.mark.parametrize(("cron", "words", "days"), [
    ("0 6 1 * 1-5", "At 06:00, on day 1 of the month, or on Monday, Tuesday, Wednesday, Thursday, and Friday, UTC",
     [1, 2, 5, 6, 7]),  # 2026-01-01 is a Thursday
    ("0 6 1-7 * mon-fri", "At 06:00, between day 1 and 7 of the month, or on Monday, Tuesday, Wednesday, Thursday, and Friday, UTC",
     [1, 2, 3, 4, 5]),
    ("0 6 15 * */2", "At 06:00, on day 15 of the month, or on Sunday, Tuesday, Thursday, and Saturday, UTC", [1, 3, 4, 6, 8]),
    ("0 6 1 * 1", "At 06:00, on day 1 of the month, or on Monday, UTC", [1, 5, 12, 19, 26]),  # unchanged
    ("0 6 * * 1-5", "every Monday through Friday at 06:00, UTC", [1, 2, 5, 6, 7]),  # no day of the month: unchanged
])
def test_a_cron_on_days_of_the_month_and_of_the_week_says_it_runs_on_either(cron, words, days):
    """Both fields restricted, cron runs on a day matching either (the next runs show it): `0 6 1 * 1-5`
    runs every weekday and on the 1st, but was said 'on day 1 of the month, Monday through Friday'
    (the 1st when it is a weekday)."""
    assert cron_in_words(cron, "UTC") == words
    assert [t.day for t in next_runs(cron, "UTC", 5, after=dt.datetime(2025, 12, 31, 23, 59, 30, tzinfo=UTC))] == days


PASSWORD = "a long enough password"


@pytest.fixture
def viewer(halo_env) -> Iterator[TestClient]:  # noqa: ANN001
    """A viewer's Control Center on a store with two hourly schedules, one of them disabled."""
    store = StoreResource(db_url=halo_env["HALO_DB_URL"])
    users.create_user(store, "vera", "viewer", PASSWORD)
    for schedule_id, enabled in (("on_hourly", True), ("off_hourly", False)):
        set_schedule(store, schedule_id, task="campaign_alerts", cron="0 * * * *", timezone="UTC", enabled=enabled)
    providers = ProvidersResource()
    client = TestClient(create_app({"store": store, "providers": providers, "sinks": SinksResource()}),
                        raise_server_exceptions=False, follow_redirects=False)
    client.cookies.set("halo_session", users.login(store, "vera", PASSWORD, "test"))
    yield client
    providers.close()
    store.dispose()


def _runs_shown(page: str, schedule_id: str) -> list[str]:
    row = re.search(rf'<tr id="schedule-{schedule_id}">(.*?)</tr>', page, re.S).group(1)
    return re.findall(r"<li>([^<]+)</li>", re.search(r'<ul class="runs">(.*?)</ul>', row, re.S).group(1))


def test_the_schedules_list_shows_no_next_runs_for_a_disabled_schedule(viewer):
    """The sensor launches nothing for a disabled schedule; the Schedules list gave it the same
    'Next 5 runs' as the enabled one, times at which nothing will run."""
    page = viewer.get("/ui/schedules")
    assert page.status_code == 200, page.text[:300]
    assert len(_runs_shown(page.text, "on_hourly")) == 5
    assert _runs_shown(page.text, "off_hourly") == []


@pytest.mark.parametrize("stored", ["null", "[]", '"weekly"', '[{"budget_threshold_pct": 80}]'])
def test_a_schedule_stored_with_a_payload_that_is_not_an_object_is_skipped_and_the_others_run(halo_env, store, stored):
    """A row whose payload is JSON but no object (written before edits were validated, or by hand):
    the sensor raised a TypeError ('... is not a mapping') at every evaluation, and no schedule ran.
    It is skipped with its problem (alerted once), the others run, and its tick is owed once fixed."""
    for schedule_id in ("ok", "broken"):
        set_schedule(store, schedule_id, task="campaign_alerts", cron="0 * * * *", timezone="UTC")
    with store.write() as conn:
        conn.execute(sa.text("UPDATE task_schedules SET payload = :p WHERE schedule_id = 'broken'"), {"p": stored})
    hour = dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)

    requests, cursor = evaluate_schedules(store, hour + dt.timedelta(seconds=10), None)
    assert [r.run_key for r in requests] == [f"ok:{hour.isoformat()}"]
    skipped = json.loads(cursor)["skipped"]
    assert list(skipped) == ["broken"] and "payload: must be a JSON object" in skipped["broken"], skipped
    with store.write() as conn:
        conn.execute(sa.text("UPDATE task_schedules SET payload = '{}' WHERE schedule_id = 'broken'"))
    requests, cursor = evaluate_schedules(store, hour + dt.timedelta(seconds=40), cursor)
    assert [r.run_key for r in requests] == [f"broken:{hour.isoformat()}"]


@pytest.mark.parametrize("stored", ["null", "[]"])
def test_the_page_of_a_schedule_stored_with_a_payload_that_is_not_an_object_says_so(viewer, halo_env, stored):
    """The same row's page (`/ui/schedules/<id>`) answered 500 ('"sinks" in None'); it shows the
    schedule (to an operator, with its problem beside the payload, as the sensor names it)."""
    store = StoreResource(db_url=halo_env["HALO_DB_URL"])
    with store.write() as conn:
        conn.execute(sa.text("UPDATE task_schedules SET payload = :p WHERE schedule_id = 'on_hourly'"), {"p": stored})
    store.dispose()
    page = viewer.get("/ui/schedules/on_hourly")
    assert page.status_code == 200, page.text
    assert "on_hourly" in page.text
    assert viewer.get("/ui/schedules").status_code == 200
    with pytest.raises(HaloError, match=r"^payload: must be a JSON object, got (null|list)$"):  # what its page's form says beside the payload
        validate_schedule("campaign_alerts", "0 * * * *", "UTC", json.loads(stored), [])
