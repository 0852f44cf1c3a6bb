"""Review of the alerts of failed asset checks and of the sensors around them: what an alert says
(reports.md "Failures alert": which provider, which messages, which campaign, not only the check's
name), evaluated on real runs, a real instance, the real store and provider fakes."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import sqlalchemy as sa

from halo_platform.alerts.send import format_alert
from halo_platform.alerts.sensors import alert_for_failed_check, failed_check_alerts
from halo_platform.core.definitions import STORE
from halo_platform.core.models import utcnow
from halo_platform.delivery.service import enqueue_many
from halo_platform.delivery.tables import DeliveryAttempt, Message
from halo_platform.reports.requests import create_request, dagster_instance
from halo_platform_tests.alerts.test_alert_retry import slack_down  # noqa: F401 - fixture
from halo_platform_tests.delivery.conftest import fakes, halo_store, providers_file  # noqa: F401 - fixtures
from halo_platform_tests.delivery.test_jobs import sandbox  # noqa: F401 - fixture
from halo_platform_tests.delivery.test_opt_out import NUMBER, sent_to_an_opted_out_recipient, setup  # noqa: F401 - fixture
from halo_platform_tests.reports.conftest import store, warehouses  # noqa: F401 - fixtures
from halo_platform_tests.reports.test_campaign_alerts import seed


def _alert_error(evaluation, run_id: str) -> str:  # noqa: ANN001
    """The `error:` line of the alert the sensors send for a failed check evaluation."""
    alert = alert_for_failed_check(evaluation, run_id)
    assert alert is not None
    (line,) = [line for line in format_alert(alert, "http://ui")[1].splitlines() if line.startswith("error: ")]
    return line


def test_the_alert_of_a_failing_provider_names_the_provider_and_its_error_rate(sandbox, halo_store):  # noqa: F811
    """delivery.md: provider_health's check 'error rate under threshold' (ERROR) alerts; sms_b failed
    20 of its 20 attempts: the alert must say it is sms_b, not only 'asset check ... failed'."""
    now = utcnow()
    enqueue_many("sms", [{"to": "+33612345678", "body": "x", "priority": "LOW"}] * 40, store=halo_store, providers=sandbox)
    with STORE.write() as conn:
        ids = conn.execute(sa.select(Message.id).order_by(Message.id)).scalars().all()
        conn.execute(sa.insert(DeliveryAttempt), [
            {"message_id": mid, "provider": "sms_a" if n < 20 else "sms_b", "outcome": "acknowledged" if n < 20 else "retryable",
             "http_status": 200, "latency_ms": 1.0, "at": now - dt.timedelta(seconds=30)} for n, mid in enumerate(ids)])
    from halo_platform.definitions import defs

    result = defs.resolve_job_def("autopilot_job").execute_in_process(instance=dg.DagsterInstance.ephemeral())
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "provider_error_rates_under_threshold"]
    assert _alert_error(check, result.run_id) == (
        "error: provider at or above the 25% error rate threshold in the window: sms_b 100% of 20 attempts")


def test_the_alert_of_a_message_sent_to_an_opted_out_recipient_says_how_many_and_which(setup):  # noqa: F811
    """The ERROR check no_message_sent_to_a_suppressed_recipient: its alert says how many messages
    and their ids (never the recipient's number)."""
    from halo_platform.definitions import defs

    client, providers, store_ = setup
    sent = sent_to_an_opted_out_recipient(client, providers, store_)
    result = defs.resolve_job_def("follow_up_checks_job").execute_in_process(instance=dg.DagsterInstance.ephemeral())
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "no_message_sent_to_a_suppressed_recipient"]
    line = _alert_error(check, result.run_id)
    assert line == f"error: 1 message sent in the last day to a recipient who had opted out before: {sent['id']}"
    assert "612345678" not in line


def test_the_alert_of_a_campaign_over_budget_names_the_campaigns(warehouses, halo_env, store):  # noqa: F811
    """reports.md: campaign_alerts' check warns when any campaign is OVER_BUDGET, and it is marked to
    alert: the alert names the campaigns over budget (O100, OX), not only the check."""
    seed(warehouses)
    request = create_request(store, "campaign_alerts", {"as_of": "2024-05-10"}, wait=True)
    assert request["status"] == "SUCCEEDED", request["error"]
    (alert,) = failed_check_alerts(dagster_instance(), request["request_id"])
    text = format_alert(alert, "http://ui")[1]
    assert ("error: 2 row(s) failing no_campaign_over_budget: campaign O100 (Campaign O100): spent 1000.00 of 1000.00"
            " (100.00%); campaign OX (Campaign OX): spent 600.00 of 500.00 (120.00%)") in text.splitlines()


def _last_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])  # noqa: S603
    child.wait()
    return child.pid


