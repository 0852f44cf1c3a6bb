"""Sinks, review 12: an S3 prefix is a folder whatever its slashes; an S3 endpoint_url whose port is
no TCP port is refused when the sink is built; an SFTP file swapped into place is delivered once,
whatever the removal of the old one meets; a folder in a report's place is never moved aside."""

from __future__ import annotations

import pytest
import yaml

from halo_platform.reports.assets import deliver_all
from halo_platform.sinks import Delivery, SinksResource, deliver_with_retries
from halo_platform.sinks.base import PermanentSinkError
from halo_platform.sinks.ftp import FTPSink
from halo_platform.sinks.s3 import S3Sink
from halo_platform.sinks.sftp import SFTPSink


@pytest.mark.parametrize(("prefix", "key"), [("/halo/", "halo/"), ("halo", "halo/"), ("/halo", "halo/"),
                                             ("halo/finance/", "halo/finance/"), ("/", ""), ("", "")])
def test_an_s3_prefix_is_a_folder_whatever_its_slashes(s3_server, report_file, prefix, key):
    """`prefix: /halo/` (written as a folder) made the key `/halo/<name>` (target `s3://reports//halo/...`),
    which a partner listing `halo/` never finds, and `prefix: halo` made `halo<name>`. A prefix is
    the folder the reports go in: its leading slashes go, and it ends with one."""
    client = s3_server.client()
    client.create_bucket(Bucket="reports")
    sink = S3Sink(bucket="reports", prefix=prefix, endpoint_url=s3_server.endpoint_url, region=s3_server.region)
    assert sink.deliver(Delivery("r", "t", [report_file])) == [f"s3://reports/{key}{report_file.name}"]
    listed = client.list_objects_v2(Bucket="reports", Prefix=key, Delimiter="/").get("Contents", [])
    assert [o["Key"] for o in listed] == [f"{key}{report_file.name}"]


@pytest.mark.parametrize("port", ["70000", "0", "http"])
def test_an_s3_endpoint_url_whose_port_is_no_tcp_port_is_refused_when_the_sink_is_built(
        s3_server, tmp_path, report_file, port):  # noqa: ANN001
    """botocore failed an endpoint_url with port 70000 as EndpointResolutionError (0: EndpointConnectionError),
    a transient failure retried on every attempt though no retry could fix it. It is the sink's setting,
    refused when built, as a host or port setting of the other kinds is."""
    path = tmp_path / "sinks.yaml"
    path.write_text(yaml.safe_dump({"sinks": {"archive": {
        "kind": "s3", "bucket": "reports", "endpoint_url": f"http://127.0.0.1:{port}", "region": s3_server.region}}}))
    sinks = SinksResource(sinks_file=str(path), attempts=3, backoff=[0.01])
    (outcome,) = deliver_all(sinks, ["archive"], Delivery("r", "t", [report_file]))
    assert (outcome.status, outcome.targets, outcome.permanent) == ("FAILED", [], True), outcome.detail
    assert outcome.detail == ("unusable: sink 'archive' (s3): invalid settings: endpoint_url: "
                              "Value error, its port is not a TCP port (1-65535)")


def _sftp(server) -> SFTPSink:  # noqa: ANN001
    return SFTPSink(host=server.host, port=server.port, remote_dir="/inbound", timeout=10,
                    known_hosts_path=str(server.known_hosts_path), **server.credentials)


def test_an_sftp_file_swapped_into_place_is_delivered_once_when_removing_the_old_one_loses_the_connection(
        sftp_server, report_file):  # noqa: ANN001
    """On a server without posix-rename the old file is moved aside, the new one renamed into place,
    then the old one removed, best effort. A connection lost on that removal is paramiko's
    SSHException, which that step did not ignore: the delivery failed (transient) with the new file
    already in place, and the retry delivered it a second time."""
    sink = _sftp(sftp_server)
    sink.deliver(Delivery("r", "t", [report_file]))
    report_file.write_text("order_id,issue\nO2,MISSING_SETTLEMENT\n")
    sftp_server.events.clear()
    sftp_server.switches.no_posix_rename = True
    sftp_server.switches.drops_on_remove = 1
    outcome = deliver_with_retries("partner", sink, Delivery("r", "t", [report_file]), attempts=3, backoff_seconds=(0.01,))
    assert (outcome.status, outcome.attempts) == ("DELIVERED", 1), outcome.tries
    assert (sftp_server.root / "inbound" / report_file.name).read_bytes() == report_file.read_bytes()
    assert [e.op for e in sftp_server.events.snapshot() if e.op == "write"] == ["write"]


@pytest.mark.parametrize("server", ["ftp_server", "sftp_server"])
def test_a_folder_in_the_reports_place_is_a_permanent_error_and_never_moved_aside(request, server, report_file):  # noqa: ANN001
    """A folder named as the report is in the partner's folder: the rename over it is refused, so
    the sink took the folder for an old file and moved it aside, `.<name>.<hex>.old` (its files
    with it), the report taking its place. Only a file is moved aside: a folder in the way is a
    permanent error naming it, and the folder stays where it was."""
    if server == "ftp_server":
        ftp = request.getfixturevalue(server)
        sink, folder = FTPSink(host=ftp.host, port=ftp.port, remote_dir="/inbound", timeout=10, **ftp.credentials), ftp.home / "inbound"
    else:
        sftp = request.getfixturevalue(server)
        sink, folder = _sftp(sftp), sftp.root / "inbound"
    (folder / report_file.name).mkdir(parents=True)
    (folder / report_file.name / "partner.txt").write_text("theirs")
    with pytest.raises(PermanentSinkError, match=f"{report_file.name} is a folder"):
        sink.deliver(Delivery("r", "t", [report_file]))
    assert [p.name for p in folder.iterdir()] == [report_file.name]
    assert (folder / report_file.name / "partner.txt").read_text() == "theirs"
