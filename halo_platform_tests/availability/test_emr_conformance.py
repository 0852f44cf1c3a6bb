"""Conformance of the availability pipeline to emr.md where an earlier reading of it went astray
(feed adapters, time zones of working hours, the default window, group availability, the FHIR
Slot search): each test quotes the sentence it pins. Parsers are pure, so their tests run on
bytes, through both `parse` and the columnar reader (`columns`) that the pipeline takes first."""

import datetime as dt
import zlib
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from halo_platform.availability import pipeline
from halo_platform.availability.feeds import acme, fhir, hl7
from halo_platform.availability.feeds.base import EARLIEST, LATEST
from halo_platform.availability.fhir_api import instant_range, parse_start
from halo_platform.availability.service import group_availability, run_processing
from halo_platform.core.errors import HaloError
from halo_platform_tests.availability.helpers import land, process, spans_on


def events_and_reasons(module, data: str, file: str) -> tuple[list, list[str]]:  # noqa: ANN001
    """What `parse` makes of `data`, after checking that the columnar reader agrees with it."""
    parsed = module.parse(data.encode(), file)
    columns = module.columns(data.encode(), file)
    if columns is not None:
        assert columns.events.column("item_id").to_pylist() == [e.item_id for e in parsed.events]
        assert [r.reason for r in columns.rejected] == [r.reason for r in parsed.rejected]
    return parsed.events, [r.reason for r in parsed.rejected]


def acme_appointment(duration: str) -> str:
    return ('{"type":"appointment","action":"upsert","id":"A1","provider":"P1","start":"2026-12-01T09:00:00",'
            f'"duration_min":{duration},"tz":"Europe/Paris","status":"booked","updated_at":"2026-11-20T10:00:00Z"}}\n')


@pytest.mark.parametrize(("duration", "end"), [("30", "08:30"), ("30.0", "08:30"), ("30.5", "08:30:30"), ("0.0", "08:00")])
def test_acme_duration_min_is_any_json_number_of_minutes(duration, end):
    """emr.md: `"duration_min":30` is a JSON number; 30.0 is the same number and 30.5 minutes a
    duration too (HL7's AIP/AIS durations are read as decimals already). Both were quarantined
    as "invalid duration_min"."""
    events, reasons = events_and_reasons(acme, acme_appointment(duration), "a.jsonl")
    assert reasons == []
    (block,) = events[0].blocks
    assert (block.start, block.end) == (dt.datetime(2026, 12, 1, 8), dt.datetime.fromisoformat(f"2026-12-01T{end}"))


@pytest.mark.parametrize("duration", ["-0.5", "true", '"30"', "1e300"])
def test_acme_duration_min_that_is_no_duration_is_still_quarantined(duration):
    events, reasons = events_and_reasons(acme, acme_appointment(duration), "a.jsonl")
    assert events == [] and len(reasons) == 1 and "duration_min" in reasons[0]


def fhir_appointment(status: str, times: str) -> str:
    return ('{"resourceType":"Appointment","id":"AP1","meta":{"lastUpdated":"2026-11-20T13:00:00Z"},'
            f'"status":"{status}",{times}"participant":[{{"actor":{{"reference":"Practitioner/P1"}}}}]}}\n')


@pytest.mark.parametrize("status", ["cancelled", "noshow", "booked"])
def test_fhir_appointment_ending_before_it_starts_is_quarantined_whatever_its_status(status):
    """emr.md: "end before start — each goes to emr_quarantine". A cancelled (non-blocking)
    appointment skipped the interval check and was stored; HL7 checks it for every status."""
    line = fhir_appointment(status, '"start":"2027-03-28T12:00:00Z","end":"2027-03-28T11:00:00Z",')
    events, reasons = events_and_reasons(fhir, line, "f.ndjson")
    assert events == [] and len(reasons) == 1 and reasons[0].startswith("end 2027-03-28T11:00:00 before start")


def test_fhir_cancelled_appointment_without_times_is_kept():
    """FHIR lets a cancelled appointment carry no start and end: it blocks nothing, nothing to check."""
    events, reasons = events_and_reasons(fhir, fhir_appointment("cancelled", ""), "f.ndjson")
    assert reasons == [] and events[0].status == "cancelled" and events[0].blocks == []


ROLE = ('{"resourceType":"PractitionerRole","id":"R1","meta":{"lastUpdated":"2026-11-20T13:00:00Z"},'
        '"practitioner":{"reference":"Practitioner/P1"},'
        '"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/timezone","valueCode":"Europe/Paris"}],'
        '"availableTime":[{"daysOfWeek":["mon"],"availableStartTime":"09:00:00","availableEndTime":"17:00:00"}],'
        '"notAvailable":[%s]}\n')