def test_a_run_deleted_while_the_abandoned_sensor_reads_it_does_not_fail_the_tick(halo_env, store, monkeypatch):  # noqa: F811
    """task_request_abandoned_sensor lists the STARTED runs of `halo tasks run --wait` on this host,
    then reads each again once its process is known gone. A run deleted in between (the Dagster UI's
    'Delete', a run storage cleanup) read None, and `.status` of None failed the whole tick: the
    other abandoned run, whose process is gone too, stayed STARTED. It is now skipped."""
    from halo_platform.reports import sensors
    from halo_platform.reports.definitions import defs
    from halo_platform.reports.requests import HOST_TAG, PID_TAG, process_host

    instance = dagster_instance()
    gone = _last_pid()
    runs = [instance.add_run(dg.DagsterRun(job_name="campaign_alerts_job", run_id=f"0000000{n}-0000-4000-8000-000000000000",
                                           status=dg.DagsterRunStatus.STARTED, tags={HOST_TAG: process_host(), PID_TAG: str(gone)}))
            for n in (1, 2)]
    alive = sensors.process_alive

    def deleted_meanwhile(pid: int, started: str | None) -> bool:
        instance.delete_run(runs[0].run_id)  # deleted from the UI while the tick ran
        return alive(pid, started)

    monkeypatch.setattr(sensors, "process_alive", deleted_meanwhile)
    with dg.build_sensor_context(instance=instance, resources={"store": store}) as context:
        said = defs.resolve_sensor_def("task_request_abandoned_sensor")(context)
    assert said.skip_message == "1 task run of a process gone: canceled"
    assert instance.get_run_by_id(runs[1].run_id).status == dg.DagsterRunStatus.CANCELED


def test_a_new_file_entirely_quarantined_fails_the_quarantine_check_of_a_mature_feed(halo_env, store):  # noqa: F811
    """emr.md: asset checks guard the spans, 'quarantine rate below a threshold' (a feed's
    quarantine_threshold, a share of a file's records, 0.1 by default). The rate was of the feed's
    whole history: acme, 100,000 good records applied three days ago, then a new export in a changed
    format whose 20 records are all quarantined, was at 0.02% and the check passed. The rate is now of
    the files processed in the last 24 h (said in the metadata), and the failure says which feed."""
    from halo_platform.availability.checks import quarantine_rate_below_threshold
    from halo_platform.availability.tables import ProcessedFile
    from halo_platform_tests.availability.helpers import land, process

    three_days_ago = utcnow() - dt.timedelta(days=3)
    with store.write() as conn:
        conn.execute(sa.insert(ProcessedFile).values(feed="acme", path="2026/history.jsonl", sha256="0" * 64, events=100_000,
                                                     quarantined=0, processed_at=three_days_ago, received_at=three_days_ago))
    land("acme", "changed_format.jsonl", "".join(f"<appointment id='{n}'/>\n" for n in range(20)))
    summary = process(store, "2027-03-15", 1)
    assert (summary.events, summary.quarantined) == (0, 20)
    result = quarantine_rate_below_threshold(store=store)
    assert result.passed is False
    assert result.description == ("in the files processed in the last 24 h: acme: 20 of 20 records quarantined (100.0%);"
                                  " its quarantine_threshold is 0.1")
    assert result.metadata["rates"].value == {"acme": 1.0}
    assert result.metadata["measured_over"].value == "the files each feed processed in the last 24 h"


def test_an_autopilot_alert_a_sink_failed_to_take_is_sent_again_by_the_retry_sensor(sandbox, halo_store, slack_down, tmp_path,  # noqa: F811
                                                                                    monkeypatch):
    """delivery.md: every autopilot change is stored with its reason and alerts the HALO_ALERTS
    sinks. The autopilot sent its alerts without the operational store, so the alert of sms_b
    deactivated, which the Slack sink failed to take (down for a moment), was lost, where a failed
    run's alert waits in the outbox and alert_retry_sensor sends it again once Slack is back."""
    import time

    from halo_platform.alerts import outbox
    from halo_platform.alerts.sensors import alert_retry_sensor
    from halo_platform.delivery.autopilot import run_cycle
    from halo_platform.lab.fakehttp import FakeHTTPServer
    from halo_platform.sinks import SinksResource

    monkeypatch.setattr(outbox, "RETRY_AFTER_SECONDS", (0.5, 60.0))  # production: 15 s, under the sensor's 30 s interval
    now = utcnow()
    enqueue_many("sms", [{"to": "+33612345678", "body": "x", "priority": "LOW"}] * 20, store=halo_store, providers=sandbox)
    with STORE.write() as conn:
        ids = conn.execute(sa.select(Message.id).order_by(Message.id)).scalars().all()
        conn.execute(sa.insert(DeliveryAttempt), [{"message_id": mid, "provider": "sms_b", "outcome": "retryable", "http_status": 503,
                                                   "latency_ms": 1.0, "at": now - dt.timedelta(seconds=30)} for mid in ids])
    report = run_cycle(halo_store, sandbox, sinks=SinksResource())
    assert [c["provider"] for c in report.changes] == ["sms_b"]
    assert len(list((tmp_path / "alerts").glob("*.json"))) == 1  # the folder took it at once

    port, free_it = slack_down
    free_it()
    with FakeHTTPServer(port=port) as slack:
        slack.add_route("POST", "/slack", lambda request: (200, "ok"))
        time.sleep(0.5)
        for _ in range(2):
            with dg.build_sensor_context(resources={"sinks": SinksResource(), "store": halo_store}) as context:
                alert_retry_sensor(context)
        assert [r.json()["text"].splitlines()[0] for r in slack.requests] == [
            "*[halo ERROR] provider sms_b: error rate 100% over 20 attempts &gt;= 25%: deactivated*"]  # Slack mrkdwn
