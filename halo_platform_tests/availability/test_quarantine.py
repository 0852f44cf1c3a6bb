"""5% malformed records in a feed: each is quarantined with its reason and position, and every
good record of the same file is applied."""

import sqlalchemy as sa

from halo_platform.availability.service import quarantined
from halo_platform.core.store import StoreResource
from halo_platform_tests.availability.helpers import land, process, spans_on

GOOD = 95


def items(store: StoreResource, feed: str) -> int:
    with store.read() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM scheduling_items WHERE feed = :f"), {"f": feed}).scalar()


def _check(store: StoreResource, feed: str, expected: dict[int, str], applied: int, summary) -> None:
    rows = quarantined(store, feed)
    assert {r["position"]: r["reason"] for r in rows}.keys() == expected.keys()
    for r in rows:
        assert expected[r["position"]] in r["reason"], r
        assert r["raw"] and r["file"].startswith(f"{feed}/")
    assert summary.quarantined == len(expected) == 5
    assert items(store, feed) == applied


def slot(i: int) -> tuple[int, int, int]:
    """(day of January 2027, hour, minute) of the i-th good appointment: 19 distinct half hours a day from 08:00."""
    half = i % 19
    return 4 + i // 19, 8 + half // 2, 30 * (half % 2)


def acme_line(i: int) -> str:
    day, hour, minute = slot(i)
    return (f'{{"type":"appointment","action":"upsert","id":"A{i}","provider":"P1","start":"2027-01-{day:02d}T{hour:02d}:{minute:02d}:00",'
            '"duration_min":30,"tz":"Europe/Paris","status":"booked","updated_at":"2026-11-20T10:00:00Z"}')


def test_acme_bad_lines_are_quarantined_and_every_good_line_applied(halo_env, store):
    bad = {
        10: ('{"type":"appointment","action":"upsert","id":"B1",', "unparsable JSON"),
        20: ('{"type":"appointment","action":"upsert","id":"B2","provider":"P1","start":"2027-01-04T09:00:00","duration_min":30,'
             '"tz":"Europe/Paris","status":"booked"}', "missing updated_at"),
        30: ('{"type":"appointment","action":"upsert","id":"B3","provider":"P1","start":"2027-01-04T09:00:00","duration_min":30,'
             '"tz":"Europe/Pariss","status":"booked","updated_at":"2026-11-20T10:00:00Z"}', "unknown timezone"),
        40: ('{"type":"appointment","action":"upsert","id":"B4","provider":"P1","start":"2027-01-04T09:00:00","duration_min":30,'
             '"tz":"Europe/Paris","status":"tentative","updated_at":"2026-11-20T10:00:00Z"}', "unknown status"),
        50: ('{"type":"vacation","action":"upsert","id":"V9","provider":"P1","from_date":"2027-01-09","to_date":"2027-01-08",'
             '"updated_at":"2026-11-20T10:00:00Z"}', "before from_date"),
    }
    lines, good = [], iter(range(GOOD))
    for position in range(1, GOOD + 6):
        lines.append(bad[position][0] if position in bad else acme_line(next(good)))
    land("acme", "hours.jsonl", '{"type":"hours","provider":"P1","tz":"Europe/Paris","week":{"mon":[["08:00","18:00"]],'
         '"tue":[["08:00","18:00"]],"wed":[["08:00","18:00"]],"thu":[["08:00","18:00"]],"fri":[["08:00","18:00"]]},'
         '"updated_at":"2026-11-20T10:00:00Z"}\n')
    land("acme", "mixed.jsonl", "\n".join(lines) + "\n")
    summary = process(store, "2027-01-04", 5)
    _check(store, "acme", {p: reason for p, (_, reason) in bad.items()}, GOOD + 1, summary)
    # every good appointment blocks its hour: 95 appointments over 5 days x 10 hours, 30 min each
    free = sum((dt_end_minus(s)) for day in range(4, 9) for s in spans_on(store, "acme", "P1", f"2027-01-{day:02d}"))
    assert free == 5 * 10 * 60 - GOOD * 30


