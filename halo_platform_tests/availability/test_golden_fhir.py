"""fhir feed (PractitionerRole, Appointment, Schedule + Slot), end to end, against spans computed by hand.

Europe/Paris springs forward on Sunday 2027-03-28 (CEST +02:00 from 02:00 local)."""

import pytest

from halo_platform.availability.service import quarantined
from halo_platform_tests.availability.helpers import land, process, spans_on

TZ = '"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/timezone","valueCode":"Europe/Paris"}]'
RESOURCES = "\n".join([
    # the newer role: Sunday 08:00-18:00, Monday 09:00-17:00 (ends 24:00 on Saturday: overnight), one notAvailable on Sunday
    '{"resourceType":"PractitionerRole","id":"R1","meta":{"lastUpdated":"2026-11-20T12:00:00Z"},' + TZ + ','
    '"practitioner":{"reference":"Practitioner/F1"},"availableTime":[{"daysOfWeek":["sun"],"availableStartTime":"08:00:00",'
    '"availableEndTime":"18:00:00"},{"daysOfWeek":["mon"],"availableStartTime":"09:00:00","availableEndTime":"17:00:00"}],'
    '"notAvailable":[{"description":"training","during":{"start":"2027-03-28T12:00:00+02:00","end":"2027-03-28T13:00:00+02:00"}}]}',
    # an older version of the same role arriving later: ignored
    '{"resourceType":"PractitionerRole","id":"R1","meta":{"lastUpdated":"2026-11-19T12:00:00Z"},' + TZ + ','
    '"practitioner":{"reference":"Practitioner/F1"},"availableTime":[{"daysOfWeek":["sun"],"allDay":true}]}',
    # a night role for F2: Saturday 23:00 -> Sunday 07:00 (across the gap)
    '{"resourceType":"PractitionerRole","id":"R2","meta":{"lastUpdated":"2026-11-20T12:00:00Z"},' + TZ + ','
    '"practitioner":{"reference":"Practitioner/F2"},"availableTime":[{"daysOfWeek":["sat"],"availableStartTime":"23:00:00",'
    '"availableEndTime":"07:00:00"}]}',
    '{"resourceType":"Appointment","id":"AP1","meta":{"lastUpdated":"2026-11-20T12:00:00Z"},"status":"booked",'
    '"start":"2027-03-28T09:00:00+02:00","end":"2027-03-28T09:30:00+02:00",'
    '"participant":[{"actor":{"reference":"Patient/X"}},{"actor":{"reference":"Practitioner/F1"}},{"actor":{"reference":"Practitioner/F2"}}]}',
    '{"resourceType":"Appointment","id":"AP2","meta":{"lastUpdated":"2026-11-20T12:00:00Z"},"status":"booked",'
    '"start":"2027-03-28T15:00:00+02:00","end":"2027-03-28T16:00:00+02:00","participant":[{"actor":{"reference":"Practitioner/F1"}}]}',
    '{"resourceType":"Appointment","id":"AP2","meta":{"lastUpdated":"2026-11-20T13:00:00Z"},"status":"cancelled",'
    '"start":"2027-03-28T15:00:00+02:00","end":"2027-03-28T16:00:00+02:00","participant":[{"actor":{"reference":"Practitioner/F1"}}]}',
    '{"resourceType":"Appointment","id":"AP3","meta":{"lastUpdated":"2026-11-20T12:00:00Z"},"status":"entered-in-error",'
    '"start":"2027-03-29T10:00:00+02:00","end":"2027-03-29T11:00:00+02:00","participant":[{"actor":{"reference":"Practitioner/F1"}}]}',
    '{"resourceType":"Slot","id":"SL1","meta":{"lastUpdated":"2026-11-20T12:00:00Z"},"schedule":{"reference":"Schedule/S1"},'
    '"status":"busy-unavailable","start":"2027-03-28T16:30:00+02:00","end":"2027-03-28T17:00:00+02:00"}',
    '{"resourceType":"Slot","id":"SL2","meta":{"lastUpdated":"2026-11-20T12:00:00Z"},"schedule":{"reference":"Schedule/S1"},'
    '"status":"free","start":"2027-03-29T09:00:00+02:00","end":"2027-03-29T17:00:00+02:00"}',
    '{"resourceType":"Schedule","id":"S1","meta":{"lastUpdated":"2026-11-20T12:00:00Z"},"actor":[{"reference":"Practitioner/F1"}]}',
]) + "\n"


@pytest.fixture
def processed(halo_env, store):
    land("fhir", "resources.ndjson", RESOURCES)
    return process(store, "2027-03-26", 5)


def test_role_hours_on_the_dst_sunday_minus_not_available_appointment_and_busy_unavailable_slot(processed, store):
    # 08:00-18:00 CEST = 06:00-16:00Z; AP1 07:00-07:30Z; notAvailable 10:00-11:00Z; AP2 cancelled; SL1 14:30-15:00Z
    assert spans_on(store, "fhir", "F1", "2027-03-28") == [
        ("2027-03-28T06:00Z", "2027-03-28T07:00Z"),
        ("2027-03-28T07:30Z", "2027-03-28T10:00Z"),
        ("2027-03-28T11:00Z", "2027-03-28T14:30Z"),
        ("2027-03-28T15:00Z", "2027-03-28T16:00Z"),
    ]


def test_a_free_slot_and_an_entered_in_error_appointment_block_nothing(processed, store):
    assert spans_on(store, "fhir", "F1", "2027-03-29") == [("2027-03-29T07:00Z", "2027-03-29T15:00Z")]


def test_a_night_role_across_the_gap_is_blocked_by_an_appointment_listing_several_practitioners(processed, store):
    # Sat 23:00 CET = 22:00Z -> Sun 07:00 CEST = 05:00Z; AP1 (07:00Z) is after it ends: nothing to cut
    assert spans_on(store, "fhir", "F2", "2027-03-27") == [("2027-03-27T22:00Z", "2027-03-28T05:00Z")]


def test_everything_was_applied_and_nothing_quarantined(processed, store):
    assert quarantined(store, "fhir") == []
    assert (processed.events, processed.items_changed) == (10, 8)


def test_a_newer_role_version_replaces_hours_and_not_available(processed, store):
    land("fhir", "role-v3.ndjson", '{"resourceType":"PractitionerRole","id":"R1","meta":{"lastUpdated":"2026-11-22T12:00:00Z"},'
         + TZ + ',"practitioner":{"reference":"Practitioner/F1"},"availableTime":[{"daysOfWeek":["sun"],'
         '"availableStartTime":"09:00","availableEndTime":"12:00"}]}\n')
    again = process(store, "2027-03-26", 5)
    assert again.items_changed == 1 and again.provider_dates == 5
    # Sunday 09:00-12:00 CEST = 07:00-10:00Z minus AP1 07:00-07:30Z; the old notAvailable and Monday are gone
    assert spans_on(store, "fhir", "F1", "2027-03-28") == [("2027-03-28T07:30Z", "2027-03-28T10:00Z")]
    assert spans_on(store, "fhir", "F1", "2027-03-29") == []
