"""The email sink against aiosmtpd: STARTTLS, implicit TLS and plain; refusals classified so
retries only happen when they can help (files over the size limit: test_links.py)."""

from __future__ import annotations

import logging

import pytest

from halo_platform.sinks import Delivery, deliver_with_retries
from halo_platform.sinks.base import PermanentSinkError, TransientSinkError
from halo_platform.sinks.email import EmailSink, mask_email


def sink(server, **kwargs) -> EmailSink:  # noqa: ANN001
    settings = dict(host=server.host, port=server.port, sender="reports@example.com", to=["finance@example.com"],
                    ca_file=str(server.tls.cert_path), **server.credentials)
    return EmailSink(**{**settings, **kwargs})


@pytest.mark.parametrize(("mode", "tls"), [({"starttls": True}, True), ({"ssl": True}, True), ({}, False)])
def test_a_report_is_attached_over_starttls_ssl_or_plain(smtp_server, report_file, mode, tls, caplog):
    kwargs = dict(mode)
    if kwargs.get("ssl"):
        kwargs["port"] = smtp_server.ssl_port
    with caplog.at_level(logging.INFO, logger="halo.sinks.email"):
        targets = sink(smtp_server, **kwargs).deliver(Delivery("weekly report", "3 issues", [report_file]))
    (mail,) = smtp_server.messages.wait_for(1)
    assert mail.tls is tls and mail.auth_user == "halo"
    assert mail.rcpt_tos == ["finance@example.com"] and mail.subject == "weekly report"
    assert mail.attachments == {report_file.name: report_file.read_bytes()}
    assert "3 issues" in mail.text()
    assert targets == ["mailto:f*****e@example.com"]
    assert "finance@example.com" not in caplog.text and "f*****e@example.com" in caplog.text


def test_a_temporary_refusal_is_retried_and_a_wrong_password_is_not(smtp_server, report_file):
    smtp_server.switches.rcpt_reply = "451 4.3.0 Try again later"
    outcome = deliver_with_retries("mail", sink(smtp_server), Delivery("r", "t", [report_file]), attempts=3,
                                   backoff_seconds=(0.01,))
    assert (outcome.status, outcome.attempts) == ("FAILED", 3)
    assert "451" in outcome.detail and "finance@example.com" not in outcome.detail
    smtp_server.reset()
    with pytest.raises(PermanentSinkError, match="login refused"):
        sink(smtp_server, password="wrong").deliver(Delivery("r", "t", [report_file]))
    assert smtp_server.messages.snapshot() == []


def test_a_dropped_connection_is_transient(smtp_server, report_file):
    smtp_server.switches.drop_on_connect = True
    with pytest.raises(TransientSinkError):
        sink(smtp_server).deliver(Delivery("r", "t", [report_file]))


@pytest.mark.parametrize(("address", "masked"), [("finance@example.com", "f*****e@example.com"),
                                                 ("ab@x.io", "a*@x.io"), ("a@x.io", "a*@x.io")])
def test_addresses_are_masked(address, masked):
    assert mask_email(address) == masked


def test_ssl_on_a_port_that_answers_in_plain_text_is_a_permanent_failure_naming_the_setting(smtp_server, report_file):
    """`ssl: true` (TLS from the connection's start, port 465) on the STARTTLS port 587: the server's
    plain-text greeting ended the handshake ('SSLError: [SSL: WRONG_VERSION_NUMBER]'), a transient failure
    retried at every attempt and with the run, naming neither the setting nor what to set."""
    outcome = deliver_with_retries("mail", sink(smtp_server, ssl=True), Delivery("r", "t", [report_file]), attempts=3,
                                   backoff_seconds=(0.01,))
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 1, True), outcome.detail
    assert outcome.detail == (f"permanent: SMTP 127.0.0.1:{smtp_server.port}: ssl: true, but the server answers in plain "
                              "text (implicit TLS is port 465; a port such as 587 or 25 takes starttls: true instead)")
    assert smtp_server.messages.snapshot() == []


def test_ssl_and_starttls_together_are_refused_naming_the_settings(smtp_server, tmp_path):
    """Both true: `ssl` won silently, and on port 587 every attempt failed as above."""
    from halo_platform.reports.assets import deliver_all
    from halo_platform_tests.sinks.test_sink_settings_permanent import resource

    settings = {"kind": "email", "host": smtp_server.host, "port": smtp_server.port, "sender": "reports@example.com",
                "to": ["finance@example.com"], "starttls": True, "ssl": True}
    (outcome,) = deliver_all(resource(tmp_path, {"dest": settings}), ["dest"], Delivery("alert", "over budget"))
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 0, True), outcome.detail
    assert outcome.detail == ("unusable: sink 'dest' (email): invalid settings: ssl: Value error, and starttls: set one "
                              "(ssl: TLS from the start, port 465; starttls: TLS after the greeting, port 587)")
