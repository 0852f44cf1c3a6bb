"""A quarantine reason says what is wrong with the field that is there: `"id": 2` read "missing
id", `"provider": 123` "missing provider", a FHIR numeric `start` "missing start", which send
a reader looking for a field the record has. Same on the per-record and column-wise paths."""

import json

import pytest

from halo_platform.availability.feeds import acme, fhir
from halo_platform_tests.availability.test_columnar_reading import assert_same_columns

ACME = {"type": "appointment", "action": "upsert", "id": "A1", "provider": "DR1", "start": "2027-01-04T09:00:00",
        "duration_min": 30, "tz": "UTC", "status": "booked", "updated_at": "2026-11-20T10:00:00Z"}
FHIR = {"resourceType": "Appointment", "id": "AP1", "meta": {"lastUpdated": "2026-11-20T12:00:00Z"}, "status": "booked",
        "start": "2027-01-04T10:00:00Z", "end": "2027-01-04T11:00:00Z", "participant": [{"actor": {"reference": "Practitioner/P1"}}]}


@pytest.mark.parametrize(("fmt", "record", "reason"), [
    (acme, {**ACME, "id": 2}, "id must be text, got a number"),
    (acme, {**ACME, "provider": 123}, "provider must be text, got a number"),
    (acme, {**ACME, "provider": ["DR1"]}, "provider must be text, got a list"),
    (acme, {**ACME, "updated_at": True}, "updated_at must be text, got true or false"),
    (acme, {**ACME, "id": None}, "missing id"),
    (acme, {**ACME, "id": ""}, "missing id"),
    (fhir, {**FHIR, "id": 7}, "id must be text, got a number"),
    (fhir, {**FHIR, "start": 1798362000}, "start must be text, got a number"),
    (fhir, {**FHIR, "meta": {"lastUpdated": {"at": "2026"}}}, "meta.lastUpdated must be text, got an object"),
    (fhir, {k: v for k, v in FHIR.items() if k != "id"}, "missing id"),
])
def test_a_field_of_the_wrong_type_is_named_as_such_not_as_missing(fmt, record, reason):
    parsed = fmt.parse((json.dumps(record) + "\n").encode(), "a")
    assert [r.reason for r in parsed.rejected] == [reason]


def test_the_column_wise_path_gives_the_same_reasons():
    lines = [json.dumps({**ACME, "id": 2}), json.dumps({**ACME, "provider": 123}), json.dumps({**ACME, "id": "A2"})]
    assert_same_columns("acme", "a.jsonl", "\n".join(lines).encode())
    lines = [json.dumps({**FHIR, "id": 7}), json.dumps({**FHIR, "start": 1798362000}), json.dumps({**FHIR, "id": "AP2"})]
    assert_same_columns("fhir", "a.ndjson", "\n".join(lines).encode())
