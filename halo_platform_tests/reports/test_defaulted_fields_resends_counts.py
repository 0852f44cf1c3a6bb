"""A 422 naming the field when the other one defaulted, an email not sent again when QUIT is
answered 4xx, a campaign alert message counting every alert (each test failed before its fix)."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from halo_platform.http import create_app
from halo_platform.sinks.base import Delivery, deliver_with_retries
from halo_platform.sinks.email import EmailSink
from halo_platform_tests.fixtures.access import authorized_client

# --- API: a cross-field rule with a defaulted field is a 422 naming the field --------------------


def test_a_period_start_after_the_default_period_end_is_a_422_naming_the_field(halo_env, store):
    """reports.md: a payload that does not fit is refused "with 422 and the reason"; typed payloads:
    "the API (422 with the field and reason)". A period_start after the default period_end (the
    previous ISO week) was a 422 whose detail was null: no field for the form to show it beside."""
    client = authorized_client(create_app())
    answer = client.post("/v1/tasks/payment_reconciliation/requests", json={"payload": {"period_start": "2199-01-01"}})
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert "must be after period_start (2199-01-01)" in body["error"]
    assert isinstance(body["detail"], list) and [d["field"] for d in body["detail"]] == ["period_start"]
    with store.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM task_requests")).scalar_one() == 0


# --- email: a message the server accepted is not sent again ----------------------------------------


class _QuitRefusingSMTP(socketserver.StreamRequestHandler):
    """A minimal SMTP server on 127.0.0.1: accepts every message (250 after DATA), then answers
    QUIT with a 4xx, as a relay closing down does ("421 ... closing transmission channel")."""

    def handle(self) -> None:
        self.wfile.write(b"220 test ESMTP\r\n")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.wfile.write(b"250 test\r\n")
            elif verb == b"DATA":
                self.wfile.write(b"354 go ahead\r\n")
                lines = []
                while (data := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(data)
                self.server.accepted.append(b"".join(lines))
                self.wfile.write(b"250 2.0.0 accepted\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"421 4.4.2 closing transmission channel\r\n")
                return
            else:  # MAIL, RCPT, RSET, NOOP
                self.wfile.write(b"250 OK\r\n")


@pytest.fixture
def quit_refusing_smtp() -> Iterator[socketserver.ThreadingTCPServer]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _QuitRefusingSMTP)
    server.daemon_threads = True
    server.accepted = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_an_email_the_server_accepted_is_not_sent_again_when_its_quit_is_answered_4xx(quit_refusing_smtp, tmp_path):
    """The server said 250 to the message: the recipients have it. A 4xx to the QUIT that follows
    made the attempt a transient failure, so each retry sent the report again (3 emails)."""
    report = tmp_path / "payment_reconciliation_2024-03-04_2024-03-11.csv"
    report.write_text("order_id,issue\nO1,MISSING_PAYMENT\n")
    sink = EmailSink(host="127.0.0.1", port=quit_refusing_smtp.server_address[1], sender="reports@example.com",
                     to=["finance@example.com"], timeout=5)
    outcome = deliver_with_retries("finance_email", sink, Delivery("report", "text", [report]), attempts=3,
                                   backoff_seconds=(0.01,))
    assert len(quit_refusing_smtp.accepted) == 1
    assert outcome.status == "DELIVERED" and outcome.attempts == 1


# --- campaign alerts: the message counts every alert, not the first 1,000 -----------------------


def test_the_alert_message_counts_every_alert_not_the_first_thousand(halo_env, store, sinks_file, smtp_server, tmp_path,
                                                                    monkeypatch):
    """The run hands the task's message the first 1,000 rows of the result; the campaign alerts
    message counted those, so 1,001 alerts were announced as "1000 campaign alert(s)"."""
    import datetime as dt

    from halo_platform.reports.demo import campaign, write_marketing
    from halo_platform.reports.requests import create_request

    as_of = dt.date(2024, 3, 4)
    marketing = tmp_path / "marketing.duckdb"
    write_marketing(marketing, [campaign(f"C{i:04d}", as_of + dt.timedelta(days=1), "1000.00") for i in range(1001)], [])
    warehouses_file = tmp_path / "warehouses.yaml"
    warehouses_file.write_text(f"warehouses:\n  marketing: {{url: 'duckdb:///{marketing}'}}\n")
    monkeypatch.setenv("HALO_WAREHOUSES_FILE", str(warehouses_file))
    sinks_file({"owners_email": {"kind": "email", "host": "127.0.0.1", "port": smtp_server.port,
                                 "sender": "r@example.com", "to": ["owners@example.com"]}})

    request = create_request(store, "campaign_alerts", {"as_of": "2024-03-04", "rearm_hours": 0}, ["owners_email"],
                             wait=True)
    assert request["status"] == "SUCCEEDED" and request["row_count"] == 1001, request
    (mail,) = smtp_server.messages.wait_for(1)
    assert mail.text().splitlines()[0] == "1001 campaign alert(s) as of 2024-03-04:"
    assert mail.text().splitlines()[-1] == "- and 1 more in the file"
