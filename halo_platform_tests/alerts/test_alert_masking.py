"""Alerts carry no personal data and no secrets: their subject, text and JSON record are masked as
logs are (emails, phone numbers, API keys, secret query parameters) and, beyond what logs mask,
credentials in URLs. The same text goes to every sink (folder, email, Slack, webhook), so it is
masked once, before any sink sees it. Only the error's first line is kept."""

import json
import os
import pathlib

import dagster as dg
import pytest
import yaml

from halo_platform.alerts import Alert, format_alert, send_alert
from halo_platform.sinks import SinksResource
from halo_platform_tests.alerts.test_alerts import run_and_alert

API_KEY = "halo_0123456789ab_" + "s3cr3tK3y" * 3

# (what a job's error, a payload or a title may hold, what the alert shows instead)
SECRETS = [
    ("jane.doe@example.com", "j***@example.com"),
    ("+14155550123", "+141*****123"),
    ("postgresql://payments:hunter2secret@10.0.0.5/payments", "postgresql://payments:***@10.0.0.5/payments"),
    ("mysql+pymysql://root:hunter2secret@db:3306/gateway", "mysql+pymysql://root:***@db:3306/gateway"),
    ("https://hooks.example.com/notify?token=hunter2secret&x=1", "https://hooks.example.com/notify?token=***&x=1"),
    (API_KEY, "halo_0123456789ab_***"),
]


@pytest.mark.parametrize(("secret", "masked"), SECRETS)
@pytest.mark.parametrize("where", ["title", "error", "details"])
def test_an_alert_masks_personal_data_and_credentials_wherever_they_are(secret, masked, where):
    """A title (autopilot puts a provider's answer there), the error and the details (a run's payload)
    are all masked; a URL password is masked whatever its host (mask_text's email rule only
    half-hides `password@host.with.dots`, and not at all `password@db`)."""
    fields = {"title": "run failed: nightly_job", "error": "ValueError: bad row", "details": {}}
    if where == "details":
        fields["details"] = {"payload": json.dumps({"value": secret})}
    else:
        fields[where] = f"{fields[where]} near {secret}"
    subject, text = format_alert(Alert(severity="ERROR", run_id="r1", **fields), "http://dagster.internal:3000")
    for shown in (subject, text):
        assert secret not in shown and "hunter2secret" not in shown and "s3cr3tK3y" not in shown
    assert masked in text
    assert (masked in subject) == (where == "title")


def test_the_error_keeps_its_first_line_and_says_that_the_others_were_left_out():
    alert = Alert(title="run failed: nightly_job", severity="ERROR", run_id="r1",
                  error="\n  ValueError: bad row 7\n  Traceback (most recent call last):\n  File x.py, line 3\n")
    _, text = format_alert(alert, "http://dagster.internal:3000")
    assert "error: ValueError: bad row 7 (+2 more lines not shown)" in text.splitlines()
    assert "Traceback" not in text
    _, text = format_alert(Alert(title="t", severity="ERROR", error="only line\n\n"), "http://x")
    assert "error: only line" in text.splitlines()


@dg.op
def leak():
    raise ValueError("campaign owner jane.doe@example.com (+14155550123) unreachable; "
                     "warehouse postgresql://payments:hunter2secret@10.0.0.5/payments refused\n"
                     "second line: retried with postgresql://payments:hunter2secret@db/payments")


@dg.job(tags={"halo/task": "campaign_alerts",
              "halo/payload": json.dumps({"notify": "bob.smith@example.com", "phone": "+14155550199"})})
def leaky_job():
    leak()


def test_a_failed_run_alert_masks_the_error_and_payload_in_its_text_and_its_record(halo_env):
    home = pathlib.Path(os.environ["HALO_HOME"])
    with dg.instance_for_test() as instance:
        run_and_alert(leaky_job, instance)
    (alert_file,) = list((home / "alerts").iterdir())
    raw = alert_file.read_text()
    for secret in ("jane.doe@example.com", "+14155550123", "hunter2secret", "bob.smith@example.com", "+14155550199"):
        assert secret not in raw
    record = json.loads(raw)
    first = ("ValueError: campaign owner j***@example.com (+141*****123) unreachable; "
             "warehouse postgresql://payments:***@10.0.0.5/payments refused")
    assert record["error"] == first  # the first line alone, masked
    assert f"error: {first} (+1 more line not shown)" in record["text"].splitlines()
    assert json.loads(record["details"]["payload"]) == {"notify": "b***@example.com", "phone": "+141*****199"}
    assert "b***@example.com" in record["text"] and record["subject"] == "[halo ERROR] run failed: leaky_job"


def test_every_alert_sink_gets_the_same_masked_text(halo_env, smtp_server, http_fake, tmp_path, monkeypatch):
    """Email, Slack and webhook sinks send the alert's text (not its record): it is masked as the record is."""
    http_fake.add_route("POST", "/slack", lambda request: (200, "ok"))
    http_fake.add_route("POST", "/hook", lambda request: (200, {"ok": True}))
    monkeypatch.setenv("HALO_TEST_HOOK_SECRET", "whsec-test")
    sinks_file = tmp_path / "sinks.yaml"
    sinks_file.write_text(yaml.safe_dump({"sinks": {
        "alerts": {"kind": "folder", "path": str(tmp_path / "alerts")},
        "oncall_email": {"kind": "email", "host": "127.0.0.1", "port": smtp_server.port, "sender": "halo@example.com",
                         "to": ["oncall@example.com"]},
        "ops_slack": {"kind": "slack", "webhook_url": f"{http_fake.url}/slack"},
        "ops_hook": {"kind": "webhook", "url": f"{http_fake.url}/hook", "secret": "${HALO_TEST_HOOK_SECRET}"},
    }}))
    alert = Alert(title="provider sms_eu: jane.doe@example.com bounced", severity="ERROR",
                  error=f"refused +14155550123 at postgresql://payments:hunter2secret@db/payments with {API_KEY}",
                  run_id="r1", details={"payload": json.dumps({"notify": "bob.smith@example.com"})})
    outcomes = send_alert(alert, SinksResource(sinks_file=str(sinks_file)),
                          to=["alerts", "oncall_email", "ops_slack", "ops_hook"])
    assert [(o.sink, o.status) for o in outcomes] == [
        ("alerts", "DELIVERED"), ("oncall_email", "DELIVERED"), ("ops_slack", "DELIVERED"), ("ops_hook", "DELIVERED")]
    (mail,) = smtp_server.messages.wait_for(1)
    slack, hook = (r.json() for r in http_fake.requests.snapshot())
    (record,) = (tmp_path / "alerts").iterdir()
    assert "jane" not in record.name and "jane" not in "".join(mail.attachments)  # file names are passed on too
    email = "\n".join([mail.subject, mail.text(), *(a.decode() for a in mail.attachments.values())])
    sent = {"email": email, "slack": slack["text"], "webhook": json.dumps(hook),
            "folder": record.read_text()}
    for sink, body in sent.items():
        for secret in ("jane.doe@example.com", "+14155550123", "hunter2secret", "s3cr3tK3y", "bob.smith@example.com"):
            assert secret not in body, (sink, secret)
        assert "postgresql://payments:***@db/payments" in body and "j***@example.com" in body, sink
