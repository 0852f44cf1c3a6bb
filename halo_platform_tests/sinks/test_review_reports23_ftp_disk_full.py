"""An FTP server whose disk fills up in the middle of an upload (a real pyftpdlib server, its file
writes failing with ENOSPC past 256 KiB): it closes the data connection and says why on the control
connection, `426 ...; transfer aborted.` as pyftpdlib does, or `552` as a server
over its quota does (RFC 959: exceeded storage allocation). The sink said `ConnectionResetError:
Connection reset by peer` (what the client saw sending into the closed data connection) and read
the server's reason as the answer to its clean-up DELE; the reason is the error now, a 552 is not
retried, nothing is left in the folder, and the other sink of the request gets the report."""

from __future__ import annotations

import errno
import ftplib
import logging
import time

import pytest
import yaml

from halo_platform.reports.assets import deliver_all
from halo_platform.sinks import Delivery, SinksResource
from halo_platform.sinks.base import TransientSinkError
from halo_platform.sinks.ftp import REPLY_SECONDS, FTPSink
from halo_platform_tests.fixtures.ports import closed_port
from halo_platform_tests.servers import ftp as ftp_servers

ROOM = 256 << 10  # bytes the server's disk takes before it is full


class _FillingFile:
    """A file of the server's that takes `room` bytes, then fails each write as a full disk does."""

    def __init__(self, file, room: int) -> None:  # noqa: ANN001
        self.file, self.room = file, room

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.file.write(data)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.file, name)


def _over_quota(self) -> None:  # noqa: ANN001 - pyftpdlib's DTP handler, as a server over its quota answers
    self._resp = ("552 Exceeded storage allocation; transfer aborted.", logging.warning)
    self.close()


def _said_left(caplog) -> list[str]:  # noqa: ANN001
    return [r.getMessage() for r in caplog.records if r.name == "halo_platform.sinks.base" and "left" in r.getMessage()]


@pytest.fixture
def full_disk(ftp_server, monkeypatch):
    opened = ftp_servers._FS.open
    monkeypatch.setattr(ftp_servers._FS, "open", lambda fs, name, mode: _FillingFile(opened(fs, name, mode), ROOM))
    return ftp_server


@pytest.mark.parametrize(("reply", "attempts", "said"), [
    # pyftpdlib's reply names the errno it lost on the way (`426 None; transfer aborted.`): its own, as it comes
    ("426", 3, "TransientSinkError: FTP 127.0.0.1: error_temp: 426 None; transfer aborted."),
    ("552", 1, "permanent: FTP 127.0.0.1: 552 Exceeded storage allocation; transfer aborted."),
])
def test_an_ftp_server_whose_disk_fills_mid_upload_is_named_by_its_reply_and_leaves_nothing(
        full_disk, halo_env, tmp_path, monkeypatch, caplog, reply, attempts, said):
    if reply == "552":
        monkeypatch.setattr(ftp_servers._DTPMixin, "handle_error", _over_quota, raising=False)
    server = full_disk
    outbox = tmp_path / "outbox"
    (tmp_path / "sinks.yaml").write_text(yaml.safe_dump({"sinks": {
        "partner_ftp": {"kind": "ftp", "host": server.host, "port": server.port, "remote_dir": "/inbound",
                        **server.credentials},
        "outbox": {"kind": "folder", "path": str(outbox)}}}))
    monkeypatch.setenv("HALO_SINKS_FILE", str(tmp_path / "sinks.yaml"))
    report = tmp_path / "payment_reconciliation_2024-03-04_2024-03-11.csv"
    report.write_bytes(b"order_id,issue\n" + b"O1,MISSING_PAYMENT\n" * (2 << 20))  # 38 MiB: still sending when the disk fills
    sinks = SinksResource(attempts=3, backoff=[0.0])

    with caplog.at_level(logging.WARNING, logger="halo_platform.sinks.base"):
        ftp, folder = deliver_all(sinks, ["partner_ftp", "outbox"], Delivery("r", "t", [report]))
    assert (ftp.status, ftp.attempts, folder.status) == ("FAILED", attempts, "DELIVERED")
    assert [t["error"] for t in ftp.tries] == [said] * attempts
    assert list((server.home / "inbound").iterdir()) == []  # no half file, under its name or a temporary one
    assert _said_left(caplog) == []  # each temporary file was removed by the attempt that made it
    assert (outbox / report.name).read_bytes() == report.read_bytes()

    monkeypatch.undo()  # the disk freed: a retry delivers the report once
    monkeypatch.setenv("HALO_SINKS_FILE", str(tmp_path / "sinks.yaml"))
    (again,) = deliver_all(sinks, ["partner_ftp"], Delivery("r", "t", [report]))
    assert again.status == "DELIVERED"
    assert [(p.name, p.stat().st_size) for p in (server.home / "inbound").iterdir()] == [(report.name, report.stat().st_size)]


def test_a_passive_data_port_refused_fails_at_once_no_reply_awaited(ftp_server, report_file, monkeypatch):
    """The data connection refused (a firewall before the server's passive ports) fails before any
    STOR was sent: no reply is owed, and the attempt ends at once, not at the sink's timeout."""
    with closed_port() as port:
        monkeypatch.setattr(ftplib.FTP, "makepasv", lambda self: (ftp_server.host, port))
        sink = FTPSink(host=ftp_server.host, port=ftp_server.port, remote_dir="/inbound", timeout=10, **ftp_server.credentials)
        began = time.monotonic()
        with pytest.raises(TransientSinkError, match="ConnectionRefusedError"):
            sink.deliver(Delivery("r", "t", [report_file]))
        assert time.monotonic() - began < 3
    assert list((ftp_server.home / "inbound").iterdir()) == []


def test_a_server_that_says_nothing_once_an_upload_is_cut_off_is_waited_for_briefly(full_disk, tmp_path, caplog):
    """pyftpdlib over FTPS sends no reply once its disk filled: the attempt waits `REPLY_SECONDS` for
    one and goes on as before (a read timed out would have made the clean-up's DELE fail, and a
    temporary file be said left behind, after the sink's whole timeout)."""
    server = full_disk
    report = tmp_path / "payment_reconciliation_2024-03-04_2024-03-11.csv"
    report.write_bytes(b"order_id,issue\n" + b"O1,MISSING_PAYMENT\n" * (2 << 20))
    sink = FTPSink(host=server.host, port=server.tls_port, tls=True, ca_file=str(server.tls.cert_path),
                   remote_dir="/inbound", timeout=10, **server.credentials)
    began = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="halo_platform.sinks.base"), pytest.raises(TransientSinkError):
        sink.deliver(Delivery("r", "t", [report]))
    assert time.monotonic() - began < REPLY_SECONDS + 3
    assert list((server.home / "inbound").iterdir()) == []
    assert _said_left(caplog) == []
