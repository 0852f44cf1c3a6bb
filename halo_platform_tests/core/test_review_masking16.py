"""Masking defects found in review 16 (each test failed before its fix): a patient's phone number
written in national form (0812-3456-7890, 06 12 34 56 78, (415) 555-2671) was shown whole where its
field says it is one: an HL7 message's phone fields (PID-13, PID-14, NK1-5) in a quarantined SIU
message's raw text, on the Availability page and in `halo emr quarantine`; a FHIR resource's
`telecom` of a phone in a quarantined resource's raw text."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.redact import mask_text

# an SIU message quarantined (its end before its start) that carries the patient's and the next of
# kin's phone numbers as clinics write them, without a `+`
SIU = ("MSH|^~\\&|EMR|C|HALO|H|20261120100000||SIU^S12|x|P|2.5\r"
       "SCH|P|BADEND\r"
       "TQ1|1||||||202701041000|202701040900\r"
       "PID|1||MRN0042^^^HOSP||DOE^JANE||19800101|F|||12 RUE DE LA PAIX^^PARIS^^75002^FR||0812-3456-7890^PRN^PH~^NET^Internet^jane@x.org"
       "|(415) 555-2671^WPN^PH\r"
       "NK1|1|DOE^JOHN|SPO||06 12 34 56 78^PRN^PH\r"
       "AIP|1||DR1\n")


def _quarantine_listed(tmp_path, feed: str, name: str, text: str) -> list[dict]:  # noqa: ANN001
    """`halo emr quarantine --format json` once `text` was landed in `feed` as `name` and processed."""
    runner = CliRunner()
    (tmp_path / name).write_text(text)
    assert runner.invoke(cli, ["emr", "ingest", "--feed", feed, str(tmp_path / name)]).exit_code == 0
    assert runner.invoke(cli, ["emr", "process", "--as-of", "2027-01-04", "--horizon-days", "1"]).exit_code == 0
    listed = runner.invoke(cli, ["emr", "quarantine", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    table = runner.invoke(cli, ["emr", "quarantine"])
    assert table.exit_code == 0, table.output
    return json.loads(listed.output), table.output


def test_the_phone_fields_of_a_quarantined_hl7_message_are_masked(halo_env, tmp_path) -> None:  # noqa: ANN001
    """PID-13, PID-14 and NK1-5 hold the patient's and the next of kin's numbers, which clinics
    write in national form: the raw text of the quarantined message showed them whole (only a
    number with its `+` was masked, and the email address)."""
    (record,), table = _quarantine_listed(tmp_path, "hl7", "siu.hl7", SIU)
    raw = record["raw"]
    for whole in ("0812-3456-7890", "555-2671", "06 12 34 56 78"):
        assert whole not in raw and whole not in table
    assert "|081*-****-*890^PRN^PH~^NET^Internet^j***@x.org|(415) ***-*671^WPN^PH" in raw
    assert "NK1|1|DOE^JOHN|SPO||06 1* ** *6 78^PRN^PH" in raw
    # what is no phone number stays readable: ids, dates, HL7 timestamps, the times refused
    for kept in ("MSH|^~\\&|EMR|C|HALO|H|20261120100000||SIU^S12|x|P|2.5", "TQ1|1||||||202701041000|202701040900",
                 "PID|1||MRN0042^^^HOSP||DOE^JANE||19800101|F|||12 RUE DE LA PAIX^^PARIS^^75002^FR||"):
        assert kept in raw


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        # the number in parts (XTN-5 country, XTN-6 area, XTN-7 local) is one number
        ("PID|1||42||Doe^Jane||19800101|F|||||^PRN^PH^^33^6^12345678|^WPN^PH^^1^415^5552671",
         "PID|1||42||Doe^Jane||19800101|F|||||^PRN^PH^^33^6^*****678|^WPN^PH^^1^41*^****671"),
        # a message's own separators (MSH-1, MSH-2), segments parted by newlines as a quarantined record's are
        ("MSH#$%\\&#EMR\nPID#1##42##Doe$Jane##19800101#F#####0612345678$PRN%0712345678",
         "MSH#$%\\&#EMR\nPID#1##42##Doe$Jane##19800101#F#####061****678$PRN%071****678"),
        # a message in a repr (an error quoting it): `\r` written as two characters
        ("bad message 'MSH|^~\\\\&|X\\rPID|1||42||||||||||0612345678|'", "bad message 'MSH|^~\\\\&|X\\rPID|1||42||||||||||061****678|'"),
        # a guarantor's and an appointment contact's number
        ("GT1|1||DOE^JANE||||0612345678", "GT1|1||DOE^JANE||||061****678"),
        ("SCH|A1|A1" + "|" * 9 + "^^^202612010900^202612010930||06 12 34 56 78",
         "SCH|A1|A1" + "|" * 9 + "^^^202612010900^202612010930||06 1* ** *6 78"),
    ],
)
def test_mask_text_masks_the_phone_fields_of_hl7_segments(text, shown) -> None:  # noqa: ANN001
    assert mask_text(text) == shown
    assert mask_text(shown) == shown


# --- 2. a FHIR resource's telecom ---------------------------------------------------------------------

# an Appointment quarantined (its end before its start) with the patient contained, their numbers in
# its `telecom` as the EMR holds them
APPOINTMENT = {"resourceType": "Appointment", "id": "A1", "status": "booked", "meta": {"lastUpdated": "2026-11-20T10:00:00Z"},
               "start": "2027-01-04T10:00:00Z", "end": "2027-01-04T09:00:00Z",
               "contained": [{"resourceType": "Patient", "id": "p", "birthDate": "1980-01-01", "telecom": [
                   {"system": "phone", "value": "0812 3456 7890", "use": "home"},
                   {"use": "mobile", "value": "(415) 555-2671", "system": "sms"},
                   {"system": "url", "value": "https://emr.example/p/20261120"}]}],
               "participant": [{"actor": {"reference": "Practitioner/P1"}}, {"actor": {"reference": "#p"}}]}


def test_the_telecom_numbers_of_a_quarantined_fhir_resource_are_masked(halo_env, tmp_path) -> None:  # noqa: ANN001
    """A FHIR ContactPoint says what its value is (`system`: phone, fax, sms, pager): the raw text
    of the quarantined Appointment showed the contained patient's numbers whole."""
    (record,), table = _quarantine_listed(tmp_path, "fhir", "a.ndjson", json.dumps(APPOINTMENT) + "\n")
    raw = record["raw"]
    for whole in ("3456 7890", "555-2671"):
        assert whole not in raw and whole not in table
    assert '{"system": "phone", "value": "081* **** *890", "use": "home"}' in raw
    assert '{"use": "mobile", "value": "(415) ***-*671", "system": "sms"}' in raw
    for kept in ('"start": "2027-01-04T10:00:00Z", "end": "2027-01-04T09:00:00Z"', '"lastUpdated": "2026-11-20T10:00:00Z"',
                 '"birthDate": "1980-01-01"', '"value": "https://emr.example/p/20261120"'):
        assert kept in raw


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("{'system': 'phone', 'value': '06 12 34 56 78'}", "{'system': 'phone', 'value': '06 1* ** *6 78'}"),  # a repr
        ('{"raw": "{\\"system\\": \\"fax\\", \\"value\\": \\"0812-3456-7890\\"}"}',  # JSON quoted in JSON
         '{"raw": "{\\"system\\": \\"fax\\", \\"value\\": \\"081*-****-*890\\"}"}'),
        ('{"system": "pager", "value": "5551234", "period": {"start": "2026-01-01"}}',
         '{"system": "pager", "value": "*****34", "period": {"start": "2026-01-01"}}'),
        # an extension first, as FHIR writes it
        ('{"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-preferred", "valueBoolean": true}], '
         '"system": "phone", "value": "0812 3456 7890"}',
         '{"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-preferred", "valueBoolean": true}], '
         '"system": "phone", "value": "081* **** *890"}'),
        ('[{"system": "phone", "value": "0812 3456 7890"}, {"system": "url", "value": "https://emr.example/20261120"}]',
         '[{"system": "phone", "value": "081* **** *890"}, {"system": "url", "value": "https://emr.example/20261120"}]'),
        ('{"system": "other", "value": "20261120"}', '{"system": "other", "value": "20261120"}'),
    ],
)
def test_mask_text_masks_the_value_of_a_phones_contact_point(text, shown) -> None:  # noqa: ANN001
    assert mask_text(text) == shown
    assert mask_text(shown) == shown

