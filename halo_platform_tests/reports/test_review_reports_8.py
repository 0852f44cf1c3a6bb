"""A review of task schedules and requests as a demanding operations user and a hostile caller
would use them: each test pins a promise of reports.md that an unusual but real input broke."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from halo_platform.access import users
from halo_platform.http import create_app
from halo_platform.reports.schedules import list_schedules, next_runs, schedules_t, set_schedule
from halo_platform_tests.fixtures.alerts import alerts_sent
from halo_platform_tests.reports.test_schedules import ScheduleSensor


def test_a_schedule_whose_fixed_period_end_its_default_start_has_passed_is_skipped_not_queued_to_fail(
        halo_env, store, monkeypatch):  # noqa: ANN001, ARG001
    """reports.md: cross-field rules (period_end after period_start) are checked before anything
    is queued. A weekly reconciliation with a fixed `period_end` is valid while the default start
    (the previous ISO week's Monday) is before it; a week later it is not. The sensor queued that
    tick's run anyway, which failed (a FAILED request and a run-failure alert every week). The tick
    is skipped as a schedule whose payload no longer builds a run is: one alert naming the field,
    its tick owed until the payload is fixed."""
    first = next_runs("0 6 * * 1", "Asia/Jakarta", count=1)[0]
    period_end = first.date() - dt.timedelta(days=6)  # the Tuesday after the default start of the first run
    set_schedule(store, "weekly", task="payment_reconciliation", cron="0 6 * * 1", timezone="Asia/Jakarta",
                 payload={"period_end": period_end.isoformat()})
    evaluate = ScheduleSensor(store, monkeypatch)
    tick = first.astimezone(dt.UTC)
    assert evaluate(tick + dt.timedelta(seconds=10)) == [f"weekly:{tick.isoformat()}"]

    second = tick + dt.timedelta(days=7)  # its default start is the first run's Monday, after period_end
    assert evaluate(second + dt.timedelta(seconds=10)) == []
    assert evaluate(second + dt.timedelta(seconds=40)) == []
    (alert,) = alerts_sent()
    assert alert["title"] == "schedule skipped: weekly" and "must be after period_start" in alert["error"], alert

    set_schedule(store, "weekly", payload={})  # fixed: the owed tick runs, once
    assert evaluate(second + dt.timedelta(seconds=70)) == [f"weekly:{second.isoformat()}"]
    assert evaluate(second + dt.timedelta(seconds=100)) == []


@pytest.mark.parametrize(("stored", "field", "reason"), [
    ({"expiring_within_days": 500}, "payload.expiring_within_days", "less than or equal to 366"),  # a bound tightened
    ({"budget_pct": 80}, "payload", "unknown field"),  # a field renamed
])
def test_a_schedules_page_says_why_the_task_no_longer_takes_its_stored_payload(halo_env, store, stored, field, reason):  # noqa: ANN001, ARG001
    """A deploy changed the task's payload schema: the sensor skips the schedule (its payload no
    longer builds a run), yet its page showed the stored values with no word of it, as if it ran.
    The page says why beside the field (or above the payload), as saving it would."""
    users.create_user(store, "otto", "operator", "a long enough password")
    set_schedule(store, "daily", task="campaign_alerts", cron="0 7 * * *", timezone="Asia/Jakarta")
    with store.write() as conn:  # the row as it stays when the task's schema changes under it
        conn.execute(schedules_t.update().values(payload=stored))
    client = TestClient(create_app(), raise_server_exceptions=False)
    client.cookies.set("halo_session", users.login(store, "otto", "a long enough password", "test"))

    page = client.get("/ui/schedules/daily")

    assert page.status_code == 200
    assert f'id="{field}-error"' in page.text and reason in page.text, page.text
    assert list_schedules(store)[0]["payload"] == stored  # said, not changed


def test_a_long_task_name_or_schedule_id_is_cut_in_its_not_found_error(halo_env, store):  # noqa: ANN001, ARG001
    """An unknown task or schedule was named whole in its error: a POST to /v1/tasks/<5,000
    characters>/requests came back with all of them in its 404 body, as `halo schedules enable`
    did on the terminal. Cut to the echo limit, as a request id's 404 and every other error is."""
    from click.testing import CliRunner

    from halo_platform.cli import cli
    from halo_platform.core.text import ECHO_LIMIT
    from halo_platform_tests.fixtures.access import authorized_client

    client = authorized_client(create_app(), raise_server_exceptions=False)
    answer = client.post("/v1/tasks/" + "t" * 5000 + "/requests", json={})
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"].startswith("unknown task 'ttt") and len(answer.json()["error"]) < ECHO_LIMIT + 80, answer.text
    for args in (["schedules", "enable", "s" * 5000], ["schedules", "set", "s" * 5000, "--cron", "0 6 * * *"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2 and "no schedule 'sss" in result.output and len(result.output) < ECHO_LIMIT + 120, result.output


def test_an_edit_that_changes_nothing_leaves_who_last_edited_the_schedule(halo_env, store):  # noqa: ANN001, ARG001
    """`halo schedules enable` of an enabled schedule (or a page saved unchanged) records no edit in
    the history, yet it wrote its author and time on the schedule: the page said 'Last edited by
    bob' where the history's last edit is ana's. A schedule changes, and names its editor, only
    when one of its fields does."""
    from halo_platform.reports.schedules import schedule_edits

    set_schedule(store, "daily", task="campaign_alerts", cron="0 7 * * *", timezone="Asia/Jakarta", updated_by="ana")
    (before,) = list_schedules(store)
    set_schedule(store, "daily", enabled=True, updated_by="bob")
    set_schedule(store, "daily", cron="0  7 * * *", payload={}, updated_by="bob")

    (after,) = list_schedules(store)
    assert (after["updated_by"], after["updated_at"]) == ("ana", before["updated_at"])
    assert [e["changed_by"] for e in schedule_edits(store, "daily")] == ["ana"]
