"""Sinks, review 9: an upload whose connection drops leaves no temporary file with the partner; a
folder sink's file survives a power cut."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from pathlib import Path

import pytest
import yaml

from halo_platform.core.definitions import STORE
from halo_platform.reports.demo import campaign, write_marketing
from halo_platform.reports.requests import create_request
from halo_platform.sinks import Delivery, deliver_with_retries
from halo_platform.sinks.base import TransientSinkError
from halo_platform.sinks.folder import FolderSink
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


def test_the_folder_sink_syncs_the_file_before_its_rename_and_the_folder_after(tmp_path, report_file):  # noqa: ANN001
    """A report replaced by a rename whose data and folder entry were never synced can be an empty
    file after a power cut (ext4, XFS: the rename reaches the disk before the data). Each call the
    sink makes to os.fsync and os.replace is watched as it happens (a profile hook, os untouched),
    with the files of the folder then open in the process: the temporary file, whole, is synced
    before the rename, and the folder after it. Before, no os.fsync was called at all."""
    folder = tmp_path / "outbox"
    size = report_file.stat().st_size
    calls: list[tuple[str, list[str]]] = []

    def open_in_folder() -> list[str]:
        opened = []
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):  # the fd of the listing itself is gone
                path = Path(os.readlink(f"/proc/self/fd/{fd}"))
                if path == folder:
                    opened.append("the folder")
                elif path.parent == folder:
                    whole = "whole" if path.stat().st_size == size else f"{path.stat().st_size} of {size} bytes"
                    opened.append(f"{'a temporary' if path.name.startswith('.') else 'the target'} file, {whole}")
        return opened

    def watch(frame, event, arg) -> None:  # noqa: ANN001
        if event == "c_call" and arg in (os.fsync, os.replace):
            calls.append((arg.__name__, open_in_folder()))

    sys.setprofile(watch)
    try:
        FolderSink(path=str(folder)).deliver(Delivery("r", "t", [report_file]))
    finally:
        sys.setprofile(None)
    assert calls == [("fsync", ["a temporary file, whole"]), ("replace", []), ("fsync", ["the folder"])]
    assert [p.name for p in folder.iterdir()] == [report_file.name]


def test_a_sink_that_fails_after_its_link_store_took_the_file_records_where_the_file_is(
        halo_env, ftp_server, tmp_path, monkeypatch):  # noqa: ANN001
    """A sink whose file is over its size limit is delivered in two parts: the file to its link
    store (a served folder here), then the link to the sink. The sink refusing its login, the
    request's delivery row said FAILED with no target: nothing told the operator that the report
    was stored, and served, at the link store. The failed sink's row now names it, FAILED (the
    partner has nothing), and its detail says so; the request's outputs list it."""
    home = Path(halo_env["HALO_HOME"])
    marketing = tmp_path / "marketing.duckdb"
    write_marketing(marketing, [campaign("C1", dt.date(2024, 5, 11), "100.00")], [])
    (tmp_path / "warehouses.yaml").write_text(yaml.safe_dump({"warehouses": {"marketing": {"url": f"duckdb:///{marketing}"}}}))
    (tmp_path / "sinks.yaml").write_text(yaml.safe_dump({"sinks": {
        "partner_ftp": {"kind": "ftp", "host": ftp_server.host, "port": ftp_server.port, "remote_dir": "/inbound",
                        "max_file_bytes": 10, "link_store": "served", **ftp_server.credentials},
        "served": {"kind": "folder", "path": str(home / "served"), "url": "https://files.example.com/halo/"},
    }}))
    for name, value in {"HALO_WAREHOUSES_FILE": "warehouses.yaml", "HALO_SINKS_FILE": "sinks.yaml"}.items():
        monkeypatch.setenv(name, str(tmp_path / value))
    ftp_server.switches.refuse_login = True
    STORE.dispose()
    try:
        request = create_request(STORE, "campaign_alerts", {"as_of": "2024-05-10"}, ["partner_ftp"], wait=True)
    finally:
        STORE.dispose()

    assert request["status"] == "FAILED"
    stored = (home / "served" / "campaign_alerts_2024-05-10.csv").resolve().as_uri()
    assert [(d["sink"], d["target"], d["status"]) for d in request["deliveries"]] == [("partner_ftp", stored, "FAILED")]
    (delivery,) = request["deliveries"]
    assert delivery["detail"].startswith("permanent: FTP 127.0.0.1: 530")
    assert delivery["detail"].endswith(f"; not sent, kept by link store served: {stored}")
    assert request["outputs"] == [stored]
