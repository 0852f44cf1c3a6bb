"""Email sink, review 15: an address both in `to` and `cc` is sent one copy."""

from __future__ import annotations

from halo_platform.sinks import Delivery, deliver_with_retries
from halo_platform.sinks.email import EmailSink


def test_an_address_in_to_and_in_cc_is_one_recipient_of_the_envelope(smtp_server, report_file):  # noqa: ANN001
    """finance@ in `to` and again in `cc` (a team alias written twice, or the same person under a
    name) was two RCPT TO: a relay that does not fold them delivers the report twice to that
    mailbox, and the delivery's targets listed it twice."""
    sink = EmailSink(host=smtp_server.host, port=smtp_server.port, sender="reports@example.com",
                     to=["finance@example.com", "ops@example.com"], cc=["Finance <finance@example.com>"])
    outcome = deliver_with_retries("finance_email", sink, Delivery("weekly", "3 issues", [report_file]), attempts=1)
    assert (outcome.status, outcome.targets) == ("DELIVERED", ["mailto:f*****e@example.com", "mailto:o*s@example.com"]), outcome.detail
    [mail] = smtp_server.messages.snapshot()
    assert mail.rcpt_tos == ["finance@example.com", "ops@example.com"]

