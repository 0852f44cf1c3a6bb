"""Hostile feed files found by fuzzing the two reading paths against each other and against emr.md:
lines DuckDB's JSON reader takes but the per-record parser (orjson) refuses, concatenated HL7 files
each starting with a byte order mark, and a FHIR Schedule whose actors are of the wrong JSON type."""

import pytest

from halo_platform.availability.feeds import acme, fhir
from halo_platform.availability.feeds.columns import Columns

ACME = ('{"type":"appointment","action":"upsert","id":"A1","provider":"P1","start":"2027-03-15T09:00:00","duration_min":30,'
        '"tz":"Europe/Paris","status":"booked","updated_at":"2026-11-20T10:00:00Z"%s}')
FHIR = ('{"resourceType":"Appointment","id":"X1","meta":{"lastUpdated":"2026-11-20T10:00:00Z"},"status":"booked",'
        '"start":"2027-03-15T09:00:00Z","end":"2027-03-15T09:30:00Z","participant":[{"actor":{"reference":"Practitioner/P1"}}]%s}')


def columns_and_records(module, name: str, data: bytes) -> tuple[tuple, tuple]:  # noqa: ANN001 - a feed module
    """(the column-wise reading, the per-record one) as comparable values."""

    def values(parsed: Columns) -> tuple:
        return (parsed.events.to_pylist(), parsed.blocks.to_pylist(), parsed.hours.to_pylist(),
                [(r.position, r.reason, r.raw) for r in parsed.rejected])

    return values(module.columns(data, name)), values(Columns.of(module.parse(data, name)))


@pytest.mark.parametrize(("module", "name", "record"), [(acme, "a.jsonl", ACME), (fhir, "a.ndjson", FHIR)])
@pytest.mark.parametrize(("case", "extra"), [
    ("an extension nested 1,025 deep", ',"x":' + "[" * 1025 + "]" * 1025),
    ("objects nested 1,025 deep", ',"x":' + '{"a":' * 1025 + "1" + "}" * 1025),
    ("an integer of 400 digits", ',"x":1' + "0" * 400),
    ("a decimal of 400 digits", ',"x":1' + "0" * 400 + ".5"),
])
def test_a_line_the_per_record_parser_refuses_is_refused_column_wise_too(module, name, record, case, extra):
    """Valid JSON beyond orjson's limits (nesting deeper than 1,024, a number that overflows a
    double without an exponent) is quarantined by the per-record parser; DuckDB read the same
    line as a good record, so a file of 1 MiB or more (read column-wise) applied what a smaller
    one quarantined. Both paths now quarantine it, with the same reason."""
    data = (record % extra + "\n" + record % "" + "\n").encode()
    column_wise, per_record = columns_and_records(module, name, data)
    assert column_wise == per_record, case
    assert len(per_record[0]) == 1 and per_record[3][0][0] == 1 and per_record[3][0][1].startswith("unparsable JSON")

