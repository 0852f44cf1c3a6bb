"""Fuzzing the three feed parsers: whatever the bytes, `parse()` returns, and every record is
either a sane event (times within 1900..2200, ids the store can hold, arithmetic downstream
cannot overflow, the arrow conversion accepts it) or quarantined with a reason. No reason may
come from the parsers' last-resort net (`base.UNEXPECTED`): that would be a parser bug.

Each parser gets raw bytes (random, and real files with bytes flipped, inserted or cut) and
structured near-valid files: real records (the golden files) with fields replaced by extreme
numbers and dates, wrong JSON types, huge fields, NUL, non-UTF-8 bytes, HL7 delimiters and
escapes, and a BOM. An untouched real record in a hostile file must parse exactly as it does
alone, and an HL7 message rewritten with other MSH-1/MSH-2 delimiters (its data escaped with
them) must parse exactly as the original.

HALO_FUZZ_EXAMPLES sets the examples per parser (default 20,000), shared by its tests: hl7
has three (bytes, messages, templates), fhir and acme two (bytes, records).
"""

import copy
import csv
import datetime as dt
import io
import json
import os
import random
import zlib
from zoneinfo import ZoneInfo

import hypothesis.strategies as st
import orjson
from hypothesis import HealthCheck, given, settings

from halo_platform.availability.feeds import acme, base, fhir, hl7
from halo_platform.availability.items import to_arrow
from halo_platform.availability.spans import wall_instant
from halo_platform_tests.availability import test_golden_acme, test_golden_fhir, test_golden_hl7

EXAMPLES = int(os.environ.get("HALO_FUZZ_EXAMPLES", "20000"))


