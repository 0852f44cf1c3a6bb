"""A black-box review of reports.md's task requests, task schedules, alerts and "beyond the
first version" against the CLI, the HTTP API and the schedule sensor: each test pins a promise
an outside tester broke with an unusual but valid (or invalid) input."""

from __future__ import annotations

import datetime as dt
import time

import dagster as dg
import pytest
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.errors import HaloError
from halo_platform.reports.audit import get_request
from halo_platform.reports.requests import dagster_instance
from halo_platform.reports.schedules import check_cron, cron_in_words, list_schedules, next_runs
from halo_platform.reports.sensors import evaluate_schedules
from halo_platform_tests.reports.test_requests import run_status_tick, started_campaign_alerts_run

UTC = dt.UTC


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("cron", "expected"), [
    ("0 3-3 * * *", [at(2024, 1, 1, 3), at(2024, 1, 2, 3), at(2024, 1, 3, 3)]),  # croniter: hourly
    ("5-5 0 * * *", [at(2024, 1, 1, 0, 5), at(2024, 1, 2, 0, 5), at(2024, 1, 3, 0, 5)]),  # croniter: every minute
    ("0 0 * * 7-7", [at(2024, 1, 7), at(2024, 1, 14), at(2024, 1, 21)]),  # Sundays; croniter: daily
    ("0 0 * * mon-1", [at(2024, 1, 8), at(2024, 1, 15), at(2024, 1, 22)]),
    ("0 0 * * 5-5/5", [at(2024, 1, 5), at(2024, 1, 12), at(2024, 1, 19)]),  # croniter: Fridays and Sundays
    ("0 0 1-1 jan-jan *", [at(2025, 1, 1), at(2026, 1, 1), at(2027, 1, 1)]),
])
def test_a_range_of_one_value_runs_at_that_value_only(cron, expected):
    """`3-3` is the hour 3 in every cron; croniter read a range of one value as `*`."""
    assert next_runs(cron, "UTC", count=3, after=at(2024, 1, 1)) == expected


def test_a_range_of_one_value_on_a_date_that_never_comes_is_refused():
    with pytest.raises(HaloError, match="never fires"):
        check_cron("0 0 31-31 2 *")


def test_a_schedule_set_with_a_range_of_one_value_runs_once_a_day(halo_env, store):
    """Set with the CLI as `0 3-3 * * *` (03:00 UTC every day): a day's evaluations launch one run, not 24."""
    result = CliRunner().invoke(cli, ["schedules", "set", "nightly", "--task", "campaign_alerts", "--cron", "0 3-3 * * *",
                                      "--timezone", "UTC", "--catch-up", "all"])
    assert result.exit_code == 0, result.output
    (row,) = list_schedules(store)
    created = dt.datetime.fromisoformat(row["updated_at"])
    requests, _ = evaluate_schedules(store, created + dt.timedelta(days=1), None)
    assert [dt.datetime.fromisoformat(r.tags["halo/tick"]).astimezone(UTC).hour for r in requests] == [3]


def test_a_run_the_sensors_record_late_keeps_its_own_creation_start_and_end_times(halo_env, store):
    """A launchpad run that started and died before its asset body ran is recorded by the
    run-status sensors, which may evaluate minutes later (a busy or restarted daemon): its
    `created_at` was the sensor's time, after `started_at`, and `finished_at` too. The row keeps
    the run's own times, in order."""
    instance = dagster_instance()
    run = started_campaign_alerts_run(instance, {"dagster/user": "ana"})
    instance.report_run_failed(instance.get_run_by_id(run.run_id), "run worker lost: out of memory")
    time.sleep(1)  # the sensors come later
    run_status_tick("task_request_started_sensor", instance, store, run.run_id, dg.DagsterEventType.RUN_START)
    run_status_tick("task_request_failure_sensor", instance, store, run.run_id, dg.DagsterEventType.RUN_FAILURE)
    request = get_request(store, run.run_id)
    record = instance.get_run_record_by_id(run.run_id)
    created, started, finished = (dt.datetime.fromisoformat(request[k]) for k in ("created_at", "started_at", "finished_at"))
    assert request["status"] == "FAILED"
    assert created <= started <= finished
    assert created.timestamp() == pytest.approx(record.create_timestamp.timestamp(), abs=1e-3)
    assert finished.timestamp() == pytest.approx(record.end_time, abs=1e-3)


@pytest.mark.parametrize(("cron", "words"), [
    ("0 7 * * 07", "every Sunday at 07:00, UTC"),
    ("0 7 * * 05-07", "every Friday through Sunday at 07:00, UTC"),
    ("0 7 * * 6,07", "every Saturday and Sunday at 07:00, UTC"),
    ("*/05 * * * *", "Every 5 minutes, UTC"),
])
def test_a_cron_written_with_leading_zeros_is_described_as_it_runs(cron, words):
    """`07` is Sunday as `7` is: the sensor ran it, while the schedules pages (list, edit form,
    live preview) said 'invalid cron expression' and 'Every 05 minutes'."""
    assert cron_in_words(cron, "UTC") == words


def test_a_cron_written_with_leading_zeros_is_stored_in_one_spelling(halo_env, store):
    runner = CliRunner()
    result = runner.invoke(cli, ["schedules", "set", "sundays", "--task", "campaign_alerts", "--cron", "00 07 * * 07",
                                 "--timezone", "UTC"])
    assert result.exit_code == 0, result.output
    assert list_schedules(store)[0]["cron"] == "0 7 * * 7"
    assert cron_in_words(list_schedules(store)[0]["cron"], "UTC") == "every Sunday at 07:00, UTC"
