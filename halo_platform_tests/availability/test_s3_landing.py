"""S3 landing against moto's S3 server: `halo emr ingest` puts objects under the feed's prefix
(never overwriting), the sensor lists new objects with run keys of key + ETag, processing reads
them in place (nothing copied under $HALO_HOME) and records when each landed (LastModified);
an unreachable store is a failure, never "nothing landed"."""

import datetime as dt
import hashlib
import threading

import dagster as dg
import pytest
from click.testing import CliRunner

from halo_platform.availability import pipeline
from halo_platform.availability.feeds import get_feed
from halo_platform.availability.freshness import freshness
from halo_platform.availability.landing import S3Object, pending, s3_landing
from halo_platform.availability.pipeline import processed_files
from halo_platform.availability.sensors import emr_landing_sensor
from halo_platform.availability.service import quarantined
from halo_platform.cli import cli
from halo_platform.core.errors import HaloError
from halo_platform.core.settings import get_settings
from halo_platform.sinks import SinksResource
from halo_platform_tests.availability.helpers import process, spans_on
from halo_platform_tests.fixtures.alerts import alerts_sent

WEEK = ",".join(f'"{d}":[["09:00","12:00"]]' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
HOURS = f'{{"type":"hours","provider":"S1","tz":"UTC","week":{{{WEEK}}},"updated_at":"2026-11-01T00:00:00Z"}}\n'


def booking(day: dt.date) -> str:
    return (f'{{"type":"appointment","action":"upsert","id":"B1","provider":"S1","start":"{day}T10:00:00","duration_min":60,'
            '"tz":"UTC","status":"booked","updated_at":"2026-11-20T10:00:00Z"}\n')


def landing_at(s3_server, tmp_path, monkeypatch, prefix: str):  # noqa: ANN001, ANN201
    """Feed `cloud` (acme) lands in s3://emr-landing/<prefix>/ at the server's endpoint_url; the
    environment's endpoint is removed, so only the feed's setting can reach the server."""
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    s3_server.client().create_bucket(Bucket="emr-landing")
    feed_at(tmp_path, monkeypatch, prefix, s3_server.endpoint_url)
    return s3_server


def feed_at(tmp_path, monkeypatch, prefix: str, endpoint_url: str) -> None:  # noqa: ANN001
    """$HALO_FEEDS_FILE: feed `cloud` (acme) lands in s3://emr-landing/<prefix>/ at `endpoint_url`."""
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  cloud: {{format: acme, landing: 's3://emr-landing/{prefix}/', endpoint_url: '{endpoint_url}'}}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))


@pytest.fixture
def s3_feed(halo_env, s3_server, tmp_path, monkeypatch):
    return landing_at(s3_server, tmp_path, monkeypatch, "clinic-a")


def ingest(*paths) -> list[str]:
    result = CliRunner().invoke(cli, ["emr", "ingest", "--feed", "cloud", *map(str, paths)])
    assert result.exit_code == 0, result.output
    return [line.removeprefix("landed ") for line in result.output.splitlines()]


def test_ingest_puts_objects_under_the_prefix_and_never_overwrites(s3_feed, tmp_path):
    (tmp_path / "hours.jsonl").write_text(HOURS)
    assert ingest(tmp_path / "hours.jsonl") == ["s3://emr-landing/clinic-a/hours.jsonl"]
    assert ingest(tmp_path / "hours.jsonl") == ["s3://emr-landing/clinic-a/hours.jsonl"]  # same content: already there
    (tmp_path / "hours.jsonl").write_text(HOURS.replace("09:00", "08:00"))
    (renamed,) = ingest(tmp_path / "hours.jsonl")
    assert renamed.startswith("s3://emr-landing/clinic-a/hours-") and renamed.endswith(".jsonl")
    keys = {o["Key"] for o in s3_feed.client().list_objects_v2(Bucket="emr-landing")["Contents"]}
    assert keys == {"clinic-a/hours.jsonl", renamed.removeprefix("s3://emr-landing/")}
    assert not (get_settings().landing_dir / "cloud").exists()


def put_objects(s3_feed, day: dt.date) -> dict[str, str]:
    """Two feed files, and objects the feed does not take; the feed files' ETags."""
    client = s3_feed.client()
    client.put_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl", Body=HOURS.encode())
    client.put_object(Bucket="emr-landing", Key="clinic-a/booking.jsonl", Body=booking(day).encode())
    client.put_object(Bucket="emr-landing", Key="clinic-a/notes.txt", Body=b"not a feed file")
    client.put_object(Bucket="emr-landing", Key="clinic-a/archive/old.jsonl", Body=HOURS.encode())  # not directly under the prefix
    client.put_object(Bucket="emr-landing", Key="clinic-b/other.jsonl", Body=HOURS.encode())
    return {k: client.head_object(Bucket="emr-landing", Key=f"clinic-a/{k}")["ETag"].strip('"') for k in ("hours.jsonl", "booking.jsonl")}


