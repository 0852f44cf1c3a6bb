"""Review of the sinks behind report tasks and alerts: settings no delivery can work with are refused
when the sink is built (so `halo` warns of an alert sink no alert reaches), and a failure no retry fixes
is one permanent failure saying why."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from halo_platform.alerts.send import alert_sinks
from halo_platform.cli import cli
from halo_platform.http import create_app
from halo_platform.reports.assets import deliver_all
from halo_platform.reports.audit import list_requests
from halo_platform.sinks import Delivery, SinksResource
from halo_platform.sinks.base import deliver_with_retries
from halo_platform.sinks.s3 import S3Sink
from halo_platform_tests.fixtures.access import authorized_client
from halo_platform_tests.sinks.test_ftp_sftp import sftp_sink


@pytest.fixture
def report_file(tmp_path):  # noqa: ANN001, ANN201
    path = tmp_path / "payment_reconciliation_2024-03-04_2024-03-11.csv"
    path.write_text("order_id,issue\nO1,MISSING_PAYMENT\n")
    return path


def test_an_empty_slack_or_webhook_url_is_refused_when_the_sink_is_built(sinks_file, monkeypatch):
    """`ops_slack: {kind: slack, webhook_url: "${SLACK_WEBHOOK_URL}"}` with the variable set to nothing
    (and a webhook's `url: ""`) built a sink: `alert_sinks` called it usable, so `halo` did not warn that
    HALO_ALERTS names a sink no alert reaches, and each alert then failed at its post ('the URL is not a
    valid http(s) URL'). Such a URL is now refused when the sink is built, naming the setting, as an
    empty folder path or webhook secret is."""
    sinks_file({"ops_slack": {"kind": "slack", "webhook_url": "${SLACK_WEBHOOK_URL}"},
                "hook": {"kind": "webhook", "url": "  ", "secret": "s3cret"}})
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "")
    sinks = SinksResource()
    assert alert_sinks(sinks, ["ops_slack", "hook"]) == ([], [
        "ops_slack: sink 'ops_slack' (slack): invalid settings: webhook_url: Value error, empty",
        "hook: sink 'hook' (webhook): invalid settings: url: Value error, empty"])
    outcomes = deliver_all(sinks, ["ops_slack", "hook"], Delivery("alert", "over budget"))
    assert [(o.sink, o.status, o.attempts, o.permanent, o.detail) for o in outcomes] == [
        ("ops_slack", "FAILED", 0, True, "unusable: sink 'ops_slack' (slack): invalid settings: webhook_url: Value error, empty"),
        ("hook", "FAILED", 0, True, "unusable: sink 'hook' (webhook): invalid settings: url: Value error, empty")]


def test_s3_request_time_too_skewed_is_one_permanent_failure_saying_to_fix_the_clock(s3_server, report_file):
    """S3 refuses a request signed more than 15 minutes off its clock (403 RequestTimeTooSkewed). That
    was retried as transient: each attempt (seconds apart, a new client, the same clock) was refused
    again, and the run was retried too, failing the same way. It is now permanent at the first
    attempt, and says what to fix."""
    s3_server.client().create_bucket(Bucket="reports")
    s3_server.switches.error_status, s3_server.switches.error_code = 403, "RequestTimeTooSkewed"
    sink = S3Sink(bucket="reports", endpoint_url=s3_server.endpoint_url, region=s3_server.region)
    slept = []
    outcome = deliver_with_retries("archive_s3", sink, Delivery("r", files=[report_file]), sleep=slept.append)
    assert (outcome.status, outcome.attempts, outcome.permanent, slept) == ("FAILED", 1, True, [])
    assert outcome.detail == ("permanent: S3 reports: RequestTimeTooSkewed (this host's clock is over 15 minutes"
                              " off the server's: no retry fixes it, set the clock right)")


@pytest.mark.parametrize(("setting", "value", "shown"), [
    ("username", "halo\n", "username: Value error, has a control character (U+000A)"),
    ("password", "sftp-secret\n", "password: Value error, has a control character (U+000A)"),
    ("password", "sftp\x00secret", "password: Value error, has a control character (U+0000)"),
])
def test_an_sftp_login_with_a_control_character_is_refused_naming_the_setting(sftp_server, report_file, sinks_file,
                                                                               setting, value, shown):
    """`password: "${SFTP_PASSWORD}"` read from a secret file keeps the file's last line break: the
    SFTP sink sent it as the password and every delivery failed as 'AuthenticationException', naming
    neither the setting nor the line break (the FTP sink refuses such a login when it is built). It is
    now refused when the sink is built, naming the setting and never its value; nothing is uploaded."""
    settings = {**sftp_sink(sftp_server).model_dump(exclude_none=True), setting: value}
    sinks_file({"partner_sftp": {"kind": "sftp", **settings}})
    (outcome,) = deliver_all(SinksResource(), ["partner_sftp"], Delivery("r", files=[report_file]))
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 0, True)
    assert outcome.detail == f"unusable: sink 'partner_sftp' (sftp): invalid settings: {shown}"
    assert "secret" not in outcome.detail
    assert not (sftp_server.root / "inbound").exists() or list((sftp_server.root / "inbound").iterdir()) == []


@pytest.mark.parametrize(("day", "why"), [
    ("2023-02-29", "no such date: '2023-02-29' (2023-02 has 28 days)"),  # 2023 is no leap year
    ("2024-04-31", "no such date: '2024-04-31' (2024-04 has 30 days)"),
    ("20240230", "no such date: '20240230' (2024-02 has 29 days)"),
    ("2024-13-01", "no such date: '2024-13-01' (a month is 01 to 12)"),
    ("0000-01-01", "a date between 1900-01-01 and 2199-12-31 is expected, got '0000-01-01'"),
])
def test_a_date_in_iso_form_that_the_calendar_does_not_have_is_refused_as_no_such_date(halo_env, store, day, why):
    """`period_start: "2023-02-29"` is written YYYY-MM-DD, but 2023 has no 29 February: the API and the
    CLI refused it as 'not an ISO date (YYYY-MM-DD)', sending the user after the form they had
    written right. A date of that form that the calendar lacks is now refused as no such date, saying
    why; nothing is queued."""
    client = authorized_client(create_app())
    answer = client.post("/v1/tasks/payment_reconciliation/requests", json={"payload": {"period_start": day}})
    assert answer.status_code == 422
    assert answer.json() == {"error": f"payment_reconciliation: invalid payload: period_start: {why}",
                             "detail": [{"field": "period_start", "reason": why}]}
    result = CliRunner().invoke(cli, ["tasks", "run", "campaign_alerts", "--payload", json.dumps({"as_of": day})])
    assert (result.exit_code, result.output) == (2, f"error: campaign_alerts: invalid payload: as_of: {why}\n")
    assert list_requests(store) == []
