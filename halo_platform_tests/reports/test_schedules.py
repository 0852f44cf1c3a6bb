"""Task schedules: due-ness is pure cron arithmetic in the schedule's timezone; the sensor
launches each due tick once with the payload stored at that moment; edits are validated
and apply at the next evaluation with no restart."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.errors import HaloError
from halo_platform.definitions import defs
from halo_platform.reports.schedules import (
    due_ticks,
    list_schedules,
    schedule_edits,
    seed_default_schedules,
    set_schedule,
    ticks_to_run,
)
from halo_platform.reports.sensors import evaluate_schedules
from halo_platform.reports.task import PayloadError
from halo_platform.sinks import SinksResource
from halo_platform_tests.fixtures.alerts import alerts_sent

UTC = dt.UTC


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cron", "tz", "after", "until", "expected_utc"),
    [
        # Monday 06:00 Jakarta (UTC+7) is Sunday 23:00 UTC
        ("0 6 * * 1", "Asia/Jakarta", at(2024, 3, 10, 22, 0), at(2024, 3, 10, 23, 0), [at(2024, 3, 10, 23, 0)]),
        ("0 6 * * 1", "Asia/Jakarta", at(2024, 3, 10, 23, 0), at(2024, 3, 17, 22, 59), []),  # after is exclusive
        # 07:00 Jakarta is 00:00 UTC: the tick at `after` is excluded, the one at `until` included
        ("0 7 * * *", "Asia/Jakarta", at(2024, 3, 1, 0, 0), at(2024, 3, 3, 0, 0), [at(2024, 3, 2, 0, 0), at(2024, 3, 3, 0, 0)]),
        # New York springs forward on 2024-03-10: 09:00 local is 14:00 UTC before, 13:00 UTC after
        ("0 9 * * *", "America/New_York", at(2024, 3, 9, 0, 0), at(2024, 3, 11, 0, 0), [at(2024, 3, 9, 14, 0), at(2024, 3, 10, 13, 0)]),
        ("*/15 * * * *", "UTC", at(2024, 1, 1, 0, 0), at(2024, 1, 1, 0, 45), [at(2024, 1, 1, 0, 15), at(2024, 1, 1, 0, 30), at(2024, 1, 1, 0, 45)]),
        # New York falls back on 2026-11-01: 01:30 happens twice (05:30 and 06:30 UTC); a daily job runs once
        ("30 1 * * *", "America/New_York", at(2026, 10, 31, 12, 0), at(2026, 11, 2, 12, 0), [at(2026, 11, 1, 5, 30), at(2026, 11, 2, 6, 30)]),
        ("30 1-2 * * *", "America/New_York", at(2026, 11, 1, 4, 0), at(2026, 11, 1, 8, 0), [at(2026, 11, 1, 5, 30), at(2026, 11, 1, 7, 30)]),
        # an hourly job runs every real hour, the repeated one too
        ("0 * * * *", "America/New_York", at(2026, 11, 1, 4, 30), at(2026, 11, 1, 7, 0), [at(2026, 11, 1, 5, 0), at(2026, 11, 1, 6, 0), at(2026, 11, 1, 7, 0)]),
    ],
)
def test_due_ticks_are_the_cron_times_in_the_half_open_window_in_local_time(cron, tz, after, until, expected_utc):
    assert [t.astimezone(UTC) for t in due_ticks(cron, tz, after, until)] == expected_utc


def test_default_schedules_are_seeded_once_and_never_overwrite_an_edit(halo_env, store):
    assert seed_default_schedules(store) == ["payment_reconciliation_weekly", "campaign_alerts_daily"]
    set_schedule(store, "campaign_alerts_daily", cron="30 8 * * *")
    assert seed_default_schedules(store) == []
    rows = {s["schedule_id"]: s for s in list_schedules(store)}
    assert (rows["payment_reconciliation_weekly"]["cron"], rows["payment_reconciliation_weekly"]["timezone"]) == (
        "0 6 * * 1", "Asia/Jakarta")
    assert rows["campaign_alerts_daily"]["cron"] == "30 8 * * *"


def next_hour() -> dt.datetime:
    """A clock for the sensor: the next full hour, after every edit a test makes now."""
    return dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)


class ScheduleSensor:
    """task_schedule_sensor itself on a controllable clock, each evaluation given the cursor the
    previous one returned; answers the run keys it requests."""

    def __init__(self, store, monkeypatch) -> None:  # noqa: ANN001
        self.store, self.monkeypatch, self.cursor = store, monkeypatch, None
        self.sensor = defs.resolve_sensor_def("task_schedule_sensor")
        self.instance = dg.DagsterInstance.ephemeral()

    def __call__(self, now: dt.datetime) -> list[str]:
        from halo_platform.reports import sensors

        self.monkeypatch.setattr(sensors, "utcnow", lambda: now)
        with dg.build_sensor_context(instance=self.instance, resources={"store": self.store, "sinks": SinksResource()},
                                     cursor=self.cursor) as context:
            result = self.sensor(context)
        self.cursor = result.cursor
        if not result.run_requests:
            assert result.skip_reason.skip_message == "no schedule tick is due"
        return [r.run_key for r in result.run_requests]


class Sensor:
    """The schedule evaluation as the daemon drives it: each evaluation gets the cursor the
    previous one returned (Dagster stores it with that evaluation's run requests)."""

    def __init__(self, store) -> None:  # noqa: ANN001
        self.store, self.cursor = store, None

    def __call__(self, now: dt.datetime) -> list:
        requests, self.cursor = evaluate_schedules(self.store, now, self.cursor)
        return requests


def test_edits_to_payload_cron_and_enabled_apply_at_the_next_evaluation(halo_env, store):
    set_schedule(store, "alerts", task="campaign_alerts", cron="* * * * *", timezone="UTC", payload={"budget_threshold_pct": 80})
    t0 = next_hour() + dt.timedelta(minutes=2, seconds=30)  # both ticks after the schedule's creation
    evaluate_schedules = Sensor(store)
    first = evaluate_schedules(t0)  # the ticks of the last 2 minutes are on time, older ones missed
    assert [r.run_key for r in first] == [f"alerts:{(t0 - dt.timedelta(seconds=s)).isoformat()}" for s in (90, 30)]
    assert first[0].run_config["ops"]["campaign_alerts"]["config"] == {"budget_threshold_pct": 80, "sinks": ["outbox"]}
    assert first[0].tags["halo/trigger"] == "schedule" and first[0].job_name == "campaign_alerts_job"

    set_schedule(store, "alerts", payload={"budget_threshold_pct": 50})
    second = evaluate_schedules(t0 + dt.timedelta(seconds=60))
    assert [r.run_key for r in second] == [f"alerts:{(t0 + dt.timedelta(seconds=30)).isoformat()}"]
    assert second[0].run_config["ops"]["campaign_alerts"]["config"]["budget_threshold_pct"] == 50

    set_schedule(store, "alerts", cron="30 * * * *")  # hourly now: nothing due until half past
    assert evaluate_schedules(t0 + dt.timedelta(seconds=120)) == []
    set_schedule(store, "alerts", enabled=False)
    assert evaluate_schedules(t0 + dt.timedelta(hours=1)) == []


@pytest.mark.parametrize(
    ("catch_up", "after", "now", "expected", "decided"),
    [
        # three ticks missed (01:00, 02:00, 03:00), now 03:20: none / latest / all
        ("none", at(2024, 1, 1, 0, 0), at(2024, 1, 1, 3, 20), [], at(2024, 1, 1, 3)),
        ("latest", at(2024, 1, 1, 0, 0), at(2024, 1, 1, 3, 20), [at(2024, 1, 1, 3)], at(2024, 1, 1, 3)),
        ("all", at(2024, 1, 1, 0, 0), at(2024, 1, 1, 3, 20), [at(2024, 1, 1, h) for h in (1, 2, 3)], at(2024, 1, 1, 3)),
        # on time (within 2 minutes) runs whatever the policy; missed ones before it by the policy
        ("none", at(2024, 1, 1, 0, 0), at(2024, 1, 1, 3, 1), [at(2024, 1, 1, 3)], at(2024, 1, 1, 3)),
        ("latest", at(2024, 1, 1, 0, 0), at(2024, 1, 1, 3, 1), [at(2024, 1, 1, 3)], at(2024, 1, 1, 3)),
        ("all", at(2024, 1, 1, 1, 0), at(2024, 1, 1, 3, 1), [at(2024, 1, 1, 2), at(2024, 1, 1, 3)], at(2024, 1, 1, 3)),
        # nothing after the position: nothing decided (a tick exactly at the position is not again)
        ("all", at(2024, 1, 1, 3, 0), at(2024, 1, 1, 3, 59), [], None),
        ("latest", at(2024, 1, 1, 2, 0), at(2024, 1, 1, 3, 0), [at(2024, 1, 1, 3)], at(2024, 1, 1, 3)),
    ],
)
def test_ticks_to_run_follow_the_catch_up_policy(catch_up, after, now, expected, decided):
    ticks, until = ticks_to_run("0 * * * *", "UTC", catch_up, after, now)
    assert (ticks, until) == (expected, decided)


def test_all_catches_up_a_long_stop_a_hundred_ticks_per_evaluation():
    ticks, until = ticks_to_run("* * * * *", "UTC", "all", at(2024, 1, 1), at(2024, 1, 2))
    assert len(ticks) == 100 and until == ticks[-1] == at(2024, 1, 1, 1, 40)


@pytest.mark.parametrize(("catch_up", "missed_runs"), [("none", 0), ("latest", 1), ("all", 3)])
def test_ticks_missed_while_the_sensor_was_stopped_run_by_catch_up_each_exactly_once(
        halo_env, store, monkeypatch, catch_up, missed_runs):
    """The sensor runs on a controllable clock: it launches the first tick on time, is stopped
    over three due ticks, and on its return launches 0, 1 or 3 of them; evaluated again at once,
    nothing; the next tick on time, once."""
    set_schedule(store, "hourly", task="campaign_alerts", cron="0 * * * *", timezone="UTC", catch_up=catch_up)
    evaluate = ScheduleSensor(store, monkeypatch)
    hour = next_hour()

    def key(hours: int) -> str:
        return f"hourly:{(hour + dt.timedelta(hours=hours)).isoformat()}"

    assert evaluate(hour + dt.timedelta(seconds=10)) == [key(0)]
    missed = evaluate(hour + dt.timedelta(hours=3, minutes=20))  # stopped over the next three ticks
    assert missed == {"none": [], "latest": [key(3)], "all": [key(1), key(2), key(3)]}[catch_up]
    assert len(missed) == missed_runs
    assert evaluate(hour + dt.timedelta(hours=3, minutes=20)) == []
    assert evaluate(hour + dt.timedelta(hours=3, minutes=59)) == []
    assert evaluate(hour + dt.timedelta(hours=4, seconds=30)) == [key(4)]
    assert evaluate(hour + dt.timedelta(hours=4, seconds=50)) == []  # brings back the committed position
    (row,) = list_schedules(store)
    assert (row["catch_up"], row["last_tick_at"]) == (catch_up, (hour + dt.timedelta(hours=4)).isoformat())


def test_ticks_decided_by_an_evaluation_whose_runs_were_never_submitted_are_decided_again(halo_env, store):
    """The daemon stops after an evaluation, before storing its cursor and run requests: the
    next evaluation gets the cursor before it and decides the same ticks again, with the same
    run keys (a launch that did happen is a no-op); `last_tick_at` only moves once committed.
    (Before, the evaluation moved `last_tick_at` itself, and the tick was lost.)"""
    created = set_schedule(store, "hourly", task="campaign_alerts", cron="0 * * * *", timezone="UTC")["last_tick_at"]
    hour = next_hour()
    requests, _never_stored = evaluate_schedules(store, hour + dt.timedelta(seconds=10), None)
    assert [r.run_key for r in requests] == [f"hourly:{hour.isoformat()}"]
    requests, stored = evaluate_schedules(store, hour + dt.timedelta(seconds=20), None)  # the cursor before it
    assert [r.run_key for r in requests] == [f"hourly:{hour.isoformat()}"]
    assert list_schedules(store)[0]["last_tick_at"] == created  # as the schedule's creation set it
    again, stored = evaluate_schedules(store, hour + dt.timedelta(seconds=40), stored)
    assert again == [] and list_schedules(store)[0]["last_tick_at"] == hour.isoformat()
    updates = []
    sa.event.listen(store.engine, "before_cursor_execute", record := lambda _c, _cur, sql, *_a: updates.append(sql))
    try:
        assert evaluate_schedules(store, hour + dt.timedelta(seconds=50), stored)[0] == []
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", record)
    assert not [sql for sql in updates if sql.lstrip().upper().startswith("UPDATE")]  # nothing new: no write


def test_catch_up_is_edited_like_any_field_and_a_bad_one_is_refused(halo_env, store):
    set_schedule(store, "s", task="campaign_alerts", cron="0 7 * * *")
    assert list_schedules(store)[0]["catch_up"] == "latest"  # the default
    runner = CliRunner()
    assert runner.invoke(cli, ["schedules", "set", "s", "--catch-up", "all", "--by", "ana"]).exit_code == 0
    assert "catch_up=all" in runner.invoke(cli, ["schedules", "list"]).output
    bad = runner.invoke(cli, ["schedules", "set", "s", "--catch-up", "some"])
    assert bad.exit_code == 2 and "'some' is not one of 'none', 'latest', 'all'" in bad.output
    with pytest.raises(HaloError, match="invalid catch_up 'some': one of none, latest, all"):
        set_schedule(store, "s", catch_up="some")
    job = defs.resolve_job_def("manage_task_schedule")
    edit = {"schedule_id": "s", "catch_up": "none", "updated_by": "ui-user"}
    assert job.execute_in_process(run_config={"ops": {"edit_task_schedule": {"config": edit}}},
                                  instance=dg.DagsterInstance.ephemeral()).success
    assert list_schedules(store)[0]["catch_up"] == "none"
    assert [(e["changed"], e["changed_by"]) for e in schedule_edits(store, "s")][:2] == [
        (["catch_up"], "ui-user"), (["catch_up"], "ana")]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"cron": "61 * * * *"}, "invalid cron expression"),
        ({"timezone": "Mars/Olympus"}, "unknown timezone"),
        ({"timezone": "localtime"}, "unknown timezone 'localtime'"),  # the host's zone, not an IANA name
        ({"timezone": "a" * 300}, "unknown timezone 'aaaa"),  # was an OSError (file name too long) and a traceback
        ({"cron": "0 6 31 4 *"}, "never fires (no such date)"),  # April has no 31st
        ({"cron": "0 7 30 2 *"}, "never fires"),
        ({"payload": {"sinks": ["nope"]}}, "payload: sinks are the schedule's own field"),
        ({"payload": {"budget_threshold_pct": 150}}, "budget_threshold_pct"),
        ({"payload": {"as_of": "2024-02-30"}}, "no such date: '2024-02-30' (2024-02 has 29 days)"),
        ({"sinks": ["nowhere"]}, "unknown sink(s): nowhere"),
        ({"task": "no_such_task"}, "unknown task"),
    ],
)
def test_invalid_edits_are_refused_with_a_clear_message_and_change_nothing(halo_env, edit, message, store):
    set_schedule(store, "s", task="campaign_alerts", cron="0 7 * * *", timezone="Asia/Jakarta", payload={})
    before = list_schedules(store)
    with pytest.raises(HaloError, match=message.replace("(", r"\(").replace(")", r"\)")):
        set_schedule(store, "s", **edit)
    assert list_schedules(store) == before


