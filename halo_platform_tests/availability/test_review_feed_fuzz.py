"""Hostile feed files found by fuzzing the two reading paths against each other and against emr.md:
lines DuckDB's JSON reader takes but the per-record parser (orjson) refuses, concatenated HL7 and JSON-lines
files each starting with a byte order mark, and a FHIR Schedule whose actors are of the wrong JSON type."""

import pytest

from halo_platform.availability.feeds import acme, fhir, hl7
from halo_platform.availability.feeds.columns import Columns
from halo_platform.availability.service import quarantined
from halo_platform_tests.availability.helpers import land, process, spans_on

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
@pytest.mark.parametrize(("case", "extra", "applied"), [
    ("an extension nested 1,025 deep", ',"x":' + "[" * 1025 + "]" * 1025, False),
    ("objects nested 1,025 deep", ',"x":' + '{"a":' * 1025 + "1" + "}" * 1025, False),
    ("an integer of 400 digits", ',"x":1' + "0" * 400, True),
    ("a decimal of 400 digits", ',"x":1' + "0" * 400 + ".5", True),
])
def test_a_line_the_per_record_parser_refuses_is_refused_column_wise_too(module, name, record, case, extra, applied):
    """Valid JSON beyond orjson's limits (nesting deeper than 1,024, a number that overflows a
    double without an exponent) was quarantined by the per-record parser; DuckDB read the same
    line as a good record, so a file of 1 MiB or more (read column-wise) applied what a smaller
    one quarantined. Both paths now read it alike: the nesting is quarantined with the same reason;
    the number, in a field no feed reads, changes nothing (review 15: such a line is read again,
    the number kept as written for the field holding it to be named), so the record is applied."""
    data = (record % extra + "\n" + record % "" + "\n").encode()
    column_wise, per_record = columns_and_records(module, name, data)
    assert column_wise == per_record, case
    assert len(per_record[0]) == (2 if applied else 1) and [r[0] for r in per_record[3]] == ([] if applied else [1])
    assert all(r[1].startswith("unparsable JSON") for r in per_record[3])


MSH = "MSH|^~\\&|EMR|CLINIC|HALO|HALO|20261120100000||SIU^S12^SIU_S12|{n}|P|2.5"
APT1 = "\r".join([MSH.format(n=1), "SCH|P1|APT1|||||||||^^^202703151000^202703151100", "AIP|1||DR1"])
APT2 = "\r".join([MSH.format(n=2), "SCH|P2|APT2|||||||||^^^202703151400^202703151500", "AIP|1||DR2"])
TEMPLATES = """\
provider_id,timezone,weekday,start,end,version
DR1,America/New_York,mon,09:00,17:00,2026-11-20T10:00:00Z
DR2,America/New_York,mon,09:00,17:00,2026-11-20T10:00:00Z
"""


@pytest.mark.parametrize("framing", ["newlines", "mllp"])
def test_hl7_messages_each_starting_with_a_byte_order_mark_are_read_one_by_one(framing):
    """Files saved with a BOM and concatenated: the second message's BOM hid its MSH, so with
    newlines it was read as segments of the first message (APT1 blocked DR2 too, APT2 was lost,
    nothing quarantined) and in an MLLP frame it was quarantined ('no MSH segment'). A BOM
    before a message's MSH is ignored, as the file's own is; both reading paths agree."""
    text = ("\ufeff" + APT1 + "\r\n\ufeff" + APT2 + "\r\n" if framing == "newlines"
            else "\x0b\ufeff" + APT1 + "\x1c\r\x0b\ufeff" + APT2 + "\x1c\r")
    data = text.encode()
    parsed = hl7.parse(data, "a.hl7")
    assert [(e.item_id, [b.provider_id for b in e.blocks]) for e in parsed.events] == [("APT1", ["DR1"]), ("APT2", ["DR2"])]
    assert parsed.rejected == []
    column_wise, per_record = columns_and_records(hl7, "a.hl7", data)
    assert column_wise == per_record


def test_hl7_file_of_concatenated_bom_files_blocks_each_provider_by_its_own_appointment(halo_env, store):
    land("hl7", "templates.csv", TEMPLATES)
    land("hl7", "siu.hl7", "\ufeff" + APT1 + "\r\n\ufeff" + APT2 + "\r\n")
    process(store, "2027-03-15", 2)
    # 2027-03-15 in New York is EDT (-04:00): 09:00-17:00 is 13:00Z-21:00Z
    assert spans_on(store, "hl7", "DR1", "2027-03-15") == [("2027-03-15T13:00Z", "2027-03-15T14:00Z"), ("2027-03-15T15:00Z", "2027-03-15T21:00Z")]
    assert spans_on(store, "hl7", "DR2", "2027-03-15") == [("2027-03-15T13:00Z", "2027-03-15T18:00Z"), ("2027-03-15T19:00Z", "2027-03-15T21:00Z")]
    assert quarantined(store, "hl7") == []


