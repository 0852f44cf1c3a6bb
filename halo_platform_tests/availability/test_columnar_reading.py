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
