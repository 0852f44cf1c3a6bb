"""One run, many sinks: each is delivered independently with its own retries; a sink that
refuses the connection is recorded FAILED with its attempts while the others succeed; the
run then ends FAILED, and the run-failure sensor sends an alert to the `alerts` folder."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg

from halo_platform.http import create_app
from halo_platform.reports.demo import campaign, write_marketing
from halo_platform.reports.requests import create_request, dagster_instance
from halo_platform_tests.alerts.test_alerts import alert_tick
from halo_platform_tests.fixtures.access import authorized_client
from halo_platform_tests.fixtures.ports import closed_port

FTP_SECRET_ENV = "HALO_TEST_FTP_PASSWORD"


def test_a_refused_sink_fails_alone_the_run_fails_and_an_alert_is_sent(
    warehouses, halo_env, sinks_file, ftp_server, s3_server, smtp_server, http_fake, monkeypatch
, store):
    write_marketing(Path(warehouses["marketing"].split("duckdb:///", 1)[1]),
                    [campaign("C1", dt.date(2024, 5, 11), "100.00")], [])
    home = Path(halo_env["HALO_HOME"])
    s3_server.client().create_bucket(Bucket="reports")
    http_fake.add_route("POST", "/hook", lambda request: (200, "ok"))
    monkeypatch.setenv(FTP_SECRET_ENV, ftp_server.password)
    with closed_port() as sftp_port:
        sinks_file({
            "outbox": {"kind": "folder", "path": str(home / "outbox")},
            "alerts": {"kind": "folder", "path": str(home / "alerts")},
            "partner_ftp": {"kind": "ftp", "host": "127.0.0.1", "port": ftp_server.port, "username": ftp_server.username,
                            "password": "${" + FTP_SECRET_ENV + "}", "remote_dir": "/inbound"},
            "archive_s3": {"kind": "s3", "bucket": "reports", "prefix": "halo/", "endpoint_url": s3_server.endpoint_url,
                           "region": s3_server.region},
            "ops_slack": {"kind": "slack", "webhook_url": f"{http_fake.url}/hook", "link_store": "served"},
            "served": {"kind": "folder", "path": str(home / "served"), "url": "https://files.example.com/halo/"},
            "owners_email": {"kind": "email", "host": "127.0.0.1", "port": smtp_server.port, "sender": "r@example.com",
                             "to": ["marketing@example.com"]},
            "partner_sftp": {"kind": "sftp", "host": "127.0.0.1", "port": sftp_port, "username": "x", "password": "y"},
        })
        names = ["partner_sftp", "outbox", "partner_ftp", "archive_s3", "ops_slack", "owners_email"]
        request = create_request(store, "campaign_alerts", {"as_of": "2024-05-10"}, sinks=names, wait=True)

    assert request["status"] == "FAILED"
    assert request["error"].startswith("delivery failed: partner_sftp: gave up after 3 attempts")
    by_sink = {d["sink"]: d for d in request["deliveries"]}
    assert set(by_sink) == set(names)
    assert (by_sink["partner_sftp"]["status"], by_sink["partner_sftp"]["attempts"]) == ("FAILED", 3)
    for name in names[1:]:
        assert (by_sink[name]["status"], by_sink[name]["attempts"]) == ("DELIVERED", 1), by_sink[name]
    assert by_sink["partner_ftp"]["target"].endswith("/inbound/campaign_alerts_2024-05-10.csv")
    assert by_sink["archive_s3"]["target"] == "s3://reports/halo/campaign_alerts_2024-05-10.csv"
    assert (ftp_server.home / "inbound" / "campaign_alerts_2024-05-10.csv").exists()
    (mail,) = smtp_server.messages.wait_for(1)
    assert "EXPIRING: Campaign C1 (C1)" in mail.text()
    assert "EXPIRING: Campaign C1" in http_fake.requests.snapshot()[0].json()["text"]
    assert len(request["outputs"]) == 6  # the Slack message links to the file the served folder got

    instance = dagster_instance()
    run = instance.get_run_by_id(request["request_id"])
    assert run.status == dg.DagsterRunStatus.FAILURE
    logs = json.dumps([e.message for e in instance.all_logs(run.run_id)]) + json.dumps(run.run_config)
    assert ftp_server.password not in logs and ftp_server.password not in json.dumps(request)

    # the run-failure sensor turns the failed run into one alert in the `alerts` folder sink
    alert_tick(instance)
    (alert_file,) = (home / "alerts").iterdir()
    alert = json.loads(alert_file.read_text())
    assert alert["run_id"] == run.run_id and alert["job"] == "campaign_alerts_job"
    assert alert["details"]["task"] == "campaign_alerts"
    assert "delivery failed: partner_sftp" in alert["error"]
    assert f"/runs/{run.run_id}" in alert["text"]


def test_every_attempt_of_a_sink_is_recorded_with_its_time_outcome_and_error_also_when_a_retry_fixed_it(
        warehouses, halo_env, sinks_file, http_fake, store):
    """reports.md: "every attempt is recorded in `task_deliveries`". A Slack webhook that answers
    503 once and then takes the message is DELIVERED after 2 attempts; the first attempt's time
    and error stay on the delivery (an attempt count alone lost them), also through the API."""
    write_marketing(Path(warehouses["marketing"].split("duckdb:///", 1)[1]),
                    [campaign("C1", dt.date(2024, 5, 11), "100.00")], [])
    home = Path(halo_env["HALO_HOME"])
    answers = iter([(503, "busy"), (200, "ok")])
    http_fake.add_route("POST", "/hook", lambda request: next(answers))
    sinks_file({
        "ops_slack": {"kind": "slack", "webhook_url": f"{http_fake.url}/hook", "link_store": "served"},
        "served": {"kind": "folder", "path": str(home / "served"), "url": "https://files.example.com/halo/"},
        "outbox": {"kind": "folder", "path": str(home / "outbox")},
    })
    request = create_request(store, "campaign_alerts", {"as_of": "2024-05-10"}, sinks=["ops_slack", "outbox"], wait=True)

    assert request["status"] == "SUCCEEDED", request["error"]
    # a row per target: the Slack message and the file its link store took
    slack, *stored = [d for d in request["deliveries"] if d["sink"] == "ops_slack"]
    (outbox,) = [d for d in request["deliveries"] if d["sink"] == "outbox"]
    assert (slack["status"], slack["attempts"]) == ("DELIVERED", 2)
    assert [(a["attempt"], a["outcome"], a["error"]) for a in slack.get("attempt_log") or []] == [
        (1, "FAILED", "TransientSinkError: Slack webhook answered 503"), (2, "DELIVERED", None)]
    assert [d["attempt_log"] for d in stored] == [slack.get("attempt_log")]
    first, second = (dt.datetime.fromisoformat(a["at"]) for a in slack["attempt_log"])
    assert dt.datetime.fromisoformat(request["created_at"]) <= first <= second
    assert second <= dt.datetime.fromisoformat(slack["delivered_at"])
    assert [(a["attempt"], a["outcome"]) for a in outbox["attempt_log"]] == [(1, "DELIVERED")]
    assert len(http_fake.requests.snapshot()) == 2
    answered = authorized_client(create_app()).get(f"/v1/task-requests/{request['request_id']}")
    assert answered.status_code == 200
    assert answered.json()["deliveries"][0]["attempt_log"] == slack["attempt_log"]
