"""Sinks review 19: servers that answer slowly, a line at a time, each within the sink's timeout
(which holds for each read) and slower than it in total. Real servers on 127.0.0.1: the trickling
ones are sockets of this file, the others aiosmtpd, pyftpdlib and paramiko."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable

import pytest

from halo_platform.core import request_deadline
from halo_platform.sinks import Delivery, deliver_with_retries
from halo_platform.sinks.email import EmailSink
from halo_platform.sinks.ftp import FTPSink
from halo_platform.sinks.sftp import SFTPSink
from halo_platform_tests.servers import sftp as sftp_servers
from halo_platform_tests.servers.slow import SlowServer


class Trickler(SlowServer):
    """A server whose first `slow` connections are sent `line` every `every` seconds (`lines` of
    them: a greeting of many lines, each within a read timeout) and whose later ones are relayed to
    the real server at `upstream`."""

    def __init__(self, line: bytes, upstream: tuple[str, int], slow: int = 1, every: float = 0.5, lines: int = 40) -> None:
        self.line, self.upstream = line, upstream
        super().__init__(slow, every, lines)

    def answer(self, conn: socket.socket, slow: bool) -> None:
        (self.trickle if slow else self.relay)(conn)

    def trickle(self, conn: socket.socket) -> None:
        with conn:
            for _ in range(self.lines):
                if self.stopped.wait(self.every):
                    return
                try:
                    conn.sendall(self.line)
                except OSError:  # the sink hung up
                    return

    def relay(self, conn: socket.socket, read: bytes = b"", answers: Callable[..., None] | None = None) -> None:
        """Relay `conn` to the real server, beginning with what was `read` of it already; the
        server's answers by `answers(upstream, conn)` (`_pump` unless given)."""
        with conn, socket.create_connection(self.upstream) as upstream:
            upstream.sendall(read)
            pumps = [threading.Thread(target=_pump, args=(conn, upstream), daemon=True),
                     threading.Thread(target=answers or _pump, args=(upstream, conn), daemon=True)]
            for pump in pumps:
                pump.start()
            for pump in pumps:
                pump.join()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def trickler(line: bytes, upstream: tuple[str, int]):  # noqa: ANN201
    server = Trickler(line, upstream)
    try:
        yield server
    finally:
        server.close()


def _delivered(sink, report_file) -> tuple:  # noqa: ANN001
    started = time.monotonic()
    outcome = deliver_with_retries("partner", sink, Delivery("r", "t", [report_file]), attempts=2, backoff_seconds=(0.0,))
    return outcome, time.monotonic() - started


def _given_up_then_delivered(line: bytes, server, sink_at, report_file) -> None:  # noqa: ANN001
    """A sink with a 1 s timeout (`sink_at(port)`) to a server trickling `line` is given up at its
    timeout, 'no answer within 1 s', and retried as other transient failures are: the retry (relayed
    to the real `server`) delivers."""
    with trickler(line, (server.host, server.port)) as trickling:
        outcome, took = _delivered(sink_at(trickling.port), report_file)
    assert took < 5, f"held {took:.1f} s"
    assert "no answer within 1 s" in outcome.tries[0]["error"], outcome.tries
    assert (outcome.status, outcome.attempts, trickling.connections) == ("DELIVERED", 2, 2), outcome.detail


@pytest.mark.parametrize("mode", [{"starttls": True}, {}])
def test_an_smtp_server_trickling_its_greeting_is_given_up_at_the_sinks_timeout(smtp_server, report_file, mode):
    """smtplib's timeout holds for each read: a greeting of a line every 0.5 s held an email sink
    with a 1 s timeout for the 20 s it went on (for good, had it gone on), and the report's run and
    the sinks after it with it. The connection and login now have the sink's timeout as a whole."""
    _given_up_then_delivered(b"220-still greeting\r\n", smtp_server, lambda port: EmailSink(
        host="127.0.0.1", port=port, sender="reports@example.com", to=["finance@example.com"],
        ca_file=str(smtp_server.tls.cert_path), timeout=1, **smtp_server.credentials, **mode), report_file)
    (mail,) = smtp_server.messages.wait_for(1)
    assert mail.attachments == {report_file.name: report_file.read_bytes()}


