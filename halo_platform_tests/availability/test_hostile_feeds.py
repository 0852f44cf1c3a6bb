"""Hostile bytes reproduced from fuzzing the three feed parsers: each one used to raise out of
`parse()` (stopping a whole batch), or to lose or mangle a good record. Now every one is a
quarantined record with its reason, and the good records around it are unchanged."""

import pytest

from halo_platform.availability import tables
from halo_platform.availability.feeds import acme, base, fhir, hl7
from halo_platform.availability.service import quarantined
from halo_platform_tests.availability.helpers import land, process, spans_on

MSH = "MSH|^~\\&|EMR|C|HALO|H|{version}||SIU^S12|1|P|2.5"
GOOD_BODY = ("SCH|P1|APT1", "AIS|1||X|202701041000|||30|MIN", "AIP|1||DR1")
TEMPLATE_HEADER = "provider_id,timezone,weekday,start,end,version\n"
TEMPLATE_ROW = "DR1,America/New_York,mon,08:00,18:00,2026-11-20T10:00:00Z\n"
SLOT = ('{"resourceType":"Slot","id":"S1","meta":{"lastUpdated":"2026-11-20T10:00:00Z"},"status":"busy-unavailable",'
        '"schedule":{"reference":"Schedule/SC1"},"start":"%s","end":"%s"}')
ROLE = ('{"resourceType":"PractitionerRole","id":"R1","meta":{"lastUpdated":"2026-11-20T10:00:00Z"},"practitioner":'
        '{"reference":"Practitioner/F1"},"notAvailable":[{"during":{"start":"2026-12-24","end":"%s"}}]}')
APPOINTMENT = ('{"type":"appointment","action":"upsert","id":"A1","provider":"P1","start":"%s","duration_min":%s,'
               '"tz":"Asia/Tokyo","status":"booked","updated_at":"2026-11-20T10:00:00Z"}')
VACATION = ('{"type":"vacation","action":"upsert","id":"V1","provider":"P1","from_date":"2026-12-24","to_date":"%s",'
            '"updated_at":"2026-11-20T10:00:00Z"}')


def hl7_message(*body: str, version: str = "20261120100000") -> str:
    return "\r".join([MSH.format(version=version), *body])


# (adapter, file name, bytes, words of the quarantine reason): every exception fuzzing found escaping parse()
ESCAPED = {
    "MSH-7 in year 1 with a +99:59 offset": (
        hl7, "a.hl7", hl7_message(*GOOD_BODY, version="00010101000000+9959"), "MSH-7"),
    "AIP duration 1e400 minutes": (
        hl7, "a.hl7", hl7_message("SCH|P1|APT1", "AIP|1||DR1|||202701041000|||1e400|MIN"), "invalid duration"),
    "TQ1 end at 9999-12-31 23:00 -05:00": (
        hl7, "a.hl7", hl7_message("SCH|P1|APT1", "TQ1|1||||||202701041000-0500|999912312300-0500", "AIP|1||DR1"), "end"),
    "TQ1 end at 9999-12-31 23:00 local": (
        hl7, "a.hl7", hl7_message("SCH|P1|APT1", "TQ1|1||||||202701041000|999912312300", "AIP|1||DR1"), "outside years"),
    "a template field over the csv field size limit": (
        hl7, "t.csv", TEMPLATE_HEADER + "DR1,America/New_York,mon,08:00,18:00," + "9" * 140_000 + "\n", "field"),
    "a template version with an offset then Z": (
        hl7, "t.csv", TEMPLATE_HEADER + "DR1,America/New_York,mon,08:00,18:00,2026-11-20T10:00:00-05:00Z\n", "invalid version"),
    "FHIR resourceType as a list": (
        fhir, "a.ndjson", '{"resourceType":["Slot"],"id":"S1","meta":{"lastUpdated":"2026-11-20T10:00:00Z"}}', "resourceType"),
    "FHIR meta as a string": (
        fhir, "a.ndjson", '{"resourceType":"Slot","id":"S1","meta":"2026-11-20T10:00:00Z"}', "meta.lastUpdated"),
    "FHIR lastUpdated in year 1 with a +05:00 offset": (
        fhir, "a.ndjson", '{"resourceType":"Slot","id":"S1","meta":{"lastUpdated":"0001-01-01T00:00:00+05:00"}}', "meta.lastUpdated"),
    "FHIR Slot in year 9999 with a -05:00 offset": (
        fhir, "a.ndjson", SLOT % ("9999-12-31T23:00:00-05:00", "9999-12-31T23:30:00-05:00"), "start"),
    "FHIR notAvailable ending on 9999-12-31": (
        fhir, "a.ndjson", ROLE % "9999-12-31", "end"),
    "acme duration_min 10**12": (
        acme, "a.jsonl", APPOINTMENT % ("2026-12-01T09:00:00", 10**12), "duration_min"),
    "acme start in year 1 east of UTC": (
        acme, "a.jsonl", APPOINTMENT % ("0001-01-01T00:00:00", 30), "start"),
    "acme to_date 9999-12-31": (
        acme, "a.jsonl", VACATION % "9999-12-31", "to_date"),
}


