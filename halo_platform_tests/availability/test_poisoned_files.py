"""One bad file or record never stops the EMR pipeline (spec emr.md, "Nothing stops the pipeline").

Poisoned files land next to good files of every feed (hl7 messages and templates, fhir, acme):
`halo emr process` exits 0, every good record is applied and queryable, every bad one is listed
by `halo emr quarantine` with its reason, on SQLite and on PostgreSQL. The pipeline defends
itself whatever the parsers let through: the store-level tests build parsed events by hand."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from halo_platform.availability import pipeline
from halo_platform.availability.feeds import get_feed
from halo_platform.availability.feeds.base import APPOINTMENT, Block, Event, Parsed
from halo_platform.availability.items import LandedFile, apply_files
from halo_platform.availability.service import quarantined
from halo_platform.cli import cli
from halo_platform.core.store import StoreResource
from halo_platform_tests.availability.helpers import land, process, spans_on

LONG = "X" * 300
MSH = "MSH|^~\\&|EMR|C|HALO|H|{version}||SIU^S12|1|P|2.5"


def siu(item: str, start: str, end: str, provider: str = "DR1", version: str = "20261120100000") -> str:
    return "\r".join([MSH.format(version=version), f"SCH|P|{item}", f"TQ1|1||||||{start}|{end}", f"AIP|1||{provider}"])


TZ = '"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/timezone","valueCode":"Europe/London"}]'


def fhir_appointment(rid: str, start: str, end: str) -> str:
    return (f'{{"resourceType":"Appointment","id":"{rid}","meta":{{"lastUpdated":"2026-11-20T12:00:00Z"}},"status":"booked",'
            f'"start":"{start}","end":"{end}","participant":[{{"actor":{{"reference":"Practitioner/F1"}}}}]}}')


def acme_appointment(rid: str, start: str) -> str:
    return json.dumps({"type": "appointment", "action": "upsert", "id": rid, "provider": "P1", "start": start, "duration_min": 30,
                       "tz": "Europe/London", "status": "booked", "updated_at": "2026-11-20T10:00:00Z"})


def land_good_and_poisoned_files() -> dict[str, int]:
    """Lands the scenario; returns the number of bad records per landed file."""
    land("hl7", "templates.csv", "provider_id,timezone,weekday,start,end,version\n"
         "DR1,Europe/London,mon,09:00,17:00,2026-11-20T10:00:00Z\n")
    land("hl7", "templates-poisoned.csv", "provider_id,timezone,weekday,start,end,version\n"
         f"{LONG},Europe/London,mon,09:00,17:00,2026-11-20T10:00:00Z\n"
         "DR2,Europe/London,mon,08:00,12:00,2026-11-20T10:00:00Z\n")
    land("hl7", "good.hl7", siu("APT1", "202701041000", "202701041100"))
    land("hl7", "mixed.hl7", "\n\n".join([
        siu("APT2", "202701041300", "202701041400"),
        siu(LONG, "202701041500", "202701041600"),           # an id longer than the store's column
        siu("APT3", "000101010000", "000101010100"),         # a date planning cannot step back from
    ]))
    # the record of issue 8, verbatim: MSH-7 in year 1, 99 h 59 min east of UTC
    land("hl7", "overflow.hl7", siu("APT4", "202701041600", "202701041630", version="00010101000000+9959"))
    land("fhir", "resources.ndjson", "\n".join([
        '{"resourceType":"PractitionerRole","id":"R1","meta":{"lastUpdated":"2026-11-20T12:00:00Z"},' + TZ + ','
        '"practitioner":{"reference":"Practitioner/F1"},"availableTime":[{"daysOfWeek":["mon"],'
        '"availableStartTime":"09:00:00","availableEndTime":"17:00:00"}]}',
        fhir_appointment("AP1", "2027-01-04T10:00:00Z", "2027-01-04T11:00:00Z"),
        fhir_appointment(LONG, "2027-01-04T12:00:00Z", "2027-01-04T13:00:00Z"),
        fhir_appointment("AP2", "0001-01-01T00:00:00Z", "0001-01-01T01:00:00Z"),
    ]) + "\n")
    land("acme", "events.jsonl", "\n".join([
        json.dumps({"type": "hours", "provider": "P1", "tz": "Europe/London", "week": {"mon": [["09:00", "17:00"]]},
                    "updated_at": "2026-11-20T10:00:00Z"}),
        acme_appointment("A1", "2027-01-04T10:00:00"),
        acme_appointment(LONG, "2027-01-04T12:00:00"),
        acme_appointment("A2", "0001-01-01T00:00:00"),
    ]) + "\n")
    return {"hl7/templates-poisoned.csv": 1, "hl7/mixed.hl7": 2, "hl7/overflow.hl7": 1, "fhir/resources.ndjson": 2,
            "acme/events.jsonl": 2}


def test_poisoned_files_next_to_good_files_of_every_feed_exit_0_apply_every_good_record_and_list_every_bad_one(any_store):
    bad = land_good_and_poisoned_files()
    runner = CliRunner()
    run = runner.invoke(cli, ["emr", "process", "--as-of", "2027-01-04", "--horizon-days", "3"])
    assert run.exit_code == 0, run.output + repr(run.exception)
    assert "files: 7" in run.output

    assert spans_on(any_store, "hl7", "DR1", "2027-01-04") == [
        ("2027-01-04T09:00Z", "2027-01-04T10:00Z"), ("2027-01-04T11:00Z", "2027-01-04T13:00Z"), ("2027-01-04T14:00Z", "2027-01-04T17:00Z")]
    assert spans_on(any_store, "hl7", "DR2", "2027-01-04") == [("2027-01-04T08:00Z", "2027-01-04T12:00Z")]
    assert spans_on(any_store, "fhir", "F1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T10:00Z"), ("2027-01-04T11:00Z", "2027-01-04T17:00Z")]
    assert spans_on(any_store, "acme", "P1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T10:00Z"), ("2027-01-04T10:30Z", "2027-01-04T17:00Z")]

    rows = quarantined(any_store)
    per_file: dict[str, int] = {}
    for row in rows:
        per_file[row["file"]] = per_file.get(row["file"], 0) + 1
        assert row["reason"] and row["raw"], row
    assert per_file == bad
    long_ids = [r for r in rows if LONG in r["raw"] and r["file"] != "hl7/overflow.hl7"]
    assert len(long_ids) == 4 and all("longer than 255" in r["reason"] for r in long_ids), long_ids
    year_one = [r for r in rows if r["file"] in ("hl7/mixed.hl7", "fhir/resources.ndjson", "acme/events.jsonl") and LONG not in r["raw"]]
    assert len(year_one) == 3 and all("0001" in r["reason"] and "outside" in r["reason"] for r in year_one), year_one

    listed = runner.invoke(cli, ["emr", "quarantine"])
    assert listed.exit_code == 0 and f"{len(rows)} quarantined records" in listed.output
    again = runner.invoke(cli, ["emr", "process", "--as-of", "2027-01-04", "--horizon-days", "3"])
    assert again.exit_code == 0 and "files: 0" in again.output, again.output


def hand_made(events: list[Event]) -> LandedFile:
    return LandedFile.from_parsed("acme/hand.jsonl", "sha", Parsed(events=events))


def appointment(item_id: str, start: dt.datetime, provider: str = "P1", version: dt.datetime = dt.datetime(2026, 11, 20)) -> Event:
    return Event(item_id, version, APPOINTMENT, 1, f"raw {item_id[:20]}", status="booked",
                 blocks=[Block(provider, start, start + dt.timedelta(minutes=30))])


@pytest.mark.parametrize(("bad", "reason"), [
    (appointment(LONG, dt.datetime(2027, 1, 4, 10)), "item id longer than 255 characters"),
    (appointment("A2", dt.datetime(2027, 1, 4, 10), provider=LONG), "provider id longer than 255 characters"),
    (appointment("A3", dt.datetime(1, 1, 1)), "start 0001-01-01T00:00:00 outside"),
    (appointment("A4", dt.datetime(9999, 12, 31, 12)), "start 9999-12-31T12:00:00 outside"),
    (appointment("A5", dt.datetime(2027, 1, 4, 10), version=dt.datetime(1, 1, 1)), "version 0001-01-01T00:00:00 outside"),
    (appointment("A\x00", dt.datetime(2027, 1, 4, 10)), "item id contains NUL"),
])
def test_a_record_the_store_cannot_hold_is_quarantined_by_the_store_step_whatever_the_parser_let_through(pg_url, bad, reason):
    """Defence in depth: events built by hand (no parser involved) reach `apply_files` on PostgreSQL."""
    feed = f"hand{abs(hash(reason)) % 10**8}"
    pg = StoreResource(db_url=pg_url)
    with pg.write() as conn:
        result = apply_files(conn, feed, [hand_made([appointment("A1", dt.datetime(2027, 1, 4, 9)), bad])])
    assert (result.events, result.quarantined, result.items_changed) == (1, 1, 1)
    with pg.read() as conn:
        items = conn.execute(sa.text("SELECT item_id FROM scheduling_items WHERE feed = :f"), {"f": feed}).scalars().all()
        reasons = conn.execute(sa.text("SELECT reason FROM emr_quarantine WHERE feed = :f"), {"f": feed}).scalars().all()
    assert items == ["A1"]
    assert len(reasons) == 1 and reasons[0].startswith(reason), reasons


def test_impacted_dates_skip_events_planning_cannot_step_back_from(halo_env, store):
    parsed = Parsed(events=[appointment("A1", dt.datetime(2027, 1, 4, 9)), appointment("A3", dt.datetime(1, 1, 1))])
    assert pipeline.impacted_dates(store, "acme", pipeline.impact(parsed), dt.date(2027, 1, 4), 3) == [dt.date(2027, 1, 4), dt.date(2027, 1, 5)]


def test_a_file_whose_processing_fails_unexpectedly_is_quarantined_whole_marked_processed_and_blocks_nothing(halo_env, monkeypatch, store):
    """A parser bug is simulated (real parsers are meant never to raise): the file is quarantined
    as a whole with the error as its reason, the other files of its feed and the other feeds apply,
    and the next run does not retry it."""
    hl7 = get_feed("hl7").adapter

    def broken(read):  # noqa: ANN001, ANN202 - the reader, raising on one file
        def reader(data: bytes, file: str = ""):  # noqa: ANN202
            if file == "broken.hl7":
                raise RuntimeError("parser bug")
            return read(data, file)
        return reader

    monkeypatch.setattr(hl7, "parse", broken(hl7.parse))
    monkeypatch.setattr(hl7, "columns", broken(hl7.columns))  # the column-wise reader, tried first
    land("hl7", "templates.csv", "provider_id,timezone,weekday,start,end,version\nDR1,Europe/London,mon,09:00,17:00,2026-11-20T10:00:00Z\n")
    land("hl7", "good.hl7", siu("APT1", "202701041000", "202701041100"))
    land("hl7", "broken.hl7", siu("APT2", "202701041300", "202701041400"))
    land("acme", "events.jsonl", json.dumps({"type": "hours", "provider": "P1", "tz": "Europe/London",
                                             "week": {"mon": [["09:00", "17:00"]]}, "updated_at": "2026-11-20T10:00:00Z"}) + "\n")
    summary = process(store, "2027-01-04", 3)
    assert (summary.files, summary.quarantined) == (4, 1)
    assert spans_on(store, "hl7", "DR1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T10:00Z"), ("2027-01-04T11:00Z", "2027-01-04T17:00Z")]
    assert spans_on(store, "acme", "P1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T17:00Z")]
    [row] = quarantined(store, "hl7")
    assert row["file"] == "hl7/broken.hl7" and row["position"] == 0
    assert "RuntimeError: parser bug" in row["reason"] and "APT2" in row["raw"]
    assert process(store, "2027-01-04", 3).files == 0