@pytest.mark.parametrize(("payload", "field"), [
    ({"period_start": "2190-01-06"}, "period_start"),  # the default end (the previous ISO week's) is before it
    ({"period_end": "2000-01-03"}, "period_end"),  # the default start is after it
])
def test_a_reconciliation_schedule_whose_fixed_period_its_run_would_refuse_is_refused_naming_the_field(
        halo_env, store, payload, field):
    """Saving checks the payload as the run resolves it (`Task.check_payload`, the task's `resolve`
    with the defaults filled), not only against the schema: a period that is empty once the other
    end defaults was saved, then failed every run."""
    with pytest.raises(PayloadError, match="must be after period_start") as refused:
        set_schedule(store, "weekly", task="payment_reconciliation", cron="0 6 * * 1", timezone="Asia/Jakarta",
                     payload=payload)
    assert [d["field"] for d in refused.value.detail] == [field]
    assert list_schedules(store) == []
    set_schedule(store, "weekly", task="payment_reconciliation", cron="0 6 * * 1", timezone="Asia/Jakarta",
                 payload={"period_start": "2024-01-01"})  # the default end (a later Monday) is after it: a run builds
    assert list_schedules(store)[0]["payload"] == {"period_start": "2024-01-01"}


def test_the_cli_lists_sets_disables_and_refuses_in_one_line(halo_env):
    runner = CliRunner()
    ok = runner.invoke(cli, ["schedules", "set", "weekly", "--task", "payment_reconciliation", "--cron", "0 6 * * 1",
                             "--timezone", "Asia/Jakarta", "--payload", '{"tolerance": 0.5}', "--by", "ops"])
    assert ok.exit_code == 0, ok.output
    assert runner.invoke(cli, ["schedules", "disable", "weekly"]).exit_code == 0
    listed = runner.invoke(cli, ["schedules", "list"]).output
    assert "weekly\tpayment_reconciliation\t0 6 * * 1\tAsia/Jakarta\tdisabled" in listed
    assert '"tolerance": "0.50"' in listed  # stored as the task's schema reads it
    bad = runner.invoke(cli, ["schedules", "set", "weekly", "--cron", "every monday"])
    assert bad.exit_code == 2
    assert bad.output.strip().splitlines() == ["error: invalid cron expression 'every monday' (5 fields: minute hour day month weekday)"]
    # a pasted 5,000-character value is repeated as every other error repeats a value: its first 100 characters
    long = runner.invoke(cli, ["schedules", "set", "weekly", "--cron", "0 7 * * * " + "x" * 5_000])
    assert long.exit_code == 2
    assert long.output == f"error: invalid cron expression '0 7 * * * {'x' * 90}…' (5 fields: minute hour day month weekday)\n"


