"""Sinks, review 13: a folder sink that may not write in its folder fails once, naming it; an S3
prefix with doubled slashes names the folder it would without them; the old file an SFTP upload
moved aside and could not remove is logged by name and removed by a delivery a day on; an FTP
server that hides dot files from its listings has its stale temporary files removed all the same."""

from __future__ import annotations

import logging
import os
import subprocess
import time

import pytest

from halo_platform.sinks import Delivery, deliver_with_retries
from halo_platform.sinks.folder import FolderSink
from halo_platform.sinks.ftp import FTPSink
from halo_platform.sinks.s3 import S3Sink
from halo_platform.sinks.sftp import SFTPSink


@pytest.fixture
def unwritable_folder(tmp_path):  # noqa: ANN001
    """A folder its user may not write in: read-only by its mode, and immutable for root (whom no
    mode stops)."""
    folder = tmp_path / "outbox"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(folder)], check=True)
    yield folder
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


def test_a_folder_sink_that_may_not_write_in_its_folder_fails_once_naming_it(unwritable_folder, report_file):  # noqa: ANN001
    """The folder exists but its user may not write in it: the PermissionError of the temporary
    file was taken for a transient error, retried with backoff at each attempt (and the run retried
    for it), though no retry grants the permission. It is a permanent failure, after one attempt,
    naming the folder, as the FTP and SFTP sinks' permission errors are; nothing is written."""
    sink = FolderSink(path=str(unwritable_folder))
    outcome = deliver_with_retries("outbox", sink, Delivery("r", "t", [report_file]), attempts=3, backoff_seconds=(0.01,))
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 1, True), outcome.tries
    assert outcome.detail.startswith(f"permanent: no permission to write in folder {unwritable_folder}: "), outcome.detail
    assert list(unwritable_folder.iterdir()) == []


@pytest.mark.parametrize(("prefix", "key"), [("a//b/", "a/b/"), ("halo//x", "halo/x/"), ("//halo//", "halo/"),
                                             ("halo///finance//2024", "halo/finance/2024/")])
def test_an_s3_prefix_with_doubled_slashes_is_the_folder_it_names_without_them(s3_server, report_file, prefix, key):  # noqa: ANN001
    """`prefix: ${BASE}/x` with BASE ending in `/` is `halo//x`: the reports went to `halo//x/<name>`,
    a key under an empty-named folder that a partner listing `halo/x/` never finds. A prefix is a
    folder path, as `/halo/` and `halo` already are: an empty step in it names no folder."""
    client = s3_server.client()
    client.create_bucket(Bucket="reports")
    sink = S3Sink(bucket="reports", prefix=prefix, endpoint_url=s3_server.endpoint_url, region=s3_server.region)
    assert sink.deliver(Delivery("r", "t", [report_file])) == [f"s3://reports/{key}{report_file.name}"]
    listed = client.list_objects_v2(Bucket="reports").get("Contents", [])
    assert [o["Key"] for o in listed] == [f"{key}{report_file.name}"]


def test_an_old_file_an_sftp_upload_could_not_remove_is_logged_by_name_and_removed_by_a_delivery_a_day_on(
        sftp_server, report_file, caplog):  # noqa: ANN001
    """A server without posix-rename: the previous report is moved aside to `.<name>.<hex>.old`, the
    new one renamed into place, the old one removed. When that removal failed (here the connection
    drops on it) the delivery succeeded and the partner's folder kept the old copy forever, nothing
    saying so, where a temporary `.part` file left is logged and removed a day on. The old file is
    now logged by its name (not the folder's path) and removed alike; the partner's own files stay."""
    sink = SFTPSink(host=sftp_server.host, port=sftp_server.port, remote_dir="/inbound", timeout=10,
                    known_hosts_path=str(sftp_server.known_hosts_path), **sftp_server.credentials)
    folder = sftp_server.root / "inbound"
    sink.deliver(Delivery("r", "t", [report_file]))
    sftp_server.switches.no_posix_rename = True
    sftp_server.switches.drops_on_remove = 1
    with caplog.at_level(logging.WARNING, logger="halo_platform.sinks.base"):
        sink.deliver(Delivery("r", "t", [report_file]))
    [old] = [p for p in folder.iterdir() if p.name != report_file.name]
    assert old.name.startswith(f".{report_file.name}.") and old.name.endswith(".old")
    [said] = [r.getMessage() for r in caplog.records if old.name in r.getMessage()]
    assert f"/inbound/{old.name}" not in said and sftp_server.password not in said

    day_old = time.time() - 25 * 3600
    os.utime(old, (day_old, day_old))
    own = folder / ".partner_notes.old"
    own.write_bytes(b"theirs")
    os.utime(own, (day_old, day_old))
    sink.deliver(Delivery("r", "t", [report_file]))
    assert sorted(p.name for p in folder.iterdir()) == sorted([report_file.name, own.name])


@pytest.mark.parametrize("mlsd", [True, False], ids=["proftpd_like", "vsftpd_like"])
def test_a_stale_part_file_on_an_ftp_server_that_hides_dot_files_is_removed_by_a_delivery(ftp_server, report_file, mlsd):  # noqa: ANN001
    """The day-old `.<name>.<hex>.part` an upload left is removed by the next delivery to the folder:
    its name starts with a dot, and the cleanup listed the folder with a plain NLST, which vsftpd,
    ProFTPD and Pure-FTPd answer without dot files by default: it never found one there. It lists
    with MLSD (every entry), and with `NLST -a` where MLSD is refused (vsftpd has none)."""
    ftp_server.switches.hide_dot_files = True
    ftp_server.switches.refuse_mlsd = not mlsd
    folder = ftp_server.home / "inbound"
    folder.mkdir()
    stale = folder / f".{report_file.name}.0123abcd.part"
    stale.write_bytes(b"order_id")
    day_old = time.time() - 25 * 3600
    os.utime(stale, (day_old, day_old))
    sink = FTPSink(host=ftp_server.host, port=ftp_server.port, remote_dir="/inbound", timeout=10, **ftp_server.credentials)
    assert sink.deliver(Delivery("r", "t", [report_file])) == [f"ftp://{ftp_server.host}:{ftp_server.port}/inbound/{report_file.name}"]
    assert [p.name for p in folder.iterdir()] == [report_file.name]
