"""S3 landing review (Dec 7) against moto's S3 server: what an operator pointing a real bucket at a
feed meets (concurrent `halo emr ingest`s of one name, a key as long as S3 takes, a zero-byte
object, `.HL7` from Windows, "sub-folders" under the prefix, a bucket that does not exist, refused
credentials), each held to emr.md's "Feeds and landing" and "Beyond the first version"."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
from click.testing import CliRunner

from halo_platform.availability import landing, pipeline
from halo_platform.availability.feeds import get_feed
from halo_platform.availability.sensors import emr_landing_sensor
from halo_platform.availability.service import quarantined
from halo_platform.cli import cli
from halo_platform.sinks import SinksResource
from halo_platform_tests.availability.helpers import land, process, spans_on
from halo_platform_tests.availability.test_s3_landing import HOURS, booking, s3_feed  # noqa: F401 - the fixture

DAY = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)


def put(server, key: str, data: bytes) -> str:  # noqa: ANN001
    """Put `data` at `key` of the landing bucket; its ETag."""
    server.client().put_object(Bucket="emr-landing", Key=key, Body=data)
    return server.client().head_object(Bucket="emr-landing", Key=key)["ETag"].strip('"')


def body(server, key: str) -> bytes:  # noqa: ANN001
    return server.client().get_object(Bucket="emr-landing", Key=key)["Body"].read()


def sensor_keys(store) -> list[str]:  # noqa: ANN001
    with dg.DagsterInstance.ephemeral() as instance:
        with dg.build_sensor_context(instance=instance, resources={"store": store, "sinks": SinksResource()}) as context:
            return [r.run_key for r in emr_landing_sensor(context).run_requests]


def test_two_ingests_of_one_name_at_once_land_both_contents_on_s3(s3_feed, tmp_path, monkeypatch):  # noqa: F811
    """`halo emr ingest` looked for the key, then PUT over whatever was there by then: a second
    ingest of another bookings.jsonl landing in between was overwritten, its content lost unprocessed
    (a landed object modified). The PUT now takes the key only if it is free (If-None-Match: *)."""
    first, second = tmp_path / "a" / "bookings.jsonl", tmp_path / "b" / "bookings.jsonl"
    for path, text in ((first, booking(DAY)), (second, booking(DAY).replace('"B1"', '"B2"'))):
        path.parent.mkdir()
        path.write_text(text)
    real = landing._s3
    others = [second]

    def another_lands_before_the_put(where, what, *args):  # noqa: ANN001, ANN002, ANN202
        if what.startswith("put ") and others:
            assert landing.ingest(get_feed("cloud"), others.pop()) == "s3://emr-landing/clinic-a/bookings.jsonl"
        return real(where, what, *args)

    monkeypatch.setattr(landing, "_s3", another_lands_before_the_put)
    landed = landing.ingest(get_feed("cloud"), first)
    assert body(s3_feed, "clinic-a/bookings.jsonl") == second.read_bytes()
    assert landed.startswith("s3://emr-landing/clinic-a/bookings-") and landed.endswith(".jsonl")
    assert body(s3_feed, landed.removeprefix("s3://emr-landing/")) == first.read_bytes()
    assert landing.ingest(get_feed("cloud"), first) == landed  # the same content again: where it landed


def test_an_ingest_meeting_the_same_content_landed_meanwhile_lands_nothing_more(s3_feed, tmp_path, monkeypatch):  # noqa: F811
    source = tmp_path / "hours.jsonl"
    source.write_text(HOURS)
    real = landing._s3
    puts = []

    def same_lands_before_the_put(where, what, *args):  # noqa: ANN001, ANN002, ANN202
        if what.startswith("put ") and not puts:
            puts.append(put(s3_feed, "clinic-a/hours.jsonl", HOURS.encode()))
        return real(where, what, *args)

    monkeypatch.setattr(landing, "_s3", same_lands_before_the_put)
    assert landing.ingest(get_feed("cloud"), source) == "s3://emr-landing/clinic-a/hours.jsonl"
    assert [o["Key"] for o in s3_feed.client().list_objects_v2(Bucket="emr-landing")["Contents"]] == ["clinic-a/hours.jsonl"]


def test_a_key_as_long_as_s3_takes_is_requested_processed_once_and_recorded(s3_feed, store):  # noqa: F811
    name = "é" * 500 + ".jsonl"  # 1,006 bytes, and the prefix's 9: 1,015 of S3's 1,024
    etag = put(s3_feed, f"clinic-a/{name}", HOURS.encode())
    (key,) = sensor_keys(store)
    assert key.endswith(f"@{etag}")
    assert process(store, DAY.isoformat(), 2).files == 1
    assert spans_on(store, "cloud", "S1", DAY.isoformat()) == [(f"{DAY}T09:00Z", f"{DAY}T12:00Z")]
    assert process(store, DAY.isoformat(), 2).files == 0
    assert [k for k in sensor_keys(store) if not k.startswith("cloud/window@")] == []  # processed: never requested again


def test_a_zero_byte_object_is_processed_once_and_quarantines_nothing(s3_feed, store):  # noqa: F811
    put(s3_feed, "clinic-a/empty.jsonl", b"")
    put(s3_feed, "clinic-a/hours.jsonl", HOURS.encode())
    assert process(store, DAY.isoformat(), 2).files == 2
    assert quarantined(store, "cloud") == [] and pipeline.pending_files(store, get_feed("cloud")) == []
    assert spans_on(store, "cloud", "S1", DAY.isoformat()) == [(f"{DAY}T09:00Z", f"{DAY}T12:00Z")]


def test_upper_case_extensions_are_listed_and_objects_in_sub_folders_are_not(s3_feed, store):  # noqa: F811
    """A feed's objects lie directly under its prefix (as a local feed's files lie in its folder):
    the sensor and processing both leave `clinic-a/archive/...` alone."""
    put(s3_feed, "clinic-a/HOURS.JSONL", HOURS.encode())
    put(s3_feed, "clinic-a/archive/booking.jsonl", booking(DAY).encode())
    put(s3_feed, "clinic-a//booking.jsonl", booking(DAY).encode())
    assert [k.split("@")[0] for k in sensor_keys(store)] == ["cloud/HOURS.JSONL"]
    assert process(store, DAY.isoformat(), 2).files == 1
    assert spans_on(store, "cloud", "S1", DAY.isoformat()) == [(f"{DAY}T09:00Z", f"{DAY}T12:00Z")]  # no booking applied


@pytest.mark.parametrize("problem, named", [("bucket", "NoSuchBucket"), ("credentials", "InvalidAccessKeyId")])
def test_a_missing_bucket_or_refused_credentials_is_one_line_and_the_other_feeds_go_through(
        s3_feed, store, tmp_path, monkeypatch, problem, named):  # noqa: F811
    bucket = "no-such-bucket" if problem == "bucket" else "emr-landing"
    feeds = tmp_path / "two-feeds.yaml"
    feeds.write_text("feeds:\n  acme: {format: acme}\n"
                     f"  cloud: {{format: acme, landing: 's3://{bucket}/clinic-a/', endpoint_url: '{s3_feed.endpoint_url}'}}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    if problem == "credentials":
        s3_feed.switches.error_status, s3_feed.switches.error_code = 403, named
    land("acme", "hours.jsonl", HOURS)
    result = CliRunner().invoke(cli, ["emr", "process", "--as-of", DAY.isoformat(), "--horizon-days", "1"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [f"error: feed cloud: S3 landing list s3://{bucket}/clinic-a/: {named}; processed acme"]
    assert spans_on(store, "acme", "S1", DAY.isoformat()) == [(f"{DAY}T09:00Z", f"{DAY}T12:00Z")]


@pytest.mark.parametrize("setting", [
    "endpoint_url: 'http://'", "endpoint_url: 'https://s3 clinic-b.example'", "endpoint_url: 'http:///emr'",
    "endpoint_url: 'http://[::1'", "endpoint_url: 'http://minio:port'", "landing: 's3://[emr/in/'"])
def test_a_feed_whose_endpoint_or_landing_is_no_url_is_named_and_holds_back_no_other_feed(
        s3_feed, store, tmp_path, monkeypatch, setting):  # noqa: F811
    """A new clinic's feed with an endpoint_url of no host (`http://`), a space in it, an IPv6 address
    not closed: botocore's (or urlsplit's) ValueError came out of every sensor tick and of `halo emr
    process`, no feed processed; `[::1` also made every other feed's object unreadable (each read
    resolves its landing through every feed's). Now that feed is named, the others are processed."""
    new = {"landing": "'s3://emr-landing/clinic-b/'", "endpoint_url": f"'{s3_feed.endpoint_url}'"}
    key, _, value = setting.partition(": ")
    new[key] = value
    feeds = tmp_path / "feeds-new-clinic.yaml"
    feeds.write_text("feeds:\n  acme: {format: acme}\n"
                     f"  cloud: {{format: acme, landing: 's3://emr-landing/clinic-a/', endpoint_url: '{s3_feed.endpoint_url}'}}\n"
                     f"  newclinic: {{format: acme, landing: {new['landing']}, endpoint_url: {new['endpoint_url']}}}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    put(s3_feed, "clinic-a/hours.jsonl", HOURS.encode())
    land("acme", "hours.jsonl", HOURS)
    assert [k.split("@")[0] for k in sensor_keys(store)] == ["acme/hours.jsonl", "cloud/hours.jsonl"]
    result = CliRunner().invoke(cli, ["emr", "process", "--as-of", DAY.isoformat(), "--horizon-days", "1"])
    (line,) = result.output.strip().splitlines()
    assert result.exit_code != 0 and line.startswith("error: feed newclinic: ") and line.endswith("; processed acme, cloud"), line
    assert "must be" in line
    for feed in ("acme", "cloud"):
        assert spans_on(store, feed, "S1", DAY.isoformat()) == [(f"{DAY}T09:00Z", f"{DAY}T12:00Z")]


@pytest.mark.parametrize("landing_url, prefix", [("s3://emr-landing/clinic-a", "clinic-a/"), ("s3://emr-landing", "")])
def test_a_landing_without_its_trailing_slash_is_the_folder_and_ingest_puts_there(
        s3_feed, store, tmp_path, monkeypatch, landing_url, prefix):  # noqa: F811
    """`s3://bucket/clinic-a` is the folder `clinic-a/` (not every key starting `clinic-a`: not
    `clinic-ab/...`); `s3://bucket` is the bucket's root."""
    feeds = tmp_path / "feeds-no-slash.yaml"
    feeds.write_text(f"feeds:\n  cloud: {{format: acme, landing: '{landing_url}', endpoint_url: '{s3_feed.endpoint_url}'}}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    put(s3_feed, "clinic-ab/booking.jsonl", booking(DAY).encode())
    source = tmp_path / "hours.jsonl"
    source.write_text(HOURS)
    assert landing.ingest(get_feed("cloud"), source) == f"s3://emr-landing/{prefix}hours.jsonl"
    assert [k.split("@")[0] for k in sensor_keys(store)] == ["cloud/hours.jsonl"]
    assert process(store, DAY.isoformat(), 2).files == 1
    assert spans_on(store, "cloud", "S1", DAY.isoformat()) == [(f"{DAY}T09:00Z", f"{DAY}T12:00Z")]
