"""Sinks review 20: servers that trickle the TLS handshake, a byte at a time, each within the
sink's timeout (which holds for each read). Python's ssl gives a handshake the socket's timeout as
a whole, from its own start: one begun late in the connection's time (after a slow greeting, once
STARTTLS or AUTH TLS is answered) ran past it, where the deadline shut the plain socket alone. The
servers are the real aiosmtpd and pyftpdlib with their TLS, behind a proxy of this file that delays
the first connection's greeting and trickles its handshake; later connections are relayed as they are."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from pathlib import Path

from halo_platform.sinks import Sink
from halo_platform.sinks.email import EmailSink
from halo_platform.sinks.ftp import FTPSink
from halo_platform_tests.sinks.test_review_sinks19 import Trickler, _delivered

_HANDSHAKE = b"\x16"  # the content type of a TLS handshake record; no plain-text reply begins with it


class HandshakeTrickler(Trickler):
    """A proxy to the real server at `upstream` sending its first connection's greeting `lag`
    seconds late (within a read's timeout), then its TLS handshake (the ServerHello and on) a byte
    every `every` seconds, `lines` bytes of it, before hanging up; the plain-text replies between
    (EHLO's, STARTTLS's 220, AUTH TLS's 234) go at once."""

    def __init__(self, upstream: tuple[str, int], lag: float) -> None:
        self.lag = lag
        super().__init__(b"", upstream, every=0.9, lines=10)

    def answer(self, conn: socket.socket, slow: bool) -> None:
        self.relay(conn, answers=self.trickle_handshake if slow else None)

    def trickle_handshake(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            lag = self.lag
            while (data := source.recv(65536)) and not data.startswith(_HANDSHAKE):
                if self.stopped.wait(lag):
                    return
                sink.sendall(data)
                lag = 0
            for byte in data[:self.lines]:
                if self.stopped.wait(self.every):
                    break
                sink.sendall(bytes([byte]))
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)


def _given_up_then_delivered(upstream: tuple[str, int], sink_at: Callable[[int], Sink], report_file: Path) -> None:
    """The sink `sink_at(port)` of the proxy to `upstream` fails its first attempt at its 3 s
    timeout, the handshake trickled; the retry, relayed as it is, delivers."""
    server = HandshakeTrickler(upstream, lag=2.2)
    try:
        outcome, took = _delivered(sink_at(server.port), report_file)
    finally:
        server.close()
    assert took < 4.2, f"held {took:.1f} s"
    assert "no answer within 3 s" in outcome.tries[0]["error"], outcome.tries
    assert (outcome.status, outcome.attempts, server.connections) == ("DELIVERED", 2, 2), outcome.detail


def test_an_smtp_server_trickling_its_starttls_handshake_is_given_up_at_the_sinks_timeout(smtp_server, report_file):
    """A greeting 2.2 s late, then STARTTLS's handshake a byte every 0.9 s: the handshake had a
    3 s timeout of its own, and an email sink with a 3 s timeout was held 5.3 s (the connection's
    deadline passed at 3 s, unheeded: it shut the plain socket, which the TLS one had replaced).
    The TLS socket is the deadline's as it is made now: 'no answer within 3 s', then the retry
    delivers, over TLS."""
    _given_up_then_delivered((smtp_server.host, smtp_server.port), lambda port: EmailSink(
        host="127.0.0.1", port=port, sender="reports@example.com", to=["finance@example.com"],
        ca_file=str(smtp_server.tls.cert_path), timeout=3, starttls=True, **smtp_server.credentials), report_file)
    (mail,) = smtp_server.messages.wait_for(1)
    assert mail.tls
    assert mail.attachments == {report_file.name: report_file.read_bytes()}


def test_an_ftps_server_trickling_its_tls_handshake_is_given_up_at_the_sinks_timeout(ftp_server, report_file):
    """A banner 2.2 s late, then AUTH TLS's handshake a byte every 0.9 s, held an FTPS sink with a
    3 s timeout for 5.3 s; now the attempt fails at 3 s and the retry delivers the file whole, over TLS."""
    _given_up_then_delivered((ftp_server.host, ftp_server.tls_port), lambda port: FTPSink(
        host="127.0.0.1", port=port, remote_dir="/inbound", tls=True, timeout=3,
        ca_file=str(ftp_server.tls.cert_path), **ftp_server.credentials), report_file)
    assert [p.name for p in (ftp_server.home / "inbound").iterdir()] == [report_file.name]
    assert [upload.tls for upload in ftp_server.uploads.snapshot()] == [True]
