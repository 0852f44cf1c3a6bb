"""The column-wise reading of a landed file (DuckDB, vectorized checks) gives exactly the columns
and quarantine records of the per-record parsers: same events, blocks, hours rows, fingerprints,
order, and the same rejection reasons. Pinned on the golden files, on the benchmark's generated
feeds, and on the fuzz tests' hostile files (extreme values, wrong JSON types, NaN/Infinity,
trailing commas, escapes, duplicate keys, custom HL7 delimiters, non-UTF-8 bytes, BOMs).
And the vectorized path is really taken for plain records: the per-record parser sees only
what it must."""

import datetime as dt
import os
import random

import pytest
from hypothesis import HealthCheck, given, settings

from halo_platform.availability.feeds import acme, fhir, hl7
from halo_platform.availability.feeds.columns import Columns
from halo_platform.lab.bench.availability import Generator, write_feeds
from halo_platform_tests.availability import test_golden_acme, test_golden_fhir, test_golden_hl7
from halo_platform_tests.availability.test_fuzz_feeds import (
    ACME_SEEDS,
    FHIR_SEEDS,
    SEEDS,
    any_bytes,
    hl7_file,
    json_file,
)

MODULES = {"acme": acme, "fhir": fhir, "hl7": hl7}
EXAMPLES = settings(max_examples=max(40, int(os.environ.get("HALO_FUZZ_EXAMPLES", "20000")) // 500), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def assert_same_columns(feed: str, name: str, data: bytes) -> None:
    module = MODULES[feed]
    columns = module.columns(data, name)
    one_by_one = Columns.of(module.parse(data, name))
    if columns is None:  # not UTF-8 as a whole: read record by record, nothing to compare
        with pytest.raises(UnicodeDecodeError):
            data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
        return
    for table in ("events", "blocks", "hours"):
        assert getattr(columns, table).schema == getattr(one_by_one, table).schema
        assert getattr(columns, table).to_pylist() == getattr(one_by_one, table).to_pylist(), table
    assert [(r.position, r.reason, r.raw) for r in columns.rejected] == [(r.position, r.reason, r.raw) for r in one_by_one.rejected]


@pytest.mark.parametrize(("feed", "name", "text"), [
    ("acme", "a.jsonl", test_golden_acme.HOURS + test_golden_acme.APPOINTMENTS),
    ("fhir", "a.ndjson", test_golden_fhir.RESOURCES),
    ("hl7", "a.hl7", test_golden_hl7.MLLP),
    ("hl7", "b.hl7", test_golden_hl7.NEWLINES),
])
def test_golden_files_read_column_wise_equal_the_per_record_parse(feed, name, text):
    assert_same_columns(feed, name, text.encode())


def test_generated_feeds_read_column_wise_equal_the_per_record_parse_and_take_the_vectorized_path(tmp_path, monkeypatch):
    """The benchmark's feeds (bookings, reschedules, cancellations, deletes, time off of all three
    formats): equal columns, and the per-record parsers only see the working-hours records."""
    gen = Generator(30, dt.date(2027, 1, 4), 20)
    write_feeds(gen, tmp_path, 3000)
    one_by_one = []
    for module, name in ((acme, "_record"), (fhir, "_record"), (hl7, "_message")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _real=real, **k: one_by_one.append(a) or _real(*a, **k))
    for feed in MODULES:
        for path in sorted((tmp_path / feed).iterdir()):
            if path.suffix != ".csv":
                one_by_one.clear()
                columns = MODULES[feed].columns(path.read_bytes(), path.name)
                assert columns.events.num_rows > 0
                assert len(one_by_one) == (0 if path.stem.startswith("batch") else columns.events.num_rows), path.name
    monkeypatch.undo()
    for feed in MODULES:
        for path in sorted((tmp_path / feed).iterdir()):
            if path.suffix != ".csv":
                assert_same_columns(feed, path.name, path.read_bytes())


@EXAMPLES
@given(SEEDS)
def test_hostile_acme_files_read_column_wise_equal_the_per_record_parse(seed):
    assert_same_columns("acme", "a.jsonl", json_file(ACME_SEEDS, random.Random(seed))[0])


@EXAMPLES
@given(SEEDS)
def test_hostile_fhir_files_read_column_wise_equal_the_per_record_parse(seed):
    assert_same_columns("fhir", "a.ndjson", json_file(FHIR_SEEDS, random.Random(seed))[0])


@EXAMPLES
@given(SEEDS)
def test_hostile_hl7_files_read_column_wise_equal_the_per_record_parse(seed):
    assert_same_columns("hl7", "a.hl7", hl7_file(random.Random(seed))[0])


@EXAMPLES
@given(any_bytes("acme"), any_bytes("fhir"), any_bytes("hl7"))
def test_any_bytes_read_column_wise_equal_the_per_record_parse(acme_case, fhir_case, hl7_case):
    for feed, (name, data) in (("acme", acme_case), ("fhir", fhir_case), ("hl7", hl7_case)):
        if not name.endswith(".csv"):
            assert_same_columns(feed, name, data)


# --- the edges of the vectorized checks -----------------------------------------------------------
# Each record below sits on an edge of an expression of the vectorized path (the fraction and
# offset of an ISO time, the seconds and offset of an HL7 time, a repeated JSON key wherever the
# checks look for one, a segment that appears twice, a field with components and repetitions):
# column-wise and one by one must agree, and the records marked `taken` must not reach the
# per-record parser.

ACME_APPOINTMENT = ('{{"type":"appointment","action":"upsert","id":"A1","provider":"P1","start":"2027-01-04T09:00:00",'
                    '"duration_min":30,"tz":"Europe/Paris","status":"booked","updated_at":"{updated}"}}')
ISO_TAKEN = ["2026-11-20T10:00:00Z", "2026-11-20T10:00:00", "2026-11-20T10:00:00.5", "2026-11-20T10:00:00.5Z",
             "2026-11-20T10:00:00.123456Z", "2026-11-20T10:00:00.000001+05:30", "2026-11-20T10:00:00.12-00:30",
             "2026-11-20T10:00:00+23:59", "2026-11-20T10:00:00-12:00", "2026-11-20T23:59:59.999999-23:59",
             "1900-01-01T01:00:00+01:00", "2200-12-31T23:59:59.9Z"]
ISO_EDGES = ["2026-11-20T10:00:00.1234567Z", "2026-11-20T10:00:00+24:00", "2026-11-20T10:00:00+05:60", "2026-11-20T10:00:00.+05:00",
             "2026-11-20T10:00:00Z+05:00", "2026-11-20T10:00:00+0500", "2026-02-30T10:00:00Z", "1899-12-31T23:59:59Z",
             "1900-01-01T00:30:00+01:00", "2200-12-31T23:59:59-00:01", "0000-01-01T00:00:00Z", "2026-11-20T24:00:00Z",
             "2026-11-20 10:00:00Z", "2026-11-20T10:00Z"]
DUPLICATE_KEYS = [
    '{"type":"vacation","type":"appointment","action":"delete","id":"A1","updated_at":"2026-11-20T10:00:00Z"}',
    '{"type":"appointment","action":"delete","id":"A1","updated_at":"2026-11-20T10:00:00Z","id":"A2"}',
    '{"type":"appointment","action":"delete","id":"A1","x":1,"x":2,"x":3,"updated_at":"2026-11-20T10:00:00Z"}',
    '{"type":"appointment","action":"delete","id":"A1","Id":"A2","updated_at":"2026-11-20T10:00:00Z"}',
    '{}',
]


def fhir_appointment(meta: str = '{"lastUpdated":"2026-11-20T12:00:00Z"}', participant: str = '[{"actor":{"reference":"Practitioner/P1"}}]',
                     start: str = "2027-01-04T09:00:00Z", end: str = "2027-01-04T10:30:00.5+01:00") -> str:
    return (f'{{"resourceType":"Appointment","id":"AP1","meta":{meta},"status":"booked","start":"{start}","end":"{end}",'
            f'"participant":{participant}}}')


FHIR_EDGES = [
    fhir_appointment(meta='{"lastUpdated":"2026-11-20T12:00:00Z","lastUpdated":"2026-11-21T12:00:00Z"}'),
    fhir_appointment(meta='{"versionId":"1","lastUpdated":"2026-11-20T12:00:00.25-03:00"}'),
    fhir_appointment(participant='[{"actor":{"reference":"Practitioner/P1","reference":"Practitioner/P2"}}]'),
    fhir_appointment(participant='[{"actor":{"reference":"Practitioner/P1"},"actor":{"reference":"Practitioner/P2"}}]'),
    fhir_appointment(participant='[{"actor":{"reference":"Practitioner/P1","display":"Dr"},"status":"accepted"}]'),
    fhir_appointment(participant='[{"actor":{"reference":"Practitioner/P1"}},{"actor":{"reference":"Practitioner/P2"}}]'),
    fhir_appointment(participant='[{"actor":[{"reference":"Practitioner/P1"}]}]'),
    fhir_appointment(participant='[{"actor":{"reference":""}}]'),
    fhir_appointment(participant='[{"actor":{"reference":"Practitioner/"}}]'),
    fhir_appointment(participant='[{"actor":{"reference":"Practitioner/é😀"}}]'),
    fhir_appointment(participant='[{"actor":{"reference":"Practitioner/P1"}}, {"actor":{"reference":"Practitioner/P1"}}]'),
    fhir_appointment(participant='[{"actor":{"reference":"Practitioner/P1"}},{"actor":{"reference":"x"}}]'),
    fhir_appointment(participant='[ {"actor": {"reference": "Practitioner/P1"} } ]'),
    fhir_appointment(participant='[{"actor":{"reference":1}}]'),
    fhir_appointment(meta='{"lastUpdated":""}'),
    fhir_appointment(meta='{"lastUpdated":"2026-11-20T12:00:00Z","x":"2026-11-21T12:00:00Z"}'),
    fhir_appointment(meta='{"lastUpdated":["2026-11-20T12:00:00Z"]}'),
    fhir_appointment(meta='{ "lastUpdated" : "2026-11-20T12:00:00Z" }'),
    fhir_appointment(participant='{"0":{"actor":{"reference":"Practitioner/P1"}}}'),
    fhir_appointment(participant='[[{"actor":{"reference":"Practitioner/P1"}}]]'),
    fhir_appointment(start="2027-01-04T09:00:00", end="2027-01-04T09:30:00"),
    fhir_appointment(start="2027-01-04T09:00:00Z", end="2027-01-04T09:30:00"),
    fhir_appointment(start="2027-01-04T09:00:00.999999+14:00", end="2027-01-04T09:30:00-11:00"),
    '{"resourceType":"Slot","id":"S1","meta":{"lastUpdated":"2026-11-20T12:00:00Z"},"status":"busy-unavailable",'
    '"schedule":{"reference":"Schedule/X","reference":"Schedule/Y"},"start":"2027-01-04T09:00:00Z","end":"2027-01-04T10:00:00Z"}',
    '{"resourceType":"Slot","id":"S1","meta":{"lastUpdated":"2026-11-20T12:00:00Z"},"status":"busy-unavailable",'
    '"schedule":{"reference":"Schedule/X"},"start":"2027-01-04T09:00:00.1+01:00","end":"2027-01-04T10:00:00.10Z"}',
]


def hl7_message(*segments: str, stamp: str = "20261120100000", trigger: str = "S12") -> str:
    return "\r".join([f"MSH|^~\\&|EMR|C|HALO|H|{stamp}||SIU^{trigger}|1|P|2.5", *segments])


HL7_TS = ["202701041000", "20270104100030", "20270104100030.5", "202701041000.25", "202701041000+0100", "202701041000-0530",
          "20270104100030+2359", "20270104100030.123-0000", "202701041000+2400", "202701041000+0060", "20270104100060",
          "202702301000", "202701042400", "2027010410", "2027010410000", "202701041000+01", "189912312330-0100", "220012312359-0001"]
HL7_EDGES = [
    *(hl7_message("SCH|P1|APT1^EMR", f"TQ1|1||||||{ts}|202701041100", "AIP|1||DR1") for ts in HL7_TS),
    *(hl7_message("SCH|P1|APT1^EMR", f"TQ1|1||||||202701040900|{ts}", "AIP|1||DR1") for ts in HL7_TS),
    *(hl7_message("SCH|P1|APT1^EMR", "TQ1|1||||||202701041000|202701041100", "AIP|1||DR1", stamp=ts) for ts in HL7_TS),
    hl7_message("SCH|P1|APT1^EMR", "TQ1|1||||||202701041000|202701041100", "SCH|P2|APT2^EMR", "AIP|1||DR1"),
    hl7_message("SCH|P1|APT1^EMR", "TQ1|1||||||202701041000|202701041100", "TQ1|1||||||202701051000|202701051100", "AIP|1||DR1"),
    hl7_message("SCHX|P0|APT0^EMR", "SCH|P1|APT1^EMR", "TQ1X|1||||||202701051000|202701051100", "TQ1|1||||||202701041000|202701041100",
                "AIP|1||DR1"),
    hl7_message("SCH|P1|APT1^EMR|||||||||^^^202701041000-0500^202701041100-0500", "AIP|1||DR1"),
    hl7_message("SCH|P1|APT1^EMR|||||||||^^^202701041000^202701041100", "TQ1|1||||||", "AIP|1||DR1"),
    hl7_message("SCH|P1|APT1^EMR|||||||||^^^202701041000~^^^202701051000^202701051100", "AIP|1||DR1"),
    hl7_message("SCH|P1|APT1^EMR", "TQ1|1||||||202701041000^x|202701041100~202701041200", "AIP|1||DR1^Who^Doctor~DR2^^~ DR3 ",
                "AIP|2||DR1~~DR4"),
    hl7_message("SCH|P1|APT1^EMR", "TQ1|1||||||202701041000|202701041100", "AIP|1||DR1", "AIP|2||DR1"),
    hl7_message("SCH|P1|APT1^EMR", "TQ1|1||||||202701041000|202701041100", "AIP|1||^Who"),
    hl7_message("SCH|^P1|APT1^EMR", "TQ1|1||||||202701041000|202701041100", "AIP|1||DR1", trigger="S23"),
    hl7_message("SCH|P1| APT1 ^EMR", "TQ1|1||||||202701041000|202701041100", "AIP|1||DR1", trigger="s15"),
    hl7_message("SCH|P1|APT1^EMR||||||||||||||||||||||| Noshow ", "TQ1|1||||||202701041000|202701041100"),
]


def test_timestamps_of_every_shape_read_column_wise_equal_the_per_record_parse():
    lines = [ACME_APPOINTMENT.format(updated=ts) for ts in ISO_TAKEN + ISO_EDGES]
    assert_same_columns("acme", "a.jsonl", "\n".join(lines).encode())
    assert_same_columns("fhir", "a.ndjson", "\n".join(fhir_appointment(start=ts, end="2200-12-31T23:59:59.9Z") for ts in ISO_TAKEN + ISO_EDGES).encode())
    assert_same_columns("fhir", "a.ndjson", "\n".join(fhir_appointment(end=ts) for ts in ISO_TAKEN + ISO_EDGES).encode())


def test_repeated_json_keys_and_unusual_participants_read_column_wise_equal_the_per_record_parse():
    assert_same_columns("acme", "a.jsonl", "\n".join(DUPLICATE_KEYS).encode())
    assert_same_columns("fhir", "a.ndjson", "\n".join(FHIR_EDGES).encode())


def test_hl7_timestamps_segments_and_components_read_column_wise_equal_the_per_record_parse():
    assert_same_columns("hl7", "a.hl7", "\n".join(HL7_EDGES).encode())
    assert_same_columns("hl7", "a.hl7", "".join(f"\x0b{m}\x1c\r" for m in HL7_EDGES).encode())


def test_the_plain_edges_take_the_vectorized_path(monkeypatch):
    """Fractions, offsets, seconds, a repeated segment, extra JSON keys are all plain: no record
    of these reaches the per-record parser."""
    one_by_one = []
    for module, name in ((acme, "_record"), (fhir, "_record"), (hl7, "_message")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _real=real, **k: one_by_one.append(a) or _real(*a, **k))
    acme_lines = [ACME_APPOINTMENT.format(updated=ts) for ts in ISO_TAKEN]
    assert acme.columns("\n".join(acme_lines).encode(), "a.jsonl").events.num_rows == len(acme_lines)
    fhir_lines = [fhir_appointment(start=ts, end="2200-12-31T23:59:59.9Z") for ts in ISO_TAKEN if ts.endswith("Z") or ts[-6] in "+-"]
    fhir_lines += [FHIR_EDGES[1], FHIR_EDGES[4], FHIR_EDGES[-3], FHIR_EDGES[-1], fhir_appointment(meta='{ "lastUpdated" : "2026-11-20T12:00:00Z" }'),
                   fhir_appointment(participant='[ {"actor": {"reference": "Practitioner/P1"} } ]')]
    assert fhir.columns("\n".join(fhir_lines).encode(), "a.ndjson").events.num_rows == len(fhir_lines)
    hl7_messages = [hl7_message("SCH|P1|APT1^EMR", f"TQ1|1||||||{ts}|{ts}", "AIP|1||DR1", stamp=ts) for ts in HL7_TS[:8]]
    hl7_messages += HL7_EDGES[len(HL7_TS) * 3:len(HL7_TS) * 3 + 5]
    assert hl7.columns("\n".join(hl7_messages).encode(), "a.hl7").events.num_rows == len(hl7_messages)
    assert one_by_one == []
