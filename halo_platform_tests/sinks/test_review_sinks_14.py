"""Sinks, review 14: a stale temporary file an FTP delivery cannot remove leaves the others to be
removed; a folder sink on a read-only file system fails once, and one that may not read its report
says so; an S3 prefix's `.` steps name the folder they are in, and a `..` step is refused; an email
address written with a name is sent to its address alone."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from halo_platform.reports.assets import deliver_all
from halo_platform.sinks import Delivery, SinksResource, deliver_with_retries
from halo_platform.sinks.email import EmailSink
from halo_platform.sinks.folder import FolderSink
from halo_platform.sinks.ftp import FTPSink
from halo_platform.sinks.s3 import S3Sink


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


@pytest.fixture
def read_only_folder(tmp_path):  # noqa: ANN001
    """A folder on a file system mounted read-only (a read-only NFS export or container volume): a
    write there is refused with EROFS, whoever the user is."""
    folder = tmp_path / "outbox"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], check=True)
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_a_folder_sink_on_a_read_only_file_system_fails_once_naming_its_folder(read_only_folder, report_file):  # noqa: ANN001
    """The folder's file system is mounted read-only: its OSError (EROFS) was taken for a transient
    error, retried with backoff at each attempt and then by the run, though no retry makes the mount
    writable. It is a permanent failure, after one attempt, naming the folder, as a folder its user
    may not write in is."""
    sink = FolderSink(path=str(read_only_folder))
    outcome = deliver_with_retries("outbox", sink, Delivery("r", "t", [report_file]), attempts=3, backoff_seconds=(0.01,))
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 1, True), outcome.tries
    assert outcome.detail == f"permanent: no permission to write in folder {read_only_folder}: Read-only file system"


def test_a_folder_sink_that_may_not_read_its_report_says_so_not_that_it_may_not_write(tmp_path):  # noqa: ANN001
    """A report file the sink may not read (here one no user may read, root included: a write-only
    kernel setting behind a link named as a report) failed as 'no permission to write in folder',
    sending whoever read it to the folder's rights, which were fine. It names the file it could not
    read, fails once (no retry grants the right), and writes nothing."""
    report = tmp_path / "payment_reconciliation_2024-03-04_2024-03-11.csv"
    report.symlink_to(Path("/proc/sys/vm/drop_caches"))
    folder = tmp_path / "outbox"
    sink = FolderSink(path=str(folder))
    outcome = deliver_with_retries("outbox", sink, Delivery("r", "t", [report]), attempts=3, backoff_seconds=(0.01,))
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 1, True), outcome.tries
    assert outcome.detail == f"permanent: no permission to read {report.name}: Permission denied"
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize(("prefix", "key"), [("./halo", "halo/"), ("halo/./finance/", "halo/finance/"), (".", ""),
                                             ("/./halo/.", "halo/")])
def test_a_dot_step_of_an_s3_prefix_names_the_folder_it_is_in(s3_server, report_file, prefix, key):  # noqa: ANN001
    """`prefix: ./halo` (a relative path, as an FTP or SFTP remote_dir may be written) made the key
    `./halo/<name>`, under a folder named `.` that a partner listing `halo/` never finds. A `.` step
    names the folder it is in, as it does in those kinds' remote_dir."""
    client = s3_server.client()
    client.create_bucket(Bucket="reports")
    sink = S3Sink(bucket="reports", prefix=prefix, endpoint_url=s3_server.endpoint_url, region=s3_server.region)
    assert sink.deliver(Delivery("r", "t", [report_file])) == [f"s3://reports/{key}{report_file.name}"]
    assert [o["Key"] for o in client.list_objects_v2(Bucket="reports")["Contents"]] == [f"{key}{report_file.name}"]


@pytest.mark.parametrize("prefix", ["a/../b", "../halo", "halo/.."])
def test_an_s3_prefix_with_a_parent_step_is_refused_when_the_sink_is_built(s3_server, tmp_path, report_file, prefix):  # noqa: ANN001
    """`prefix: a/../b` put the report at the key `a/../b/<name>`: S3 keys are names, not paths, so
    no `..` is resolved and the object sits in a folder `..` no partner expects (`../halo` and
    `halo/..` alike). No delivery can honour it: the sink is refused when built, naming the setting,
    and nothing is uploaded."""
    client = s3_server.client()
    client.create_bucket(Bucket="reports")
    path = tmp_path / "sinks.yaml"
    path.write_text(yaml.safe_dump({"sinks": {"archive": {
        "kind": "s3", "bucket": "reports", "prefix": prefix, "endpoint_url": s3_server.endpoint_url,
        "region": s3_server.region}}}))
    sinks = SinksResource(sinks_file=str(path), attempts=3, backoff=[0.01])
    (outcome,) = deliver_all(sinks, ["archive"], Delivery("r", "t", [report_file]))
    assert (outcome.status, outcome.targets, outcome.permanent) == ("FAILED", [], True), outcome.detail
    assert outcome.detail == ("unusable: sink 'archive' (s3): invalid settings: prefix: Value error, "
                              "a '..' step names no folder: S3 keys are names, not paths; write the folder itself")
    assert client.list_objects_v2(Bucket="reports").get("Contents", []) == []


@pytest.mark.parametrize(("sender", "to"), [
    ("Équipe Finance <reports@example.com>", "Zoë Tan <finance@example.com>"),
    ("Reports <reports@example.com>", "Finance <finance@example.com>"),
], ids=["names-beyond-ascii", "ascii-names"])
def test_an_email_address_with_a_name_is_sent_to_its_address_alone(smtp_server, report_file, sender, to):  # noqa: ANN001
    """An address written with a name (`Zoë Tan <finance@example.com>`, as `sender` and `to` take
    it) was handed whole to the envelope: a name beyond ASCII made smtplib require SMTPUTF8, so every
    delivery to a relay without it (many) failed for a plain ASCII address, and a name of any kind
    was in the target (`mailto:Z***********e@example.com>`, no address). The envelope and the target
    take the address; the name stays in the header."""
    smtp_server.switches.offer_smtputf8 = False
    sink = EmailSink(host=smtp_server.host, port=smtp_server.port, sender=sender, to=[to])
    outcome = deliver_with_retries("finance_email", sink, Delivery("weekly", "3 issues", [report_file]), attempts=1)
    assert (outcome.status, outcome.targets) == ("DELIVERED", ["mailto:f*****e@example.com"]), outcome.detail
    [mail] = smtp_server.messages.snapshot()
    assert (mail.mail_from, mail.rcpt_tos) == ("reports@example.com", ["finance@example.com"])
    assert (str(mail.message["From"]), str(mail.message["To"])) == (sender, to)