def fuzz(tests_of_the_parser: int) -> settings:
    return settings(max_examples=-(-EXAMPLES // tests_of_the_parser), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])


FUZZ_HL7, FUZZ_JSON = fuzz(3), fuzz(2)

KINDS = {base.APPOINTMENT, base.TIMEOFF, base.HOURS, base.ROLE, base.SCHEDULE, base.SLOT}
EARLIEST, LATEST = dt.datetime(1900, 1, 1), dt.datetime(2201, 1, 1)
EXTREME_ZONES = ("Pacific/Kiritimati", "Pacific/Pago_Pago")  # UTC+14 and UTC-11: the widest local shifts


def storable(text: str, limit: int | None = None) -> None:
    """What a PostgreSQL text/varchar column accepts: UTF-8 without NUL, within its length."""
    assert isinstance(text, str) and "\x00" not in text, repr(text)
    text.encode("utf-8")
    assert limit is None or len(text) <= limit, len(text)


def check_time(value: dt.datetime) -> None:
    assert type(value) is dt.datetime and value.tzinfo is None and EARLIEST <= value <= LATEST, value
    value.date() - dt.timedelta(days=3), value.date() + dt.timedelta(days=3)  # noqa: B018 - date planning margins


def check_event(e: base.Event) -> None:
    storable(e.item_id, 255)
    assert e.item_id and e.kind in KINDS and isinstance(e.deleted, bool) and e.position >= 1
    check_time(e.version)
    assert e.status is None or (storable(e.status, 32) or e.status)
    if e.tz is not None:
        storable(e.tz, 64)
        ZoneInfo(e.tz)
    assert isinstance(e.fingerprint, int)
    for b in e.blocks:
        for text in (b.provider_id, b.ref):
            assert text is None or (storable(text, 255) or text)
        assert (b.start is None) == (b.end is None)
        if b.start is not None:
            check_time(b.start), check_time(b.end)
            assert b.end >= b.start
            if b.local:
                for tz in EXTREME_ZONES:
                    wall_instant(tz, b.start), wall_instant(tz, b.end)
    for h in e.hours:
        storable(h.provider_id, 255)
        assert 0 <= h.weekday <= 6 and 0 <= h.start_minute < 1440 and 0 <= h.end_minute < 1440


def check(parsed: base.Parsed, records: int | None = None) -> None:
    """Every event sane, every rejection a reason the quarantine table can hold; with
    `records`, each record is exactly one event or one rejection."""
    for e in parsed.events:
        check_event(e)
    for r in parsed.rejected:
        storable(r.reason), storable(r.raw)
        assert r.reason and not r.reason.startswith(base.UNEXPECTED), r.reason
        assert r.position >= 1
    assert len({r.position for r in parsed.rejected}) == len(parsed.rejected)
    if parsed.events and zlib.crc32(parsed.events[0].raw.encode()) % 16 == 0:  # the arrow tables cost ~1 ms: one file in 16
        to_arrow(parsed.events)
    if records is not None:
        assert len(parsed.events) + len(parsed.rejected) == records, (parsed, records)


def same_event(a: base.Event, b: base.Event) -> bool:
    return (a.item_id, a.version, a.kind, a.deleted, a.status, a.tz, a.blocks, a.hours) == \
        (b.item_id, b.version, b.kind, b.deleted, b.status, b.tz, b.blocks, b.hours)


# --- raw bytes -------------------------------------------------------------------------------
# The structured generators take a `random.Random` from a seed Hypothesis draws: one draw per
# example costs a fraction of composite strategies drawing every edit (~10 ms an example on
# this machine), which is what lets each parser see 20,000+ files in seconds; a failure
# reports the seed, which reproduces it exactly.
SEEDS = st.integers(0, 2**64 - 1)

REAL_FILES = {
    "hl7": [("a.hl7", test_golden_hl7.MLLP.encode()), ("a.hl7", test_golden_hl7.NEWLINES.encode()),
            ("t.csv", test_golden_hl7.TEMPLATES.encode())],
    "fhir": [("a.ndjson", test_golden_fhir.RESOURCES.encode())],
    "acme": [("a.jsonl", (test_golden_acme.HOURS + test_golden_acme.APPOINTMENTS).encode())],
}
INTERESTING_BYTES = [b"\x00", b"\xe9", b"\xff", b"\xef\xbb\xbf", b"\xed\xa0\x80", b"\r", b"\n", b"\x0b", b"\x1c", b"|", b"^", b"~",
                     b"\\", b"&", b",", b'"', b"{", b"}", b"[", b"]", b":", b"-", b"+", b"9" * 12, b"MSH|", b"\rMSH#$~\\&#",
                     b"\\F\\", b"1e400", b"0001", b"9999", b"Z", b"\xc2\x85", b"\xe2\x80\xa8"]


def flipped(feed: str, rng: random.Random) -> tuple[str, bytes]:
    """A real file with a few byte-level edits (replace, insert, cut)."""
    name, original = rng.choice(REAL_FILES[feed])
    data = bytearray(original)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(data))
        piece = rng.choice(INTERESTING_BYTES) if rng.random() < 0.7 else rng.randbytes(rng.randint(1, 4))
        op = rng.choice(["replace", "insert", "cut"])
        if op == "insert":
            data[at:at] = piece
        elif op == "cut":
            data[at:at + len(piece)] = b""
        else:
            data[at:at + len(piece)] = piece
    return name, bytes(data)


def any_bytes(feed: str):
    names = st.sampled_from(sorted({name for name, _ in REAL_FILES[feed]}))
    return st.one_of(st.tuples(names, st.binary(max_size=300)), SEEDS.map(lambda seed: flipped(feed, random.Random(seed))))


@FUZZ_HL7
@given(any_bytes("hl7"))
def test_hl7_parses_any_bytes_without_raising(case):
    check(hl7.parse(case[1], case[0]))


@FUZZ_JSON
@given(any_bytes("fhir"))
def test_fhir_parses_any_bytes_without_raising(case):
    check(fhir.parse(case[1], case[0]))


@FUZZ_JSON
@given(any_bytes("acme"))
def test_acme_parses_any_bytes_without_raising(case):
    check(acme.parse(case[1], case[0]))


# --- structured near-valid JSON records --------------------------------------------------------

HUGE = "9" * 140_000
EXTREME_DATES = ["0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00", "0001-01-01", "9999-12-31T23:59:59-12:00",
                 "9999-12-31T23:59:59.999999", "9999-12-31", "1899-12-31T23:59:59Z", "1900-01-01T01:00:00+02:00",
                 "2200-12-31T23:59:59Z", "2200-12-31", "2201-01-01", "2027-03-28T02:30:00", "2026-11-20T10:00:00-05:00Z",
                 "2026-11-20T10:00:00+23:59", "2026-02-30", "2026-W01-1", "20261120", "2026-11-20T10:00:00.123456789Z"]
HOSTILE_STRINGS = EXTREME_DATES + [
    "", " ", "24:00", "23:60", "24:01", "00:00", "9:00", "09:00:00.5", "Practitioner/", "Practitioner/F1", "Schedule/",
    "Schedule/S1", "Europe/Paris", "UTC", "/etc/localtime", "../zoneinfo/UTC", "Mars/Olympus", "UTC\x00", "\x00", "\ud800",
    "\udce9", "\ufeff", "\u2028", "x" * 300, HUGE, "NaN", "1e400", "-1", "mon", "MON", "Monday", "monday", "booked", "BOOKED",
    "busy-unavailable", "cancelled", "delete", "upsert", "hours", "vacation", "appointment", "Slot", "Appointment",
    "PractitionerRole", "Schedule"]
HOSTILE_NUMBERS = [0, -1, 1, 30, 10**12, 2**63 - 1, -(2**63), 2**64, 10**30, 1e308, -0.0, float("inf"), float("nan"), 0.5,
                   True, False]
WRONG_TYPES = [None, [], {}, [None], {"": None}, ["Slot"], [["09:00", "17:00"]], {"reference": 1}, {"start": "2027-01-04T10:00:00Z"}]


def noise(rng: random.Random, alphabet: str = "") -> str:
    """A short random text: printable, control and non-BMP characters, or those of `alphabet`."""
    pool = alphabet or "aZ09 :-+T./|^~\\&,\"'\t\x00\x7f\u00e9\u2028\U0001f600"
    return "".join(rng.choice(pool) for _ in range(rng.randint(0, 12)))


def json_value(rng: random.Random) -> object:
    pick = rng.random()
    if pick < 0.45:
        return rng.choice(HOSTILE_STRINGS)
    if pick < 0.7:
        return rng.choice(HOSTILE_NUMBERS) if rng.random() < 0.7 else rng.uniform(-1e12, 1e12)
    if pick < 0.85:
        return copy.deepcopy(rng.choice(WRONG_TYPES))  # the listed lists and dicts would be shared otherwise
    return noise(rng)


def paths(value: object, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += paths(child, (*prefix, i))
    return found


def json_seeds(text: str) -> list[tuple[bytes, list[tuple]]]:
    """Each real record as JSON (loaded afresh for each mutation: cheaper than a deep copy) and its paths."""
    return [(line.encode(), paths(json.loads(line))) for line in text.splitlines() if line.strip()]


FHIR_SEEDS = json_seeds(test_golden_fhir.RESOURCES)
ACME_SEEDS = json_seeds(test_golden_acme.HOURS + test_golden_acme.APPOINTMENTS)


def mutated_json(seeds: list[tuple[bytes, list[tuple]]], rng: random.Random) -> bytes:
    """A real record with 1-3 values replaced, deleted, wrapped in a list or added (a path an
    earlier edit removed is skipped)."""
    line, choices = rng.choice(seeds)
    obj = orjson.loads(line)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(choices)
        if rng.random() < 0.02:
            obj = json_value(rng)
            break
        try:
            parent = obj
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]]  # noqa: B018 - still there?
        except (KeyError, IndexError, TypeError):
            continue
        if not isinstance(parent, dict | list):
            continue
        key, op = path[-1], rng.choice(["replace", "replace", "replace", "delete", "wrap", "add"])
        if op == "delete":
            del parent[key]
        elif op == "wrap":
            parent[key] = [parent[key]]
        elif op == "add" and isinstance(parent, dict):
            parent[rng.choice(["id", "meta", "start", "end", "tz", "extension", "status", "x"])] = json_value(rng)
        else:
            parent[key] = json_value(rng)
    text = json.dumps(obj, ensure_ascii=rng.random() < 0.5)
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes bytes that are not UTF-8