def test_the_manage_task_schedule_job_applies_a_valid_edit_and_fails_on_a_bad_one(halo_env, store):
    set_schedule(store, "daily", task="campaign_alerts", cron="0 7 * * *", timezone="Asia/Jakarta", payload={})
    job = defs.resolve_job_def("manage_task_schedule")
    edit = {"schedule_id": "daily", "payload_json": json.dumps({"expiring_within_days": 5}), "updated_by": "ui-user"}
    result = job.execute_in_process(run_config={"ops": {"edit_task_schedule": {"config": edit}}},
                                    instance=dg.DagsterInstance.ephemeral())
    assert result.success
    (row,) = list_schedules(store)
    assert row["payload"] == {"expiring_within_days": 5} and row["updated_by"] == "ui-user"

    bad = {"schedule_id": "daily", "timezone": "Nowhere/Land"}
    result = job.execute_in_process(run_config={"ops": {"edit_task_schedule": {"config": bad}}},
                                    instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    assert "unknown timezone 'Nowhere/Land'" in result.failure_data_for_node("edit_task_schedule").error.message
    assert list_schedules(store)[0]["timezone"] == "Asia/Jakarta"


def test_the_catch_up_decision_on_a_fall_back_day_runs_a_repeated_time_once():
    first = at(2026, 11, 1, 5, 30)  # 01:30 EDT, decided; 01:30 EST (06:30 UTC) is the same wall-clock time
    assert ticks_to_run("30 1 * * *", "America/New_York", "latest", first, at(2026, 11, 1, 6, 31)) == ([], None)
    ticks, _ = ticks_to_run("30 1 * * *", "America/New_York", "latest", at(2026, 10, 31, 6, 0), at(2026, 11, 1, 9, 0))
    assert [t.astimezone(UTC) for t in ticks] == [first]


def test_a_schedule_stored_with_a_cron_that_never_fires_is_skipped_and_the_others_run(halo_env, store, caplog):
    """Stored before validation refused it: its evaluation must not stop every schedule."""
    set_schedule(store, "ok", task="campaign_alerts", cron="0 * * * *", timezone="UTC")
    set_schedule(store, "broken", task="campaign_alerts", cron="0 * * * *", timezone="UTC")
    with store.write() as conn:
        conn.execute(sa.text("UPDATE task_schedules SET cron = '0 6 31 4 *' WHERE schedule_id = 'broken'"))
    hour = next_hour()
    requests, _ = evaluate_schedules(store, hour + dt.timedelta(seconds=10), None)
    assert [r.run_key for r in requests] == [f"ok:{hour.isoformat()}"]
    assert "schedule broken skipped: cron '0 6 31 4 *'" in caplog.text


def edited_at(store) -> dt.datetime:  # noqa: ANN001
    """The time of the only schedule's last edit: evaluated then, not at a later now, which an
    edit in the last instant of an hour leaves after the next hour's tick (owed: after the edit)."""
    return dt.datetime.fromisoformat(list_schedules(store)[0]["updated_at"])


def test_an_edit_right_after_a_tick_keeps_it_but_enabling_or_retiming_owes_no_earlier_tick(halo_env, store):
    """Before, every edit moved the schedule's bound to its time: `halo schedules enable` on an
    enabled schedule, in the seconds between a tick and the sensor's evaluation, dropped the tick."""
    set_schedule(store, "hourly", task="campaign_alerts", cron="0 * * * *", timezone="UTC")
    now = dt.datetime.now(UTC)
    tick = now.replace(minute=0, second=0, microsecond=0)  # the latest tick: due, not decided yet

    def decided_before_the_tick() -> None:
        with store.write() as conn:
            conn.execute(sa.text("UPDATE task_schedules SET last_tick_at = :t"), {"t": (tick - dt.timedelta(hours=1)).replace(tzinfo=None)})

    decided_before_the_tick()
    due = [f"hourly:{tick.isoformat()}"]
    assert [r.run_key for r in evaluate_schedules(store, now, None)[0]] == due
    for edit in ({"enabled": True}, {"payload": {"budget_threshold_pct": 70}}, {"catch_up": "all"}, {"sinks": ["outbox"]}):
        set_schedule(store, "hourly", **edit)
        assert [r.run_key for r in evaluate_schedules(store, now, None)[0]] == due, edit
    set_schedule(store, "hourly", cron="0 */1 * * *")  # retimed: ticks before the edit are not owed
    assert evaluate_schedules(store, edited_at(store), None)[0] == []
    decided_before_the_tick()
    set_schedule(store, "hourly", enabled=False)
    set_schedule(store, "hourly", enabled=True)  # enabled again: what was due while disabled is not owed
    assert evaluate_schedules(store, edited_at(store), None)[0] == []


@pytest.mark.parametrize("cron", [
    "R R * * *", "0 6 R * *",  # croniter's random: a different tick, and run key, at each evaluation
    "0 6 L * *", "0 6 * * 1#5", "0 6 ? * *", "0 6 15W * *", "H 6 * * *",  # other dialects' extensions
    "0 6 1-0 * *",  # a reversed range (croniter: every day)
    "*/90 * * * *", "0-59/61 * * * *",  # a step past the field's range: hourly, described as every 90 minutes
    "0 24 * * *", "60 6 * * *", "0 6 0 * *", "0 6 * 13 *", "0 6 * * 8", "0 6 * foo *",
])
def test_a_cron_outside_the_five_standard_fields_is_refused(cron):
    from halo_platform.reports.schedules import check_cron

    with pytest.raises(HaloError, match="cron expression"):
        check_cron(cron)


@pytest.mark.parametrize("cron", ["0 6 * * mon-fri", "*/15 8-18 * * 1-5", "0 0 1,15 * *", "0 6 * jan,jul sun", "0 6 * * 7",
                                  "30 2 * * 0", "0 */2 * * *", "5-55/10 * * * *", "0 6 28-31 * *"])
def test_standard_crons_are_taken(cron):
    from halo_platform.reports.schedules import check_cron

    check_cron(cron)


@pytest.mark.parametrize(("schedule_id", "edit", "message"), [
    ("", {"task": "campaign_alerts", "cron": "0 1 * * *"}, "schedule id"),  # made, launched, and no page could open it
    ("x" * 129, {"task": "campaign_alerts", "cron": "0 1 * * *"}, "schedule id"),  # past the column (128)
    ("a/b", {"task": "campaign_alerts", "cron": "0 1 * * *"}, "schedule id"),
    ("alerts", {"cron": ""}, "invalid cron expression ''"),  # an empty value changed nothing and said nothing
    ("alerts", {"timezone": ""}, "unknown timezone ''"),
    ("alerts", {"task": ""}, "unknown task"),
    ("alerts", {"catch_up": ""}, "invalid catch_up ''"),
    ("alerts", {"payload": [1]}, "payload: must be a JSON object"),
])
def test_a_bad_schedule_edit_names_its_problem_and_changes_nothing(halo_env, store, schedule_id, edit, message):
    set_schedule(store, "alerts", task="campaign_alerts", cron="0 7 * * *", timezone="UTC")
    with pytest.raises(HaloError, match=message):
        set_schedule(store, schedule_id, **edit)
    assert [s["schedule_id"] for s in list_schedules(store)] == ["alerts"]
    assert list_schedules(store)[0]["cron"] == "0 7 * * *" and list_schedules(store)[0]["timezone"] == "UTC"


@pytest.mark.parametrize("payload_json", ["[1]", '"x"', "3"])
def test_the_launchpad_edit_refuses_a_payload_that_is_not_an_object_in_one_message(halo_env, store, payload_json):
    from halo_platform.reports.jobs import ManageTaskScheduleConfig, apply_schedule_edit

    set_schedule(store, "alerts", task="campaign_alerts", cron="0 7 * * *", timezone="UTC")
    with pytest.raises(HaloError, match="payload: must be a JSON object"):
        apply_schedule_edit(store, ManageTaskScheduleConfig(schedule_id="alerts", payload_json=payload_json))


@pytest.mark.parametrize(("cron", "words"), [
    ("*/45 * * * *", "At 0 and 45 minutes past the hour"),  # was "Every 45 minutes": it fires at :00 and :45
    ("0 */5 * * *", "00:00, 05:00, 10:00, 15:00 and 20:00"),  # was "Every 5 hours": 20:00 to 00:00 is 4
    ("*/15 * * * *", "Every 15 minutes"),
    ("0 */2 * * *", "Every 2 hours"),
])
def test_cron_in_words_says_the_times_a_step_that_does_not_divide_the_hour_or_day_gives(cron, words):
    from halo_platform.reports.schedules import cron_in_words

    assert words in cron_in_words(cron, "UTC")


@pytest.mark.parametrize(("cron", "words"), [
    # was "every 2 days": the 31st runs, then the 1st the next day
    ("0 6 */2 * *", "At 06:00, on day 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, and 31 of the month, UTC"),
    ("0 6 */10 * *", "At 06:00, on day 1, 11, 21, and 31 of the month, UTC"),  # was "every 10 days"
    # the whole field as a range is the same step as `*/N`, and was said as a regular one
    ("0-59/45 * * * *", "At 0 and 45 minutes past the hour, UTC"),  # was "Every 45 minutes, minutes 0 through 59 past the hour"
    ("0 0-23/5 * * *", "At 00:00, 05:00, 10:00, 15:00 and 20:00, UTC"),  # was "Every 5 hours, between 00:00 and 23:59"
    ("0 6 1 1-12/5 *", "At 06:00, on day 1 of the month, only in January, June, and November, UTC"),  # was "every 5 months"
    ("0 6 * * 1-7/3", "every Sunday, Monday, and Thursday at 06:00, UTC"),  # was "every 3 days of the week, Monday through Sunday"
    # a step that divides its cycle runs evenly; a range short of a whole field is said with its bounds
    ("0 9-17/2 * * *", "Every 2 hours, between 09:00 and 17:59, UTC"),
    ("0 6 2-30/2 * *", "At 06:00, every 2 days, between day 2 and 30 of the month, UTC"),
])
def test_cron_in_words_lists_the_days_of_a_day_step_and_a_step_over_a_whole_range(cron, words):
    """A step is said 'every N' only where it runs every N: a step of days of the month ends with the
    month (`*/2` runs on the 31st, then on the 1st), and a range over a whole field (`0-59/45`, `0-23/5`,
    `1-12/5`, weekdays `1-7/3`) is the `*/N` whose values were listed, but was said as a regular step."""
    from halo_platform.reports.schedules import cron_in_words

    assert cron_in_words(cron, "UTC") == words


@pytest.mark.parametrize(("cron", "words"), [("0 7 * * *", "every day at 07:00, UTC"), ("30 5 * * 1-5", "every Monday through Friday at 05:30, UTC")])
def test_cron_in_words_leaves_plain_times_as_they_are(cron, words):
    from halo_platform.reports.schedules import cron_in_words

    assert cron_in_words(cron, "UTC") == words


def test_a_schedule_edited_with_halo_records_cli_and_the_login_as_halo_keys_does(halo_env, store):
    """It recorded the bare login (`root`), where keys, users and messages record `cli:<login>`."""
    import getpass

    result = CliRunner().invoke(cli, ["schedules", "set", "cli_made", "--task", "campaign_alerts", "--cron", "0 7 * * *"])
    assert result.exit_code == 0, result.output
    assert [e["changed_by"] for e in schedule_edits(store, "cli_made")] == [f"cli:{getpass.getuser()}"]


@pytest.mark.parametrize(("payload_json", "message"), [
    ('{"budget_threshold_pct": 1' + "0" * 5000 + "}", "payload_json cannot be read: Exceeds the limit (4300 digits)"),
    ('{"budget_threshold_pct": ' + "[" * 5000 + "]" * 5000 + "}", "payload_json nests too deep to read"),
    ('{"budget_threshold_pct": ', "payload_json is not valid JSON: Expecting value"),
])
def test_the_launchpad_edit_refuses_a_payload_json_cannot_read_in_one_message(halo_env, store, payload_json, message):
    """A ValueError or a RecursionError from json.loads escaped as the op's own error (retried,
    with its stack trace) where a JSONDecodeError was the one-line refusal."""
    from halo_platform.reports.jobs import ManageTaskScheduleConfig, apply_schedule_edit

    set_schedule(store, "alerts", task="campaign_alerts", cron="0 7 * * *", timezone="UTC")
    with pytest.raises(HaloError) as caught:
        apply_schedule_edit(store, ManageTaskScheduleConfig(schedule_id="alerts", payload_json=payload_json))
    assert str(caught.value).startswith(message)
    assert list_schedules(store)[0]["payload"] == {}


def every_30_seconds(cron: str, tz: str, catch_up: str, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The ticks (in UTC) `ticks_to_run` runs when evaluated every 30 s from `start` to `end`, the
    position going through the cursor's text form (an ISO time with its offset) as in the sensor."""
    after, now, ran = start, start, []
    while now <= end:
        ticks, until = ticks_to_run(cron, tz, catch_up, after, now)
        ran += [t.astimezone(UTC) for t in ticks]
        if until is not None:
            after = dt.datetime.fromisoformat(until.isoformat())
        now += dt.timedelta(seconds=30)
    return ran


@pytest.mark.parametrize("catch_up", ["none", "latest", "all"])
@pytest.mark.parametrize(
    ("cron", "repeated_hour_utc"),
    [
        ("0 * * * *", [at(2024, 10, 27, 1, 0)]),
        ("30 * * * *", [at(2024, 10, 27, 1, 30)]),
        ("*/20 * * * *", [at(2024, 10, 27, 1, m) for m in (0, 20, 40)]),
    ],
)
def test_an_hourly_or_sub_hourly_schedule_runs_every_tick_of_the_repeated_fall_back_hour_once(cron, repeated_hour_utc, catch_up):
    """Paris falls back on 2024-10-27 (03:00 CEST -> 02:00 CET): 02:xx happens at 00:xx and 01:xx
    UTC. A cron that runs every hour runs both real hours, on time, whatever its catch_up. Before,
    the latest tick came from croniter's get_prev on the second-fold local time, which answers the
    first-fold tick: nothing was decided, and the tick was missed (dropped) by the next one."""
    start, end = at(2024, 10, 26, 22, 0), at(2024, 10, 27, 4, 0)
    expected = [t.astimezone(UTC) for t in due_ticks(cron, "Europe/Paris", start, end)]
    assert set(repeated_hour_utc) <= set(expected)
    assert every_30_seconds(cron, "Europe/Paris", catch_up, start, end) == expected


@pytest.mark.parametrize("catch_up", ["none", "latest", "all"])
@pytest.mark.parametrize(
    ("cron", "expected_utc"),
    [
        ("30 1 * * *", [at(2024, 10, 26, 23, 30)]),  # 01:30 CEST, once
        ("30 2 * * *", [at(2024, 10, 27, 0, 30)]),  # 02:30 happens twice: runs the first time only
    ],
)
def test_a_daily_schedule_runs_once_on_the_fall_back_night_evaluated_every_30_seconds(cron, expected_utc, catch_up):
    assert every_30_seconds(cron, "Europe/Paris", catch_up, at(2024, 10, 26, 22, 0), at(2024, 10, 27, 4, 0)) == expected_utc


@pytest.mark.parametrize("catch_up", ["none", "latest", "all"])
@pytest.mark.parametrize(
    ("cron", "expected_utc"),
    [
        # 02:30 does not exist on 2024-03-31 in Paris (02:00 CET -> 03:00 CEST): it runs once, at 03:00 CEST
        ("30 2 * * *", [at(2024, 3, 31, 1, 0)]),
        # an hourly job has no tick in the missing hour
        ("30 * * * *", [at(2024, 3, 30, 23, 30), at(2024, 3, 31, 0, 30), at(2024, 3, 31, 1, 30), at(2024, 3, 31, 2, 30)]),
    ],
)
def test_on_the_spring_forward_night_a_missing_time_runs_once_at_the_first_time_after_it(cron, expected_utc, catch_up):
    start, end = at(2024, 3, 30, 23, 0), at(2024, 3, 31, 3, 0)
    assert [t.astimezone(UTC) for t in due_ticks(cron, "Europe/Paris", start, end)] == expected_utc
    assert every_30_seconds(cron, "Europe/Paris", catch_up, start, end) == expected_utc


@pytest.mark.parametrize(
    ("cron", "catch_up", "now", "expected", "decided"),
    [
        # stopped for a week, back at 02:30 CET (01:30 UTC) in the repeated hour: the latest tick is 02:00 CET
        ("0 * * * *", "latest", at(2024, 10, 27, 1, 30), [at(2024, 10, 27, 1, 0)], at(2024, 10, 27, 1, 0)),
        ("0 * * * *", "none", at(2024, 10, 27, 1, 30), [], at(2024, 10, 27, 1, 0)),
        # every minute, back at 02:07:30 CET: the ticks of the last 2 minutes are on time, decided up to the last
        ("* * * * *", "latest", at(2024, 10, 27, 1, 7, 30), [at(2024, 10, 27, 1, 6), at(2024, 10, 27, 1, 7)], at(2024, 10, 27, 1, 7)),
        ("* * * * *", "none", at(2024, 10, 27, 1, 7, 30), [at(2024, 10, 27, 1, 6), at(2024, 10, 27, 1, 7)], at(2024, 10, 27, 1, 7)),
    ],
)
def test_after_a_long_stop_the_latest_tick_decided_is_the_last_real_one_before_now(cron, catch_up, now, expected, decided):
    """`latest` and `none` decide up to the last tick before `now` in real time, in the repeated
    hour too (where the wall-clock time before `now` is an hour earlier), however many were missed."""
    ticks, until = ticks_to_run(cron, "Europe/Paris", catch_up, at(2024, 10, 20), now)
    assert ([t.astimezone(UTC) for t in ticks], until.astimezone(UTC)) == (expected, decided)  # a repeated time equals no other zone's


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        ("UPDATE task_schedules SET task = 'retired_task' WHERE schedule_id = 'broken'",
         "UPDATE task_schedules SET task = 'campaign_alerts' WHERE schedule_id = 'broken'"),
        ("UPDATE task_schedules SET payload = '{\"old_field\": 1}' WHERE schedule_id = 'broken'",
         "UPDATE task_schedules SET payload = '{}' WHERE schedule_id = 'broken'"),
    ],
)
def test_a_schedule_that_no_longer_builds_a_run_is_skipped_the_others_run_and_its_tick_is_owed_once_fixed(
        halo_env, store, monkeypatch, caplog, broken, fixed):
    """Its task retired, or its payload holding a field the task's schema no longer has (stored
    before validation refused it): before, the sensor raised on every evaluation and no schedule
    ran. It is skipped with a warning, its position stays, and once the row is fixed its tick runs."""
    set_schedule(store, "ok", task="campaign_alerts", cron="0 * * * *", timezone="UTC")
    set_schedule(store, "broken", task="campaign_alerts", cron="0 * * * *", timezone="UTC")
    with store.write() as conn:
        conn.execute(sa.text(broken))
    evaluate = ScheduleSensor(store, monkeypatch)
    hour = next_hour()

    assert evaluate(hour + dt.timedelta(seconds=10)) == [f"ok:{hour.isoformat()}"]
    assert "schedule broken skipped:" in caplog.text
    assert "broken" not in json.loads(evaluate.cursor)["positions"]  # no position: its tick is still owed
    (alert,) = alerts_sent()  # the operators learn it at once, not from a log line every 30 s
    assert (alert["title"], alert["severity"], alert["details"]["schedule"]) == ("schedule skipped: broken", "ERROR", "broken")
    assert alert["error"] and "\n" not in alert["error"]
    assert evaluate(hour + dt.timedelta(seconds=40)) == []  # still broken: skipped again, nothing new for ok
    assert len(alerts_sent()) == 1  # the same problem: not alerted again
    with store.write() as conn:
        conn.execute(sa.text(fixed))
    assert evaluate(hour + dt.timedelta(minutes=30)) == [f"broken:{hour.isoformat()}"]  # missed: the latest, once
    assert evaluate(hour + dt.timedelta(minutes=30, seconds=30)) == []
    assert json.loads(evaluate.cursor)["skipped"] == {} and len(alerts_sent()) == 1
    with store.write() as conn:  # broken again: alerted again
        conn.execute(sa.text(broken))
    assert evaluate(hour + dt.timedelta(hours=1, seconds=10)) == [f"ok:{(hour + dt.timedelta(hours=1)).isoformat()}"]
    assert [a["title"] for a in alerts_sent()] == ["schedule skipped: broken"] * 2


