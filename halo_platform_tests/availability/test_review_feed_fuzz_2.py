"""Hostile HL7 feed files, second round: whitespace before a message's MSH, a BOM starting a template
row, and durations and timestamps written with characters Python's float() and `\\d` take but HL7
does not (digit group underscores, exponents, Arabic-Indic digits). Both reading paths are compared."""

import datetime as dt

import pytest

from halo_platform.availability.feeds import hl7
from halo_platform.availability.service import quarantined
from halo_platform_tests.availability.helpers import land, process, spans_on
from halo_platform_tests.availability.test_review_feed_fuzz import APT1, APT2, MSH, TEMPLATES, columns_and_records


def blocked_by(parsed) -> list[tuple[str, list[str]]]:  # noqa: ANN001 - a Parsed
    return [(e.item_id, [b.provider_id for b in e.blocks]) for e in parsed.events]


@pytest.mark.parametrize("between", ["\n ", "\r\n\t", "\r  ", "\n\u00a0", "\n\x0c", "\r\n \r\n ", "\n \ufeff", "\n\ufeff "])
def test_a_newline_parted_message_indented_before_its_msh_is_a_message_of_its_own(between):
    """A message whose line starts with whitespace before MSH was read as segments of the message
    before: APT1 blocked DR2 too, APT2 was lost, nothing was quarantined. Whitespace (and BOMs)
    before a message's MSH is now a message boundary, as a BOM alone was; both paths agree."""
    data = (APT1 + between + APT2 + "\r\n").encode()
    parsed = hl7.parse(data, "a.hl7")
    assert blocked_by(parsed) == [("APT1", ["DR1"]), ("APT2", ["DR2"])]
    assert parsed.rejected == []
    column_wise, per_record = columns_and_records(hl7, "a.hl7", data)
    assert column_wise == per_record


def test_mllp_frames_with_whitespace_before_the_msh_are_read():
    """In an MLLP frame, whitespace before the MSH quarantined the message ('no MSH segment')."""
    data = ("\x0b \r\n" + APT1 + "\x1c\r\x0b\t\ufeff" + APT2 + "\x1c\r").encode()
    parsed = hl7.parse(data, "a.hl7")
    assert blocked_by(parsed) == [("APT1", ["DR1"]), ("APT2", ["DR2"])]
    assert parsed.rejected == []
    column_wise, per_record = columns_and_records(hl7, "a.hl7", data)
    assert column_wise == per_record


def test_an_indented_message_blocks_only_its_own_provider(halo_env, store):
    land("hl7", "templates.csv", TEMPLATES)
    land("hl7", "siu.hl7", APT1 + "\n  " + APT2 + "\n")
    process(store, "2027-03-15", 2)
    # 2027-03-15 in New York is EDT (-04:00): 09:00-17:00 is 13:00Z-21:00Z
    assert spans_on(store, "hl7", "DR1", "2027-03-15") == [("2027-03-15T13:00Z", "2027-03-15T14:00Z"), ("2027-03-15T15:00Z", "2027-03-15T21:00Z")]
    assert spans_on(store, "hl7", "DR2", "2027-03-15") == [("2027-03-15T13:00Z", "2027-03-15T18:00Z"), ("2027-03-15T19:00Z", "2027-03-15T21:00Z")]
    assert quarantined(store, "hl7") == []


def test_a_bom_starting_a_template_row_is_ignored():
    """Templates concatenated without repeating the header: the second file's BOM starts a data row,
    and str.strip keeps U+FEFF, so its rows made a provider '\\ufeffDR2' (DR2 had no hours)."""
    rows = TEMPLATES.splitlines(keepends=True)
    parsed = hl7.parse("".join([rows[0], rows[1], "\ufeff" + rows[2]]).encode(), "t.csv")
    plain = hl7.parse(TEMPLATES.encode(), "t.csv")
    assert parsed.rejected == []
    assert [(e.item_id, e.fingerprint, [h.provider_id for h in e.hours]) for e in parsed.events] == \
        [(e.item_id, e.fingerprint, [h.provider_id for h in e.hours]) for e in plain.events]
    assert [e.item_id for e in parsed.events] == ["hours:DR1", "hours:DR2"]


def test_concatenated_templates_with_a_bom_each_give_every_provider_hours(halo_env, store):
    rows = TEMPLATES.splitlines(keepends=True)
    land("hl7", "templates.csv", "\ufeff" + rows[0] + rows[1] + "\ufeff" + rows[2])
    land("hl7", "siu.hl7", APT2 + "\n")
    process(store, "2027-03-15", 2)
    assert spans_on(store, "hl7", "DR2", "2027-03-15") == [("2027-03-15T13:00Z", "2027-03-15T18:00Z"), ("2027-03-15T19:00Z", "2027-03-15T21:00Z")]
    assert quarantined(store, "hl7") == []


def ais_message(duration: str) -> str:
    return "\r".join([MSH.format(n=1), "SCH|P1|APT1", f"AIS|1||C|202703150900|||{duration}|MIN", "AIP|1||DR1"])


