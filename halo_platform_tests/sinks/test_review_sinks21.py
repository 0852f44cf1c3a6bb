"""Sinks review 21: the sockets of a session the sink's clients keep for themselves are its
deadline's too (`answered_within` watches each socket the delivering thread makes): an FTP
upload's data connection, passive (the sink connects) or active (the server connects to the
sink's listener), and an implicit-TLS SMTP connection. Each is held here by a server answering
slowly, each part within the sink's timeout (which holds for each read or write) and slower
than it in total. Real pyftpdlib and aiosmtpd servers on 127.0.0.1; the trickling one is a
socket of this file."""

from __future__ import annotations

import socket
import time

import pytest

from halo_platform.core import request_deadline
from halo_platform.sinks import Delivery, deliver_with_retries
from halo_platform.sinks.email import EmailSink
from halo_platform.sinks.ftp import FTPSink
from halo_platform_tests.servers import ftp as ftp_servers
from halo_platform_tests.sinks.test_review_sinks19 import Trickler, _delivered


@pytest.mark.parametrize("passive", [True, False])
def test_an_ftp_server_taking_an_upload_slowly_is_given_up_at_the_time_of_its_size(ftp_server, tmp_path, monkeypatch,
                                                                                   passive):
    """A server taking each 64 KiB of a 16 MiB upload in 0.2 s (each block well within the 1 s
    timeout) is given up at the time of the file's size, 3 s here (the minimum rate raised to
    8 MiB/s), whichever side opened the data connection; its temporary file is removed and the
    retry delivers the file whole."""
    monkeypatch.setattr(request_deadline, "MIN_BYTES_PER_SECOND", 8 * 1024 * 1024)
    first: list[object] = []  # the first upload's control connection
    read = ftp_servers._DTPMixin.handle_read_event

    def slowly(self) -> None:  # noqa: ANN001
        first[:] = first or [self.cmd_channel]
        if first[0] is self.cmd_channel:
            time.sleep(0.2)
        read(self)

    monkeypatch.setattr(ftp_servers._DTPMixin, "handle_read_event", slowly)
    report = tmp_path / "large.csv"
    report.write_bytes(b"x" * 16 * 1024 * 1024)
    sink = FTPSink(host="127.0.0.1", port=ftp_server.port, remote_dir="/inbound", timeout=1, passive=passive,
                   **ftp_server.credentials)
    started = time.monotonic()
    outcome = deliver_with_retries("partner", sink, Delivery("r", "t", [report]), attempts=2, backoff_seconds=(0.0,))
    assert time.monotonic() - started < 8, outcome.tries
    assert "no answer within 3 s" in outcome.tries[0]["error"], outcome.tries
    assert (outcome.status, outcome.attempts) == ("DELIVERED", 2), outcome.detail
    assert [p.name for p in (ftp_server.home / "inbound").iterdir()] == [report.name]
    assert (ftp_server.home / "inbound" / report.name).stat().st_size == report.stat().st_size


class TLSTrickler(Trickler):
    """A server whose first connection is TLS (the SMTP server's certificate) and sent a line of
    greeting every 0.5 s once its handshake is over; later ones are relayed to the real server's
    implicit-TLS port as they are."""

    def __init__(self, server) -> None:  # noqa: ANN001
        self.context = server.tls.server_context()
        super().__init__(b"220-still greeting\r\n", (server.host, server.ssl_port))

    def trickle(self, conn: socket.socket) -> None:
        try:
            secured = self.context.wrap_socket(conn, server_side=True)
        except OSError:  # the sink hung up in the handshake
            conn.close()
            return
        super().trickle(secured)


def test_an_implicit_tls_smtp_server_trickling_its_greeting_is_given_up_at_the_sinks_timeout(smtp_server, report_file):
    """With `ssl: true` the greeting comes over TLS: a line every 0.5 s held an email sink with a
    1 s timeout as long as it went on, were the TLS socket not the deadline's. The attempt is
    given up at 1 s, 'no answer within 1 s', and the retry delivers over TLS."""
    server = TLSTrickler(smtp_server)
    try:
        outcome, took = _delivered(EmailSink(host="127.0.0.1", port=server.port, ssl=True, sender="reports@example.com",
                                             to=["finance@example.com"], ca_file=str(smtp_server.tls.cert_path), timeout=1,
                                             **smtp_server.credentials), report_file)
    finally:
        server.close()
    assert took < 5, f"held {took:.1f} s"
    assert "no answer within 1 s" in outcome.tries[0]["error"], outcome.tries
    assert (outcome.status, outcome.attempts, server.connections) == ("DELIVERED", 2, 2), outcome.detail
    (mail,) = smtp_server.messages.wait_for(1)
    assert mail.tls and mail.attachments == {report_file.name: report_file.read_bytes()}
