"""reports.md: one alert per failed run "within 60 s", measured to a real SMTP server (aiosmtpd,
STARTTLS and AUTH as a relay asks): from the runs failing to each alert's message being accepted
(its 250 after DATA, the time the relay records it). The daemon's clock is modelled as in
test_review_alerts_9 (a look every 5 s, a tick once the sensor's 15 s interval has passed, the
runs failing just after a tick began: the worst case); its work, the sinks and the relay are real."""

import time

import dagster as dg
import pytest
import yaml

from halo_platform.alerts.sensors import run_failure_alert_sensor
from halo_platform.core.store import StoreResource
from halo_platform.sinks import SinksResource
from halo_platform_tests.alerts.test_hung_alert_sinks import failing_job
from halo_platform_tests.alerts.test_review_alerts_9 import SPEC_SECONDS, next_tick


@pytest.fixture
def mail_alerts(halo_env, smtp_server, tmp_path, monkeypatch):
    """HALO_ALERTS=oncall_email, an email sink to the real SMTP server with STARTTLS and a login."""
    sinks_file = tmp_path / "sinks.yaml"
    sinks_file.write_text(yaml.safe_dump({"sinks": {"oncall_email": {
        "kind": "email", "host": smtp_server.host, "port": smtp_server.port, "starttls": True,
        "ca_file": str(smtp_server.tls.cert_path), **smtp_server.credentials,
        "sender": "halo@example.com", "to": ["oncall@example.com"]}}}))
    monkeypatch.setenv("HALO_SINKS_FILE", str(sinks_file))
    monkeypatch.setenv("HALO_ALERTS", "oncall_email")
    return smtp_server


def _received_run_ids(relay) -> list[str]:  # noqa: ANN001
    return [m.text().split("run: ")[1].split("\n")[0] for m in relay.messages.snapshot()]


@pytest.mark.parametrize(("failed", "reply_seconds"), [(1, 0.0), (25, 1.0)])
def test_each_failed_run_s_alert_reaches_a_real_smtp_relay_within_a_minute(mail_alerts, failed, reply_seconds):
    relay = mail_alerts
    relay.switches.data_reply_delay = reply_seconds  # a relay scanning each message before its 250
    with dg.instance_for_test() as instance:
        def tick(cursor):  # noqa: ANN001, ANN202
            began = time.monotonic()
            with dg.build_sensor_context(instance=instance, cursor=cursor,
                                         resources={"sinks": SinksResource(), "store": StoreResource()}) as context:
                return run_failure_alert_sensor.evaluate_tick(context).cursor, time.monotonic() - began

        cursor, took = tick(None)
        runs = [failing_job.execute_in_process(instance=instance, raise_on_error=False).run_id for _ in range(failed)]
        at, received = next_tick(0.0, took, run_failure_alert_sensor.minimum_interval_seconds), {}
        while at < 3 * SPEC_SECONDS and len(received) < failed:
            cursor, took = tick(cursor)
            for run_id in _received_run_ids(relay):  # accepted by the relay by the time the tick ended
                received.setdefault(run_id, at + took)
            at = next_tick(at, took, run_failure_alert_sensor.minimum_interval_seconds)
    assert sorted(received) == sorted(runs)
    assert len(relay.messages) == failed  # each alert once
    # measured: 15.2 s (1 run), 16.1 s (25 runs), 23.6 s (25 runs, 1 s a message): the sensor's interval, then the sends
    assert max(received.values()) < SPEC_SECONDS, f"the last alert accepted {max(received.values()):.1f} s after its run failed"
