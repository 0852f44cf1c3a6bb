"""An appointment given as a local start plus a duration (HL7 AIS/AIP start and AIS-7/8 or
AIP-9/10) lasts that duration, whichever DST transition it crosses: the start becomes an instant
as the spec says (zoneinfo, fold=0: a non-existent time moves forward by the gap, an ambiguous
one takes its first occurrence), and the duration is added to that instant, as the acme feed does
with `start` + `duration_min`. Adding it to the wall time instead made a two-hour appointment at
01:30 on a spring-forward night block one hour, and one starting in the gap block nothing.

America/New_York: spring forward on Sunday 2027-03-14 at 02:00 (EST -05:00 -> EDT -04:00), fall
back on Sunday 2027-11-07 at 02:00 (EDT -04:00 -> EST -05:00)."""

import pytest

from halo_platform_tests.availability.helpers import land, process, spans_on

TEMPLATE = """\
provider_id,timezone,weekday,start,end,version
DR1,America/New_York,sun,00:00,06:00,2026-11-20T10:00:00Z
"""
HOURS = ('{"type":"hours","provider":"DR1","tz":"America/New_York","week":{"sun":[["00:00","06:00"]]},'
         '"updated_at":"2026-11-20T10:00:00Z"}\n')


def siu(start: str, minutes: int, segment: str) -> str:
    where = (f"AIS|1||CONSULT^Consultation|{start}|||{minutes}|MIN\rAIP|1||DR1^Who^Doctor" if segment == "AIS"
             else f"AIP|1||DR1^Who^Doctor|||{start}|||{minutes}|MIN")
    return f"MSH|^~\\&|EMR|CLINIC|HALO|HALO|20261120100000||SIU^S12^SIU_S12|1|P|2.5\rSCH|P1|APT1^EMR\r{where}\n"


def acme(start: str, minutes: int) -> str:
    return (f'{{"type":"appointment","action":"upsert","id":"A1","provider":"DR1","start":"{start}","duration_min":{minutes},'
            '"tz":"America/New_York","status":"booked","updated_at":"2026-11-20T10:00:00Z"}\n')


# (day, local start, minutes, the day's spans): working hours 00:00-06:00 local
CASES = [
    # spring forward: 00:00 EST = 05:00Z .. 06:00 EDT = 10:00Z; 01:30 EST = 06:30Z, two hours later 08:30Z (04:30 EDT)
    pytest.param("2027-03-14", "01:30", 120, [("2027-03-14T05:00Z", "2027-03-14T06:30Z"), ("2027-03-14T08:30Z", "2027-03-14T10:00Z")],
                 id="across-spring-forward"),
    # 02:30 does not exist: fold=0 reads it as 02:30 EST = 07:30Z (03:30 EDT); 30 minutes later 08:00Z
    pytest.param("2027-03-14", "02:30", 30, [("2027-03-14T05:00Z", "2027-03-14T07:30Z"), ("2027-03-14T08:00Z", "2027-03-14T10:00Z")],
                 id="starting-in-the-gap"),
    # fall back: 00:00 EDT = 04:00Z .. 06:00 EST = 11:00Z; 00:30 EDT = 04:30Z, two hours later 06:30Z (01:30 EST)
    pytest.param("2027-11-07", "00:30", 120, [("2027-11-07T04:00Z", "2027-11-07T04:30Z"), ("2027-11-07T06:30Z", "2027-11-07T11:00Z")],
                 id="across-fall-back"),
    # 01:30 is ambiguous: fold=0 takes 01:30 EDT = 05:30Z; one hour later 06:30Z (01:30 EST)
    pytest.param("2027-11-07", "01:30", 60, [("2027-11-07T04:00Z", "2027-11-07T05:30Z"), ("2027-11-07T06:30Z", "2027-11-07T11:00Z")],
                 id="in-the-repeated-hour"),
]


@pytest.mark.parametrize("segment", ["AIS", "AIP"])
@pytest.mark.parametrize(("day", "start", "minutes", "expected"), CASES)
def test_an_hl7_appointment_of_a_local_start_and_a_duration_lasts_that_duration_across_a_dst_change(
        halo_env, store, segment, day, start, minutes, expected):
    land("hl7", "templates.csv", TEMPLATE)
    land("hl7", "booking.hl7", siu(day.replace("-", "") + start.replace(":", ""), minutes, segment))
    process(store, day, 2)
    assert spans_on(store, "hl7", "DR1", day) == expected


@pytest.mark.parametrize(("day", "start", "minutes", "expected"), CASES)
def test_the_acme_feed_gives_the_same_spans_for_the_same_local_start_and_duration(halo_env, store, day, start, minutes, expected):
    land("acme", "hours.jsonl", HOURS)
    land("acme", "booking.jsonl", acme(f"{day}T{start}:00", minutes))
    process(store, day, 2)
    assert spans_on(store, "acme", "DR1", day) == expected
