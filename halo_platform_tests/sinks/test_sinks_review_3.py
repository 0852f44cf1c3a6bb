"""Sinks review 3: target names with unicode, against the real servers; the retry policy's bounds."""

from __future__ import annotations

import pytest

from halo_platform.reports.assets import deliver_all
from halo_platform.sinks import Delivery, SinksResource
from halo_platform.sinks.base import safe_name
from halo_platform.sinks.folder import FolderSink
from halo_platform.sinks.ftp import FTPSink
from halo_platform.sinks.s3 import S3Sink
from halo_platform.sinks.sftp import SFTPSink

NAMES = ["报告_2024.csv", "отчёт_2024.csv", "rapport_café.csv"]


@pytest.fixture
def unicode_files(tmp_path):  # noqa: ANN001
    folder = tmp_path / "src"
    folder.mkdir()
    files = []
    for i, name in enumerate(NAMES):
        path = folder / name
        path.write_text(f"order_id\nO{i}\n")
        files.append(path)
    return files


def _stored(kind, servers, tmp_path):  # noqa: ANN001, ANN202
    """(a sink of `kind`, a function giving the bytes stored under a target name)."""
    if kind == "folder":
        out = tmp_path / "out"
        return FolderSink(path=str(out)), lambda name: (out / name).read_bytes()
    if kind == "ftp":
        ftp = servers.getfixturevalue("ftp_server")
        return (FTPSink(host=ftp.host, port=ftp.port, remote_dir="/inbound", **ftp.credentials),
                lambda name: (ftp.home / "inbound" / name).read_bytes())
    if kind == "sftp":
        sftp = servers.getfixturevalue("sftp_server")
        return (SFTPSink(host=sftp.host, port=sftp.port, remote_dir="/inbound",
                         known_hosts_path=str(sftp.known_hosts_path), **sftp.credentials),
                lambda name: (sftp.root / "inbound" / name).read_bytes())
    s3 = servers.getfixturevalue("s3_server")
    s3.client().create_bucket(Bucket="reports")
    return (S3Sink(bucket="reports", prefix="halo/", endpoint_url=s3.endpoint_url, region=s3.region),
            lambda name: s3.client().get_object(Bucket="reports", Key=f"halo/{name}")["Body"].read())


@pytest.mark.parametrize("kind", ["folder", "ftp", "sftp", "s3"])
def test_distinct_unicode_file_names_stay_distinct_targets(kind, unicode_files, request, tmp_path):
    """Two reports named in Chinese and Russian both became `_2024.csv`: the second overwrote the
    first at the target and the delivery still said DELIVERED for both."""
    sink, read = _stored(kind, request, tmp_path)
    targets = sink.deliver(Delivery("r", "t", unicode_files))
    assert len(set(targets)) == len(unicode_files)
    for path in unicode_files:
        assert read(safe_name(path.name)) == path.read_bytes()


DEVICES = {"CON.csv": "_CON.csv", "nul.txt": "_nul.txt", "Aux.tar.gz": "_Aux.tar.gz", "com1.csv": "_com1.csv",
           "LPT9.xlsx": "_LPT9.xlsx", "prn": "_prn", "CONSOLE.csv": "CONSOLE.csv", "con_2024.csv": "con_2024.csv"}


@pytest.mark.parametrize("kind", ["folder", "ftp", "sftp", "s3"])
def test_a_windows_device_name_is_not_a_target_name(kind, request, tmp_path):
    """A name Windows gives a device (`CON`, `NUL`, `COM1`... whatever the case or extension) went to the
    partner as it was: a Windows FTP or SFTP server refuses `CON.csv` (or writes it to the console device),
    and a mail reader does not save the attachment. It gets a leading `_`; other names stay as they were."""
    sink, read = _stored(kind, request, tmp_path)
    files = [_file(tmp_path, name) for name in DEVICES]
    targets = sink.deliver(Delivery("r", "t", files))
    assert [target.rsplit("/", 1)[1] for target in targets] == list(DEVICES.values())
    assert all(read(name) == b"x" for name in DEVICES.values())


@pytest.mark.parametrize("raw,safe", [
    ("报告_2024.csv", "报告_2024.csv"), ("rapport_cafe\u0301.csv", "rapport_café.csv"),
    ("../отчёт/../x.csv", "x.csv"), ("a\u202eb.csv", "a_b.csv"), ("a／b．csv", "a_b_csv"),
])
def test_unicode_letters_are_kept_and_separators_are_not(raw, safe):
    assert safe_name(raw) == safe


@pytest.mark.parametrize("raw", ["报" * 300 + ".csv", "é" * 300 + ".xlsx"])
def test_a_long_unicode_name_fits_a_file_system_name(raw, tmp_path):
    """A name is at most 255 bytes on most file systems: 200 CJK characters are 600."""
    cleaned = safe_name(raw)
    assert len(cleaned.encode()) <= 200 and cleaned.endswith("." + raw.rsplit(".", 1)[1])
    FolderSink(path=str(tmp_path)).deliver(Delivery("r", "t", [_file(tmp_path, cleaned)]))


def _file(tmp_path, name):  # noqa: ANN001, ANN202
    src = tmp_path / "src" / name
    src.parent.mkdir(exist_ok=True)
    src.write_text("x")
    return src


@pytest.mark.parametrize("policy", [
    {"attempts": -1}, {"attempts": 0}, {"attempts": 101}, {"backoff": [-1.0]}, {"backoff": [float("nan")]},
    {"backoff": [float("inf")]}, {"attempts": 2, "backoff": [0.0, 86_401.0]},
])
def test_a_retry_policy_out_of_bounds_is_refused_before_anything_is_delivered(policy, tmp_path, halo_env):
    """The resource's policy (settable in a run's config) was unchecked: `backoff: [-1]` made the
    first retry raise ValueError out of `deliver_all`, so the sinks after the failing one got
    nothing; `attempts: -1` made no attempt. It now has HALO_SINK_ATTEMPTS/BACKOFF's bounds."""
    sinks_file = tmp_path / "sinks.yaml"
    sinks_file.write_text(f"sinks:\n  down: {{kind: ftp, host: 127.0.0.1, port: 1, timeout: 1}}\n"
                          f"  out: {{kind: folder, path: '{tmp_path / 'out'}'}}\n")
    with pytest.raises(Exception, match="attempts|backoff"):  # noqa: PT011 - pydantic's or Dagster's
        sinks = SinksResource(sinks_file=str(sinks_file), **{"backoff": [0.0], **policy})
        deliver_all(sinks, ["down", "out"], Delivery("r", "t"))
    good = SinksResource(sinks_file=str(sinks_file), attempts=2, backoff=[0.0, 86_400.0])
    assert [o.status for o in deliver_all(good, ["down", "out"], Delivery("r", "t"))] == ["FAILED", "DELIVERED"]
