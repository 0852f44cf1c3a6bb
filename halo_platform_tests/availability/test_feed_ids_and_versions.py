"""Feed ids and versions the parsers mistook: an HL7 appointment id that is a template key, MSH-7's
fraction of a second, a FHIR version-specific reference; on both parsing paths."""

import pytest

from halo_platform.availability import pipeline
from halo_platform.availability.service import quarantined
from halo_platform_tests.availability.helpers import land, process, spans_on

HL7_TEMPLATES = """\
provider_id,timezone,weekday,start,end,version
DR1,UTC,mon,09:00,17:00,2026-11-20T10:00:00Z
"""
MSH = "MSH|^~\\&|EMR|CLINIC|HALO|HALO|{version}||SIU^{trigger}^SIU_{trigger}|1|P|2.5"


@pytest.mark.parametrize("trigger", ["S12", "S17"])
@pytest.mark.parametrize("size", ["small", "column-wise"])
def test_hl7_appointment_whose_id_is_a_template_key_is_quarantined_not_replacing_the_working_hours(halo_env, store, trigger, size):
    """SCH-2 is any filler id, but an appointment "hours:DR1" was stored as DR1's working-hours
    template (booked: DR1 had no spans left; deleted: a tombstone on it). It is quarantined, on the
    record-by-record path and the column-wise one (a file of 1 MiB or more)."""
    land("hl7", "templates.csv", HL7_TEMPLATES)
    bad = "\r".join([MSH.format(version="20261121100000", trigger=trigger),
                     "SCH|P1|hours:DR1^EMR|||||||||^^^202701041000^202701041100", "AIP|1||DR1"])
    filler = [_siu(f"2026112110{i // 60 % 60:02d}{i % 60:02d}", "S12", str(i), f"SCH|P{i}|APT{i}^EMR",
                   "TQ1|1||||||202701051000|202701051100", "AIP|1||DR9") for i in range(8000 if size == "column-wise" else 1)]
    body = "\n\n".join([bad, *filler]) + "\n"
    assert (len(body) >= pipeline.COLUMNAR_MIN_BYTES) == (size == "column-wise")
    land("hl7", "a.hl7", body)
    process(store, "2027-01-04", 3)
    assert spans_on(store, "hl7", "DR1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T17:00Z")]
    assert ["an appointment id may not begin with hours: or block:" in q["reason"] for q in quarantined(store, "hl7")] == [True]


def _siu(version: str, trigger: str, control: str, *segments: str) -> str:
    head = f"MSH|^~\\&|EMR|CLINIC|HALO|HALO|{version}||SIU^{trigger}^SIU_{trigger}|{control}|P|2.5"
    return "\r".join([head, *segments])


def test_hl7_msh7_fractional_seconds_order_two_messages_of_the_same_second(halo_env, store):
    """MSH-7 `20261120100000.9` is newer than `20261120100000.1`: the reschedule sent 0.8 s after the
    booking wins, whatever the tie-break between equal versions would pick."""
    from halo_platform.availability.feeds import hl7

    booked = _siu("20261120100000.1", "S12", "1", "SCH|P1|APT1^EMR", "TQ1|1||||||202701041000|202701041100", "AIP|1||DR1")
    moved = _siu("20261120100000.9", "S13", "1", "SCH|P1|APT1^EMR", "TQ1|1||||||202701041400|202701041500", "AIP|1||DR1")
    old, new = (hl7.parse(m.encode(), "a.hl7").events[0] for m in (booked, moved))
    assert old.fingerprint > new.fingerprint  # were the versions equal, the older message would win the tie
    land("hl7", "templates.csv", HL7_TEMPLATES)
    land("hl7", "a.hl7", booked + "\n\n" + moved + "\n")
    process(store, "2027-01-04", 3)
    assert spans_on(store, "hl7", "DR1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T14:00Z"),
                                                          ("2027-01-04T15:00Z", "2027-01-04T17:00Z")]


FHIR_ROLE = ('{"resourceType":"PractitionerRole","id":"R1","meta":{"lastUpdated":"2026-11-20T10:00:00Z"},'
             '"practitioner":{"reference":"Practitioner/P1"},"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/timezone",'
             '"valueCode":"UTC"}],"availableTime":[{"daysOfWeek":["mon"],"availableStartTime":"09:00:00","availableEndTime":"17:00:00"}]}')