def test_the_sensor_requests_new_objects_by_key_and_etag(s3_feed, store):
    etags = put_objects(s3_feed, dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2))
    with dg.DagsterInstance.ephemeral() as instance:
        with dg.build_sensor_context(instance=instance, resources={"store": store, "sinks": SinksResource()}) as context:
            result = emr_landing_sensor(context)
    # the feed's two new objects in one run, keyed by their keys and ETags
    objects = "\n".join([f"cloud/booking.jsonl@{etags['booking.jsonl']}", f"cloud/hours.jsonl@{etags['hours.jsonl']}"])
    assert {r.run_key.split("#")[0] for r in result.run_requests} == {f"cloud/2 files@{hashlib.sha256(objects.encode()).hexdigest()}"}
    assert {tuple(r.run_config["ops"]["scheduling_items"]["config"]["files"]) for r in result.run_requests} == {
        ("cloud/booking.jsonl", "cloud/hours.jsonl")}


def test_a_single_new_object_is_requested_by_its_key_and_etag(s3_feed, store):
    client = s3_feed.client()
    client.put_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl", Body=HOURS.encode())
    etag = client.head_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl")["ETag"].strip('"')
    with dg.DagsterInstance.ephemeral() as instance:
        with dg.build_sensor_context(instance=instance, resources={"store": store, "sinks": SinksResource()}) as context:
            result = emr_landing_sensor(context)
    assert [r.run_key for r in result.run_requests] == [f"cloud/hours.jsonl@{etag}"]



def test_processing_reads_the_objects_in_place_and_records_when_they_landed(s3_feed, store):
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)
    put_objects(s3_feed, day)
    client = s3_feed.client()
    process(store, day.isoformat(), 2)
    assert spans_on(store, "cloud", "S1", day.isoformat()) == [(f"{day}T09:00Z", f"{day}T10:00Z"), (f"{day}T11:00Z", f"{day}T12:00Z")]
    assert pending(get_feed("cloud"), processed_files(store, "cloud")) == []
    assert not (get_settings().landing_dir / "cloud").exists()  # read in place, never copied
    landed = client.head_object(Bucket="emr-landing", Key="clinic-a/booking.jsonl")["LastModified"]
    assert freshness(store, "cloud").received_at == landed.astimezone(dt.UTC).replace(microsecond=0)
    seen = len(s3_feed.requests.snapshot())
    process(store, day.isoformat(), 2)  # nothing new: listed, nothing read again
    assert {(r.method, r.query.get("list-type") is not None) for r in s3_feed.requests.snapshot(seen)} == {("GET", True)}
    assert spans_on(store, "cloud", "S1", day.isoformat())[0] == (f"{day}T09:00Z", f"{day}T10:00Z")


def test_an_unreachable_store_is_named_and_alerted_once_instead_of_finding_nothing(s3_feed, store, tmp_path, monkeypatch):
    """The tick raised (a failed tick in the Dagster UI, no alert); it now names the feed in its
    skip and alerts once per outage, not every 10 s, and again after the landing answered."""
    feeds = tmp_path / "feeds.yaml"
    down = f"feeds:\n  cloud: {{format: acme, landing: 's3://emr-landing/clinic-a/', endpoint_url: '{s3_feed.unreachable_endpoint_url}'}}\n"
    feeds.write_text(down)
    cursor = None
    with dg.DagsterInstance.ephemeral() as instance:
        for _ in range(2):
            with dg.build_sensor_context(instance=instance, resources={"store": store, "sinks": SinksResource()}, cursor=cursor) as context:
                result = emr_landing_sensor(context)
            cursor = result.cursor
            assert result.skip_reason.skip_message.startswith("landing not read for cloud: S3 landing list s3://emr-landing/clinic-a/")
        (alert,) = alerts_sent()
        assert (alert["title"], alert["severity"], alert["details"]["feed"]) == ("emr feed landing not read: cloud", "ERROR", "cloud")
        assert alert["error"].startswith("S3 landing list s3://emr-landing/clinic-a/")
        up = down.replace(s3_feed.unreachable_endpoint_url, s3_feed.endpoint_url)
        for landing in (up, down):  # it answers again, then goes down again: a new outage
            feeds.write_text(landing)
            with dg.build_sensor_context(instance=instance, resources={"store": store, "sinks": SinksResource()}, cursor=cursor) as context:
                cursor = emr_landing_sensor(context).cursor
    assert [a["title"] for a in alerts_sent()] == ["emr feed landing not read: cloud"] * 2