@pytest.mark.parametrize("duration", ["1_0", "\u0661\u0660", "1\u06f0", "\uff11\uff10", "1e1", "0x1A", "\u0661\u0660.5"])
def test_a_duration_that_is_not_an_ascii_decimal_number_is_quarantined(duration):
    """HL7 durations are NM: ASCII digits, an optional sign and decimal point. Python's float() also
    takes digit group underscores, exponents and any script's digits: '1_0' blocked 10 minutes."""
    data = ais_message(duration).encode()
    parsed = hl7.parse(data, "a.hl7")
    assert parsed.events == []
    assert [(r.position, r.reason) for r in parsed.rejected] == [(1, f"invalid duration {duration!r}")]
    column_wise, per_record = columns_and_records(hl7, "a.hl7", data)
    assert column_wise == per_record


@pytest.mark.parametrize(("duration", "minutes"), [("10", 10), (" 10 ", 10), ("+10", 10), ("10.5", 10.5), (".5", 0.5), ("10.", 10)])
def test_an_ascii_decimal_duration_is_read(duration, minutes):
    parsed = hl7.parse(ais_message(duration).encode(), "a.hl7")
    assert parsed.rejected == []
    [block] = parsed.events[0].blocks
    assert block.end - block.start == dt.timedelta(minutes=minutes)


def test_an_underscored_duration_blocks_nothing_and_is_quarantined(halo_env, store):
    land("hl7", "templates.csv", TEMPLATES)
    land("hl7", "siu.hl7", ais_message("1_0") + "\n")
    process(store, "2027-03-15", 2)
    assert spans_on(store, "hl7", "DR1", "2027-03-15") == [("2027-03-15T13:00Z", "2027-03-15T21:00Z")]
    assert [(q["position"], q["reason"]) for q in quarantined(store, "hl7")] == [(1, "invalid duration '1_0'")]


@pytest.mark.parametrize(("field", "stamp"), [
    ("SCH-11 start", "\u0662\u0660\u0662\u0667" + "03151000"),
    ("SCH-11 start", "20270315100\u0660"),
    ("SCH-11 start", "202703151000.\u0665"),
    ("SCH-11 start", "202703151000+\u0660\u0661\u0660\u0660"),
    ("MSH-7", "2026112010000\u0660"),
])
def test_a_timestamp_with_digits_other_than_ascii_is_quarantined(field, stamp):
    """HL7 timestamps are ASCII digits; `\\d` took any script's (Arabic-Indic, Persian, full-width),
    and int() read them: the message was applied with that time."""
    sch = f"SCH|P1|APT1|||||||||^^^{stamp}^202703151100" if field != "MSH-7" else "SCH|P1|APT1|||||||||^^^202703151000^202703151100"
    msh = MSH.format(n=1).replace("20261120100000", stamp) if field == "MSH-7" else MSH.format(n=1)
    data = "\r".join([msh, sch, "AIP|1||DR1"]).encode()
    parsed = hl7.parse(data, "a.hl7")
    assert parsed.events == []
    what = "MSH-7" if field == "MSH-7" else "start"
    assert [(r.position, r.reason) for r in parsed.rejected] == [(1, f"invalid {what} {stamp!r}")]
    column_wise, per_record = columns_and_records(hl7, "a.hl7", data)
    assert column_wise == per_record


def test_a_timestamp_with_arabic_indic_digits_blocks_nothing(halo_env, store):
    land("hl7", "templates.csv", TEMPLATES)
    land("hl7", "siu.hl7", APT1.replace("202703151000", "\u0662\u0660\u0662\u0667" + "03151000") + "\n")
    process(store, "2027-03-15", 2)
    assert spans_on(store, "hl7", "DR1", "2027-03-15") == [("2027-03-15T13:00Z", "2027-03-15T21:00Z")]
    assert [q["position"] for q in quarantined(store, "hl7")] == [1]


def test_working_hours_written_with_digits_other_than_ascii_are_quarantined():
    """`\\d` in the HH:MM and FHIR time patterns took any script's digits, and int() read them:
    a template row, an acme week and a FHIR PractitionerRole ending at '1٧:00' (Arabic-Indic 7)
    gave hours to 17:00 with nothing quarantined."""
    from halo_platform.availability.feeds import acme, fhir
    from halo_platform_tests.availability.test_review_feed_fuzz import ROLE

    template = TEMPLATES.replace("DR2,America/New_York,mon,09:00,17:00", "DR2,America/New_York,mon,09:00,1\u0667:00")
    acme_week = ('{"type":"hours","provider":"P1","tz":"Europe/Paris","week":{"mon":[["09:00","1\u0667:00"]]},'
                 '"updated_at":"2026-11-20T10:00:00Z"}\n')
    role = ROLE.replace('"availableEndTime":"17:00:00"', '"availableEndTime":"1\u0667:00:00"')
    for module, name, data in [(hl7, "t.csv", template), (acme, "a.jsonl", acme_week), (fhir, "f.ndjson", role + "\n")]:
        parsed = module.parse(data.encode(), name)
        assert len(parsed.rejected) == 1, (name, parsed.rejected, parsed.events)