def test_fhir_version_specific_practitioner_reference_blocks_that_practitioner(halo_env, store):
    """`Practitioner/P1/_history/2` is a (version-specific) reference to Practitioner P1: the booked
    appointment blocks P1, not a provider named "P1/_history/2"."""
    appointment = ('{"resourceType":"Appointment","id":"AP1","meta":{"lastUpdated":"2026-11-20T12:00:00Z"},"status":"booked",'
                   '"start":"2027-01-04T10:00:00Z","end":"2027-01-04T11:00:00Z",'
                   '"participant":[{"actor":{"reference":"Practitioner/P1/_history/2"}}]}')
    land("fhir", "a.ndjson", FHIR_ROLE + "\n" + appointment + "\n")
    process(store, "2027-01-04", 3)
    assert spans_on(store, "fhir", "P1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T10:00Z"),
                                                          ("2027-01-04T11:00Z", "2027-01-04T17:00Z")]


ABSOLUTE = "https://emr.example.org/fhir/R4/"


@pytest.mark.parametrize("reference", [f"{ABSOLUTE}Practitioner/P1", f"{ABSOLUTE}Practitioner/P1/_history/3"])
def test_fhir_absolute_practitioner_and_schedule_references_name_their_resources(halo_env, store, reference):
    """A FHIR reference may be an absolute URL (R4 Reference.reference): an appointment whose
    participant was `https://.../Practitioner/P1` was quarantined ("no Practitioner participant"),
    and so were a PractitionerRole and a Slot's schedule written so."""
    role = FHIR_ROLE.replace('"Practitioner/P1"', f'"{reference}"')
    schedule = ('{"resourceType":"Schedule","id":"S1","meta":{"lastUpdated":"2026-11-20T10:00:00Z"},'
                f'"actor":[{{"reference":"{reference}"}}]}}')
    appointment = ('{"resourceType":"Appointment","id":"AP1","meta":{"lastUpdated":"2026-11-20T12:00:00Z"},"status":"booked",'
                   '"start":"2027-01-04T10:00:00Z","end":"2027-01-04T11:00:00Z",'
                   f'"participant":[{{"actor":{{"reference":"{reference}"}}}}]}}')
    time_off = ('{"resourceType":"Slot","id":"SL1","meta":{"lastUpdated":"2026-11-20T12:00:00Z"},"status":"busy-unavailable",'
                f'"schedule":{{"reference":"{ABSOLUTE}Schedule/S1"}},"start":"2027-01-04T15:00:00Z","end":"2027-01-04T16:00:00Z"}}')
    land("fhir", "a.ndjson", "\n".join([role, schedule, appointment, time_off]) + "\n")
    process(store, "2027-01-04", 3)
    assert quarantined(store, "fhir") == []
    assert spans_on(store, "fhir", "P1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T10:00Z"),
                                                          ("2027-01-04T11:00Z", "2027-01-04T15:00Z"),
                                                          ("2027-01-04T16:00Z", "2027-01-04T17:00Z")]

def test_the_fixed_records_read_column_wise_equal_the_per_record_parse():
    """The two fixes above hold on the column-wise path (files of 1 MiB and more) too."""
    from halo_platform_tests.availability.test_columnar_reading import (
        assert_same_columns,
        fhir_appointment,
        hl7_message,
    )

    refs = ["Practitioner/P1/_history/2", "Practitioner/P1/x", "Practitioner//_history/2", "Practitioner/_history/2",
            f"{ABSOLUTE}Practitioner/P1", f"{ABSOLUTE}Practitioner/P1/_history/3", "https://emr.example.org/Practitioner/"]
    lines = [fhir_appointment(participant=f'[{{"actor":{{"reference":"{r}"}}}}]') for r in refs]
    lines += ['{"resourceType":"Slot","id":"S1","meta":{"lastUpdated":"2026-11-20T12:00:00Z"},"status":"busy-unavailable",'
              f'"schedule":{{"reference":"{r}"}},"start":"2027-01-04T09:00:00Z","end":"2027-01-04T10:00:00Z"}}'
              for r in ("Schedule/X/_history/1", "Schedule/X/y", "Schedule/X", f"{ABSOLUTE}Schedule/X")]
    assert_same_columns("fhir", "a.ndjson", "\n".join(lines).encode())
    stamps = ["20261120100000.1", "20261120100000.123456789", "202611201000.5-0500", "20261120100000.000001+0100", "22001231235959.9"]
    messages = [hl7_message("SCH|P1|APT1^EMR", f"TQ1|1||||||{ts}|{ts}", "AIP|1||DR1", stamp=ts) for ts in stamps]
    assert_same_columns("hl7", "a.hl7", "\n".join(messages).encode())
    from halo_platform.availability.feeds import hl7
    assert [e.version.microsecond for e in hl7.parse("\n".join(messages).encode(), "a.hl7").events] == [100000, 123456, 500000, 1, 900000]