@pytest.mark.parametrize("landing, message", [
    ("emr-landing/clinic-a/", "landing must be s3://bucket/prefix/"),
    ("s3:///clinic-a/", "landing must be s3://bucket/prefix/"),
])
def test_a_bad_landing_is_refused_by_name(halo_env, tmp_path, monkeypatch, landing, message):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  cloud: {{format: acme, landing: '{landing}'}}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    with pytest.raises(HaloError, match=message):
        s3_landing(get_feed("cloud"))
    assert s3_landing(get_feed("cloud").__class__("x", "acme")) is None


def test_a_transient_s3_error_while_an_object_is_read_fails_the_run_and_leaves_the_object_pending(s3_feed, store, monkeypatch):
    """S3 answering 503 SlowDown (past botocore's retries) while one object is read quarantined
    it whole and recorded it as processed: never read again. A read error is no fault of the
    file: the run fails (to be retried), the object stays pending, the other objects go through."""
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)
    client = s3_feed.client()
    client.put_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl", Body=HOURS.encode())
    process(store, day.isoformat(), 2)
    client.put_object(Bucket="emr-landing", Key="clinic-a/booking.jsonl", Body=booking(day).encode())
    client.put_object(Bucket="emr-landing", Key="clinic-a/late.jsonl", Body=booking(day).replace("B1", "B2").replace("T10:", "T11:").encode())
    real = S3Object.read_bytes
    monkeypatch.setattr(S3Object, "read_bytes", failing_reads(s3_feed, lambda location: location.endswith("/booking.jsonl")))
    with pytest.raises(Exception, match=r"S3 landing get s3://emr-landing/clinic-a/booking\.jsonl: SlowDown"):
        process(store, day.isoformat(), 2)
    assert quarantined(store, "cloud") == []
    assert [f.relpath for f in pipeline.pending_files(store, get_feed("cloud"))] == ["cloud/booking.jsonl"]  # late.jsonl went through

    monkeypatch.setattr(S3Object, "read_bytes", real)
    assert process(store, day.isoformat(), 2).files == 1  # S3 is fine again
    assert spans_on(store, "cloud", "S1", day.isoformat()) == [(f"{day}T09:00Z", f"{day}T10:00Z")]
    assert quarantined(store, "cloud") == []


def test_an_object_replaced_with_new_content_is_processed_again(s3_feed, store):
    """The sensor keys a run by key + ETag, but pending objects were found by key alone: an EMR
    re-uploading a key with new content was silently ignored. A new ETag is a new file to
    process (its events are versioned like any other: older ones change nothing)."""
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)
    client = s3_feed.client()
    client.put_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl", Body=HOURS.encode())
    process(store, day.isoformat(), 2)
    assert pending(get_feed("cloud"), processed_files(store, "cloud")) == []
    newer = HOURS.replace("09:00", "08:00").replace("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z")
    client.put_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl", Body=newer.encode())
    etag = client.head_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl")["ETag"].strip('"')

    with dg.DagsterInstance.ephemeral() as instance:
        with dg.build_sensor_context(instance=instance, resources={"store": store, "sinks": SinksResource()}) as context:
            assert [r.run_key.split("#")[0] for r in emr_landing_sensor(context).run_requests] == [f"cloud/hours.jsonl@{etag}"]
    assert process(store, day.isoformat(), 2).files == 1
    assert spans_on(store, "cloud", "S1", day.isoformat()) == [(f"{day}T08:00Z", f"{day}T12:00Z")]
    assert process(store, day.isoformat(), 2).files == 0  # processed once
    assert quarantined(store, "cloud") == []


def failing_reads(s3_feed, when):  # noqa: ANN001, ANN201
    """`S3Object.read_bytes` with the S3 server answering 503 to every request of a read of an
    object whose location `when` picks (the server's switches fail every request: one read at a time)."""
    real, one_at_a_time = S3Object.read_bytes, threading.Lock()

    def read(listed):  # noqa: ANN001, ANN202
        with one_at_a_time:
            if when(str(listed)):
                s3_feed.switches.error_status, s3_feed.switches.error_count = 503, 10
            try:
                return real(listed)
            finally:
                s3_feed.switches.error_status, s3_feed.switches.error_count = None, None
    return read
