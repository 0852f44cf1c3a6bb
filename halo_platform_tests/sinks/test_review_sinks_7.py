"""Sinks review 7, against the real servers: an email sink's addresses are checked when it is
built (one entry holding two addresses reached only the first, and the run said DELIVERED)."""

from __future__ import annotations

import pytest
import yaml

from halo_platform.reports.assets import deliver_all
from halo_platform.sinks import Delivery, SinksResource


def resource(tmp_path, sinks: dict) -> SinksResource:  # noqa: ANN001
    path = tmp_path / "sinks.yaml"
    path.write_text(yaml.safe_dump({"sinks": sinks}))
    return SinksResource(sinks_file=str(path), attempts=3, backoff=[0.01])


def deliver_one(tmp_path, settings: dict, delivery: Delivery):  # noqa: ANN001, ANN201
    (outcome,) = deliver_all(resource(tmp_path, {"dest": settings}), ["dest"], delivery)
    return outcome


def email_settings(server, **kwargs) -> dict:  # noqa: ANN001, ANN003
    return {"kind": "email", "host": server.host, "port": server.port, "sender": "reports@example.com",
            "to": ["finance@example.com"], **kwargs}


@pytest.mark.parametrize(("settings", "why"), [
    # two addresses in one entry: smtplib sent RCPT TO only for the first, the header named both
    ({"to": ["finance@example.com, cfo@example.com"]}, "to.0: Value error, each entry must be one email address"),
    ({"to": ["finance@example.com; cfo@example.com"]}, "to.0: Value error, each entry must be one email address"),
    ({"to": ["finance"]}, "to.0: Value error, each entry must be one email address"),
    ({"to": []}, "to: List should have at least 1 item"),  # was 'permanent: every recipient refused: ' when sent
    ({"cc": ["ops@example.com", ""]}, "cc.1: Value error, each entry must be one email address"),
    ({"sender": ""}, "sender: Value error, each entry must be one email address"),  # sent with an empty From
    # a line break in a header ended as 'unexpected error: ValueError', logged as the sink's bug
    ({"to": ["finance@example.com\r\nBcc: spy@example.com"]}, "to.0: Value error, has a control character (U+000D)"),
    ({"sender": "reports@example.com\nBcc: spy@example.com"}, "sender: Value error, has a control character (U+000A)"),
], ids=["comma", "semicolon", "no-domain", "no-recipient", "empty-cc", "empty-sender", "crlf-to", "lf-sender"])
def test_an_email_address_setting_that_is_not_one_address_is_refused_as_the_sinks_setting(
        smtp_server, report_file, tmp_path, caplog, settings, why):
    outcome = deliver_one(tmp_path, email_settings(smtp_server, **settings), Delivery("weekly", "3 issues", [report_file]))
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 0, True), outcome.detail
    assert outcome.detail.startswith("unusable: sink 'dest' (email): invalid settings: ") and why in outcome.detail
    assert "cfo@" not in outcome.detail and "spy@" not in outcome.detail  # never the value
    assert smtp_server.messages.snapshot() == [] and "failed unexpectedly" not in caplog.text


def test_addresses_with_a_display_name_are_still_sent_to(smtp_server, report_file, tmp_path):
    settings = email_settings(smtp_server, sender="Halo Reports <reports@example.com>",
                              to=["Finance <finance@example.com>", "cfo@example.com"], cc=['"Ops, on call" <ops@example.com>'])
    outcome = deliver_one(tmp_path, settings, Delivery("weekly", "3 issues", [report_file]))
    assert outcome.status == "DELIVERED", outcome.detail
    (mail,) = smtp_server.messages.wait_for(1)
    assert mail.mail_from == "reports@example.com"
    assert mail.rcpt_tos == ["finance@example.com", "cfo@example.com", "ops@example.com"]