@pytest.mark.parametrize("adapter, file, text, reason", list(ESCAPED.values()), ids=list(ESCAPED))
def test_a_record_fuzzing_found_raising_is_quarantined_with_its_reason(adapter, file, text, reason):
    parsed = adapter.parse(text.encode(), file)
    assert parsed.events == []
    [rejected] = parsed.rejected
    assert reason in rejected.reason and rejected.position == (2 if file.endswith(".csv") else 1)


def test_instants_outside_1900_to_2200_are_quarantined_and_the_bounds_themselves_parse():
    """The sane range is years 1900..2200 after offset conversion, so that nothing downstream
    (date planning, timezone resolution, the store's DATETIME columns) can overflow."""
    def acme_start(start: str) -> base.Parsed:
        return acme.parse((APPOINTMENT % (start, 30)).replace("Asia/Tokyo", "UTC").encode(), "a.jsonl")

    assert acme_start("1900-01-01T00:00:00").events and acme_start("2200-12-31T23:00:00").events
    assert "outside years 1900..2200" in acme_start("1899-12-31T23:59:00").rejected[0].reason
    assert "outside years 1900..2200" in acme_start("2200-12-31T23:31:00").rejected[0].reason  # its end, 30 min later
    shifted = fhir.parse((SLOT % ("1900-01-01T01:00:00+02:00", "1900-01-01T02:00:00+02:00")).encode(), "a.ndjson")
    assert "start 1899-12-31T23:00:00 outside years 1900..2200" in shifted.rejected[0].reason


def test_an_hl7_file_whose_dates_used_to_overflow_the_date_planning_is_processed_with_the_bad_messages_quarantined(halo_env, store):
    land("hl7", "hours.csv", TEMPLATE_HEADER + TEMPLATE_ROW)
    land("hl7", "mixed.hl7", "\n".join([
        hl7_message(*GOOD_BODY),
        hl7_message("SCH|P2|APT2", "TQ1|1||||||202701041100|999912312300", "AIP|1||DR1"),
        hl7_message("SCH|P3|APT3", "AIS|1||X|202701041200|||30|MIN", "AIP|1||DR1", version="00010101000000+9959"),
    ]))
    summary = process(store, "2027-01-04", 3)
    assert summary.quarantined == 2
    assert [(r["position"], "outside years" in r["reason"] or "MSH-7" in r["reason"]) for r in quarantined(store, "hl7")] == [(2, True), (3, True)]
    assert spans_on(store, "hl7", "DR1", "2027-01-04") == [("2027-01-04T13:00Z", "2027-01-04T15:00Z"), ("2027-01-04T15:30Z", "2027-01-04T23:00Z")]