def test_a_schedule_whose_cron_no_longer_computes_is_alerted_once_and_a_cursor_of_the_first_version_still_reads(
        halo_env, store, monkeypatch):
    """The sensor's cursor held each schedule's position alone; it now also holds the problem of
    each schedule skipped. A stored cursor of the first version keeps its positions."""
    set_schedule(store, "ok", task="campaign_alerts", cron="0 * * * *", timezone="UTC")
    set_schedule(store, "broken", task="campaign_alerts", cron="0 * * * *", timezone="UTC")
    with store.write() as conn:
        conn.execute(sa.text("UPDATE task_schedules SET cron = '0 6 31 4 *' WHERE schedule_id = 'broken'"))
    evaluate = ScheduleSensor(store, monkeypatch)
    hour = next_hour()
    evaluate.cursor = json.dumps({"ok": hour.isoformat()})  # the first version's: ok's tick at `hour` was launched
    assert evaluate(hour + dt.timedelta(seconds=10)) == []
    assert evaluate(hour + dt.timedelta(seconds=40)) == []
    (alert,) = alerts_sent()
    assert alert["title"] == "schedule skipped: broken" and "'0 6 31 4 *' in UTC does not compute" in alert["error"]
    assert json.loads(evaluate.cursor) == {"positions": {"ok": hour.isoformat()}, "skipped": {"broken": alert["error"]}}


