"""Review emr17: a landed file (or S3 object) gone between the run's listing and its read."""

import datetime as dt
import logging
import os

import pytest

from halo_platform.availability import pipeline
from halo_platform.availability.feeds import get_feed
from halo_platform.availability.service import quarantined
from halo_platform_tests.availability.helpers import land, spans_on

DAY = "2027-01-04"  # a Monday
HOURS = ('{"type":"hours","provider":"P1","tz":"UTC","week":{"mon":[["09:00","12:00"]]},'
         '"updated_at":"2026-11-01T00:00:00Z"}\n')
BOOKING = ('{"type":"appointment","action":"upsert","id":"A1","provider":"P1","start":"2027-01-04T10:00:00","duration_min":30,'
           '"tz":"UTC","status":"booked","updated_at":"2026-11-20T10:00:00Z"}\n')


def test_a_file_deleted_after_the_runs_listing_is_skipped_with_a_warning_and_the_others_go_through(halo_env, store, caplog):
    """The run lists the pending files, then reads them: a file deleted in between (an operator
    removing a wrong upload) failed the run, 'landed file(s) not read, left pending: ... No such
    file or directory', although nothing was left to read and no retry could read it."""
    land("acme", "hours.jsonl", HOURS)
    gone = land("acme", "booking.jsonl", BOOKING)
    feed = get_feed("acme")
    listed = pipeline.pending_files(store, feed)
    assert sorted(f.relpath for f in listed) == ["acme/booking.jsonl", "acme/hours.jsonl"]
    gone.unlink()
    with caplog.at_level(logging.WARNING):
        results = pipeline.ingest_feeds(store, [(feed, listed)])
    assert results["acme"].files == 1
    assert "acme/booking.jsonl" in caplog.text and "gone" in caplog.text
    assert quarantined(store, "acme") == []
    assert pipeline.pending_files(store, feed) == []
    pipeline.recompute_spans(store, ["acme"], dt.date.fromisoformat(DAY), 1)
    assert spans_on(store, "acme", "P1", DAY) == [(f"{DAY}T09:00Z", f"{DAY}T12:00Z")]


def test_a_file_deleted_after_the_run_read_it_is_still_applied(halo_env, store, monkeypatch):
    """Read and parsed, then deleted before the run stamped when it landed: the stamp's stat failed
    the feed's whole transaction, and the run, for a file whose events had been read."""
    land("acme", "hours.jsonl", HOURS)
    land("acme", "booking.jsonl", BOOKING)
    feed = get_feed("acme")
    real = pipeline.load_file

    def read_then_deleted(fmt, path, *args):
        loaded = real(fmt, path, *args)
        if path.name == "booking.jsonl":
            os.unlink(path)
        return loaded

    monkeypatch.setattr(pipeline, "load_file", read_then_deleted)
    results = pipeline.ingest_feeds(store, [(feed, pipeline.pending_files(store, feed))])
    assert (results["acme"].files, results["acme"].events) == (2, 2)
    pipeline.recompute_spans(store, ["acme"], dt.date.fromisoformat(DAY), 1)
    assert spans_on(store, "acme", "P1", DAY) == [(f"{DAY}T09:00Z", f"{DAY}T10:00Z"), (f"{DAY}T10:30Z", f"{DAY}T12:00Z")]


@pytest.fixture
def s3_feed(halo_env, s3_server, tmp_path, monkeypatch):
    """Feed `cloud` (acme) lands in s3://emr-landing/clinic-a/, holding hours.jsonl and booking.jsonl."""
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    client = s3_server.client()
    client.create_bucket(Bucket="emr-landing")
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  cloud: {{format: acme, landing: 's3://emr-landing/clinic-a/', endpoint_url: '{s3_server.endpoint_url}'}}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    client.put_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl", Body=HOURS.encode())
    client.put_object(Bucket="emr-landing", Key="clinic-a/booking.jsonl", Body=BOOKING.encode())
    return client


def test_an_s3_object_deleted_after_the_runs_listing_is_skipped_as_a_local_file_is(s3_feed, store, caplog):
    """As for a local file: the run failed on 'S3 landing get s3://emr-landing/clinic-a/booking.jsonl: NoSuchKey'."""
    feed = get_feed("cloud")
    listed = pipeline.pending_files(store, feed)
    s3_feed.delete_object(Bucket="emr-landing", Key="clinic-a/booking.jsonl")
    with caplog.at_level(logging.WARNING):
        results = pipeline.ingest_feeds(store, [(feed, listed)])
    assert results["cloud"].files == 1 and "cloud/booking.jsonl gone since it was listed" in caplog.text
    assert quarantined(store, "cloud") == [] and pipeline.pending_files(store, feed) == []


def test_an_s3_object_deleted_after_the_run_read_it_is_still_applied(s3_feed, store, monkeypatch):
    """Its LastModified asked afterwards answered 404: the feed's whole transaction, and the run, failed."""
    feed = get_feed("cloud")
    real = pipeline.load_file

    def read_then_deleted(fmt, path, *args):
        loaded = real(fmt, path, *args)
        if path.name == "booking.jsonl":
            s3_feed.delete_object(Bucket="emr-landing", Key="clinic-a/booking.jsonl")
        return loaded

    monkeypatch.setattr(pipeline, "load_file", read_then_deleted)
    results = pipeline.ingest_feeds(store, [(feed, pipeline.pending_files(store, feed))])
    assert (results["cloud"].files, results["cloud"].events) == (2, 2)