BOM = b"\xef\xbb\xbf"
CLEAN = {
    "hl7 messages": (hl7, "a.hl7", hl7_message(*GOOD_BODY) + "\n"),
    "hl7 templates": (hl7, "t.csv", TEMPLATE_HEADER + TEMPLATE_ROW),
    "fhir": (fhir, "a.ndjson", SLOT % ("2027-01-04T10:00:00Z", "2027-01-04T11:00:00Z") + "\n"),
    "acme": (acme, "a.jsonl", APPOINTMENT % ("2027-01-04T10:00:00", 30) + "\n"),
}


@pytest.mark.parametrize("adapter, file, text", list(CLEAN.values()), ids=list(CLEAN))
def test_a_utf8_byte_order_mark_is_ignored(adapter, file, text):
    plain, marked = adapter.parse(text.encode(), file), adapter.parse(BOM + text.encode(), file)
    assert marked == plain and len(plain.events) == 1 and plain.rejected == []


LATIN1 = {
    "hl7 messages": (hl7, "a.hl7", "\n".join([hl7_message("SCH|P1|APT\xe91", *GOOD_BODY[1:]), hl7_message(*GOOD_BODY)]), 1),
    "hl7 templates": (hl7, "t.csv", TEMPLATE_HEADER + "DR\xe91" + TEMPLATE_ROW[3:] + TEMPLATE_ROW, 2),
    "fhir": (fhir, "a.ndjson", (SLOT % ("2027-01-04T10:00:00Z", "2027-01-04T11:00:00Z")).replace("SC1", "SC\xe9")
             + "\n" + SLOT % ("2027-01-04T10:00:00Z", "2027-01-04T11:00:00Z"), 1),
    "acme": (acme, "a.jsonl", (APPOINTMENT % ("2027-01-04T10:00:00", 30)).replace("P1", "P\xe9") + "\n"
             + APPOINTMENT % ("2027-01-04T10:00:00", 30), 1),
}


@pytest.mark.parametrize("adapter, file, text, position", list(LATIN1.values()), ids=list(LATIN1))
def test_text_that_is_not_utf8_is_quarantined_with_its_bytes_escaped_and_the_rest_of_the_file_applied(adapter, file, text, position):
    parsed = adapter.parse(text.encode("latin-1"), file)
    [rejected] = parsed.rejected
    assert rejected.position == position and "not valid UTF-8" in rejected.reason
    assert "\\xe9" in rejected.raw and "\ufffd" not in rejected.raw
    assert len(parsed.events) == 1 and all("\ufffd" not in e.item_id for e in parsed.events)
    assert all("\ufffd" not in (b.provider_id or "") + (b.ref or "") for e in parsed.events for b in e.blocks)


def test_hl7_custom_delimiters_from_msh1_and_msh2_are_honoured():
    standard = hl7.parse(hl7_message("SCH|P1|APT1|||||||||^^^202701041000^202701041030", "AIP|1||DR1^Who~DR2").encode())
    custom = hl7.parse(b"MSH#$*!%#EMR#C#HALO#H#20261120100000##SIU$S12#1#P#2.5\r"
                       b"SCH#P1#APT1#########$$$202701041000$202701041030\rAIP#1##DR1$Who*DR2")
    assert custom.rejected == [] and standard.rejected == []
    [ours], [theirs] = custom.events, standard.events
    assert (ours.item_id, ours.version, ours.status, ours.blocks) == (theirs.item_id, theirs.version, theirs.status, theirs.blocks)
    assert [b.provider_id for b in ours.blocks] == ["DR1", "DR2"]


def test_a_second_message_with_other_delimiters_is_split_and_read_with_its_own():
    text = hl7_message(*GOOD_BODY) + "\n" + "MSH#$~\\&#EMR#C#HALO#H#20261120110000##SIU$S12#2#P#2.5\rSCH#P2#APT2\r" \
        "AIS#1##X#202701041100###30#MIN\rAIP#1##DR2"
    parsed = hl7.parse(text.encode())
    assert parsed.rejected == [] and [(e.item_id, e.blocks[0].provider_id) for e in parsed.events] == [("APT1", "DR1"), ("APT2", "DR2")]


