"""EMR feed parsing conformance review (emr24): each input is read by both parsing paths, record by
record (`parse`) and column-wise (`columns`, the vectorized reader of big files), which must give the
same events and quarantine reasons (`assert_same_columns`)."""

import pytest

from halo_platform.availability.feeds import acme, fhir, hl7
from halo_platform.availability.feeds.base import HOURS
from halo_platform_tests.availability.test_columnar_reading import assert_same_columns

SIU = ("MSH|^~\\&|EMR|C|HALO|H|20261120120000||SIU^{trigger}|1|P|2.5\rSCH|1|APT1^EMR\r"
       "TQ1|1||||||202701041000+0000|202701041100+0000\rAIP|1||D1\n")


def reasons(module, name: str, data: bytes) -> list[tuple[int, str]]:
    """The quarantine reasons of `data`, once both paths are shown to agree on everything."""
    assert_same_columns(module.FORMAT.kind, name, data)
    return [(r.position, r.reason) for r in module.parse(data, name).rejected]


@pytest.mark.parametrize(("written", "then"), [
    ("MSH", "no MSH segment"),
    ("SCH", "missing SCH-2 filler appointment id"),
    ("AIP", "no AIP-3 provider"),
    ("TQ1", "no interval (TQ1-7/8, SCH-11, AIS/AIP start)"),
])
@pytest.mark.parametrize("case", [str.lower, str.title], ids=["lower", "title"])
def test_a_segment_name_not_in_upper_case_is_the_reason_a_message_is_quarantined(written, then, case):
    """`sch|1|APT1` was quarantined as 'missing SCH-2 filler appointment id' (`msh|` as 'no MSH
    segment', `aip|` as 'no AIP-3 provider'): the reason sent a reader looking for a field that is
    there. HL7 segment names are upper case; the reason says which one is not recognized."""
    message = SIU.format(trigger="S12").replace(f"{written}|", f"{case(written)}|")
    assert reasons(hl7, "a.hl7", message.encode()) == [
        (1, f"segment name {case(written)!r} is not recognized: HL7 segment names are upper case ({then})")]


def test_a_message_needing_no_miscased_segment_is_still_read():
    """A cancellation reads no AIP: one written `aip|` costs it nothing, on either path."""
    message = SIU.format(trigger="S15").replace("AIP|", "aip|")
    assert reasons(hl7, "a.hl7", message.encode()) == []
    assert [e.status for e in hl7.parse(message.encode(), "a.hl7").events] == ["cancelled"]


HEADER = ["provider_id", "timezone", "weekday", "start", "end", "version"]
ROWS = [{"provider_id": "D1", "timezone": "Europe/Paris", "weekday": "mon", "start": "08:00", "end": "12:00",
         "version": "2026-11-20T10:00:00Z"},
        {"provider_id": "D2", "timezone": "UTC", "weekday": "tue", "start": "13:00", "end": "17:30",
         "version": "2026-11-21T10:00:00Z"}]


def template_file(columns: list[str], header: str | None = None) -> bytes:
    lines = [header or ",".join(columns)] + [",".join(row[c] for c in columns) for row in ROWS]
    return ("\n".join(lines) + "\n").encode()


def read(data: bytes) -> list[tuple]:
    parsed = hl7.parse(data, "t.csv")
    assert parsed.rejected == []
    return [(e.item_id, e.version, e.kind, e.tz, e.hours) for e in parsed.events]


@pytest.mark.parametrize("columns", [
    ["timezone", "provider_id", "weekday", "start", "end", "version"],
    ["version", "end", "start", "weekday", "timezone", "provider_id"],
    ["provider_id", "weekday", "start", "end", "timezone", "version"],
], ids=["two swapped", "reversed", "timezone moved"])
def test_a_template_header_of_the_same_columns_in_another_order_is_read_by_name(columns):
    """A template exported with its columns in another order was quarantined whole at line 1
    ('expected header ...'): the provider had no working hours. The columns are read by name."""
    expected = read(template_file(HEADER))
    assert [e[2] for e in expected] == [HOURS, HOURS]
    assert read(template_file(columns)) == expected
    assert read(template_file(columns, header=" " + ", ".join(c.upper() for c in columns))) == expected


def test_the_header_in_another_order_further_down_is_still_a_header():
    columns = ["timezone", "provider_id", "weekday", "start", "end", "version"]
    data = template_file(HEADER) + template_file(columns)
    assert len(read(data)) == 4


@pytest.mark.parametrize("header", [
    "provider_id,tz,weekday,start,end,version",
    "provider_id,timezone,weekday,start,end",
    "provider_id,provider_id,timezone,weekday,start,end,version",
    "provider_id,timezone,timezone,start,end,version",
])
def test_a_template_header_of_other_columns_is_still_quarantined_at_its_first_line(header):
    data = f"{header}\nD1,UTC,mon,08:00,12:00,2026-11-20T10:00:00Z\n".encode()
    assert [(r.position, r.reason) for r in hl7.parse(data, "t.csv").rejected] == [
        (1, "expected header provider_id,timezone,weekday,start,end,version")]