def test_an_ftp_server_trickling_its_banner_is_given_up_at_the_sinks_timeout(ftp_server, report_file):
    """ftplib's timeout holds for each read: a banner of a line every 0.5 s held an FTP sink with a
    1 s timeout for the 20 s it went on. The retry (to the real server) delivers the file whole."""
    _given_up_then_delivered(b"220-welcome, still\r\n", ftp_server, lambda port: FTPSink(
        host="127.0.0.1", port=port, remote_dir="/inbound", timeout=1, **ftp_server.credentials), report_file)
    assert [p.name for p in (ftp_server.home / "inbound").iterdir()] == [report_file.name]


def _slow_first_connection(monkeypatch, server_class: type, method: str, seconds: float) -> None:  # noqa: ANN001
    """The SFTP server answers `method` `seconds` late on its first connection (its socket, kept: a
    thread's ident is reused by the next connection's)."""
    first: list[socket.socket] = []
    answer = getattr(server_class, method)

    def slow(self, *args):  # noqa: ANN001, ANN002, ANN202
        first[:] = first or [self._sock]
        if first[0] is self._sock:
            time.sleep(seconds)
        return answer(self, *args)

    monkeypatch.setattr(server_class, method, slow)


def sftp_sink(server, **kwargs) -> SFTPSink:  # noqa: ANN001
    return SFTPSink(**{**dict(host=server.host, port=server.port, known_hosts_path=str(server.known_hosts_path),
                              **server.credentials), **kwargs})


_FOLDERS = "abcdefghijklmnopqrst"  # 20 folders, one `stat` each


def test_an_sftp_server_answering_each_request_slowly_is_given_up_at_the_sinks_timeout(sftp_server, report_file, monkeypatch):
    """paramiko's channel timeout holds for each request: a server answering each `stat` in 0.5 s
    held an SFTP sink with a 2 s timeout for the 10 s of a 20-folder `remote_dir` (a whole listing's
    worth of them, for good). Only the first connection's answers are slow: the retry delivers."""
    _slow_first_connection(monkeypatch, sftp_servers._SFTPInterface, "stat", 0.5)
    outcome, took = _delivered(sftp_sink(sftp_server, remote_dir="/" + "/".join(_FOLDERS), timeout=2), report_file)
    assert took < 6, f"held {took:.1f} s"
    assert "no answer within 2 s" in outcome.tries[0]["error"], outcome.tries
    assert (outcome.status, outcome.attempts) == ("DELIVERED", 2), outcome.detail
    assert [p.name for p in sftp_server.root.joinpath(*_FOLDERS).iterdir()] == [report_file.name]


@pytest.mark.parametrize(("bytes_per_second", "attempts"), [(None, 1), (768 * 1024, 2)])
def test_an_upload_has_the_time_of_its_size_and_one_too_slow_leaves_no_file(sftp_server, tmp_path, monkeypatch,
                                                                            bytes_per_second, attempts):
    """A server taking each 32 KiB block of a 96 KiB file in 0.4 s (1.2 s, over the 1 s timeout) is
    slow, not stuck: the upload has the timeout and a second for each 32 KiB (the minimum rate), and
    delivers. Below the minimum rate (768 KiB/s here: 1.125 s) it is given up, its temporary file
    removed (the partner never sees half a file), and the retry delivers it whole."""
    if bytes_per_second:
        monkeypatch.setattr(request_deadline, "MIN_BYTES_PER_SECOND", bytes_per_second)
    _slow_first_connection(monkeypatch, sftp_servers._Handle, "write", 0.4)
    report = tmp_path / "large.csv"
    report.write_bytes(b"x" * 96 * 1024)
    started = time.monotonic()
    outcome = deliver_with_retries("partner", sftp_sink(sftp_server, remote_dir="/inbound", timeout=1),
                                   Delivery("r", "t", [report]), attempts=2, backoff_seconds=(0.0,))
    assert time.monotonic() - started < 5
    assert (outcome.status, outcome.attempts) == ("DELIVERED", attempts), outcome.tries
    if attempts == 2:
        assert "no answer within 1.1 s" in outcome.tries[0]["error"], outcome.tries
        assert [e.op for e in sftp_server.events.snapshot()].count("remove") == 1  # the first attempt's part
    assert [p.name for p in (sftp_server.root / "inbound").iterdir()] == [report.name]
    assert (sftp_server.root / "inbound" / report.name).read_bytes() == report.read_bytes()