@pytest.mark.parametrize("path", ["", "${OUTBOX_DIR}", "  "], ids=["empty", "env-set-to-nothing", "blank"])
def test_a_folder_sink_with_no_folder_is_refused_not_written_into_the_current_folder(
        report_file, tmp_path, monkeypatch, path):
    """`path: ""` (or an `${OUTBOX_DIR}` set to nothing) was Path(""), the process's current folder:
    the report (patients' data) was written wherever the code server runs, and the run said DELIVERED."""
    monkeypatch.setenv("OUTBOX_DIR", "")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    outcome = deliver_one(tmp_path, {"kind": "folder", "path": path}, Delivery("weekly", "3 issues", [report_file]))
    assert (outcome.status, outcome.permanent) == ("FAILED", True), outcome.detail
    assert outcome.detail.startswith("unusable: sink 'dest' (folder): invalid settings: path: "), outcome.detail
    assert list(cwd.iterdir()) == [] and outcome.targets == []


@pytest.mark.parametrize(("switch", "settings", "why"), [
    ("offer_starttls", {"starttls": True}, "STARTTLS extension not supported by server"),
    # aiosmtpd offers SMTPUTF8 by default; many relays do not
    ("offer_smtputf8", {"to": ["fïnance@example.com"]}, "require internationalized email support"),
], ids=["starttls", "smtputf8"])
def test_what_the_mail_server_does_not_offer_is_a_permanent_failure_not_retried(
        smtp_server, report_file, tmp_path, switch, settings, why):
    """A relay that does not offer STARTTLS (the sink says `starttls: true`) or SMTPUTF8 (an address
    beyond ASCII) will not offer it on the next attempt: it was a transient failure, retried by the
    sink and then by the run, every one failing the same way."""
    setattr(smtp_server.switches, switch, False)
    outcome = deliver_one(tmp_path, email_settings(smtp_server, **settings), Delivery("weekly", "3 issues", [report_file]))
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 1, True), outcome.detail
    assert outcome.detail.startswith("permanent: SMTP 127.0.0.1: ") and why in outcome.detail
    assert smtp_server.messages.snapshot() == []


@pytest.mark.parametrize(("subject", "shown"), [
    ("weekly\r\nBcc: spy@example.com", "weekly Bcc: spy@example.com"),
    ("provider down\n", "provider down"),
    ("over budget\u2028campaign C1", "over budget campaign C1"),  # a line break to str.splitlines, so to email
    ("over budget\x85C1", "over budget C1"),
], ids=["crlf-header", "trailing-lf", "u2028", "nel"])
def test_a_subject_with_a_line_break_is_sent_on_one_line_and_adds_no_header(smtp_server, tmp_path, caplog, subject, shown):
    """A subject with a line break (an alert's title, a caller's) failed every attempt as
    'unexpected error: ValueError' (email headers take none), logged as the sink's bug: the alert
    never reached the mailbox. It goes on one line, and the break adds no header or recipient."""
    outcome = deliver_one(tmp_path, email_settings(smtp_server), Delivery(subject, "campaign C1 is over budget"))
    assert (outcome.status, outcome.attempts) == ("DELIVERED", 1), outcome.detail
    (mail,) = smtp_server.messages.wait_for(1)
    assert mail.subject == shown and mail.message["Bcc"] is None
    assert mail.rcpt_tos == ["finance@example.com"] and "failed unexpectedly" not in caplog.text


@pytest.mark.parametrize("secret", ["", "${WEBHOOK_SECRET}", "   "], ids=["empty", "env-set-to-nothing", "blank"])
def test_a_webhook_sink_with_no_secret_is_refused_not_posting_forgeable_signatures(tmp_path, monkeypatch, secret):
    """`secret: ""` (or a `${WEBHOOK_SECRET}` set to nothing) signed every post with an empty key:
    anyone could compute the signature, so the receiver's check passed forged posts. Refused
    when the sink is built, naming the field, never posted."""
    monkeypatch.setenv("WEBHOOK_SECRET", "")
    settings = {"kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": secret}
    outcome = deliver_one(tmp_path, settings, Delivery("weekly", "3 issues"))
    assert (outcome.status, outcome.permanent) == ("FAILED", True), outcome.detail
    assert outcome.detail.startswith("unusable: sink 'dest' (webhook): invalid settings: secret: "), outcome.detail
