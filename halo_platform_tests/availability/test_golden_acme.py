"""acme feed, end to end (landing -> Dagster assets -> spans), against spans computed by hand.

Europe/Paris springs forward on Sunday 2027-03-28 at 02:00 (CET +01:00 -> CEST +02:00)."""

import pytest

from halo_platform.availability.service import quarantined
from halo_platform_tests.availability.helpers import land, process, spans_on

CET, CEST = 1, 2

HOURS = """\
{"type":"hours","provider":"P1","tz":"Europe/Paris","week":{"sun":[["09:00","17:00"]],"mon":[["09:00","12:00"],["13:00","17:00"]]},"updated_at":"2026-11-20T10:00:00Z"}
{"type":"hours","provider":"P2","tz":"Europe/Paris","week":{"sat":[["22:00","06:00"]]},"updated_at":"2026-11-20T10:00:00Z"}
{"type":"hours","provider":"P3","tz":"Europe/Paris","week":{"mon":[["09:00","17:00"]]},"updated_at":"2026-11-20T10:00:00Z"}
"""

APPOINTMENTS = """\
{"type":"appointment","action":"upsert","id":"A1","provider":"P1","start":"2027-03-28T10:00:00","duration_min":30,"tz":"Europe/Paris","status":"booked","updated_at":"2026-11-20T10:00:00Z"}
{"type":"appointment","action":"upsert","id":"A2","provider":"P1","start":"2027-03-28T12:00:00","duration_min":30,"tz":"Europe/Paris","status":"booked","updated_at":"2026-11-20T10:00:00Z"}
{"type":"appointment","action":"upsert","id":"A2","provider":"P1","start":"2027-03-28T12:00:00","duration_min":30,"tz":"Europe/Paris","status":"cancelled","updated_at":"2026-11-20T11:00:00Z"}
{"type":"appointment","action":"upsert","id":"A2","provider":"P1","start":"2027-03-28T14:00:00","duration_min":30,"tz":"Europe/Paris","status":"booked","updated_at":"2026-11-20T12:00:00Z"}
{"type":"appointment","action":"delete","id":"A4","updated_at":"2026-11-21T10:00:00Z"}
{"type":"appointment","action":"upsert","id":"A4","provider":"P1","start":"2027-03-28T16:00:00","duration_min":60,"tz":"Europe/Paris","status":"booked","updated_at":"2026-11-21T09:00:00Z"}
{"type":"appointment","action":"upsert","id":"A5","provider":"P2","start":"2027-03-28T01:00:00","duration_min":30,"tz":"Europe/Paris","status":"booked","updated_at":"2026-11-20T10:00:00Z"}
{"type":"vacation","action":"upsert","id":"V1","provider":"P3","from_date":"2027-03-29","to_date":"2027-03-29","updated_at":"2026-11-20T10:00:00Z"}
"""


@pytest.fixture
def processed(halo_env, store):
    land("acme", "hours.jsonl", HOURS)
    land("acme", "appointments.jsonl", APPOINTMENTS)
    return process(store, "2027-03-26", 14)


def test_a_booked_appointment_on_the_paris_dst_sunday_splits_the_day_in_cest(processed, store):
    # work 09:00-17:00 CEST; A1 10:00-10:30; A2 cancelled at 12:00 then rebooked at 14:00; A4 deleted
    assert spans_on(store, "acme", "P1", "2027-03-28") == [
        ("2027-03-28T07:00Z", "2027-03-28T08:00Z"),
        ("2027-03-28T08:30Z", "2027-03-28T12:00Z"),
        ("2027-03-28T12:30Z", "2027-03-28T15:00Z"),
    ]


def test_the_overnight_shift_into_the_dst_night_is_seven_real_hours_minus_its_appointment(processed, store):
    # Sat 22:00 CET (21:00Z) -> Sun 06:00 CEST (04:00Z); A5 at 01:00 CET = 00:00Z for 30 min
    assert spans_on(store, "acme", "P2", "2027-03-27") == [
        ("2027-03-27T21:00Z", "2027-03-28T00:00Z"),
        ("2027-03-28T00:30Z", "2027-03-28T04:00Z"),
    ]
    assert spans_on(store, "acme", "P2", "2027-03-28") == []


def test_a_vacation_day_removes_the_whole_working_day(processed, store):
    assert spans_on(store, "acme", "P3", "2027-03-29") == []
    assert spans_on(store, "acme", "P3", "2027-04-05") == [("2027-04-05T07:00Z", "2027-04-05T15:00Z")]


def test_the_summary_counts_what_was_processed(processed):
    assert (processed.files, processed.events, processed.quarantined) == (2, 11, 0)
    assert processed.items_changed == 3 + 5  # hours P1-P3; A1, A2, A4 (tombstone), A5, V1
    assert processed.provider_dates == 3 * 14


def test_a_duplicated_file_and_a_replay_change_nothing(processed, store):
    before = spans_on(store, "acme", "P1", "2027-03-28")
    land("acme", "appointments-copy.jsonl", APPOINTMENTS)
    again = process(store, "2027-03-26", 14)
    assert (again.files, again.events, again.items_changed, again.provider_dates) == (1, 8, 0, 0)
    assert spans_on(store, "acme", "P1", "2027-03-28") == before
    assert quarantined(store, "acme") == []


def test_a_later_cancellation_frees_the_time_and_only_its_dates_are_recomputed(processed, store):
    land("acme", "cancel.jsonl", '{"type":"appointment","action":"upsert","id":"A1","provider":"P1","start":"2027-03-28T10:00:00",'
         '"duration_min":30,"tz":"Europe/Paris","status":"cancelled","updated_at":"2026-11-22T10:00:00Z"}\n')
    again = process(store, "2027-03-26", 14)
    assert again.items_changed == 1
    assert 0 < again.provider_dates <= 4  # P1 around 2027-03-28 only, not its whole horizon
    assert spans_on(store, "acme", "P1", "2027-03-28") == [("2027-03-28T07:00Z", "2027-03-28T12:00Z"), ("2027-03-28T12:30Z", "2027-03-28T15:00Z")]


def test_parallel_parsing_and_span_workers_give_the_same_spans(halo_env, monkeypatch, store):
    from halo_platform.availability import pipeline

    monkeypatch.setattr(pipeline, "PARALLEL_PARSE_BYTES", 0)
    monkeypatch.setattr(pipeline, "PARALLEL_SPANS_DIRTY_ROWS", 0)
    from halo_platform_tests.availability.test_golden_fhir import RESOURCES

    land("acme", "hours.jsonl", HOURS)
    land("acme", "appointments.jsonl", APPOINTMENTS)
    land("fhir", "resources.ndjson", RESOURCES)
    summary = process(store, "2027-03-26", 14)
    assert (summary.files, summary.events, summary.provider_dates) == (3, 11 + 10, 3 * 14 + 2 * 14)
    assert spans_on(store, "fhir", "F1", "2027-03-29") == [("2027-03-29T07:00Z", "2027-03-29T15:00Z")]
    assert spans_on(store, "acme", "P1", "2027-03-28") == [
        ("2027-03-28T07:00Z", "2027-03-28T08:00Z"), ("2027-03-28T08:30Z", "2027-03-28T12:00Z"), ("2027-03-28T12:30Z", "2027-03-28T15:00Z")]
    assert spans_on(store, "acme", "P2", "2027-03-27") == [("2027-03-27T21:00Z", "2027-03-28T00:00Z"), ("2027-03-28T00:30Z", "2027-03-28T04:00Z")]