def json_file(seeds: list[dict], rng: random.Random) -> tuple[bytes, list[tuple[int, bytes]], int]:
    """(file, [(position, untouched seed line)], non-blank lines): mutated records around
    untouched ones, CRLF or LF, sometimes a BOM or a blank line."""
    lines, untouched = [], []
    for _ in range(rng.randint(1, 6)):
        if rng.random() < 0.25:
            line = rng.choice(seeds)[0]
            untouched.append((len(lines) + 1, line))
        else:
            line = mutated_json(seeds, rng)
        lines.append(line)
        if rng.random() < 0.1:
            lines.append(b"  ")
    data = rng.choice([b"\n", b"\r\n"]).join(lines)
    return (base.BOM if rng.random() < 0.3 else b"") + data, untouched, sum(1 for line in lines if line.strip())


def check_json_file(adapter, name: str, case) -> None:  # noqa: ANN001 - a feed module
    data, untouched, records = case
    parsed = adapter.parse(data, name)
    check(parsed, records)
    events = {e.position: e for e in parsed.events}
    for position, line in untouched:
        [alone] = adapter.parse(line, name).events
        assert position in events and same_event(events[position], alone)


@FUZZ_JSON
@given(SEEDS)
def test_fhir_near_valid_resources_are_sane_events_or_quarantined(seed):
    check_json_file(fhir, "a.ndjson", json_file(FHIR_SEEDS, random.Random(seed)))


