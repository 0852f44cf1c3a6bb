"""Task schedules: due-ness is pure cron arithmetic in the schedule's timezone; the sensor
launches each due tick once with the payload stored at that moment; edits are validated
and apply at the next evaluation with no restart."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import pytest
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.errors import HaloError
from halo_platform.definitions import defs
from halo_platform.reports.schedules import due_ticks, list_schedules, seed_default_schedules, set_schedule
from halo_platform.reports.sensors import evaluate_schedules

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


def test_edits_to_payload_cron_and_enabled_apply_at_the_next_evaluation(halo_env, store):
    set_schedule(store, "alerts", task="campaign_alerts", cron="* * * * *", timezone="UTC", payload={"budget_threshold_pct": 80})
    t0 = at(2024, 5, 10, 0, 0, 30)
    first, cursor = evaluate_schedules(store, (t0 - dt.timedelta(seconds=60)).isoformat(), t0)
    assert [r.run_key for r in first] == ["alerts:2024-05-10T00:00:00+00:00"]
    assert first[0].run_config["ops"]["campaign_alerts"]["config"] == {"budget_threshold_pct": 80, "sinks": ["outbox"]}
    assert first[0].tags["halo/trigger"] == "schedule" and first[0].job_name == "campaign_alerts_job"

    set_schedule(store, "alerts", payload={"budget_threshold_pct": 50})
    second, cursor = evaluate_schedules(store, cursor, t0 + dt.timedelta(seconds=60))
    assert [r.run_key for r in second] == ["alerts:2024-05-10T00:01:00+00:00"]
    assert second[0].run_config["ops"]["campaign_alerts"]["config"]["budget_threshold_pct"] == 50

    set_schedule(store, "alerts", cron="0 * * * *")  # hourly now: nothing due until 01:00
    assert evaluate_schedules(store, cursor, t0 + dt.timedelta(seconds=120))[0] == []
    set_schedule(store, "alerts", enabled=False)
    assert evaluate_schedules(store, cursor, t0 + dt.timedelta(hours=1))[0] == []


def test_a_due_tick_is_never_launched_twice_by_the_sensor(halo_env, store):
    set_schedule(store, "every_minute", task="campaign_alerts", cron="* * * * *", timezone="Asia/Jakarta", payload={})
    sensor = defs.resolve_sensor_def("task_schedule_sensor")
    instance = dg.DagsterInstance.ephemeral()
    start = (dt.datetime.now(UTC) - dt.timedelta(minutes=3)).isoformat()
    with dg.build_sensor_context(instance=instance, cursor=start, resources={"store": store}) as context:
        first = sensor(context)
    keys = [r.run_key for r in first.run_requests]
    assert len(keys) in (3, 4) and len(set(keys)) == len(keys)
    assert all(k.startswith("every_minute:") for k in keys)
    with dg.build_sensor_context(instance=instance, cursor=first.cursor, resources={"store": store}) as context:
        second = sensor(context)
    assert not set(keys) & {r.run_key for r in second.run_requests}
    if not second.run_requests:  # unless a minute boundary passed between the two evaluations
        assert "no schedule tick is due" in second.skip_reason.skip_message


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"cron": "61 * * * *"}, "invalid cron expression"),
        ({"timezone": "Mars/Olympus"}, "unknown timezone"),
        ({"payload": {"budget_threshold_pct": 150}}, "budget_threshold_pct"),
        ({"payload": {"as_of": "2024-02-30"}}, "not an ISO date"),
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


def test_the_cli_lists_sets_disables_and_refuses_in_one_line(halo_env):
    runner = CliRunner()
    ok = runner.invoke(cli, ["schedules", "set", "weekly", "--task", "payment_reconciliation", "--cron", "0 6 * * 1",
                             "--timezone", "Asia/Jakarta", "--payload", '{"tolerance": 0.5}', "--by", "ops"])
    assert ok.exit_code == 0, ok.output
    assert runner.invoke(cli, ["schedules", "disable", "weekly"]).exit_code == 0
    listed = runner.invoke(cli, ["schedules", "list"]).output
    assert "weekly\tpayment_reconciliation\t0 6 * * 1\tAsia/Jakarta\tdisabled" in listed
    assert '"tolerance": 0.5' in listed
    bad = runner.invoke(cli, ["schedules", "set", "weekly", "--cron", "every monday"])
    assert bad.exit_code == 2
    assert bad.output.strip().splitlines() == ["error: invalid cron expression 'every monday' (5 fields: minute hour day month weekday)"]


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
