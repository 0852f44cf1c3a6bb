"""Masking defects found in review 16 (each test failed before its fix): a patient's phone number
written in national form (0812-3456-7890, 06 12 34 56 78, (415) 555-2671) was shown whole where its
field says it is one: an HL7 message's phone fields (PID-13, PID-14, NK1-5) in a quarantined SIU
message's raw text, on the Availability page and in `halo emr quarantine`; a FHIR resource's
`telecom` of a phone in a quarantined resource's raw text; a value under a key naming a phone (an acme
record's `"phone"`, a warehouse row's `'patient_phone'` in a task's error)."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

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


# --- 3. a value under a key that names a phone number --------------------------------------------------

def test_the_phone_field_of_a_quarantined_acme_record_is_masked(halo_env, tmp_path) -> None:  # noqa: ANN001
    """The vendor's records carry the patient's number (`"phone": "415-555-2671"`): the raw text
    of a quarantined record showed it whole (a keyed number was masked only as bare digits)."""
    line = json.dumps({"type": "appointment", "action": "upsert", "id": "A1", "provider": "J1", "start": "2027-01-04T10:00:00",
                       "duration_min": 30, "tz": "Europe/Paris", "status": "maybe", "phone": "415-555-2671",
                       "patient": {"mobilePhone": "06 12 34 56 78", "id": "12345678"}, "updated_at": "2026-11-20T10:00:00Z"})
    (record,), table = _quarantine_listed(tmp_path, "acme", "a.jsonl", line + "\n")
    raw = record["raw"]
    for whole in ("555-2671", "12 34 56 78"):
        assert whole not in raw and whole not in table
    assert '"phone": "415-***-*671"' in raw and '"mobilePhone": "06 1* ** *6 78"' in raw
    for kept in ('"start": "2027-01-04T10:00:00"', '"duration_min": 30', '"id": "12345678"', '"updated_at": "2026-11-20T10:00:00Z"'):
        assert kept in raw


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        # a warehouse row in a task's error, as Python shows it
        ("could not load row {'patient_phone': '0812 3456 7890', 'id': 12345678}",
         "could not load row {'patient_phone': '081* **** *890', 'id': 12345678}"),
        ("GET /lookup?mobile=06.12.34.56.78&n=12345678", "GET /lookup?mobile=06.1*.**.*6.78&n=12345678"),
        ('{"raw": "{\\"phone_number\\": \\"0812-3456-7890\\"}"}', '{"raw": "{\\"phone_number\\": \\"081*-****-*890\\"}"}'),
        ("Tel: 0612345678, Fax: 0612345679", "Tel: 061****678, Fax: 061****679"),
        # a key that names no number, or names a phone's other fields, leaves its value alone
        ('"phone_updated_at": "2026-11-20T10:00:00Z", "hotel": "0612345678"', '"phone_updated_at": "2026-11-20T10:00:00Z", "hotel": "0612345678"'),
        ("from=2026-12-01&to=2026-12-08 events: 1234567", "from=2026-12-01&to=2026-12-08 events: 1234567"),
    ],
)
def test_mask_text_masks_a_number_under_a_key_that_names_a_phone(text, shown) -> None:  # noqa: ANN001
    assert mask_text(text) == shown
    assert mask_text(shown) == shown


@pytest.mark.parametrize("text", ["PID|" + "|" * 50_000, "\rPID|" * 10_000, "PID|" + "|" * 12 + "1^" * 25_000, "\\rNK1|" * 10_000,
                                  "{" * 50_000, "}" * 50_000, '{"system": "phone"' * 3_000, '{"system":"phone","value":"' + "\\" * 50_000,
                                  "phone" * 10_000, "phone=" * 8_000, "x=1234567 " * 5_000, "a" * 50_000 + "=1234567"],
                         ids=["pipes", "segments", "components", "repr-segments", "braces", "closing-braces", "contact-points", "escapes",
                              "phone-key", "phone-keys", "keyed-figures", "long-key"])
def test_the_field_aware_masks_take_linear_time(text) -> None:  # noqa: ANN001
    """mask_text runs on every log line: the HL7, FHIR and keyed rules stay linear on long lines."""
    started = time.perf_counter()
    mask_text(text)
    assert time.perf_counter() - started < 1.0


PIECES = st.sampled_from(["PID|", "NK1|", "MSH|^~\\&|", "\r", "\n", "\\r", "|", "^", "~", "0812", "-", " ", "(", ")", "+", "*", "33",
                          "5551234", '{"system": "phone", ', '"value": "', '"', "}", "{", "phone=", '"phone": "', "x@y.org",
                          "token=", "\\", "'", "tel:", "%2B"])


@given(st.lists(PIECES, max_size=30).map("".join))
def test_the_field_aware_masks_are_idempotent(text) -> None:  # noqa: ANN001
    """What another rule masks in a phone field (an address in PID-13, a number with its `+`)
    counts as masked there: masking masked text again changed it (`NK1|x***@y.org` -> `NK*|...`)."""
    once = mask_text(text)
    assert mask_text(once) == once
