"""The parsing shortcuts of the EMR bench's files give what the long way gave: a CSV line split
at its commas is the row `csv.reader` reads; the Arrow columns of parsed events keep every
block and hours row, numbered within its event, in order."""

import csv
import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from halo_platform.availability.feeds import hl7
from halo_platform.availability.feeds.base import HOURS, ID_MAX, Block, Event, Hours
from halo_platform.availability.feeds.columns import to_arrow
from halo_platform.availability.feeds.hl7 import _csv_row, parse_templates
from halo_platform_tests.availability.test_columnar_reading import assert_same_columns


@settings(max_examples=400, deadline=None, database=None)
@given(st.text(alphabet=st.sampled_from(list('ab ,"\'\t\r\n\x00\u00a0\ufeff;')), max_size=12))
def test_a_csv_line_reads_as_csv_reader_reads_it(line):
    try:
        expected = next(csv.reader([line]), [])
    except csv.Error:
        expected = None
    try:
        got = _csv_row(line)
    except Exception:  # noqa: BLE001 - compared with the reader's error below
        got = None
    assert got == expected


def test_a_line_longer_than_the_field_limit_is_still_refused():
    limit = csv.field_size_limit()
    try:
        csv.field_size_limit(12)  # the header's names fit, the versions do not
        rows = parse_templates("provider_id,timezone,weekday,start,end,version\nD1,UTC,mon,08:00,12:00,2026-01-01T00:00:00Z\n"
                               "D2,UTC,mon,08:00,12:00,2026-01-01T00:00:00Z\n")
    finally:
        csv.field_size_limit(limit)
    assert [r.position for r in rows.rejected] == [2, 3]
    assert all(r.reason.startswith("unreadable CSV row: field larger than field limit") for r in rows.rejected)


def test_the_arrow_columns_keep_every_block_and_hours_row_of_each_event_in_order():
    v = dt.datetime(2026, 1, 1)
    s, e = dt.datetime(2026, 2, 1, 8), dt.datetime(2026, 2, 1, 9)
    events = [Event("a", v, "appointment", 1, "r1", blocks=[Block("p1", s, e), Block("p2", s, e, local=True, elapsed=True)]),
              Event("b", v, "appointment", 2, "r2", deleted=True, status="deleted"),
              Event("hours:d", v, HOURS, 3, "r3", tz="UTC", hours=[Hours("d", 0, 480, 720), Hours("d", 1, 780, 1080)]),
              Event("c", v, "timeoff", 4, "r4", blocks=[Block(None, None, None, ref="Schedule/x")])]
    ev, bl, hr = to_arrow(events, templates=True)
    assert ev.column("seq").to_pylist() == [1, 2, 3, 4]
    assert ev.column("item_id").to_pylist() == ["a", "b", "hours:d", "c"]
    assert ev.column("deleted").to_pylist() == [False, True, False, False]
    assert ev.column("status").to_pylist() == [None, "deleted", None, None]
    assert ev.column("tz").to_pylist() == [None, None, "UTC", None]
    assert ev.column("adds_up").to_pylist() == [False, False, True, False]
    assert ev.column("fp").to_pylist() == [e.fingerprint for e in events]
    assert bl.to_pylist() == [
        {"seq": 1, "n": 0, "provider_id": "p1", "ref": None, "start_ts": s, "end_ts": e, "is_local": False, "end_elapsed": False},
        {"seq": 1, "n": 1, "provider_id": "p2", "ref": None, "start_ts": s, "end_ts": e, "is_local": True, "end_elapsed": True},
        {"seq": 4, "n": 0, "provider_id": None, "ref": "Schedule/x", "start_ts": None, "end_ts": None, "is_local": False,
         "end_elapsed": False}]
    assert hr.to_pylist() == [{"seq": 3, "n": 0, "provider_id": "d", "weekday": 0, "start_minute": 480, "end_minute": 720},
                              {"seq": 3, "n": 1, "provider_id": "d", "weekday": 1, "start_minute": 780, "end_minute": 1080}]
    assert to_arrow(events)[0].column("adds_up").to_pylist() == [False] * 4


def test_an_siu_file_not_utf8_as_a_whole_is_left_to_the_per_record_parse_and_a_bom_is_the_files():
    message = "MSH|^~\\&|EMR|C|HALO|H|20261101000001||SIU^S12|1|P|2.5\rSCH|A0|A0^EMR\rTQ1|1||||||202612310830|202612310845\rAIP|1||D1"
    assert hl7.columns(b"\xef\xbb\xbf" + message.encode(), "a.hl7").events.to_pylist() == hl7.columns(message.encode(), "a.hl7").events.to_pylist()
    assert hl7.columns(message.encode() + b"\xff", "a.hl7") is None
    assert hl7.columns(message.encode() + "\ud800".encode("utf-8", "surrogatepass"), "a.hl7") is None  # an encoded surrogate
    assert [e.item_id for e in hl7.parse(message.encode(), "a.hl7").events] == ["A0"]


def test_providers_one_or_many_too_long_or_repeated_read_column_wise_as_one_by_one():
    """fast_all checks a single provider without the list functions: each shape gives the per-record columns."""
    long_id = "D" * (ID_MAX + 1)
    aips = [f"AIP|1||{long_id}", "AIP|1||D1", f"AIP|1||D1~{long_id}", "AIP|1||D1~D1", "AIP|1||D1\rAIP|2||D2", "AIP|1||D1\rAIP|2||D1",
            "AIP|1||", f"AIP|1||{'D' * ID_MAX}"]
    for trigger in ("S12", "S23", "S15"):
        text = "".join(f"\x0bMSH|^~\\&|EMR|C|HALO|H|2026110100000{i}||SIU^{trigger}|{i}|P|2.5\rSCH|A{i}|A{i}^EMR\r"
                       f"TQ1|1||||||202612310830|202612310845\r{aip}\x1c\r" for i, aip in enumerate(aips))
        assert_same_columns("hl7", "a.hl7", text.encode())


def test_a_file_with_one_unprintable_character_still_has_each_message_checked():
    """Printable ASCII files skip the per-message check; one tab, unit separator or BOM anywhere brings it back."""
    plain = ("MSH|^~\\&|EMR|C|HALO|H|20261101000001||SIU^S12|1|P|2.5\rSCH|A1|{}^EMR\rTQ1|1||||||202612310830|202612310845\r"
             "AIP|1||D1")
    for odd in ("A1\t", "A1\x1f", "\x0cA1", "A1\ufeff", "A1\x7f", "A1\x00"):
        text = "\x0b" + plain.format("A0") + "\x1c\r\x0b" + plain.format(odd) + "\x1c\r"
        assert_same_columns("hl7", "a.hl7", text.encode())
