"""Files parsed side by side share the cores: each file's DuckDB gets cores / files-at-once
threads (one each for two files on two cores; both cores for a file alone), and a file read with
one thread gives the very columns it gives with the default."""

import datetime as dt
import os
import threading

import pytest

from halo_platform.availability import pipeline
from halo_platform.availability.feeds import acme, fhir, hl7, load_feeds
from halo_platform.availability.feeds.columns import connect
from halo_platform.lab.bench.availability import Generator, write_feeds
from halo_platform_tests.availability.helpers import land
from halo_platform_tests.availability.test_golden_acme import APPOINTMENTS, HOURS


def test_connect_caps_duckdb_threads_when_asked():
    db = connect(1)
    assert db.execute("SELECT current_setting('threads')").fetchone()[0] == 1
    db.close()


def test_a_file_read_with_one_duckdb_thread_gives_the_columns_of_the_default(tmp_path):
    write_feeds(Generator(30, dt.date(2027, 1, 4), 20), tmp_path, 3000)
    for module, path in ((acme, "acme/batch0.jsonl"), (fhir, "fhir/batch0.ndjson"), (hl7, "hl7/batch0.hl7")):
        data = (tmp_path / path).read_bytes()
        default, single = module.columns(data, path), module.columns(data, path, 1)
        for table in ("events", "blocks", "hours"):
            assert getattr(single, table).equals(getattr(default, table)), (path, table)


@pytest.mark.parametrize(("files", "threads"), [(["hours.jsonl", "appointments.jsonl"], 1), (["appointments.jsonl"], 2)])
def test_files_parsed_side_by_side_share_two_cores(store, monkeypatch, files, threads):
    texts = {"hours.jsonl": HOURS, "appointments.jsonl": APPOINTMENTS}
    for name in files:
        land("acme", name, texts[name])
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    asked = []
    real = pipeline.load_file
    monkeypatch.setattr(pipeline, "load_file", lambda *a: asked.append(a[-1]) or real(*a))
    feed = load_feeds()["acme"]
    results = pipeline.ingest_feeds(store, [(feed, pipeline.pending_files(store, feed))])
    assert results["acme"].files == len(files)
    assert asked == [threads] * len(files)


def test_files_are_parsed_at_a_lower_priority_than_the_thread_applying_them(store, monkeypatch):
    land("acme", "hours.jsonl", HOURS)
    land("acme", "appointments.jsonl", APPOINTMENTS)
    applying = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    parsing = []
    real = pipeline.load_file
    monkeypatch.setattr(pipeline, "load_file", lambda *a: parsing.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())) or real(*a))
    feed = load_feeds()["acme"]

    assert pipeline.ingest_feeds(store, [(feed, pipeline.pending_files(store, feed))])["acme"].files == 2
    assert parsing == [min(applying + pipeline.PARSING_NICENESS, 19)] * 2
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == applying