@pytest.mark.parametrize("msh", ["MSH|^^\\&|", "MSH|^~\\^|", "MSH|^~A&|", "MSH|^~\\&\t\t|", "MSH\r"])
def test_unusable_hl7_delimiters_are_quarantined(msh):
    parsed = hl7.parse((msh + "EMR|C|HALO|H|20261120100000||SIU^S12|1|P|2.5\rSCH|P1|APT1").encode())
    assert parsed.events == [] and "delimiters" in parsed.rejected[0].reason


def test_hl7_escapes_are_decoded_with_the_messages_own_delimiters():
    default = hl7.parse(hl7_message("SCH|P1|A\\F\\B\\S\\C\\T\\D\\R\\E\\E\\G", *GOOD_BODY[1:2], "AIP|1||DR\\S\\1^Who").encode())
    assert default.rejected == [] and default.events[0].item_id == "A|B^C&D~E\\G"
    assert [b.provider_id for b in default.events[0].blocks] == ["DR^1"]
    custom = hl7.parse(b"MSH#$*!%#EMR#C#HALO#H#20261120100000##SIU$S12#1#P#2.5\rSCH#P1#A!F!B!S!C!T!D!R!E!E!G\r"
                       b"AIS#1##X#202701041000###30#MIN\rAIP#1##DR1")
    assert custom.rejected == [] and custom.events[0].item_id == "A#B$C%D*E!G"


def test_the_store_column_sizes_the_parsers_check_are_the_models():
    columns = tables.SchedulingItem.__table__.c
    blocks = tables.SchedulingItemBlock.__table__.c
    assert (base.ID_MAX, base.TZ_MAX, base.STATUS_MAX) == (columns.item_id.type.length, columns.tz.type.length, columns.status.type.length)
    assert base.ID_MAX == blocks.provider_id.type.length == blocks.ref.type.length


def test_a_record_the_store_cannot_hold_is_quarantined():
    long_id = acme.parse((APPOINTMENT % ("2027-01-04T10:00:00", 30)).replace('"A1"', '"' + "A" * 300 + '"').encode(), "a.jsonl")
    assert "item id longer than 255" in long_id.rejected[0].reason
    nul = acme.parse((APPOINTMENT % ("2027-01-04T10:00:00", 30)).replace('"P1"', '"P\\u00001"').encode(), "a.jsonl")
    assert "NUL" in nul.rejected[0].reason
    long_provider = hl7.parse(hl7_message(*GOOD_BODY[:2], "AIP|1||" + "D" * 256).encode())
    assert "provider id longer than 255" in long_provider.rejected[0].reason


def test_nul_and_latin1_bytes_are_quarantined_on_postgresql_and_the_good_lines_applied(pg_store):
    """PostgreSQL text holds neither NUL nor invalid UTF-8: a raw line carrying them used to
    fail the quarantine insert, and with it the whole batch."""
    good = APPOINTMENT % ("2027-01-04T10:00:00", 30)
    land("acme", "hours.jsonl", '{"type":"hours","provider":"P1","tz":"Asia/Tokyo","week":{"mon":[["09:00","17:00"]]},'
         '"updated_at":"2026-11-20T10:00:00Z"}\n')
    land("acme", "hostile.jsonl", b"\n".join([good.encode(), b'{"type":"appointment"\x00,"id":"A2"}', good.replace("A1", "A\xe93").encode("latin-1")]))
    summary = process(pg_store, "2027-01-04", 3)
    rows = quarantined(pg_store, "acme")
    assert summary.quarantined == 2 and [r["position"] for r in rows] == [2, 3]
    assert "\\x00" in rows[0]["raw"] and "\\xe9" in rows[1]["raw"] and "not valid UTF-8" in rows[1]["reason"]
    assert spans_on(pg_store, "acme", "P1", "2027-01-04") == [("2027-01-04T00:00Z", "2027-01-04T01:00Z"), ("2027-01-04T01:30Z", "2027-01-04T08:00Z")]
