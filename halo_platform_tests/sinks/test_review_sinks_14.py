"""Sinks, review 14: a stale temporary file an FTP delivery cannot remove leaves the others to be
removed."""

from __future__ import annotations

import logging
import os
import time

from halo_platform.sinks import Delivery
from halo_platform.sinks.ftp import FTPSink


def test_a_stale_entry_an_ftp_delivery_cannot_remove_leaves_the_others_to_be_removed(ftp_server, report_file, caplog):  # noqa: ANN001
    """The day-old temporary files an upload left are removed by the next delivery to the folder, each
    on its own: one entry of their pattern that cannot be (here a partner's folder, whose MDTM the
    server refuses) stopped the cleanup of every one listed after it, kept in the partner's folder
    for good. It is passed over, logged by its name, and the others are removed."""
    folder = ftp_server.home / "inbound"
    folder.mkdir()
    day_old = time.time() - 25 * 3600
    stale = [folder / f".{report_file.name}.{n:08x}.part" for n in range(8)]
    for path in stale:
        path.write_bytes(b"order_id")
        os.utime(path, (day_old, day_old))
    kept = _folder_listed_before_a_file(folder)
    sink = FTPSink(host=ftp_server.host, port=ftp_server.port, remote_dir="/inbound", timeout=10, **ftp_server.credentials)
    with caplog.at_level(logging.WARNING, logger="halo_platform.sinks.base"):
        assert sink.deliver(Delivery("r", "t", [report_file])) == [
            f"ftp://{ftp_server.host}:{ftp_server.port}/inbound/{report_file.name}"]
    assert sorted(p.name for p in folder.iterdir()) == sorted([report_file.name, kept.name])
    [said] = [r.getMessage() for r in caplog.records if kept.name in r.getMessage()]
    assert ftp_server.password not in said


def _folder_listed_before_a_file(folder):  # noqa: ANN001, ANN202
    """A folder of the temporary files' pattern that the server lists before one of the files: it
    lists in the file system's order, which the names decide (a hash) or their creation."""
    for n in range(100):
        made = folder / f".partner_{n}.0123abcd.part"
        made.mkdir()
        if os.listdir(folder)[-1] != made.name:
            return made
        made.rmdir()
    raise AssertionError("every folder made was listed last")