@FUZZ_JSON
@given(SEEDS)
def test_acme_near_valid_records_are_sane_events_or_quarantined(seed):
    check_json_file(acme, "a.jsonl", json_file(ACME_SEEDS, random.Random(seed)))


# --- structured near-valid HL7 messages and templates --------------------------------------------

def hl7_seeds() -> list[list[list[str]]]:
    """Each golden message as segments of fields (MSH-1 and MSH-2 left out of the fields)."""
    messages = [m for text in (test_golden_hl7.MLLP, test_golden_hl7.NEWLINES) for m in hl7.split_messages(text)]
    return [[seg.split("|") for seg in message.split("\r")] for message in messages]


HL7_SEEDS = hl7_seeds()
HL7_VALUES = [
    "00010101000000+9959", "00010101000000+1400", "99991231235959-1200", "999912312300", "189912312359+0100",
    "190001010000+0100", "220012312359-1400", "220012312359", "202702300000", "20270101", "2027010110",
    "202701041000.1234+0000", "202701041000-2400", "202701041000+0060", "1e400", "inf", "nan", "-30", "0", "1e10", "99999999999",
    "30.5", "MIN", "HOUR", "DAY", "hour", "S12", "S13", "S14", "S15", "S17", "S23", "S24", "S26", "S99", "SIU^S12", "Booked",
    "waitlist", "Maybe", "|", "^", "~", "\\", "&", "\\F\\", "\\S\\", "\\T\\", "\\R\\", "\\E\\", "\\X41\\", "\\F", "x" * 300, HUGE,
    "\x00", "\ud800", "\udce9", "\ufeff", "DR1", "DR1~DR2", "DR1^Who~^", "^^^202701041000^202701041030", ""]


def mutated_message(rng: random.Random) -> list[list[str]]:
    """A real message with 1-3 fields (MSH-2 included) replaced or added past its end."""
    segments = [list(seg) for seg in rng.choice(HL7_SEEDS)]
    for _ in range(rng.randint(1, 3)):
        seg = rng.choice(segments)
        at = rng.randint(1, len(seg) + 3)
        seg.extend([""] * (at + 1 - len(seg)))
        seg[at] = rng.choice(HL7_VALUES) if rng.random() < 0.8 else noise(rng)
    return segments


DELIMITER_CHARS = "|^~\\&#$*!%@+;:/=?-_<>"


def escaped(value: str, d: hl7.Delimiters) -> str:
    """Data text escaped for delimiters `d` (the escape character first)."""
    for char, code in ((d.escape, "E"), (d.field, "F"), (d.component, "S"), (d.subcomponent, "T"), (d.repetition, "R")):
        value = value.replace(char, f"{d.escape}{code}{d.escape}")
    return value


def encode(segments: list[list[str]], d: hl7.Delimiters) -> str:
    """A default-delimited message (no escapes in its data) rewritten with delimiters `d`."""
    out = []
    for seg in segments:
        fields = [seg[0]] + [d.component + d.repetition + d.escape + d.subcomponent if seg[0] == "MSH" and i == 1 else
                             d.repetition.join(d.component.join(d.subcomponent.join(escaped(s, d) for s in comp.split("&"))
                                                                for comp in rep.split("^")) for rep in field.split("~"))
                             for i, field in enumerate(seg[1:], start=1)]
        out.append(d.field.join(fields))
    return "\r".join(out)


def default_text(segments: list[list[str]]) -> str:
    return "\r".join("|".join(seg) for seg in segments)


FRAMINGS = {"mllp": lambda ms: "".join(f"\x0b{m}\x1c\r" for m in ms), "lines": "\n".join, "blank": "\n\n".join,
            "crlf": lambda ms: "\r\n".join(m.replace("\r", "\r\n") for m in ms)}


