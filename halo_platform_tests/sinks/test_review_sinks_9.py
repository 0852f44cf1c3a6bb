"""Sinks, review 9: an upload whose connection drops leaves no temporary file with the partner."""

from __future__ import annotations

import pytest

from halo_platform.sinks import Delivery, deliver_with_retries
from halo_platform.sinks.base import TransientSinkError
from halo_platform.sinks.ftp import FTPSink
from halo_platform.sinks.sftp import SFTPSink


@pytest.fixture
def big_report(tmp_path):  # noqa: ANN001
    """A report larger than the sockets' buffers: its upload is still under way when the connection drops."""
    path = tmp_path / "payment_reconciliation_2024-03-04_2024-03-11.csv"
    path.write_bytes(b"order_id,issue\n" + b"O1,MISSING_PAYMENT\n" * 400_000)
    return path


def _ftp(ftp_server):  # noqa: ANN001, ANN202
    ftp_server.switches.drops_mid_stor = 1
    sink = FTPSink(host=ftp_server.host, port=ftp_server.port, remote_dir="/inbound", timeout=10, **ftp_server.credentials)
    return sink, ftp_server.home / "inbound"


def _sftp(sftp_server):  # noqa: ANN001, ANN202
    sftp_server.switches.drops_mid_write = 1
    sink = SFTPSink(host=sftp_server.host, port=sftp_server.port, remote_dir="/inbound", timeout=10,
                    known_hosts_path=str(sftp_server.known_hosts_path), **sftp_server.credentials)
    return sink, sftp_server.root / "inbound"


@pytest.mark.parametrize("server", ["ftp_server", "sftp_server"])
def test_an_upload_whose_connection_drops_leaves_no_part_file_in_the_partners_folder(request, server, big_report):  # noqa: ANN001
    """The connection dies mid-upload (the server keeps what it received, as a real one does): the
    failed attempt could not remove its temporary file on the dead connection, and the partner's
    folder kept a `.<name>.<hex>.part` of 64 kB their automation may pick up. The sink removes it
    through a new connection; a retry then puts the file in place and leaves nothing else."""
    sink, folder = (_ftp if server == "ftp_server" else _sftp)(request.getfixturevalue(server))
    with pytest.raises(TransientSinkError):
        sink.deliver(Delivery("r", "t", [big_report]))
    assert sorted(p.name for p in folder.iterdir()) == []

    (_ftp if server == "ftp_server" else _sftp)(request.getfixturevalue(server))  # the next upload drops too
    outcome = deliver_with_retries("partner", sink, Delivery("r", "t", [big_report]), attempts=2, sleep=lambda _: None)
    assert (outcome.status, outcome.attempts) == ("DELIVERED", 2)
    assert sorted(p.name for p in folder.iterdir()) == [big_report.name]
    assert (folder / big_report.name).read_bytes() == big_report.read_bytes()
