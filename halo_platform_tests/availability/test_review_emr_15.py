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