def hl7_file(rng: random.Random) -> tuple[bytes, list[tuple[int, str]], int]:
    """(file, [(position, untouched message with default delimiters)], messages): mutated
    messages around untouched ones and ones re-delimited with random MSH-1/MSH-2 characters."""
    messages, untouched = [], []
    for position in range(1, rng.randint(1, 6) + 1):
        kind = rng.choice(["mutated", "mutated", "untouched", "redelimited"])
        if kind == "mutated":
            messages.append(default_text(mutated_message(rng)))
            continue
        seed = rng.choice(HL7_SEEDS)
        messages.append(default_text(seed) if kind == "untouched" else encode(seed, hl7.Delimiters(*rng.sample(DELIMITER_CHARS, 5))))
        untouched.append((position, default_text(seed)))
    text = FRAMINGS[rng.choice(sorted(FRAMINGS))](messages)
    return (base.BOM if rng.random() < 0.3 else b"") + text.encode("utf-8", "surrogatepass"), untouched, len(messages)


@FUZZ_HL7
@given(SEEDS)
def test_hl7_near_valid_messages_are_sane_events_or_quarantined_and_any_delimiters_read_the_same(seed):
    data, untouched, records = hl7_file(random.Random(seed))
    parsed = hl7.parse(data, "a.hl7")
    check(parsed, records)
    events = {e.position: e for e in parsed.events}
    for position, text in untouched:
        [alone] = hl7.parse(text.encode(), "a.hl7").events
        assert position in events and same_event(events[position], alone)


TEMPLATE_LINES = test_golden_hl7.TEMPLATES.splitlines()
TEMPLATE_ROWS = [line.split(",") for line in TEMPLATE_LINES[1:]]
CSV_VALUES = HOSTILE_STRINGS + ["a,b", '"', '"quoted"', "x\ny", "Sun", "America/New_York", "\r"]


def template_file(rng: random.Random) -> bytes:
    """Real template rows with fields replaced, dropped or added; csv-quoted or not."""
    rows = []
    for _ in range(rng.randint(1, 6)):
        row = list(rng.choice(TEMPLATE_ROWS))
        for _ in range(rng.randint(0, 2)):
            op = rng.choice(["replace", "replace", "drop", "add"])
            value = rng.choice(CSV_VALUES) if rng.random() < 0.8 else noise(rng)
            if op == "drop":
                row.pop(rng.randrange(len(row)))
            elif op == "add":
                row.append(value)
            else:
                row[rng.randrange(len(row))] = value
        rows.append(row)
    if rng.random() < 0.5:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        body = buffer.getvalue().split("\n")
    else:
        body = [",".join(row) for row in rows]
    header = TEMPLATE_LINES[0] if rng.random() < 0.95 else rng.choice(CSV_VALUES)
    text = rng.choice(["\n", "\r\n"]).join([header, *body]) + "\n"
    return (base.BOM if rng.random() < 0.3 else b"") + text.encode("utf-8", "surrogatepass")


@FUZZ_HL7
@given(SEEDS)
def test_hl7_near_valid_templates_are_sane_events_or_quarantined(seed):
    data = template_file(random.Random(seed))
    parsed = hl7.parse(data, "t.csv")
    check(parsed)
    lines = data.removeprefix(base.BOM).replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    assert all(1 <= r.position <= len(lines) for r in parsed.rejected)


def test_the_real_records_the_fuzzers_mutate_parse_cleanly():
    """The seeds are good records, so what the structured fuzzers find comes from their mutations."""
    for adapter, name, data in [(hl7, "a.hl7", test_golden_hl7.MLLP), (hl7, "a.hl7", test_golden_hl7.NEWLINES),
                                (hl7, "t.csv", test_golden_hl7.TEMPLATES), (fhir, "a.ndjson", test_golden_fhir.RESOURCES),
                                (acme, "a.jsonl", test_golden_acme.HOURS + test_golden_acme.APPOINTMENTS)]:
        parsed = adapter.parse(data.encode(), name)
        assert parsed.rejected == [] and parsed.events
        check(parsed)
    rng = random.Random(7)
    for seed in HL7_SEEDS:
        d = hl7.Delimiters(*rng.sample(DELIMITER_CHARS, 5))
        [theirs], [ours] = hl7.parse(default_text(seed).encode()).events, hl7.parse(encode(seed, d).encode()).events
        assert same_event(theirs, ours)