def test_fhir_not_available_with_a_description_only_keeps_the_role():
    """emr.md: `notAvailable[].during` is time off. FHIR R4 makes `description` the required part
    and `during` optional: an absence without one blocks no time. It quarantined the whole role,
    working hours included."""
    events, reasons = events_and_reasons(fhir, ROLE % '{"description":"on call some weekends"}', "f.ndjson")
    assert reasons == []
    assert events[0].blocks == [] and len(events[0].hours) == 1


@pytest.mark.parametrize(("during", "start", "end", "local"), [
    ('{"start":"2027-01-04T12:00:00+01:00"}', dt.datetime(2027, 1, 4, 11), LATEST, False),
    ('{"start":"2027-01-04"}', dt.datetime(2027, 1, 4), LATEST, True),
    ('{"end":"2027-01-04T12:00:00Z"}', EARLIEST, dt.datetime(2027, 1, 4, 12), False),
])
def test_fhir_not_available_with_an_open_ended_period_is_time_off_from_then_on(during, start, end, local):
    """FHIR R4 Period: "If the end of the period is missing, it means that the period is ongoing"
    (and a missing start, that it began before anything known). A leave without a known end is
    time off from its start on; it quarantined the role ("missing end")."""
    events, reasons = events_and_reasons(fhir, ROLE % f'{{"description":"leave","during":{during}}}', "f.ndjson")
    assert reasons == []
    (block,) = events[0].blocks
    assert (block.provider_id, block.start, block.end, block.local) == ("P1", start, end, local)



@pytest.mark.parametrize(("during", "start", "end"), [
    ('{"start":"2027-01","end":"2027-01"}', dt.datetime(2027, 1, 1), dt.datetime(2027, 2, 1)),  # the whole of January
    ('{"start":"2027-12","end":"2027-12"}', dt.datetime(2027, 12, 1), dt.datetime(2028, 1, 1)),
    ('{"start":"2027","end":"2027"}', dt.datetime(2027, 1, 1), dt.datetime(2028, 1, 1)),
    ('{"start":"2027-01-04","end":"2027-02"}', dt.datetime(2027, 1, 4), dt.datetime(2027, 3, 1)),
    ('{"start":"2027-03"}', dt.datetime(2027, 3, 1), LATEST),
])
def test_fhir_not_available_during_partial_dates_is_the_days_they_name(during, start, end):
    """A FHIR dateTime may be partial (YYYY, YYYY-MM): a leave `during` "2027-01" is January, local
    time. It quarantined the whole role, working hours included ("invalid start '2027-01'")."""
    events, reasons = events_and_reasons(fhir, ROLE % f'{{"description":"leave","during":{during}}}', "f.ndjson")
    assert reasons == []
    (block,) = events[0].blocks
    assert (block.provider_id, block.start, block.end, block.local) == ("P1", start, end, True)
    assert len(events[0].hours) == 1

def test_fhir_leave_without_an_end_removes_every_span_from_its_start(store):
    """End to end: the ongoing leave is stored and subtracted from every later working day."""
    land("fhir", "roles.ndjson", ROLE % '{"description":"leave","during":{"start":"2027-01-05"}}')
    process(store, "2027-01-04", 9)
    assert spans_on(store, "fhir", "P1", "2027-01-04") == [("2027-01-04T08:00Z", "2027-01-04T16:00Z")]
    assert spans_on(store, "fhir", "P1", "2027-01-11") == []


def test_fhir_not_available_period_with_neither_end_is_quarantined():
    events, reasons = events_and_reasons(fhir, ROLE % '{"description":"leave","during":{}}', "f.ndjson")
    assert events == [] and reasons == ["missing start"]


def siu(*segments: str) -> str:
    head = "MSH|^~\\&|EMR|CLINIC|HALO|HALO|20261120100000||SIU^S12^SIU_S12|1|P|2.5"
    return "\r".join([head, *segments]) + "\n"


def hl7_interval(*segments: str) -> tuple[dt.datetime, dt.datetime]:
    events, reasons = events_and_reasons(hl7, siu(*segments), "m.hl7")
    assert reasons == []
    (block,) = events[0].blocks
    return block.start, block.end


def test_hl7_tq1_start_without_end_falls_back_to_sch11():
    """emr.md: "Interval: TQ1-7 / TQ1-8 if present; else SCH-11 components 4 / 5; else the first
    AIS/AIP start plus duration". TQ1-7 alone is no TQ1 interval: SCH-11 gives it. A TQ1-7 alone
    skipped SCH-11 and took the AIS start (or quarantined "no interval" without one)."""
    assert hl7_interval("SCH|P1|APT1^EMR|||||||||^^^202703150900^202703150930",
                        "TQ1|1||||||202703150800",
                        "AIS|1||CONSULT|202703151000|||15|MIN",
                        "AIP|1||DR1") == (dt.datetime(2027, 3, 15, 9), dt.datetime(2027, 3, 15, 9, 30))


