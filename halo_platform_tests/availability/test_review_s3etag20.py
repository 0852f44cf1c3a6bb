"""S3 landing review 20: an object is read as it was listed (its ETag), or not at all; against moto's
S3 server, which answers a GET whose If-Match is not the object's ETag with 412 PreconditionFailed."""

from __future__ import annotations

import datetime as dt
import json
import time

import dagster as dg
import pytest

from halo_platform.availability import landing, pipeline, sensors
from halo_platform.availability.feeds import get_feed
from halo_platform.availability.landing import LandingReadError
from halo_platform.availability.sensors import emr_landing_sensor
from halo_platform.availability.service import quarantined
from halo_platform.sinks import SinksResource
from halo_platform_tests.availability.helpers import process, spans_on
from halo_platform_tests.availability.test_review_s3land19 import trickled  # noqa: F401 - the fixture
from halo_platform_tests.availability.test_s3_landing import HOURS, landing_at
from halo_platform_tests.fixtures.alerts import alerts_sent

NEWER = HOURS.replace("09:00", "08:00")  # the same size: only the ETag tells them apart


@pytest.fixture
def s3_feed(halo_env, s3_server, tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    return landing_at(s3_server, tmp_path, monkeypatch, "clinic-a")


def etag(s3_feed, key: str) -> str:  # noqa: ANN001
    return s3_feed.client().head_object(Bucket="emr-landing", Key=key)["ETag"].strip('"')


def test_an_object_replaced_between_its_listing_and_its_read_is_left_pending_then_processed_as_it_is(s3_feed, store):
    """An object replaced by one of the same size after the run listed it was read as it was then
    (the new content) and recorded under the ETag listed (the old one's): it showed pending again
    under its new ETag and was processed twice, under two ETags, one of them never its content's.
    The GET asks for the listed ETag (If-Match): S3 answers 412, the run fails on it and records
    nothing; the next run lists the new ETag and processes that content under it."""
    assert len(NEWER) == len(HOURS)
    day = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)).isoformat()
    client, feed = s3_feed.client(), get_feed("cloud")
    client.put_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl", Body=HOURS.encode())
    listed = pipeline.pending_files(store, feed)
    client.put_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl", Body=NEWER.encode())
    newer = etag(s3_feed, "clinic-a/hours.jsonl")
    assert [f.sha256 for f in listed] != [newer]

    seen = len(s3_feed.requests.snapshot())
    with pytest.raises(LandingReadError, match=r"^1 landed file\(s\) not read, left pending: cloud/hours\.jsonl: S3 landing get "
                                               r"s3://emr-landing/clinic-a/hours\.jsonl: PreconditionFailed \(replaced since it was listed\)$"):
        pipeline.ingest_feeds(store, [(feed, listed)])
    gets = [r for r in s3_feed.requests.snapshot(seen) if r.method == "GET"]
    assert [(r.header("If-Match"), r.status) for r in gets] == [(f'"{listed[0].sha256}"', 412)]
    assert pipeline.processed_files(store, "cloud") == {}  # nothing recorded under the listed ETag

    assert [(f.relpath, f.sha256) for f in pipeline.pending_files(store, feed)] == [("cloud/hours.jsonl", newer)]
    assert process(store, day, 2).files == 1
    assert spans_on(store, "cloud", "S1", day) == [(f"{day}T08:00Z", f"{day}T12:00Z")]
    assert {k: set(v.sha256s) for k, v in pipeline.processed_files(store, "cloud").items()} == {"cloud/hours.jsonl": {newer}}
    assert process(store, day, 2).files == 0  # processed once
    assert quarantined(store, "cloud") == []


def test_planning_never_reads_a_replaced_object_as_the_one_listed(s3_feed, store):
    """The sensor parses a pending object to plan its run's dates, cached by its key and listed ETag:
    a replaced object's content was cached as the listed one's. Its read fails now (412), nothing is cached."""
    client, feed = s3_feed.client(), get_feed("cloud")
    client.put_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl", Body=HOURS.encode())
    (listed,) = pipeline.pending_files(store, feed)
    client.put_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl", Body=NEWER.encode())
    with pytest.raises(LandingReadError, match=r"PreconditionFailed \(replaced since it was listed\)$"):
        listed.path.read_bytes()
    (now,) = pipeline.pending_files(store, feed)
    assert now.path.read_bytes() == NEWER.encode()


FEEDS = 5


def _tick(store, cursor: str | None = None) -> dg.SensorResult:  # noqa: ANN001
    with dg.DagsterInstance.ephemeral() as instance:
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources={"store": store, "sinks": SinksResource()}) as context:
            return emr_landing_sensor(context)


def test_a_tick_over_several_slow_feeds_ends_within_its_time_and_reads_the_others_next(trickled, s3_server, store, tmp_path, monkeypatch):  # noqa: F811
    """Each S3 listing has its time (the landing's, 1 s here; 30 s in production), the tick had it for
    each feed: five feeds whose endpoint answers a byte at a time held it 5 s (2.5 min in production,
    where Dagster gives up a tick at 60 s and the whole tick is lost). The tick's S3 calls have one
    time in all (2.5 s here): a feed not listed within it is not reached, named in the skip reason and
    the log, neither alerted nor forgotten (its last state stays in the cursor); a feed not read at the
    last tick is listed after the others, so a feed down holds no other back at the next tick."""
    server = trickled(b"list-type=2", times=99)
    monkeypatch.setattr(landing, "S3_TIMEOUT", 1.0)  # the fixture's 2 s: two listings given up fill this tick's 2.5 s
    names = [f"f{i}" for i in range(FEEDS)]
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n" + "".join(
        f"  {name}: {{format: acme, landing: 's3://emr-landing/{name}/', endpoint_url: 'http://127.0.0.1:{server.port}'}}\n" for name in names))
    monkeypatch.setattr(sensors, "TICK_S3_SECONDS", 2.5)
    s3_server.client().put_object(Bucket="emr-landing", Key="f4/hours.jsonl", Body=HOURS.encode())
    late = "S3 landing list s3://emr-landing/{}/: no answer within 1 s"

    started = time.monotonic()
    first = _tick(store)
    assert time.monotonic() - started < 3.5  # 5 s and more before
    assert first.skip_reason.skip_message == (
        f"landing not read for f0: {late.format('f0')}; f1: {late.format('f1')}; "
        "not reached within the tick's 2.5 s of S3 calls, read at the next tick: f2, f3, f4")
    assert sorted(a["title"] for a in alerts_sent()) == ["emr feed landing not read: f0", "emr feed landing not read: f1"]

    second = _tick(store, first.cursor)  # f2, f3, f4 first: f0 and f1 were down
    assert second.skip_reason.skip_message == (
        f"landing not read for f2: {late.format('f2')}; f3: {late.format('f3')}; "
        "not reached within the tick's 2.5 s of S3 calls, read at the next tick: f0, f1, f4")
    assert json.loads(second.cursor) == {name: late.format(name) for name in names[:4]}  # f0, f1 still down as far as is known
    assert sorted(a["title"] for a in alerts_sent()) == [f"emr feed landing not read: {name}" for name in names[:4]]  # once each

    server.left = 0  # the endpoint answers again
    third = _tick(store, second.cursor)
    assert [r.run_key.partition("@")[0] for r in third.run_requests] == ["f4/hours.jsonl"]
    assert third.cursor == "{}"
