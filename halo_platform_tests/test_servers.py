"""The loopback servers every suite relies on behave like the real thing for the standard
clients, and their failure switches produce the failures a real server would."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

import pytest


def _mail(subject: str = "Daily report") -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = "reports@halo.test"
    message["To"] = "ops@clinic.test"
    message.set_content("Attached.")
    message.add_attachment(b"a,b\n1,2\n", maintype="text", subtype="csv", filename="report.csv")
    return message


def test_smtp_records_mail_sent_over_starttls_and_implicit_tls_with_login(smtp_server):
    """STARTTLS on the plain port and SMTPS on the second port both authenticate and record the
    envelope, the parsed message with its attachment, and that TLS was used."""
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        client.starttls(context=smtp_server.client_context())
        client.login(smtp_server.username, smtp_server.password)
        client.send_message(_mail("over starttls"))
    with smtplib.SMTP_SSL(smtp_server.host, smtp_server.ssl_port, context=smtp_server.client_context()) as client:
        client.login(smtp_server.username, smtp_server.password)
        client.send_message(_mail("over smtps"))
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        client.send_message(_mail("in clear"))

    first, second, third = smtp_server.messages.wait_for(3)
    assert [m.subject for m in (first, second, third)] == ["over starttls", "over smtps", "in clear"]
    assert (first.tls, second.tls, third.tls) == (True, True, False)
    assert (first.auth_user, third.auth_user) == ("halo", None)
    assert (first.port, second.port) == (smtp_server.port, smtp_server.ssl_port)
    assert first.mail_from == "reports@halo.test" and first.rcpt_tos == ["ops@clinic.test"]
    assert first.attachments == {"report.csv": b"a,b\n1,2\n"}
    assert first.text() == "Attached.\n"


def test_smtp_certificate_is_refused_by_a_client_that_does_not_trust_it(smtp_server):
    """A client with the system trust store must fail the handshake: the certificate is self-signed."""
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        with pytest.raises(ssl.SSLCertVerificationError):
            client.starttls(context=ssl.create_default_context())


@pytest.mark.parametrize(
    ("switch", "value", "error", "code"),
    [
        ("rcpt_reply", "451 4.3.0 Try again later", smtplib.SMTPRecipientsRefused, 451),
        ("rcpt_reply", "550 5.1.1 No such user", smtplib.SMTPRecipientsRefused, 550),
        ("data_reply", "451 4.3.0 Queue full", smtplib.SMTPDataError, 451),
        ("data_reply", "554 5.7.1 Rejected", smtplib.SMTPDataError, 554),
    ],
)
def test_smtp_refusal_switches_answer_the_chosen_code_and_record_nothing(smtp_server, switch, value, error, code):
    """RCPT and DATA refusals come back to smtplib with the configured code; nothing is recorded."""
    setattr(smtp_server.switches, switch, value)
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        with pytest.raises(error) as raised:
            client.send_message(_mail())
    if error is smtplib.SMTPRecipientsRefused:
        assert raised.value.recipients["ops@clinic.test"][0] == code
    else:
        assert raised.value.smtp_code == code
    assert len(smtp_server.messages) == 0


def test_smtp_rejects_auth_and_drops_connections_when_told(smtp_server):
    """Wrong credentials and the reject_auth switch give 535; drop_on_connect closes before the greeting."""
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login(smtp_server.username, "wrong")
    smtp_server.switches.reject_auth = True
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as raised:
            client.login(smtp_server.username, smtp_server.password)
    assert raised.value.smtp_code == 535
    # smtplib tries PLAIN then LOGIN, so each refused login is two attempts.
    assert smtp_server.auth_attempts.snapshot() == [("halo", False)] * 4
    smtp_server.switches.drop_on_connect = True
    with pytest.raises(smtplib.SMTPServerDisconnected):
        smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5)