VACATION = ('{{"type":"vacation","action":"upsert","id":"V1","provider":"P1","from_date":"{first}","to_date":"{last}",'
            '"updated_at":"2026-11-20T10:00:00Z"}}\n')


@pytest.mark.parametrize("value", ["2026-W49-1", "2026W491", "2026-335", "2026335", "20261201", "2026-12-01T00:00",
                                   "+2026-12-01"])
@pytest.mark.parametrize("field", ["from_date", "to_date"])
def test_an_acme_date_not_written_yyyy_mm_dd_is_quarantined_with_its_field(field, value):
    """Python's `date.fromisoformat` also reads ISO week dates (`2026-W49-1`), ordinal dates
    (`2026-335`) and the basic form (`20261201`): a vacation so written was stored, where emr.md's
    dates are `YYYY-MM-DD`. Each is quarantined with the field and value it names."""
    dates = {"from_date": "2026-12-01", "to_date": "2026-12-26"} | {field: value}
    data = VACATION.format(first=dates["from_date"], last=dates["to_date"]).encode()
    assert reasons(acme, "a.jsonl", data) == [(1, f"invalid {field} {value!r}: expected YYYY-MM-DD")]


def test_an_acme_vacation_written_yyyy_mm_dd_is_still_read_on_both_paths():
    data = VACATION.format(first="2026-12-24", last="2026-12-26").encode()
    assert reasons(acme, "a.jsonl", data) == []
    assert [(b.start.isoformat(), b.end.isoformat()) for b in acme.parse(data, "a.jsonl").events[0].blocks] == [
        ("2026-12-24T00:00:00", "2026-12-27T00:00:00")]


@pytest.mark.parametrize(("value", "reason"), [("2026-02-30", "no such day"), ("2026-13-01", "no such day"),
                                               ("2026-1-01", "expected YYYY-MM-DD"), ("２０２６-12-01", "expected YYYY-MM-DD")])
def test_an_acme_date_that_is_no_day_says_so(value, reason):
    data = VACATION.format(first=value, last="2026-12-26").encode()
    assert reasons(acme, "a.jsonl", data) == [(1, f"invalid from_date {value!r}: {reason}")]


APPOINTMENT = ('{{"resourceType":"Appointment","id":"A{n}","meta":{{"lastUpdated":{updated}}},"status":{status},'
               '"start":"{start}","end":"2026-12-01T10:00:00Z","participant":[{{"actor":{{"reference":"Practitioner/P1"}}}}]}}\n')


def appointment(n: int = 1, updated: str = '"2026-11-20T10:00:00Z"', status: str = '"booked"', start: str = "2026-12-01T09:00:00Z") -> str:
    return APPOINTMENT.format(n=n, updated=updated, status=status, start=start)


@pytest.mark.parametrize("start", ["2026-12-01T09:00:60Z", "2016-12-31T23:59:60Z", "2026-12-01T09:00:60.500+01:00"])
def test_a_fhir_instant_at_second_60_is_quarantined_as_an_hl7_one_is(start):
    """Reported as accepted (emr24's brief, item 4): it is quarantined on both paths, with the
    reason HL7 gives its own second 60 (`invalid start '...'`)."""
    assert reasons(fhir, "a.ndjson", appointment(start=start).encode()) == [(1, f"invalid start {start!r}")]
    assert reasons(fhir, "a.ndjson", appointment(updated=f'"{start}"').encode()) == [(1, f"invalid meta.lastUpdated {start!r}")]
    siu = SIU.format(trigger="S12").replace("202701041000+0000|", "20270104100060+0000|")
    assert reasons(hl7, "a.hl7", siu.encode()) == [(1, "invalid start '20270104100060+0000'")]


def test_a_json_integer_of_more_than_4300_digits_is_named_where_it_stands_and_nothing_else_is_lost():
    """Reported as refused as 'not valid JSON' (emr24's brief, item 5; Python's int max str digits):
    each such value is named as a wrong value of its field, on both paths, and the other lines (one
    holding such a number in a field no one reads) are read."""
    big = "9" * 4301
    data = (appointment(1, status=big) + appointment(2, updated=big) + appointment(3)
            + appointment(4).replace('"id"', f'"x":-{big},"id"')).encode()
    assert reasons(fhir, "a.ndjson", data) == [(1, f"unknown status {big[:12]}... (4301 characters)"),
                                               (2, "meta.lastUpdated must be text, got a number")]
    assert [e.item_id for e in fhir.parse(data, "a.ndjson").events] == ["Appointment/A3", "Appointment/A4"]
    line = VACATION.format(first="2026-12-24", last="2026-12-26")
    data = (line.replace('"id":"V1"', f'"id":"V1","days":{big}') + line.replace('"provider":"P1"', f'"provider":{big}')).encode()
    assert reasons(acme, "a.jsonl", data) == [(2, "provider must be text, got a number")]