def test_hl7_tq1_start_without_end_and_nothing_else_is_quarantined_with_its_reason():
    events, reasons = events_and_reasons(hl7, siu("SCH|P1|APT1^EMR", "TQ1|1||||||202703150800", "AIP|1||DR1"), "m.hl7")
    assert events == [] and reasons == ["no interval (TQ1-7/8, SCH-11, AIS/AIP start)"]


@pytest.mark.parametrize(("segments", "start", "end"), [
    (("AIS|1||CONSULT|202703151000|||15|MIN", "AIP|1||DR1|||202703151100|||30|MIN"),
     dt.datetime(2027, 3, 15, 10), dt.datetime(2027, 3, 15, 10, 15)),
    (("AIP|1||DR1|||202703151100|||30|MIN", "AIS|1||CONSULT|202703151000|||15|MIN"),
     dt.datetime(2027, 3, 15, 11), dt.datetime(2027, 3, 15, 11, 30)),
    (("AIS|1||CONSULT", "AIP|1||DR1|||202703151100|||30|MIN", "AIS|2||X|202703151000|||15|MIN"),
     dt.datetime(2027, 3, 15, 11), dt.datetime(2027, 3, 15, 11, 30)),
])
def test_hl7_interval_comes_from_the_first_ais_or_aip_start_in_message_order(segments, start, end):
    """emr.md: "else the first AIS/AIP start (field 6 for AIP, 4 for AIS) plus duration": the first
    of those segments carrying a start, as they come (an SIU message lists AIS before AIP). Every
    AIP start was taken before any AIS one, so an AIS leading the message lost to a later AIP."""
    assert hl7_interval("SCH|P1|APT1^EMR", *segments) == (start, end)


def test_default_as_of_is_the_earliest_local_date_anywhere(store, monkeypatch):
    """emr.md: spans exist for local dates from `as_of`, "defaulting to today". At 03:00Z a
    provider in Los Angeles is still on the evening before: a window from the UTC date cut the
    rest of their today (19:00-23:00 local) from the spans. Today is the date at UTC-12, where it
    is earliest, so every provider's today is in the window."""
    monkeypatch.setattr(pipeline, "utcnow", lambda: dt.datetime(2027, 1, 5, 3, tzinfo=dt.UTC))
    assert pipeline.today() == dt.date(2027, 1, 4)
    land("acme", "hours.jsonl", '{"type":"hours","provider":"LA1","tz":"America/Los_Angeles",'
                                '"week":{"mon":[["09:00","23:00"]],"tue":[["09:00","23:00"]]},"updated_at":"2026-11-20T10:00:00Z"}\n')
    run_processing(store, horizon_days=2, instance=dg.DagsterInstance.ephemeral())
    assert spans_on(store, "acme", "LA1", "2027-01-04") == [("2027-01-04T17:00Z", "2027-01-05T07:00Z")]


def role(rid: str, tz: str) -> str:
    return (ROLE % "").replace('"id":"R1"', f'"id":"{rid}"').replace("Europe/Paris", tz)


@pytest.mark.parametrize("first", ["RA", "RB"])
def test_fhir_roles_of_one_practitioner_tied_on_version_give_the_timezone_of_the_greatest_role_id(any_store, first):
    """emr.md: local times turn into instants "with the provider's IANA timezone"; the highest
    version wins. Two roles of one practitioner updated at the same instant tied, and the
    timezone was the one of whichever row the database returned first (on PostgreSQL, the role
    stored first): the spans depended on arrival order. The greatest role id decides the tie."""
    roles = {"RA": role("RA", "Europe/Paris"), "RB": role("RB", "America/New_York")}
    for rid in (first, *(r for r in roles if r != first)):
        land("fhir", f"{rid}.ndjson", roles[rid])
        process(any_store, "2027-01-04", 2)
    assert spans_on(any_store, "fhir", "P1", "2027-01-04") == [("2027-01-04T14:00Z", "2027-01-04T22:00Z")]


TEMPLATE_ROWS = ["DR1,Europe/London,mon,08:00,10:00,2026-11-20T10:00:00Z",
                 "DR1,America/New_York,mon,14:00,16:00,2026-11-20T10:00:00Z",
                 "DR1,Asia/Tokyo,mon,18:00,19:00,2026-11-20T10:00:00Z"]


