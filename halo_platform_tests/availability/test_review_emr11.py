"""EMR availability review 11: a FHIR Appointment's newer version that lists no Practitioner."""

from halo_platform.availability.service import quarantined
from halo_platform_tests.availability.helpers import land, process, spans_on


def appointment(updated: str, *actors: str) -> str:
    listed = ",".join(f'{{"actor":{{"reference":"{a}"}}}}' for a in actors)
    return (f'{{"resourceType":"Appointment","id":"AP1","meta":{{"lastUpdated":"{updated}"}},"status":"booked",'
            f'"start":"2027-01-04T10:00:00Z","end":"2027-01-04T11:00:00Z","participant":[{listed}]}}\n')


def test_a_fhir_appointment_whose_new_version_lists_no_practitioner_frees_the_one_it_listed(halo_env, store):
    """AP1 booked P1 10:00-11:00; its next version moves the booking to a room (the Patient and a
    Location are its participants, no Practitioner). That version was quarantined ("no Practitioner
    participant"), so the older one stayed and P1 stayed blocked by an appointment that no longer
    lists them. The highest version wins and blocks every Practitioner it lists: none."""
    land("fhir", "role.ndjson",
         '{"resourceType":"PractitionerRole","id":"R1","meta":{"lastUpdated":"2026-11-20T10:00:00Z"},'
         '"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/timezone","valueCode":"UTC"}],'
         '"practitioner":{"reference":"Practitioner/P1"},'
         '"availableTime":[{"daysOfWeek":["mon"],"availableStartTime":"09:00:00","availableEndTime":"17:00:00"}]}\n')
    land("fhir", "v1.ndjson", appointment("2026-11-20T12:00:00Z", "Patient/X", "Practitioner/P1"))
    process(store, "2027-01-04", 2)
    assert spans_on(store, "fhir", "P1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T10:00Z"), ("2027-01-04T11:00Z", "2027-01-04T17:00Z")]
    land("fhir", "v2.ndjson", appointment("2026-11-21T12:00:00Z", "Patient/X", "Location/ROOM1"))
    process(store, "2027-01-04", 2)
    assert [q["reason"] for q in quarantined(store, "fhir")] == []
    assert spans_on(store, "fhir", "P1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T17:00Z")]


HL7_TEMPLATE = "provider_id,timezone,weekday,start,end,version\nDR1,UTC,mon,09:00,17:00,2026-11-20T10:00:00Z\n"


def siu(version: str, trigger: str, *resources: str) -> str:
    """An SIU of appointment APT1, 2027-01-04 10:00-11:00 UTC, listing `resources` (AIP, AIL, AIG segments)."""
    return "\r".join([f"MSH|^~\\&|EMR|CLINIC|HALO|HALO|{version}||SIU^{trigger}^SIU_{trigger}|{version}|P|2.5", "SCH|P1|APT1^EMR",
                      "TQ1|1||||||202701041000+0000|202701041100+0000", *resources]) + "\n"


def test_an_hl7_reschedule_moving_the_booking_to_a_room_frees_the_provider_it_listed(halo_env, store):
    """The HL7 twin of the FHIR case above: APT1 booked DR1 10:00-11:00 (AIP); its S13 moves it to a
    room (AIL, no AIP). The S13 was quarantined ('no AIP-3 provider'), so DR1 stayed blocked. It is
    applied as the item's newest version and blocks no one; a message listing no resource at all is
    still quarantined."""
    land("hl7", "hours.csv", HL7_TEMPLATE)
    land("hl7", "v1.hl7", siu("20261120120000", "S12", "AIP|1||DR1^Who^Doctor"))
    process(store, "2027-01-04", 2)
    assert spans_on(store, "hl7", "DR1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T10:00Z"), ("2027-01-04T11:00Z", "2027-01-04T17:00Z")]
    land("hl7", "v2.hl7", siu("20261121120000", "S13", "AIL|1||ROOM1^^^CLINIC") + siu("20261121130000", "S12")
         + siu("20261121140000", "S12", "AIL|1||", "AIG|1||^x"))
    process(store, "2027-01-04", 2)
    # the later two name no resource (none listed, or blank ids)
    assert [q["reason"] for q in quarantined(store, "hl7")] == ["no AIP-3 provider"] * 2
    assert spans_on(store, "hl7", "DR1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T17:00Z")]
