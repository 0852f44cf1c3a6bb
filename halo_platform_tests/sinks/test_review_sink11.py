"""Sinks, review 11: a temporary file an upload left on a server that went away is said and, a day
on, removed; an FTP login or an S3 access key with a line break is refused when the sink is built."""

from __future__ import annotations

import logging
import os
import time

import pytest
import yaml

from halo_platform.reports.assets import deliver_all
from halo_platform.sinks import Delivery, SinksResource
from halo_platform.sinks.base import TransientSinkError
from halo_platform.sinks.ftp import FTPSink
from halo_platform.sinks.sftp import SFTPSink


@pytest.fixture
def big_report(tmp_path):  # noqa: ANN001
    """A report larger than the sockets' buffers: its upload is still under way when the connection drops."""
    path = tmp_path / "payment_reconciliation_2024-03-04_2024-03-11.csv"
    path.write_bytes(b"order_id,issue\n" + b"O1,MISSING_PAYMENT\n" * 400_000)
    return path


def _partner(request, server: str):  # noqa: ANN001, ANN202
    """The sink, the partner's folder on the server's disk, and the server's switches."""
    if server == "ftp_server":
        ftp = request.getfixturevalue(server)
        sink = FTPSink(host=ftp.host, port=ftp.port, remote_dir="/inbound", timeout=10, **ftp.credentials)
        return sink, ftp.home / "inbound", ftp.switches
    sftp = request.getfixturevalue(server)
    sink = SFTPSink(host=sftp.host, port=sftp.port, remote_dir="/inbound", timeout=10,
                    known_hosts_path=str(sftp.known_hosts_path), **sftp.credentials)
    return sink, sftp.root / "inbound", sftp.switches


def _written_out(path, quiet_seconds: float = 0.3, within_seconds: float = 10.0) -> None:  # noqa: ANN001
    """Wait until `path` has not grown for `quiet_seconds` (at most `within_seconds`)."""
    deadline, size = time.monotonic() + within_seconds, -1
    while time.monotonic() < deadline and path.stat().st_size != size:
        size = path.stat().st_size
        time.sleep(quiet_seconds)


@pytest.mark.parametrize("server", ["ftp_server", "sftp_server"])
def test_a_part_file_left_on_a_server_that_went_away_is_logged_and_removed_by_a_delivery_a_day_on(
        request, server, big_report, report_file, caplog):  # noqa: ANN001
    """The connection drops mid-upload and the server goes away with it: the new connection that
    would remove the temporary file is refused, and the partner's folder kept the
    `.<name>.<hex>.part` forever, nothing saying so. The failure now logs the file left, and a
    delivery to the folder removes such files once over a day old; a younger one (another run's
    upload under way) and the partner's own files are left alone."""
    sink, folder, switches = _partner(request, server)
    switches.drops_mid_write = switches.drops_mid_stor = 1
    switches.down_after_drop = True
    with caplog.at_level(logging.WARNING, logger="halo_platform.sinks.base"), pytest.raises(TransientSinkError):
        sink.deliver(Delivery("r", "t", [big_report]))
    [left] = [p for p in folder.iterdir()]
    assert left.name.startswith(f".{big_report.name}.") and left.name.endswith(".part")
    assert [r.getMessage() for r in caplog.records if left.name in r.getMessage()], "the file left is logged"

    switches.down = False  # the server is back
    _written_out(left)  # the server may still write blocks of the dropped upload that it had read: then its time is now, not a day ago
    day_old = time.time() - 25 * 3600
    os.utime(left, (day_old, day_old))
    under_way = folder / ".other_report.csv.0123abcd.part"
    under_way.write_bytes(b"order_id")
    own = folder / ".partner_notes.part"
    own.write_bytes(b"theirs")
    os.utime(own, (day_old, day_old))
    sink.deliver(Delivery("r", "t", [report_file]))
    assert sorted(p.name for p in folder.iterdir()) == sorted([report_file.name, under_way.name, own.name])


@pytest.mark.parametrize("setting", ["username", "password"])
def test_an_ftp_login_setting_with_a_line_break_is_refused_when_the_sink_is_built(
        ftp_server, tmp_path, report_file, monkeypatch, setting):  # noqa: ANN001
    """A password read from a secret file keeps the file's last line break (`${FTP_PASSWORD}` as
    Kubernetes mounts it): ftplib refuses a command holding one, and every delivery failed as
    'unexpected error: ValueError', naming neither the setting nor the server, and was not even
    a permanent failure. The sink is now refused when built, the setting named, never its value."""
    credentials = {**ftp_server.credentials, setting: f"${{FTP_{setting.upper()}}}"}
    monkeypatch.setenv(f"FTP_{setting.upper()}", f"{ftp_server.credentials[setting]}\n")
    path = tmp_path / "sinks.yaml"
    path.write_text(yaml.safe_dump({"sinks": {"partner_ftp": {
        "kind": "ftp", "host": ftp_server.host, "port": ftp_server.port, "remote_dir": "/inbound", **credentials}}}))
    (outcome,) = deliver_all(SinksResource(sinks_file=str(path), attempts=2, backoff=[0.01]), ["partner_ftp"],
                             Delivery("r", "t", [report_file]))
    assert (outcome.status, outcome.permanent) == ("FAILED", True)
    assert f"{setting}: Value error, has a control character" in outcome.detail
    assert ftp_server.credentials[setting] not in outcome.detail
    assert list(ftp_server.uploads) == []


@pytest.mark.parametrize("setting", ["access_key_id", "secret_access_key"])
def test_an_s3_access_key_with_a_line_break_is_refused_when_the_sink_is_built(
        s3_server, tmp_path, report_file, monkeypatch, setting):  # noqa: ANN001
    """An access key id read from a secret file keeps its last line break: botocore put it in the
    request's Authorization header, which http.client refuses, and every attempt failed as the
    transient 'S3 reports: HTTPClientError', retried to no end, naming no setting. The secret key
    with one signs wrong (moto checks no signature and took it; S3 answers SignatureDoesNotMatch,
    naming no setting either). The sink is now refused when built, the setting named, never its value."""
    s3_server.client().create_bucket(Bucket="reports")
    monkeypatch.setenv("ARCHIVE_KEY", f"{getattr(s3_server, setting)}\n")
    path = tmp_path / "sinks.yaml"
    path.write_text(yaml.safe_dump({"sinks": {"archive_s3": {
        "kind": "s3", "bucket": "reports", "endpoint_url": s3_server.endpoint_url, "region": s3_server.region,
        "access_key_id": s3_server.access_key_id, "secret_access_key": s3_server.secret_access_key,
        setting: "${ARCHIVE_KEY}"}}}))
    (outcome,) = deliver_all(SinksResource(sinks_file=str(path), attempts=2, backoff=[0.01]), ["archive_s3"],
                             Delivery("r", "t", [report_file]))
    assert (outcome.status, outcome.permanent) == ("FAILED", True), outcome.detail
    assert f"{setting}: Value error, has a control character" in outcome.detail
    assert getattr(s3_server, setting) not in outcome.detail
    assert s3_server.client().list_objects_v2(Bucket="reports").get("KeyCount") == 0
