"""S3 landing review 20: an object is read as it was listed (its ETag), or not at all; against moto's
S3 server, which answers a GET whose If-Match is not the object's ETag with 412 PreconditionFailed."""

from __future__ import annotations

import datetime as dt

import pytest

from halo_platform.availability import pipeline
from halo_platform.availability.feeds import get_feed
from halo_platform.availability.landing import LandingReadError
from halo_platform.availability.service import quarantined
from halo_platform_tests.availability.helpers import process, spans_on
from halo_platform_tests.availability.test_s3_landing import HOURS, landing_at

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
