"""Sinks, review 12: an S3 prefix is a folder whatever its slashes."""

from __future__ import annotations

import pytest

from halo_platform.sinks import Delivery
from halo_platform.sinks.s3 import S3Sink


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
