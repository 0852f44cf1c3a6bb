"""Review of task requests (tasks19) as an outside caller: the same payload through the API, the
CLI, the Dagster launchpad and the run-status sensors, and the audit log each leaves."""

from __future__ import annotations

import datetime as dt
import json
import threading

import dagster as dg
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.definitions import STORE
from halo_platform.definitions import defs
from halo_platform.reports import audit
from halo_platform.reports.audit import get_request
from halo_platform.reports.requests import dagster_instance
from halo_platform.reports.task import get_task
from halo_platform_tests.reports.test_requests import _seed_marketing, enqueue


def test_a_launchpad_run_records_the_payload_a_request_of_the_same_payload_records(warehouses, halo_env, store):
    """reports.md: every request ends in the same job and the audit trail records it whatever
    started it. The same payload (`as_of` in ISO's basic form) asked through `halo tasks run` and
    through the Dagster launchpad left two payloads: the CLI's `{"as_of": "2024-05-10"}`, and for
    the launchpad run (whose row its asset body writes first) every field of the Config with its
    default, `as_of` as typed. Both rows now hold the payload as a request records it: the fields
    given, in their wire form."""
    _seed_marketing(warehouses)
    given = {"as_of": "20240510", "rearm_hours": 0}  # 0: the launchpad run sends the alert the CLI's sent
    result = CliRunner().invoke(cli, ["tasks", "run", "campaign_alerts", "--payload", json.dumps(given), "--wait"])
    assert result.exit_code == 0, result.output
    by_cli = get_request(store, result.stdout.splitlines()[0])

    job = defs.resolve_job_def("campaign_alerts_job")
    launched = job.execute_in_process(run_config={"ops": {"campaign_alerts": {"config": given}}}, instance=dagster_instance(),
                                      tags={"dagster/user": "ana"}, raise_on_error=False)
    by_launchpad = get_request(store, launched.run_id)
    assert by_launchpad["status"] == by_cli["status"] == "SUCCEEDED", by_launchpad["error"]
    assert by_launchpad["payload"] == by_cli["payload"] == {"as_of": "2024-05-10", "rearm_hours": 0.0}


def test_a_launchpad_run_the_queued_sensor_records_first_has_the_payload_in_its_wire_form(halo_env, store):
    """A launchpad run recorded by the queued sensor (before its asset body runs) kept the run
    config's text as typed, `"tolerance": "1e2"`, where a request of the same payload through the
    API or the CLI records `"100.00"`: one amount, two texts in the audit log, depending on who
    wrote the row first."""
    instance = dagster_instance()
    job = defs.resolve_job_def("payment_reconciliation_job")
    given = {"tolerance": "1e2", "period_start": "20240304", "period_end": "2024-03-11"}
    run = instance.create_run_for_job(job, run_config={"ops": {"payment_reconciliation": {"config": given}}},
                                      tags={**job.tags, "dagster/user": "ana"}, status=dg.DagsterRunStatus.NOT_STARTED)
    enqueue(instance, store, run)
    request = get_request(store, run.run_id)
    assert request["payload"] == get_task("payment_reconciliation").wire_payload(given) == {
        "tolerance": "100.00", "period_start": "2024-03-04", "period_end": "2024-03-11"}


def test_halo_tasks_run_wait_sent_again_with_its_key_prints_the_first_requests_final_status(halo_env, store, keep_sigterm):
    """reports.md: `--wait` prints the final status and outputs, exit 0 only if SUCCEEDED. Sent
    again with the idempotency key of a request still running (a script's retry while the first
    `halo tasks run --wait` runs on), it printed that request's `status: RUNNING` at once and exit 1,
    which a script reads as a failed report; it now waits for the first request to end, as the first
    command does, and prints its final status and outputs (exit 0)."""
    payload = get_task("campaign_alerts").wire_payload({"as_of": "2024-05-10"})
    audit.record_status(store, "first-run", "RUNNING", task="campaign_alerts", payload=payload, requested_by="ana",
                        idempotency_key="may-10")
    output = "file:///outbox/campaign_alerts_2024-05-10.csv"
    ends = threading.Timer(1.0, audit.record_status, (store, "first-run", "SUCCEEDED"),
                           {"task": "campaign_alerts", "outputs": [output], "row_count": 1})
    ends.start()
    try:
        result = CliRunner().invoke(cli, ["tasks", "run", "campaign_alerts", "--payload", json.dumps(payload), "--wait",
                                          "--requested-by", "ana", "--idempotency-key", "may-10"])
    finally:
        ends.join()
    assert (result.exit_code, result.stdout.splitlines()) == (0, ["first-run", "status: SUCCEEDED", f"output: {output}"])


def test_the_audit_log_keeps_one_order_whatever_its_limit_when_requests_share_a_creation_time(halo_env, migrated_pg_url,
                                                                                              monkeypatch):
    """`halo tasks log` (and the Requests page) lists the newest requests first. Requests created in
    the same instant (runs the sensors record with Dagster's creation time, which its SQLite storage
    keeps to the second: a schedule's caught-up ticks, a backfill) came in whatever order PostgreSQL's
    top-N sort left them: `--limit 5` listed requests that `--limit 60` put further down, so a
    longer log did not begin with the shorter one. Ties now go by request id, the same on every call."""
    monkeypatch.setenv("HALO_DB_URL", migrated_pg_url)
    STORE.dispose()
    second = dt.datetime(2024, 5, 10, 7, tzinfo=dt.UTC)
    for i in range(60):
        audit.record_status(STORE, f"request-{i:02d}", "SUCCEEDED", task="campaign_alerts", requested_by="schedule:daily",
                            at=second + dt.timedelta(seconds=i // 20))

    def log(limit: int) -> list[str]:
        result = CliRunner().invoke(cli, ["tasks", "log", "--limit", str(limit)])
        assert result.exit_code == 0, result.output
        return [line.split()[1] for line in result.stdout.splitlines()]

    full = log(60)
    assert sorted(full) == sorted(f"request-{i:02d}" for i in range(60))
    for limit in (5, 10, 25):
        assert log(limit) == full[:limit]
