"""EMR availability review 15: what a feed may name as a provider's time zone, and the reasons
given for numbers no duration can be."""

import json

import pytest

from halo_platform.availability.service import quarantined
from halo_platform_tests.availability.helpers import land, process, spans_on

# Names ZoneInfo opens that are no IANA location: `Factory` (tzdata's zone for "not configured yet",
# abbreviation "-00"), files of the host's zone folder (its own zone, the POSIX default rules) and the
# folders of its other builds (`right/` counts leap seconds: its clock runs 27 s apart from UTC's).
NOT_IANA_ZONES = ["Factory", "localtime", "posixrules", "right/UTC", "posix/Europe/Paris"]


@pytest.mark.parametrize("zone", NOT_IANA_ZONES)
def test_a_zone_that_is_no_iana_location_is_quarantined_in_every_feed(halo_env, store, zone):
    """Working hours in such a zone were applied: the provider got spans reckoned on a clock no
    clinic keeps (Factory's "-00", the host's own zone, a leap-second clock). The spec takes a
    provider's IANA timezone and quarantines an unknown one: each record naming one is quarantined
    with the zone it names, and the provider has no spans."""
    week = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    land("acme", "hours.jsonl", json.dumps({"type": "hours", "provider": "A1", "tz": zone, "week": week,
                                            "updated_at": "2026-11-20T10:00:00Z"}) + "\n")
    land("hl7", "hours.csv", f"provider_id,timezone,weekday,start,end,version\nH1,{zone},mon,09:00,17:00,2026-11-20T10:00:00Z\n")
    land("fhir", "role.ndjson", json.dumps({
        "resourceType": "PractitionerRole", "id": "R1", "meta": {"lastUpdated": "2026-11-20T10:00:00Z"},
        "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/timezone", "valueCode": zone}],
        "practitioner": {"reference": "Practitioner/F1"},
        "availableTime": [{"daysOfWeek": ["mon"], "availableStartTime": "09:00:00", "availableEndTime": "17:00:00"}]}) + "\n")
    process(store, "2027-01-04", 2)
    reasons = {q["feed"]: q["reason"] for q in quarantined(store)}
    assert reasons == {feed: f"unknown timezone {zone!r}" for feed in ("acme", "hl7", "fhir")}
    assert [spans_on(store, feed, provider, "2027-01-04") for feed, provider in (("acme", "A1"), ("hl7", "H1"), ("fhir", "F1"))] == [[]] * 3


BOOKING = ('{{"type":"appointment","action":"upsert","id":"{id}","provider":"A1","start":"2027-01-04T{at}:00",'
           '"duration_min":{minutes},"tz":"UTC","status":"booked","updated_at":"2026-11-20T10:00:00Z"{more}}}')


def test_a_number_no_duration_can_be_is_quarantined_naming_the_field_and_its_problem(halo_env, store):
    """`duration_min` 1e100 was quarantined as "invalid duration_min 1e+100", and -1e400 (or any
    number past a double's range, valid JSON, which sets no limit) as "unparsable JSON: number is
    infinity when parsed as double: line 1 column 112 (char 111)": neither says which field is wrong
    or why, and the second refused a whole line for a number in a field no one reads. Each reason
    now names the field, the value as written and its problem; a line whose huge number is in a
    field the feed does not read is applied. NaN is no JSON at all: that line stays unparsable."""
    week = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    lines = [json.dumps({"type": "hours", "provider": "A1", "tz": "UTC", "week": week, "updated_at": "2026-11-20T10:00:00Z"})]
    lines += [BOOKING.format(id=f"B{n}", at="10:00", minutes=minutes, more="")
              for n, minutes in enumerate(["1e100", "1e400", "-1e400", "-5", '"30"', "null", "NaN"], start=2)]
    lines.append(BOOKING.format(id="B9", at="12:00", minutes=30, more=',"note":1e400'))
    lines.append(BOOKING.format(id="B10", at="13:00", minutes=30, more=',"provider":-1e400'))
    land("acme", "bookings.jsonl", "\n".join(lines) + "\n")
    process(store, "2027-01-04", 2)
    reasons = {q["position"]: q["reason"] for q in quarantined(store, "acme")}
    too_long = "out of range: longer than the 158,310,720 minutes of years 1900..2200"
    assert {n: reason for n, reason in reasons.items() if n != 8} == {
        2: f"duration_min 1e+100 {too_long}", 3: f"duration_min 1e400 {too_long}", 4: "duration_min -1e400 is negative",
        5: "duration_min -5 is negative", 6: "duration_min must be a number, got text", 7: "missing duration_min",
        10: "provider must be text, got a number"}
    assert reasons[8].startswith("unparsable JSON: ")
    assert spans_on(store, "acme", "A1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T12:00Z"), ("2027-01-04T12:30Z", "2027-01-04T17:00Z")]


def test_an_hl7_duration_no_appointment_can_last_is_quarantined_naming_its_field_and_value_as_written(halo_env, store):
    """An AIP-9/AIS-7 duration ending past 2200 was quarantined as "invalid duration 99999999999.0"
    (or "invalid duration inf" for 400 digits): neither the segment field nor the value the EMR
    sent, nor what is wrong with it. The reason now names the field, the amount as written (a long
    one shortened) with its unit, and the problem; a sane duration still blocks its time."""
    template = "provider_id,timezone,weekday,start,end,version\nDR1,UTC,mon,09:00,17:00,2026-11-20T10:00:00Z\n"
    msh = "MSH|^~\\&|EMR|CLINIC|HALO|HALO|20261120100000||SIU^S12^SIU_S12|{n}|P|2.5"
    resources = ["AIP|1||DR1|||202701041000|||99999999999|MIN", "AIS|1||CONSULT|202701041000|||1000000000|HOUR",
                 "AIP|1||DR1|||202701041000|||1" + "0" * 400, "AIP|1||DR1|||202701041000|||30|MIN"]
    land("hl7", "hours.csv", template)
    land("hl7", "siu.hl7", "\n".join("\r".join([msh.format(n=n), f"SCH|P{n}|APT{n}", resource, "AIP|2||DR1"])
                                     for n, resource in enumerate(resources, start=1)) + "\n")
    process(store, "2027-01-04", 2)
    too_long = "out of range: longer than the 158,310,720 minutes of years 1900..2200"
    assert [(q["position"], q["reason"]) for q in quarantined(store, "hl7")] == [
        (1, f"AIP-9 duration 99999999999 MIN {too_long}"), (2, f"AIS-7 duration 1000000000 HOUR {too_long}"),
        (3, f"AIP-9 duration 100000000000... (401 characters) MIN {too_long}")]
    assert spans_on(store, "hl7", "DR1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T10:00Z"), ("2027-01-04T10:30Z", "2027-01-04T17:00Z")]
