"""A review of task schedules and requests as a demanding operations user and a hostile caller
would use them: each test pins a promise of reports.md that an unusual but real input broke."""

from __future__ import annotations

import datetime as dt

from halo_platform.reports.schedules import next_runs, set_schedule
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
