"""Landed files under $HALO_HOME: a file is processed once per content. A file replaced in place
with new content is processed again (as an S3 object with a new ETag is), never silently skipped;
an unchanged one is neither processed nor hashed again. A file that cannot be read fails the run
and stays pending (it is no fault of the file); only a file that cannot be parsed is quarantined."""

import os

import pytest

from halo_platform.availability import landing, pipeline
from halo_platform.availability.feeds import get_feed
from halo_platform.availability.service import quarantined
from halo_platform_tests.availability.helpers import land, process, spans_on

DAY = "2027-01-04"  # a Monday
BOOKING = ('{"type":"appointment","action":"upsert","id":"A1","provider":"P1","start":"2027-01-04T10:00:00","duration_min":30,'
           '"tz":"UTC","status":"booked","updated_at":"2026-11-20T10:00:00Z"}\n')


def hours(start: str, version: str) -> str:
    return (f'{{"type":"hours","provider":"P1","tz":"UTC","week":{{"mon":[["{start}","12:00"]]}},'
            f'"updated_at":"{version}"}}\n')


def test_a_file_replaced_in_place_with_new_content_is_processed_again(halo_env, store):
    path = land("acme", "hours.jsonl", hours("09:00", "2026-11-01T00:00:00Z"))
    process(store, DAY, 1)
    assert spans_on(store, "acme", "P1", DAY) == [(f"{DAY}T09:00Z", f"{DAY}T12:00Z")]
    path.write_text(hours("08:00", "2026-11-02T00:00:00Z"))  # an SFTP drop overwriting its earlier upload
    assert [f.relpath for f in pipeline.pending_files(store, get_feed("acme"))] == ["acme/hours.jsonl"]
    assert process(store, DAY, 1).files == 1
    assert spans_on(store, "acme", "P1", DAY) == [(f"{DAY}T08:00Z", f"{DAY}T12:00Z")]
    assert process(store, DAY, 1).files == 0 and quarantined(store, "acme") == []


def test_a_file_rewritten_with_the_content_already_processed_is_not_processed_again(halo_env, store):
    path = land("acme", "hours.jsonl", hours("09:00", "2026-11-01T00:00:00Z"))
    process(store, DAY, 1)
    path.write_text(hours("09:00", "2026-11-01T00:00:00Z"))
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 60))
    assert pipeline.pending_files(store, get_feed("acme")) == []


def test_an_unchanged_processed_file_is_not_hashed_again(halo_env, store, monkeypatch):
    """Every sensor tick lists the landing zone: hashing each processed file again would read the
    whole zone every 10 s. A file whose modification time is the one recorded is unchanged."""
    land("acme", "hours.jsonl", hours("09:00", "2026-11-01T00:00:00Z"))
    process(store, DAY, 1)
    land("acme", "booking.jsonl", BOOKING)
    hashed = []
    real = landing.sha256_of
    monkeypatch.setattr(landing, "sha256_of", lambda path: hashed.append(path.name) or real(path))
    assert [f.relpath for f in pipeline.pending_files(store, get_feed("acme"))] == ["acme/booking.jsonl"]
    assert hashed == ["booking.jsonl"]


def test_a_file_that_cannot_be_read_fails_the_run_stays_pending_and_holds_back_no_other(halo_env, store, monkeypatch):
    """An OSError reading a landed file (a share gone away, a permission being fixed) quarantined
    it whole and recorded it as processed: its events were lost for good."""
    land("acme", "hours.jsonl", hours("09:00", "2026-11-01T00:00:00Z"))
    land("acme", "booking.jsonl", BOOKING)
    real = pipeline.load_file

    def unreadable(fmt, path, *args):
        if path.name == "hours.jsonl":
            raise PermissionError(13, "Permission denied", str(path))
        return real(fmt, path, *args)

    monkeypatch.setattr(pipeline, "load_file", unreadable)
    with pytest.raises(Exception, match=r"acme/hours\.jsonl.*Permission denied"):
        process(store, DAY, 1)
    assert quarantined(store, "acme") == []
    assert [f.relpath for f in pipeline.pending_files(store, get_feed("acme"))] == ["acme/hours.jsonl"]

    monkeypatch.setattr(pipeline, "load_file", real)
    assert process(store, DAY, 1).files == 1
    assert spans_on(store, "acme", "P1", DAY) == [(f"{DAY}T09:00Z", f"{DAY}T10:00Z"), (f"{DAY}T10:30Z", f"{DAY}T12:00Z")]


def test_a_file_that_cannot_be_parsed_is_still_quarantined_whole(halo_env, store, monkeypatch):
    from halo_platform.availability.feeds import adapter

    def broken(data, name):
        raise ValueError("parser bug")

    monkeypatch.setattr(adapter("acme"), "parse", broken)
    monkeypatch.setattr(adapter("acme"), "columns", None)
    land("acme", "hours.jsonl", hours("09:00", "2026-11-01T00:00:00Z"))
    assert process(store, DAY, 1).quarantined == 1
    [record] = quarantined(store, "acme")
    assert record["position"] == 0 and "ValueError: parser bug" in record["reason"]
    assert pipeline.pending_files(store, get_feed("acme")) == []
