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