def test_a_broken_schedule_that_owes_no_missed_tick_alerts_once_not_at_each_of_its_ticks(halo_env, store, monkeypatch):
    """With catch_up none, a broken schedule's tick passes out of the on-time window with nothing to
    build: it left the skipped ones, and was new again at its next tick. Two hours of evaluations
    every 30 s of a `*/5` schedule whose task retired sent 24 alerts for one unchanged problem."""
    set_schedule(store, "broken", task="campaign_alerts", cron="*/5 * * * *", timezone="UTC", catch_up="none")
    with store.write() as conn:
        conn.execute(sa.text("UPDATE task_schedules SET task = 'retired_task' WHERE schedule_id = 'broken'"))
    evaluate, hour = ScheduleSensor(store, monkeypatch), next_hour()
    for step in range(0, 2 * 60 * 60, 30):
        assert evaluate(hour + dt.timedelta(seconds=10 + step)) == []
    assert [a["title"] for a in alerts_sent()] == ["schedule skipped: broken"]
    with store.write() as conn:  # fixed: its next tick runs, and the problem is gone from the cursor
        conn.execute(sa.text("UPDATE task_schedules SET task = 'campaign_alerts' WHERE schedule_id = 'broken'"))
    assert evaluate(hour + dt.timedelta(hours=2, minutes=5, seconds=10)) == [f"broken:{(hour + dt.timedelta(hours=2, minutes=5)).isoformat()}"]
    assert json.loads(evaluate.cursor)["skipped"] == {}


@pytest.mark.parametrize("cron", ["0 */1 * * *", "0 0-23 * * *", "0 0-23/1 * * *"])
def test_an_hourly_cron_written_with_a_step_or_a_full_range_runs_both_real_hours_of_a_fall_back(cron):
    """`0 */1 * * *` and `0 0-23 * * *` are `0 * * * *` in other words: every hour, so on New York's
    fall-back night (01:00 EDT and 01:00 EST) both real hours run, as for `0 * * * *`. Before, only
    a literal `*` counted as every hour: the second 01:00 (06:00 UTC) was dropped as a repeat."""
    after, until = at(2026, 11, 1, 4, 30), at(2026, 11, 1, 7, 0)
    expected = [at(2026, 11, 1, 5, 0), at(2026, 11, 1, 6, 0), at(2026, 11, 1, 7, 0)]
    assert [t.astimezone(UTC) for t in due_ticks(cron, "America/New_York", after, until)] == expected
