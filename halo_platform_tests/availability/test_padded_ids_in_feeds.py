"""acme and fhir kept the ids they read as written, while HL7 trims its fields and every route
trims the provider id it is given: a record for provider `" D1"` (acme `"provider":" D1"`, FHIR
`Practitioner/ D1`) gave spans no route could query, and the same provider written `D1` and
`" D1"` became two. Ids (providers, item ids, FHIR references) are now read trimmed on both
parsing paths; one blank once trimmed is quarantined as an empty one is."""

import pytest

from halo_platform.availability import pipeline
from halo_platform.availability.service import providers_of, quarantined
from halo_platform.http import create_app
from halo_platform_tests.availability.helpers import land, process
from halo_platform_tests.fixtures.access import authorized_client

UPDATED = '"updated_at":"2026-11-20T10:00:00Z"'
ACME = [
    '{"type":"hours","provider":" D1","tz":"UTC","week":{"mon":[["09:00","17:00"]]},' + UPDATED + "}",
    '{"type":"appointment","action":"upsert","id":"A1","provider":"D1","start":"2027-01-04T10:00:00","duration_min":60,'
    '"tz":"UTC","status":"booked",' + UPDATED + "}",
    '{"type":"appointment","action":"upsert","id":" A2","provider":"D1\u3000","start":"2027-01-04T12:00:00","duration_min":60,'
    '"tz":"UTC","status":"booked",' + UPDATED + "}",
    '{"type":"appointment","action":"upsert","id":"A3 ","provider":"D1 ","start":"2027-01-04T14:00:00","duration_min":30,'
    '"tz":"UTC","status":"booked",' + UPDATED + "}",
    '{"type":"appointment","action":"delete","id":"A2","updated_at":"2026-11-21T10:00:00Z"}',
]
META = '"meta":{"lastUpdated":"2026-11-20T10:00:00Z"}'
FHIR = [
    '{"resourceType":"PractitionerRole","id":"R1",' + META + ',"practitioner":{"reference":"Practitioner/ D1"},'
    '"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/timezone","valueCode":"UTC"}],'
    '"availableTime":[{"daysOfWeek":["mon"],"availableStartTime":"09:00:00","availableEndTime":"17:00:00"}]}',
    '{"resourceType":"Appointment","id":"AP1",' + META + ',"status":"booked","start":"2027-01-04T10:00:00Z",'
    '"end":"2027-01-04T11:00:00Z","participant":[{"actor":{"reference":"Practitioner/D1 "}}]}',
    '{"resourceType":"Appointment","id":" AP2",' + META + ',"status":"booked","start":"2027-01-04T12:00:00Z",'
    '"end":"2027-01-04T13:00:00Z","participant":[{"actor":{"reference":"Practitioner/D1"}}]}',
    '{"resourceType":"Appointment","id":"AP2",' + META.replace("20T", "21T") + ',"status":"cancelled",'
    '"start":"2027-01-04T12:00:00Z","end":"2027-01-04T13:00:00Z","participant":[{"actor":{"reference":"Practitioner/D1"}}]}',
    '{"resourceType":"Schedule","id":"S1 ",' + META + ',"actor":[{"reference":"Practitioner/\\tD1"}]}',
    '{"resourceType":"Slot","id":"SL1",' + META + ',"status":"busy-unavailable","schedule":{"reference":"Schedule/ S1"},'
    '"start":"2027-01-04T14:00:00Z","end":"2027-01-04T14:30:00Z"}',
]
# D1 works 09-17, booked 10-11 (A1/AP1), 12-13 (A2/AP2, then deleted or cancelled under the unpadded id), 14-14:30
EXPECTED = [("2027-01-04T09:00:00Z", "2027-01-04T10:00:00Z"), ("2027-01-04T11:00:00Z", "2027-01-04T14:00:00Z"),
            ("2027-01-04T14:30:00Z", "2027-01-04T17:00:00Z")]


def _filler(feed: str, count: int) -> list[str]:
    """Bookings of another provider, to make a file read column-wise."""
    if feed == "acme":
        return [f'{{"type":"appointment","action":"upsert","id":"F{i}","provider":"Z9","start":"2027-01-05T10:00:00",'
                f'"duration_min":30,"tz":"UTC","status":"booked",{UPDATED}}}' for i in range(count)]
    return [f'{{"resourceType":"Appointment","id":"F{i}",{META},"status":"booked","start":"2027-01-05T10:00:00Z",'
            f'"end":"2027-01-05T10:30:00Z","participant":[{{"actor":{{"reference":"Practitioner/Z9"}}}}]}}' for i in range(count)]


@pytest.mark.parametrize("size", ["small", "column-wise"])
@pytest.mark.parametrize(("feed", "name", "records"), [("acme", "a.jsonl", ACME), ("fhir", "a.ndjson", FHIR)])
def test_padded_ids_land_under_the_trimmed_id_and_are_found_by_rest(halo_env, store, size, feed, name, records):
    """Working hours under " D1", bookings under "D1", "D1 " and "D1<ideographic space>", an item
    upserted as " A2" and deleted (cancelled) as "A2", a Slot of Schedule " S1" written "S1 ": one
    provider D1, queryable by `GET /v1/availability?provider_id=D1`, on both parsing paths."""
    lines = records + _filler(feed, 6000 if size == "column-wise" else 1)
    body = "\n".join(lines) + "\n"
    assert (len(body) >= pipeline.COLUMNAR_MIN_BYTES) == (size == "column-wise")
    land(feed, name, body)
    process(store, "2027-01-04", 3)
    assert quarantined(store, feed) == []
    assert providers_of(store, feed) == ["D1"]
    client = authorized_client(create_app({"store": store}), "availability:read")
    answer = client.get("/v1/availability", params={"feed": feed, "provider_id": "D1", "from": "2027-01-04", "to": "2027-01-04"}).json()
    assert [(s["start_at"], s["end_at"]) for s in answer["spans"]] == EXPECTED, answer


