"""Sinks that store files (folder, FTP, SFTP, S3) against real servers, with a size limit: a file
over `max_file_bytes` goes to the `link_store` and the sink stores a note linking to it (as an
email's body does), never a note without the link; with no link store the delivery fails and
nothing is stored, rather than a green status for a sink that did not receive its file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from halo_platform.sinks import Delivery, SinksResource

SERVED = "https://files.example.com/halo"


def _folder_contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()} if folder.exists() else {}


def destination(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> tuple[dict, Callable[[], dict[str, bytes]]]:
    """(sink settings, what the destination holds by name) for a sink of `kind` on its real server."""
    if kind == "folder":
        return {"kind": "folder", "path": str(tmp_path / "outbox")}, lambda: _folder_contents(tmp_path / "outbox")
    if kind == "ftp":
        server = request.getfixturevalue("ftp_server")
        settings = {"kind": "ftp", "host": server.host, "port": server.port, "remote_dir": "/inbound", **server.credentials}
        return settings, lambda: _folder_contents(server.home / "inbound")
    if kind == "sftp":
        server = request.getfixturevalue("sftp_server")
        settings = {"kind": "sftp", "host": server.host, "port": server.port, "remote_dir": "/inbound",
                    "known_hosts_path": str(server.known_hosts_path), **server.credentials}
        return settings, lambda: _folder_contents(server.root / "inbound")
    server = request.getfixturevalue("s3_server")
    client = server.client()
    client.create_bucket(Bucket="reports")

    def objects() -> dict[str, bytes]:
        keys = [o["Key"] for o in client.list_objects_v2(Bucket="reports").get("Contents", [])]
        return {k.removeprefix("halo/"): client.get_object(Bucket="reports", Key=k)["Body"].read() for k in keys}

    return {"kind": "s3", "bucket": "reports", "prefix": "halo/", "endpoint_url": server.endpoint_url,
            "region": server.region}, objects


def resource(tmp_path: Path, sinks: dict) -> SinksResource:
    path = tmp_path / "sinks.yaml"
    path.write_text(yaml.safe_dump({"sinks": sinks}))
    return SinksResource(sinks_file=str(path), attempts=2, backoff=[0.01])


KINDS = ["folder", "ftp", "sftp", "s3"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_over_the_limit_reaches_the_sink_as_a_note_linking_to_the_stored_file(kind, request, tmp_path, report_file):
    settings, holds = destination(kind, request, tmp_path)
    sinks = resource(tmp_path, {"partner": {**settings, "max_file_bytes": 10, "link_store": "links"},
                                "links": {"kind": "folder", "path": str(tmp_path / "served"), "url": SERVED}})
    outcome = sinks.deliver("partner", Delivery("weekly report", "3 issues", [report_file]))
    assert outcome.status == "DELIVERED", outcome.detail
    size = report_file.stat().st_size
    assert holds() == {"weekly_report.txt": f"3 issues\n\n{report_file.name} ({size} bytes): {SERVED}/{report_file.name}".encode()}
    assert (tmp_path / "served" / report_file.name).read_bytes() == report_file.read_bytes()
    assert outcome.targets[-1] == (tmp_path / "served" / report_file.name).resolve().as_uri()


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_over_the_limit_with_no_link_store_fails_and_nothing_is_stored(kind, request, tmp_path, report_file):
    settings, holds = destination(kind, request, tmp_path)
    outcome = resource(tmp_path, {"partner": {**settings, "max_file_bytes": 10}}).deliver(
        "partner", Delivery("weekly report", "3 issues", [report_file]))
    assert (outcome.status, outcome.attempts) == ("FAILED", 1)
    assert f"{report_file.name} ({report_file.stat().st_size} bytes) is over the sink's max_file_bytes (10)" in outcome.detail
    assert holds() == {}