TZ = '"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/timezone","valueCode":"Europe/Paris"}]'
ROLE = ('{"resourceType":"PractitionerRole","id":"R1","meta":{"lastUpdated":"2026-11-20T12:00:00Z"},' + TZ + ','
        '"practitioner":{"reference":"Practitioner/F1"},"availableTime":[{"daysOfWeek":["mon"],'
        '"availableStartTime":"09:00:00","availableEndTime":"17:00:00"}]}')
SLOT = ('{"resourceType":"Slot","id":"SL1","meta":{"lastUpdated":"2026-11-20T12:00:00Z"},"schedule":{"reference":"Schedule/S1"},'
        '"status":"busy-unavailable","start":"2027-03-15T10:00:00+01:00","end":"2027-03-15T11:00:00+01:00"}')
SCHEDULE = '{"resourceType":"Schedule","id":"S1","meta":{"lastUpdated":"%s"},"actor":%s}'


@pytest.mark.parametrize(("actor", "reason"), [
    ('{"reference":"Practitioner/F1"}', "actor is not a list"),
    ('"Practitioner/F1"', "actor is not a list"),
    ('["Practitioner/F1"]', "malformed Schedule"),
    ('[{"reference":"Practitioner/F1"}, 7]', "malformed Schedule"),
])
def test_a_fhir_schedule_whose_actors_are_not_references_is_quarantined_not_emptied(halo_env, store, actor, reason):
    """Schedule.actor is a list of References. Written as one object, a string, or a list of
    strings, the Schedule was accepted with no actors: a newer such version emptied the
    Schedule, so its busy-unavailable Slots blocked nobody and the provider was offered during
    them. It is now quarantined with its reason and the Schedule keeps its actors."""
    good = SCHEDULE % ("2026-11-20T12:00:00Z", '[{"reference":"Practitioner/F1"}]')
    land("fhir", "a.ndjson", "\n".join([ROLE, SLOT, good]) + "\n")
    process(store, "2027-03-15", 2)
    blocked = [("2027-03-15T08:00Z", "2027-03-15T09:00Z"), ("2027-03-15T10:00Z", "2027-03-15T16:00Z")]
    assert spans_on(store, "fhir", "F1", "2027-03-15") == blocked
    land("fhir", "b.ndjson", SCHEDULE % ("2026-11-21T12:00:00Z", actor) + "\n")
    process(store, "2027-03-15", 2)
    assert spans_on(store, "fhir", "F1", "2027-03-15") == blocked
    assert [(q["file"].rsplit("/", 1)[-1], q["position"], q["reason"].split(":")[0]) for q in quarantined(store, "fhir")] == [("b.ndjson", 1, reason)]


@pytest.mark.parametrize(("module", "name", "record"), [(acme, "a.jsonl", ACME), (fhir, "a.ndjson", FHIR)])
def test_json_lines_each_starting_with_a_byte_order_mark_are_read(module, name, record):
    """Files saved with a BOM and concatenated: the file's first BOM was ignored, but a line
    starting with one was quarantined ('unparsable JSON: ... BOM is not supported') and its
    record lost. Every line's leading BOM is ignored now, on both reading paths."""
    data = ("\ufeff" + record % "" + "\n\ufeff" + (record % "").replace("A1", "A2").replace("X1", "X2") + "\n").encode()
    parsed = module.parse(data, name)
    assert parsed.rejected == []
    assert len(parsed.events) == 2
    column_wise, per_record = columns_and_records(module, name, data)
    assert column_wise == per_record


def test_concatenated_acme_files_with_a_bom_each_are_applied(halo_env, store):
    hours = ('{"type":"hours","provider":"P1","tz":"Europe/Paris","week":{"mon":[["09:00","17:00"]]},'
             '"updated_at":"2026-11-20T10:00:00Z"}')
    land("acme", "a.jsonl", "\ufeff" + hours + "\n\ufeff" + ACME % "" + "\n")
    process(store, "2027-03-15", 2)
    assert quarantined(store, "acme") == []
    # 2027-03-15 in Paris is CET (+01:00): 09:00-17:00 is 08:00Z-16:00Z, A1 09:00-09:30 local
    assert spans_on(store, "acme", "P1", "2027-03-15") == [("2027-03-15T08:30Z", "2027-03-15T16:00Z")]