def dt_end_minus(span: tuple[str, str]) -> int:
    import datetime as dt

    start, end = (dt.datetime.strptime(v, "%Y-%m-%dT%H:%MZ") for v in span)
    return int((end - start).total_seconds() // 60)


def hl7_message(i: int) -> str:
    day, hour, minute = slot(i)
    return (f"MSH|^~\\&|EMR|C|HALO|H|20261120100000||SIU^S12|{i}|P|2.5\r"
            f"SCH|P{i}|APT{i}\rAIS|1||X|202701{day:02d}{hour:02d}{minute:02d}|||30|MIN\rAIP|1||DR1")


def test_hl7_bad_messages_are_quarantined_and_every_good_message_applied(halo_env, store):
    bad = {
        7: ("MSH|^~\\&|EMR|C|HALO|H|20261120100000||SIU^S12|x|P|2.5\rSCH|P||||||||||^^^202701041000^202701041030\rAIP|1||DR1",
            "missing SCH-2"),
        17: ("MSH|^~\\&|EMR|C|HALO|H|20261120100000||SIU^S12|x|P|2.5\rSCH|P|BADST|||||||||^^^202701041000^202701041030"
             "||||||||||||||Maybe\rAIP|1||DR1", "unknown status"),
        27: ("MSH|^~\\&|EMR|C|HALO|H|20261120100000||SIU^S12|x|P|2.5\rSCH|P|BADEND\rTQ1|1||||||202701041000|202701040900\rAIP|1||DR1",
             "before start"),
        37: ("MSH|^~\\&|EMR|C|HALO|H|2026-11-20||SIU^S12|x|P|2.5\rSCH|P|BADVER|||||||||^^^202701041000^202701041030\rAIP|1||DR1",
             "invalid MSH-7"),
        47: ("MSH|^~\\&|EMR|C|HALO|H|20261120100000||SIU^S99|x|P|2.5\rSCH|P|BADTRIG\rAIP|1||DR1", "unsupported trigger"),
    }
    messages, good = [], iter(range(GOOD))
    for position in range(1, GOOD + 6):
        messages.append(bad[position][0] if position in bad else hl7_message(next(good)))
    land("hl7", "hours.csv", "provider_id,timezone,weekday,start,end,version\n"
         + "".join(f"DR1,America/New_York,{d},08:00,18:00,2026-11-20T10:00:00Z\n" for d in ("mon", "tue", "wed", "thu", "fri")))
    land("hl7", "mixed.hl7", "".join(f"\x0b{m}\x1c\r" for m in messages))
    summary = process(store, "2027-01-04", 5)
    _check(store, "hl7", {p: reason for p, (_, reason) in bad.items()}, GOOD + 1, summary)
    free = sum(dt_end_minus(s) for day in range(4, 9) for s in spans_on(store, "hl7", "DR1", f"2027-01-{day:02d}"))
    assert free == 5 * 10 * 60 - GOOD * 30


def fhir_line(i: int) -> str:
    day, hour, minute = slot(i)
    end_hour, end_minute = hour + (minute + 30) // 60, (minute + 30) % 60
    return (f'{{"resourceType":"Appointment","id":"AP{i}","meta":{{"lastUpdated":"2026-11-20T10:00:00Z"}},"status":"booked",'
            f'"start":"2027-01-{day:02d}T{hour:02d}:{minute:02d}:00Z","end":"2027-01-{day:02d}T{end_hour:02d}:{end_minute:02d}:00Z",'
            '"participant":[{"actor":{"reference":"Practitioner/F1"}}]}')


def test_fhir_bad_resources_are_quarantined_and_every_good_resource_applied(halo_env, store):
    bad = {
        3: ('{"resourceType":"Appointment","id":"X1","meta":{"lastUpdated":"2026-11-20T10:00:00Z"},"status":"booked"', "unparsable JSON"),
        33: ('{"resourceType":"Appointment","id":"X2","status":"booked","start":"2027-01-04T10:00:00Z","end":"2027-01-04T11:00:00Z",'
             '"participant":[{"actor":{"reference":"Practitioner/F1"}}]}', "missing meta.lastUpdated"),
        43: ('{"resourceType":"Appointment","id":"X3","meta":{"lastUpdated":"2026-11-20T10:00:00Z"},"status":"maybe",'
             '"start":"2027-01-04T10:00:00Z","end":"2027-01-04T11:00:00Z"}', "unknown status"),
        53: ('{"resourceType":"Appointment","id":"X4","meta":{"lastUpdated":"2026-11-20T10:00:00Z"},"status":"booked",'
             '"start":"2027-01-04T10:00:00Z","end":"2027-01-04T09:00:00Z","participant":[{"actor":{"reference":"Practitioner/F1"}}]}',
             "before start"),
        63: ('{"resourceType":"PractitionerRole","id":"R9","meta":{"lastUpdated":"2026-11-20T10:00:00Z"},"extension":[{"url":'
             '"http://hl7.org/fhir/StructureDefinition/timezone","valueCode":"Mars/Olympus"}],"practitioner":{"reference":"Practitioner/F9"},'
             '"availableTime":[{"daysOfWeek":["mon"],"availableStartTime":"09:00:00","availableEndTime":"17:00:00"}]}', "unknown timezone"),
    }
    lines, good = [], iter(range(GOOD))
    for position in range(1, GOOD + 6):
        lines.append(bad[position][0] if position in bad else fhir_line(next(good)))
    land("fhir", "roles.ndjson", '{"resourceType":"PractitionerRole","id":"R1","meta":{"lastUpdated":"2026-11-20T10:00:00Z"},'
         '"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/timezone","valueCode":"UTC"}],"practitioner":{"reference":'
         '"Practitioner/F1"},"availableTime":[{"daysOfWeek":["mon","tue","wed","thu","fri"],"availableStartTime":"08:00:00",'
         '"availableEndTime":"18:00:00"}]}\n')
    land("fhir", "mixed.ndjson", "\n".join(lines) + "\n")
    summary = process(store, "2027-01-04", 5)
    _check(store, "fhir", {p: reason for p, (_, reason) in bad.items()}, GOOD + 1, summary)
    free = sum(dt_end_minus(s) for day in range(4, 9) for s in spans_on(store, "fhir", "F1", f"2027-01-{day:02d}"))
    assert free == 5 * 10 * 60 - GOOD * 30