@pytest.mark.parametrize("files", [
    [TEMPLATE_ROWS], [TEMPLATE_ROWS[::-1]], [[TEMPLATE_ROWS[1], TEMPLATE_ROWS[0]], [TEMPLATE_ROWS[2]]],
    [[row] for row in TEMPLATE_ROWS], [[row] for row in TEMPLATE_ROWS[::-1]],
])
def test_template_timezone_is_the_one_of_its_greatest_fingerprint_row_however_rows_are_spread_over_files(store, files):
    """emr.md, Templates across files: a provider's template is "the set of all its rows carrying
    its highest version, whichever landed files they came in". When those rows disagree on the
    timezone, the row with the greatest fingerprint gives it, whatever files hold the rows and in
    what order. Within one file the first row's timezone was taken, across files the one of the
    file whose whole text had the greatest checksum: the same rows gave other spans."""
    for n, rows in enumerate(files):
        land("hl7", f"t{n}.csv", "provider_id,timezone,weekday,start,end,version\n" + "\n".join(rows) + "\n")
        process(store, "2027-01-04", 2)
    tz = max(TEMPLATE_ROWS, key=lambda row: zlib.crc32(row.encode())).split(",")[1]
    local = [("08:00", "10:00"), ("14:00", "16:00"), ("18:00", "19:00")]
    expected = [tuple(dt.datetime.fromisoformat(f"2027-01-04T{t}").replace(tzinfo=ZoneInfo(tz)).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")
                      for t in pair) for pair in local]
    assert spans_on(store, "hl7", "DR1", "2027-01-04") == expected


def test_group_availability_reads_the_instants_of_the_dates_spans_and_who_is_free_then(store):
    """emr.md, Group availability and Semantics (a night past midnight belongs to its first date):
    a group over Sunday is the instants of its providers' Sunday spans, listing who is free then.
    Saturday's night shift (22:00-06:00 UTC) is no Sunday span of its own (as /v1/availability
    answers), but beside a provider in Tokyo (whose Sunday starts at Saturday 15:00Z) its first hour
    is free time of both. The window was once one for the whole group, then each provider's own
    local dates, cut at its midnight: a group of one differed from its /v1/availability."""
    land("acme", "hours.jsonl", "".join(
        f'{{"type":"hours","provider":"{p}","tz":"{tz}","week":{{"{day}":[["{s}","{e}"]]}},"updated_at":"2026-11-01T00:00:00Z"}}\n'
        for p, tz, day, s, e in (("NIGHT", "UTC", "sat", "22:00", "06:00"), ("TOKYO", "Asia/Tokyo", "sun", "00:00", "08:00"),
                                 ("DAY", "UTC", "sun", "09:00", "17:00"))))
    process(store, "2027-01-02", 2)
    sunday = dt.date(2027, 1, 3)

    def group(*providers: str) -> list[tuple[str, str, tuple]]:
        found = group_availability(store, "acme", list(providers), "any", sunday, sunday)
        return [(g.start_at.strftime("%dT%H:%M"), g.end_at.strftime("%dT%H:%M"), g.provider_ids) for g in found]

    assert group("NIGHT", "TOKYO") == [("02T15:00", "02T22:00", ("TOKYO",)), ("02T22:00", "02T23:00", ("NIGHT", "TOKYO"))]
    assert group("NIGHT", "DAY") == [("03T09:00", "03T17:00", ("DAY",))]
    assert group("NIGHT") == [] and spans_on(store, "acme", "NIGHT", "2027-01-03") == []


@pytest.mark.parametrize(("start", "lo", "hi"), [
    (["eq2027-02"], "2027-02-01", "2027-03-01"),
    (["ge2027-12", "lt2028"], "2027-12-01", "2028-01-01"),
    (["2027"], "2027-01-01", "2028-01-01"),
    (["gt2027-01", "le2027-02-03"], "2027-02-01", "2027-02-04"),
    (["ge2027-02-03", "lt2027-02-05"], "2027-02-03", "2027-02-05"),
])
def test_fhir_slot_search_takes_partial_dates_as_the_local_days_they_name(start, lo, hi):
    """emr.md: `GET /fhir/Slot?...&start=ge<date>&start=lt<date>`: a FHIR R4 `date` may be partial
    (YYYY, YYYY-MM), naming every day of its year or month; `ge2027-01` was refused with a 422."""
    tz = ZoneInfo("Asia/Kolkata")
    found = instant_range(parse_start(start), tz, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert found == tuple(dt.datetime.combine(dt.date.fromisoformat(d), dt.time(), tzinfo=tz) for d in (lo, hi))


@pytest.mark.parametrize("start", ["ge2027-13", "ge2027-02T10:00:00Z", "ge202", "ne2027-01-01", "ap2027-01-01", "ge2201"])
def test_fhir_slot_search_refuses_what_is_no_date_or_no_prefix_of_ours(start):
    with pytest.raises(HaloError, match="^start: "):
        parse_start([start])