def test_the_same_provider_written_padded_in_two_files_is_one_provider(halo_env, store):
    land("acme", "hours.jsonl", ACME[0] + "\n")
    land("acme", "bookings.jsonl", ACME[1] + "\n")
    process(store, "2027-01-04", 3)
    assert providers_of(store, "acme") == ["D1"]
    client = authorized_client(create_app({"store": store}), "availability:read")
    answer = client.get("/v1/availability", params={"feed": "acme", "provider_id": "D1", "from": "2027-01-04", "to": "2027-01-04"}).json()
    assert [(s["start_at"], s["end_at"]) for s in answer["spans"]] == [("2027-01-04T09:00:00Z", "2027-01-04T10:00:00Z"),
                                                                       ("2027-01-04T11:00:00Z", "2027-01-04T17:00:00Z")], answer


BLANK = [
    ("acme", '{"type":"hours","provider":"  ","tz":"UTC","week":{"mon":[["09:00","17:00"]]},' + UPDATED + "}", "missing provider"),
    ("acme", ACME[1].replace('"provider":"D1"', '"provider":" \\t"'), "missing provider"),
    ("acme", ACME[1].replace('"id":"A1"', '"id":" "'), "missing id"),
    ("acme", '{"type":"vacation","action":"upsert","id":"V1","provider":"\u3000","from_date":"2027-01-04","to_date":"2027-01-04",'
     + UPDATED + "}", "missing provider"),
    ("fhir", FHIR[0].replace("Practitioner/ D1", "Practitioner/  "), "missing practitioner.reference Practitioner/<id>"),
    ("fhir", FHIR[1].replace("Practitioner/D1 ", "Practitioner/ "), "no Practitioner participant"),
    ("fhir", FHIR[1].replace('"id":"AP1"', '"id":"  "'), "missing id"),
    ("fhir", FHIR[5].replace("Schedule/ S1", "Schedule/ "), "missing schedule.reference Schedule/<id>"),
    ("fhir", FHIR[5].replace("Schedule/ S1", "Schedule/"), "missing schedule.reference Schedule/<id>"),
]


@pytest.mark.parametrize(("feed", "record", "reason"), BLANK)
def test_an_id_blank_once_trimmed_is_quarantined_as_an_empty_one(feed, record, reason):
    from halo_platform.availability.feeds import acme, fhir

    module = {"acme": acme, "fhir": fhir}[feed]
    parsed = module.parse((record + "\n").encode(), "a")
    assert parsed.events == [] and [(r.position, r.reason) for r in parsed.rejected] == [(1, reason)]


def test_padded_ids_read_column_wise_equal_the_per_record_parse_and_take_the_vectorized_path(monkeypatch):
    """Every whitespace Python's `str.strip` removes (tabs, no-break and ideographic spaces, the
    separators \\x1c-\\x1f) is trimmed alike on the vectorized path; plain padded records stay on it."""
    from halo_platform.availability.feeds import acme, fhir
    from halo_platform_tests.availability.test_columnar_reading import assert_same_columns, fhir_appointment

    # a space before a combining mark: trimmed by code point, as str.strip does, not by grapheme
    pads = [" ", "  ", "\u3000", "\u00a0", "\u2028", "\u0085", "\u001c", "\u200b", "x", " \u0301", "\u0301 "]
    acme_lines, fhir_lines = [], []
    for pad in pads:
        acme_lines += [ACME[1].replace('"D1"', f'"{pad}D1{pad}"'), ACME[1].replace('"A1"', f'"{pad}"'),
                       ACME[1].replace('"D1"', f'"{pad}"'), ACME[4].replace('"A2"', f'"{pad}A2"')]
        fhir_lines += [fhir_appointment(participant=f'[{{"actor":{{"reference":"{pad}Practitioner/{pad}P1{pad}"}}}}]'),
                       fhir_appointment(participant=f'[{{"actor":{{"reference":"Practitioner/{pad}"}}}}]'),
                       FHIR[1].replace('"AP1"', f'"{pad}AP1{pad}"'), FHIR[5].replace("Schedule/ S1", f"{pad}Schedule/{pad}S1{pad}"),
                       FHIR[5].replace("Schedule/ S1", f"Schedule/{pad}")]
    for feed, lines in (("acme", acme_lines), ("fhir", fhir_lines)):
        assert_same_columns(feed, "a", "\n".join(lines).encode())
    one_by_one = []
    for module in (acme, fhir):
        monkeypatch.setattr(module, "_record", lambda *a, _real=module._record: one_by_one.append(a) or _real(*a))
    assert acme.columns("\n".join(ACME[1:]).encode(), "a.jsonl").events.num_rows == 4
    assert fhir.columns("\n".join(FHIR[1:4] + FHIR[5:]).encode(), "a.ndjson").events.num_rows == 4
    assert one_by_one == []


def test_the_whitespace_trimmed_is_what_str_strip_removes():
    """The vectorized path trims with `WHITESPACE`, the per-record one with `str.strip`'s set: one list."""
    import sys

    from halo_platform.availability.feeds.base import WHITESPACE

    assert WHITESPACE == "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
