"""hl7: HL7 v2.5 SIU messages (`*.hl7`) and CSV working-hours templates (`*.csv`).

Messages are framed by MLLP (`\\x0b ... \\x1c\\r`) or simply follow one another, each
starting at its MSH segment (newlines, blank lines); segments are separated by `\\r`
(a newline between segments is accepted too). Each message is read with its own delimiters
(MSH-1 field separator, MSH-2 component, repetition, escape and subcomponent characters),
and the escapes `\\F\\ \\S\\ \\T\\ \\R\\ \\E\\` in the values read are decoded with them, as is
hexadecimal data `\\Xdddd...\\` (its bytes read as UTF-8, as the file is).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import operator
import re
import string
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from halo_platform.availability.feeds.base import (
    APPOINTMENT,
    BOM,
    EARLIEST,
    HOURS,
    ID_MAX,
    LATEST,
    NON_BLOCKING,
    NOT_UTF8,
    SANE_YEARS,
    TIMEOFF,
    WHITESPACE,
    Block,
    Event,
    FeedFormat,
    Hours,
    Invalid,
    Parsed,
    Rejected,
    after,
    check_interval,
    check_tz,
    decode,
    not_utf8,
    parse_hhmm,
    parse_version,
    record,
    sql_set,
    weekday_index,
    written,
)
from halo_platform.availability.feeds.columns import Columns, connect, merge_columns

PATTERNS = ("*.hl7", "*.csv")
TEMPLATE_PATTERNS = ("*.csv",)  # working-hours rows of one version may come in several files: they add up
TRIGGERS = {"S12": "booked", "S13": "booked", "S14": "booked", "S15": "cancelled", "S17": "deleted", "S26": "noshow"}
BLOCK_TRIGGERS = {"S23": False, "S24": True}  # trigger -> removes the block
# HL7 table 0278 (filler status codes), and the non-blocking ones emr.md names for every feed
# (`entered-in-error`, `proposed`: quarantined as unknown, they left the older booked version blocking)
STATUSES = frozenset({"pending", "waitlist", "booked", "started", "complete", "cancelled", "dc", "deleted",
                      "blocked", "overbook", "noshow"}) | NON_BLOCKING
# ASCII digits only: `\d` takes any script's (Arabic-Indic, full-width...), and int() reads them
_TS = re.compile(r"^([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})?(?:\.[0-9]+)?([+-][0-9]{4})?\Z")
_FRACTION = re.compile(r"\.([0-9]+)")
# item ids of a provider's working hours (`hours:<provider>`) and of time off (`block:<SCH-2>`): an
# appointment's SCH-2 taking one would replace or delete them
RESERVED_ID_PREFIXES = ("hours:", "block:")
_RESOURCE_TIMES = {"AIP": (6, 9), "AIS": (4, 7)}  # segment -> (start field, duration field; its unit follows)
_UNITS = {"MIN": 1, "MINUTE": 1, "MINUTES": 1, "HOUR": 60, "HOURS": 60, "HR": 60}
# HL7 NM: ASCII digits with an optional sign and decimal point (float() also takes `1_0`, `1e1`, other scripts' digits)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\Z")


def parse_ts(value: str, what: str) -> tuple[dt.datetime, bool]:
    """`YYYYMMDDHHMM[SS][+/-ZZZZ]` -> (naive UTC instant, False) or (naive local time, True)."""
    parsed = _parse_ts(value)
    if parsed is None:
        raise Invalid(f"invalid {what} {value!r}")
    if not EARLIEST <= parsed[0] <= LATEST:
        raise Invalid(f"{what} {value!r} outside years {SANE_YEARS}")
    return parsed


def fraction_of_second(value: str) -> dt.timedelta:
    """The fraction of a second of a timestamp, to the microsecond. MSH-7 keeps it: it orders two
    messages of one second. Times of day keep whole seconds, as spans and slots are shown."""
    m = _FRACTION.search(value)
    return dt.timedelta(microseconds=int(m.group(1)[:6].ljust(6, "0"))) if m else dt.timedelta(0)


@functools.lru_cache(maxsize=200_000)
def _parse_ts(value: str) -> tuple[dt.datetime, bool] | None:
    m = _TS.match(value)
    if not m:
        return None
    y, mo, d, h, mi, s, off = m.groups()
    try:
        when = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0))
    except ValueError:
        return None
    if off is None:
        return when, True
    hours, minutes = int(off[1:3]), int(off[3:5])
    if hours > 23 or minutes > 59:
        return None
    if not EARLIEST.year - 1 <= when.year <= LATEST.year:
        return when, False  # out of range either way; shifting it could overflow
    sign = 1 if off[0] == "+" else -1
    return when - sign * dt.timedelta(hours=hours, minutes=minutes), False


@dataclass(frozen=True)
class Delimiters:
    field: str = "|"
    component: str = "^"
    repetition: str | None = "~"
    escape: str | None = "\\"
    subcomponent: str | None = "&"

    @functools.cached_property
    def escapes(self) -> tuple[re.Pattern, dict[str, str]] | None:
        """HL7 v2 escape sequences for data characters, e.g. `\\F\\` -> the field separator, and
        `\\Xdddd...\\` hexadecimal data (group 2: its hex digits, pairs of them)."""
        if self.escape is None:
            return None
        meaning = {"F": self.field, "S": self.component, "T": self.subcomponent, "R": self.repetition, "E": self.escape}
        decoded = {k: v for k, v in meaning.items() if v is not None}
        esc = re.escape(self.escape)
        return re.compile(f"{esc}(?:([{''.join(decoded)}])|X((?:[0-9A-Fa-f]{{2}})+)){esc}"), decoded


DEFAULT_DELIMITERS = Delimiters()


def delimiters(msh: str) -> Delimiters:
    """MSH-1 is the character after `MSH`; MSH-2 (up to the next one) lists the component,
    repetition, escape and subcomponent characters (a fifth, v2.7 truncation, is allowed)."""
    return DEFAULT_DELIMITERS if msh.startswith("MSH|^~\\&|") else _delimiters(msh[3:10])


@functools.lru_cache(maxsize=64)
def _delimiters(head: str) -> Delimiters:
    sep = head[:1]
    encoding = head[1:].split(sep, 1)[0] if sep else ""
    chars = sep + encoding
    if not sep or not 1 <= len(encoding) <= 5 or len(set(chars)) != len(chars) or any(c not in string.punctuation for c in chars):
        raise Invalid(f"invalid MSH-1/MSH-2 delimiters {head!r}")
    return Delimiters(sep, *(encoding[i] if i < len(encoding) else None for i in range(4)))


class _Message:
    def __init__(self, text: str) -> None:
        self.segments: dict[str, list[list[str]]] = {}
        self.in_order: list[list[str]] = []  # every segment's fields, as the message lists them
        lines = [seg for seg in text.split("\r") if seg]
        msh = next((seg for seg in lines if seg.startswith("MSH")), None)
        if msh is None:
            raise Invalid("no MSH segment")
        self.delimiters = d = delimiters(msh)
        for seg in lines:
            fields = seg.split(d.field)
            if fields[0] == "MSH":
                fields.insert(1, d.field)  # MSH-1 is the separator itself
            self.segments.setdefault(fields[0], []).append(fields)
            self.in_order.append(fields)

    def all(self, seg: str) -> list[list[str]]:
        return self.segments.get(seg, [])

    def field(self, seg: str, n: int, component: int = 1, fields: list[str] | None = None) -> str:
        """Component `component` of the first repetition of field `n`, escapes decoded."""
        if fields is None:
            found = self.segments.get(seg)
            if not found:
                return ""
            fields = found[0]
        if n >= len(fields):
            return ""
        d = self.delimiters
        comps = (fields[n].partition(d.repetition)[0] if d.repetition else fields[n]).split(d.component, component)
        if component > len(comps):
            return ""
        found = comps[component - 1].strip()
        return found if d.escape is None or d.escape not in found else self.unescape(found)

    def repetitions(self, value: str) -> list[str]:
        """Component 1 of each repetition of a field's `value`, escapes decoded."""
        d = self.delimiters
        return [self.field("", 0, fields=[r]) for r in (value.split(d.repetition) if d.repetition else [value])]

    def unescape(self, value: str) -> str:
        pattern, decoded = self.delimiters.escapes
        return pattern.sub(lambda m: decoded[m.group(1)] if m.group(1) else _hex_data(m), value)


def _hex_data(escape: re.Match) -> str:
    """The text of a `\\X...\\` escape's bytes, read as UTF-8 as the landed file is (ASCII among it)."""
    try:
        return bytes.fromhex(escape.group(2)).decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid(f"invalid escape {escape.group(0)!r}: not UTF-8 bytes") from None


def _end(msg: _Message, fields: list[str], seg: str, start: dt.datetime) -> dt.datetime:
    """`start` plus the duration of an AIS/AIP segment (`fields`), in the unit that follows it (MIN when none)."""
    n = _RESOURCE_TIMES[seg][1]
    amount, unit = msg.field(seg, n, fields=fields), msg.field(seg, n + 1, fields=fields).upper() or "MIN"
    if unit not in _UNITS:
        raise Invalid(f"unknown duration unit {unit!r}")
    if not _NUMBER.match(amount):
        raise Invalid(f"invalid duration {amount!r}")
    return after(start, float(amount) * _UNITS[unit], f"{seg}-{n} duration {written(amount)} {unit}")


def _interval(msg: _Message) -> tuple[dt.datetime, dt.datetime, bool, bool] | None:
    """(start, end, local, elapsed): `elapsed` when the end is the start plus a duration."""
    start, end = msg.field("TQ1", 7), msg.field("TQ1", 8)
    if not (start and end):  # a half of the TQ1 pair is no TQ1 interval
        start, end = msg.field("SCH", 11, 4), msg.field("SCH", 11, 5)
    if start and end:
        (s, s_local), (e, e_local) = parse_ts(start, "start"), parse_ts(end, "end")
        if s_local != e_local:
            raise Invalid("start and end must both carry an offset or neither")
        check_interval(s, e)
        return s, e, s_local, False
    for fields in msg.in_order:  # the first AIS/AIP start as the message lists them
        seg = fields[0]
        if seg in _RESOURCE_TIMES and msg.field(seg, _RESOURCE_TIMES[seg][0], fields=fields):
            s, local = parse_ts(msg.field(seg, _RESOURCE_TIMES[seg][0], fields=fields), "start")
            e = _end(msg, fields, seg, s)
            check_interval(s, e)
            return s, e, local, local
    return None


def _providers(msg: _Message) -> list[str]:
    found: list[str] = []
    for fields in msg.all("AIP"):
        if len(fields) > 3:
            found.extend(msg.repetitions(fields[3]))
    return list(dict.fromkeys(p for p in found if p))


def _other_resource(msg: _Message, seg: str) -> bool:
    """Whether a segment `seg` of `msg` names its resource (field 3, component 1)."""
    return any(len(fields) > 3 and any(msg.repetitions(fields[3])) for fields in msg.all(seg))


# the segments a message is read from: one written in another case (`sch|`) is no segment of them
_READ_SEGMENTS = frozenset({"MSH", "SCH", "TQ1", *_RESOURCE_TIMES, "AIL", "AIG"})


def _message(text: str, position: int) -> Event:
    """The event of one message. A message quarantined while it holds one of the segments it is read
    from in another case says so first: `sch|1|APT1` was 'missing SCH-2 filler appointment id', which
    sent a reader looking for a field that is there (a message needing no such segment is read)."""
    try:
        return _read_message(text, position)
    except Invalid as exc:
        name = next((seg[:3] for seg in text.split("\r") if seg[:3].upper() in _READ_SEGMENTS and seg[:3] != seg[:3].upper()
                     and seg[3:4] in ("", *string.punctuation)), None)
        if name is None:
            raise
        raise Invalid(f"segment name {name!r} is not recognized: HL7 segment names are upper case ({exc})") from None


def _read_message(text: str, position: int) -> Event:
    msg = _Message(text)
    trigger = msg.field("MSH", 9, 2).upper()
    appointment_id = msg.field("SCH", 2)
    if not appointment_id:
        raise Invalid("missing SCH-2 filler appointment id")
    stamp = msg.field("MSH", 7)
    if not stamp:
        raise Invalid("missing MSH-7 version")
    # an offset-less version is kept as its wall time, compared as if UTC (not made provider-local as emr.md says: the
    # zone may only come later, in a template; README, EMR availability, "Known limit", says when the readings differ)
    version = parse_ts(stamp, "MSH-7")[0] + fraction_of_second(stamp)
    raw = text.replace("\r", "\n").strip()
    if trigger in BLOCK_TRIGGERS:
        event = Event(f"block:{appointment_id}", version, TIMEOFF, position, raw, deleted=BLOCK_TRIGGERS[trigger])
        if not event.deleted:
            _block(msg, event)
        return event
    if trigger not in TRIGGERS:
        raise Invalid(f"unsupported trigger {trigger or '(none)'!r}")
    if appointment_id.startswith(RESERVED_ID_PREFIXES):
        raise Invalid(f"SCH-2 {appointment_id!r}: an appointment id may not begin with {' or '.join(RESERVED_ID_PREFIXES)} "
                      "(the feed's working hours and time off are kept under them)")
    if trigger == "S17":
        return Event(appointment_id, version, APPOINTMENT, position, raw, deleted=True, status="deleted")
    status = (msg.field("SCH", 25) or TRIGGERS[trigger]).lower()
    if status not in STATUSES:
        raise Invalid(f"unknown status {msg.field('SCH', 25)!r}")
    event = Event(appointment_id, version, APPOINTMENT, position, raw, status=status)
    if status not in NON_BLOCKING:
        _block(msg, event)
    else:
        _interval(msg)  # still validated: a malformed interval is a malformed message
    return event


def _block(msg: _Message, event: Event) -> None:
    interval = _interval(msg)
    if interval is None:
        raise Invalid("no interval (TQ1-7/8, SCH-11, AIS/AIP start)")
    providers = _providers(msg)
    # a booking of other resources alone (a room, AIL-3; equipment, AIG-3) blocks no provider, yet is
    # a version of its item: quarantined, the older version's AIP kept that provider blocked
    if not providers and not any(_other_resource(msg, seg) for seg in ("AIL", "AIG")):
        raise Invalid("no AIP-3 provider")
    start, end, local, elapsed = interval
    event.blocks.extend(Block(p, start, end, local=local, elapsed=elapsed) for p in providers)


# what may come before a message's MSH and is no part of it: whitespace (an indented line) and BOMs
# (files saved with one, then joined: each is the file's)
_BLANK = WHITESPACE + "\ufeff"
# whatever field separator the next message picks; the blanks after the line break exclude `\r`, so
# each is scanned once (a class holding it rescanned a run of blank lines from each of its breaks)
_NEXT_MESSAGE = re.compile("\r[" + re.escape(_BLANK.replace("\r", "")) + "]*MSH(?=[" + re.escape(string.punctuation) + "])")
_FRAME_END = "\x0b"  # an MLLP frame starts with \x0b and ends with \x1c: both end a message
# HL7's batch protocol wraps a file's messages in file and batch header and trailer segments: an
# envelope, no part of any message (read as one, the header was quarantined as 'no MSH segment')
_ENVELOPE_SEGMENTS = ("FHS", "BHS", "BTS", "FTS")
_ENVELOPE = re.compile("([\r" + _FRAME_END + "])[" + re.escape(_BLANK.replace("\r", "").replace(_FRAME_END, "")) + "]*(?:"
                       + "|".join(_ENVELOPE_SEGMENTS) + ")(?=[" + re.escape(string.punctuation) + "\r" + _FRAME_END + "]|\\Z)[^\r" + _FRAME_END + "]*")


def split_messages(text: str) -> list[str]:
    """The texts of the messages, with `\\r` segment separators, in file order: message n (its
    position) at index n - 1, with no (number, text) pair made for each (the bench's 79k-message
    file split and made into Arrow columns in 154 -> 135 ms). An MLLP frame
    ends a message, and so does the next MSH segment, whether a newline or blank line parts them
    or a file mixes both (its newline-parted messages were one message, the rest lost), with
    whitespace and BOMs before the MSH or not: they are dropped with the message's ends, as the
    file's BOM is (with them, the MSH was read as a segment of the message before). A batch
    envelope's segments (FHS, BHS, BTS, FTS) are dropped: no message holds them. Both
    boundaries become one character that a single str.split cuts at (a third of the time of
    splitting frames and then messages with regexes, which a test keeps as the rule)."""
    normal = text.replace("\r\n", "\r").replace("\n", "\r").replace("\x1c", _FRAME_END)
    if any(segment in normal for segment in _ENVELOPE_SEGMENTS):
        normal = _ENVELOPE.sub(r"\1", "\r" + normal)  # each segment's separator kept; a first one is stripped below
    chunks = (c.strip(_BLANK) for c in _NEXT_MESSAGE.sub(_FRAME_END + "MSH", normal).split(_FRAME_END))
    return [c for c in chunks if c]


def parse_messages(text: str) -> Parsed:
    out = Parsed()
    undecoded = not_utf8(text)
    for position, message in enumerate(split_messages(text), start=1):
        raw = message.replace("\r", "\n")
        if undecoded and not_utf8(message):
            out.rejected.append(Rejected(position, NOT_UTF8, raw))
            continue
        record(out, position, raw, lambda: _message(message, position))  # noqa: B023 - called before the next message
    return out


TEMPLATE_HEADER = ["provider_id", "timezone", "weekday", "start", "end", "version"]


def _csv_row(line: str) -> list[str]:
    """The fields of one CSV line, as `csv.reader` reads it alone. A line without a quote whose
    fields fit `csv.field_size_limit()` holds exactly its comma-separated parts: split at once,
    not through a reader made for the line (the bench's 16.8k template lines: 20 -> 10.5 ms)."""
    if '"' not in line and "\r" not in line and "\n" not in line and len(line) <= csv.field_size_limit():
        return line.split(",") if line else []
    try:
        return next(csv.reader([line]), [])
    except csv.Error as exc:  # e.g. a field over csv.field_size_limit()
        raise Invalid(f"unreadable CSV row: {exc}") from None


def _template_row(row: list[str], columns: Callable[[list[str]], tuple[str, ...]], position: int, raw: str) -> Event:
    """One template row as the one-row template of its provider; `columns` picks its fields in
    `TEMPLATE_HEADER` order (the file's header names their order)."""
    if len(row) != 6:
        raise Invalid(f"expected 6 columns, got {len(row)}")
    provider, tz, weekday, start, end, version = map(str.strip, columns(row))
    if not provider:
        raise Invalid("missing provider_id")
    hours = Hours(provider, weekday_index(weekday), parse_hhmm(start), parse_hhmm(end))
    return Event(f"hours:{provider}", parse_version(version), HOURS, position, raw, tz=check_tz(tz), hours=[hours])


_LINE_BREAK = re.compile(r"\r\n?|\n")  # CSV line breaks only: str.splitlines() also breaks at U+2028, \x1c...


_HEADER_NAMES = frozenset(TEMPLATE_HEADER)


def _header(row: list[str]) -> Callable[[list[str]], tuple[str, ...]] | None:
    """When a CSV row is the template header (its names trimmed, in any case, in any order: an
    export with its columns in another order was quarantined whole), what picks the fields of the
    rows under it in `TEMPLATE_HEADER` order; else None. A row of another width, or whose first
    field is no column name, is looked at no further."""
    if len(row) != len(TEMPLATE_HEADER) or row[0].strip().lower() not in _HEADER_NAMES:
        return None
    names = [h.strip().lower() for h in row]
    if set(names) != _HEADER_NAMES:  # a column unknown, or one twice and another missing
        return None
    return operator.itemgetter(*(names.index(name) for name in TEMPLATE_HEADER))


def parse_templates(text: str) -> Parsed:
    """Working-hours CSV, one event per row: a record, counted as one where the quarantine rate
    is reckoned. Each provider's template is its rows carrying its highest version, whichever
    files they came in: `items.apply_files` adds them up (`TEMPLATE_PATTERNS`), within a file as
    across files, so how the rows are spread over files and ordered in them never changes the
    outcome. The header may come again further down (exports concatenated, each with its
    header): a line that is the header is a header wherever it stands, never a bad row. The
    header names the columns in any order, and the rows under it are read in its order. Blank
    lines are no record, before the header as anywhere else: a file of none but blank lines (0
    bytes, whitespace, a BOM) holds no record, as an empty file of any format (the header after a
    leading blank line was 'expected header' at line 1, the whole file quarantined as one record)."""
    out = Parsed()
    lines = _LINE_BREAK.split(text)
    first = next((i for i, line in enumerate(lines) if line.strip(WHITESPACE)), None)
    if first is None:
        return out
    try:
        columns = _header(_csv_row(lines[first]))
    except Invalid:
        columns = None
    if columns is None:
        out.rejected.append(Rejected(first + 1, f"expected header {','.join(TEMPLATE_HEADER)}", lines[first]))
        return out
    undecoded = not_utf8(text)
    for position, line in enumerate(lines[first + 1:], start=first + 2):
        raw = line.removeprefix("\ufeff")  # files saved with one, then joined: the BOM is that file's
        if undecoded and not_utf8(raw):
            out.rejected.append(Rejected(position, NOT_UTF8, raw))
            continue
        try:
            row = _csv_row(raw)
        except Invalid as exc:
            out.rejected.append(Rejected(position, str(exc), raw))
            continue
        if header := _header(row):  # the header again: the rows under it follow its order
            columns = header
            continue
        if row and "".join(row).strip():
            record(out, position, raw, lambda: _template_row(row, columns, position, raw))  # noqa: B023 - called before the next row
    return out


def parse(data: bytes, file: str = "") -> Parsed:
    text = decode(data)
    return parse_templates(text) if file.lower().endswith(".csv") else parse_messages(text)


# HL7 timestamp `YYYYMMDDHHMM[SS][.f][+/-ZZZZ]` -> (naive instant or wall time), as `_parse_ts`;
# NULL when it is not one (a calendar date that does not exist, an offset past 23:59). Once the
# shape matches, the value is digits but for a `.` and a sign, so character 13 is a digit exactly
# when the seconds are there, and the fifth character from the end is a sign exactly when the
# offset is there.
_TS_SQL = r"""
CREATE OR REPLACE TEMP MACRO hl7_shape(v) AS regexp_full_match(v, '\d{12}(\d{2})?(\.\d+)?([+-]\d{4})?');
CREATE OR REPLACE TEMP MACRO hl7_has_offset(v) AS substr(v, -5, 1) IN ('+', '-');
CREATE OR REPLACE TEMP MACRO hl7_wall(v) AS CASE WHEN substr(v, 13, 1) NOT IN ('', '.', '+', '-')
    THEN try_strptime(v[1:14], '%Y%m%d%H%M%S') ELSE try_strptime(v[1:12], '%Y%m%d%H%M') END;
CREATE OR REPLACE TEMP MACRO hl7_ts(v) AS CASE WHEN hl7_shape(v) THEN CASE
    WHEN NOT hl7_has_offset(v) THEN hl7_wall(v)
    WHEN CAST(v[-4:-3] AS INT) > 23 OR CAST(v[-2:] AS INT) > 59 THEN NULL
    ELSE hl7_wall(v) - (CASE WHEN v[-5] = '+' THEN 1 ELSE -1 END) * to_minutes(CAST(v[-4:-3] AS INT) * 60 + CAST(v[-2:] AS INT)) END END;
CREATE OR REPLACE TEMP MACRO hl7_field(fields, n, c) AS trim(split_part(split_part(coalesce(fields[n + 1], ''), '~', 1), '^', c));
-- the fraction's regex only for a stamp holding a `.` (a tenth of the step's time went to it, on stamps without one)
CREATE OR REPLACE TEMP MACRO hl7_version(v) AS hl7_ts(v) + CASE WHEN contains(v, '.')
    THEN to_microseconds(CAST(rpad(left(coalesce(nullif(regexp_extract(v, '\.(\d+)', 1), ''), '0'), 6), 6, '0') AS BIGINT))
    ELSE to_microseconds(0) END;
"""


def _fast(db: duckdb.DuckDBPyConnection, printable: bool) -> None:
    """SIU messages in the plain shape (default delimiters, no escapes, printable ASCII, the
    interval in TQ1-7/8 or SCH-11): the checks of `_message`, as expressions; every other message
    is left to `_message`. Each segment `_message` reads (MSH, the first SCH and TQ1, every AIP)
    is split into its fields once. `printable`: the whole file is printable ASCII and line breaks,
    so each message is (DuckDB's regex then looked at each message for nothing: 35 ms of 79k)."""
    db.execute(_TS_SQL)
    ascii_only = "" if printable else r"AND regexp_full_match(message, '[ -~\r]*')"
    db.execute(rf"""
        CREATE TEMP TABLE f AS
        SELECT pos, upper(hl7_field(msh, 8, 2)) AS trigger, hl7_field(sch, 2, 1) AS appointment_id, hl7_field(msh, 6, 1) AS stamp,
               lower(hl7_field(sch, 25, 1)) AS sch_status,
               CASE WHEN tq1_pair THEN hl7_field(tq1, 7, 1) ELSE hl7_field(sch, 11, 4) END AS start_text,
               CASE WHEN tq1_pair THEN hl7_field(tq1, 8, 1) ELSE hl7_field(sch, 11, 5) END AS end_text,
               flatten(list_transform(list_filter(segs, lambda x, i: names[i] = 'AIP'),
                       lambda x: list_transform(string_split(coalesce(string_split(x, '|')[4], ''), '~'), lambda r: trim(split_part(r, '^', 1))))) AS listed
        FROM (SELECT pos, segs, names, string_split(segs[1], '|') AS msh, string_split(segs[list_position(names, 'SCH')], '|') AS sch,
                     string_split(segs[list_position(names, 'TQ1')], '|') AS tq1,
                     hl7_field(tq1, 7, 1) <> '' AND hl7_field(tq1, 8, 1) <> '' AS tq1_pair
              FROM (SELECT pos, segs, list_transform(segs, lambda x: split_part(x, '|', 1)) AS names
                    FROM (SELECT pos, list_filter(string_split(message, chr(13)), lambda x: x <> '') AS segs FROM lines
                          WHERE starts_with(message, 'MSH|^~\&|') AND NOT contains(message[10:], '\')
                            {ascii_only})))""")  # noqa: S608 - constants only
    triggers = ", ".join(f"('{t}', '{s}')" for t, s in TRIGGERS.items())
    reserved = " OR ".join(f"starts_with(appointment_id, '{p}')" for p in RESERVED_ID_PREFIXES)
    db.execute(f"""
        CREATE TEMP TABLE g AS
        SELECT f.*, CASE WHEN trigger IN ('S23', 'S24') THEN 'block:' || appointment_id ELSE appointment_id END AS item_id,
               hl7_version(stamp) AS version, hl7_ts(start_text) AS s, hl7_ts(end_text) AS e,
               NOT hl7_has_offset(start_text) AS s_local, NOT hl7_has_offset(end_text) AS e_local,
               coalesce(nullif(sch_status, ''), t.implied) AS status, list_filter(listed, lambda p: p <> '') AS providers
        FROM f LEFT JOIN (VALUES {triggers}) t(code, implied) ON t.code = f.trigger
        WHERE appointment_id <> '' AND stamp <> ''
          AND (trigger IN ('S23', 'S24') OR NOT ({reserved}))""")  # noqa: S608 - constants only
    statuses, non_blocking = sql_set(STATUSES), sql_set(NON_BLOCKING)
    interval = "(start_text <> '' AND end_text <> '' AND sane(s) AND sane(e) AND s_local = e_local AND e >= s)"
    # one provider, as most messages name, is checked without list_distinct and a lambda; fast_all keeps only
    # the columns fast_events and fast_blocks read: fast_all took 0.066 -> 0.036 CPU-s on the bench's 79k messages
    blocks = (f"({interval} AND CASE WHEN len(providers) = 1 THEN length(providers[1]) <= {ID_MAX} "
              f"ELSE len(providers) > 0 AND len(providers) = len(list_distinct(providers)) "
              f"AND list_bool_and(list_transform(providers, lambda p: length(p) <= {ID_MAX})) END)")
    db.execute(f"""
        CREATE TEMP TABLE fast_all AS
        SELECT pos, item_id, version, trigger, status, providers, s, e, s_local, trigger = 'S23' OR (trigger NOT IN ('S17', 'S24') AND status NOT IN ({non_blocking})) AS blocks
        FROM g WHERE sane(version) AND length(item_id) <= {ID_MAX} AND (
            trigger IN ('S17', 'S24')
            OR (trigger = 'S23' AND {blocks})
            OR (trigger IN ('S12', 'S13', 'S14', 'S15', 'S26') AND status IN ({statuses})
                AND CASE WHEN status IN ({non_blocking}) THEN {interval} ELSE {blocks} END))""")  # noqa: S608 - constants only
    db.execute(f"""
        CREATE TEMP TABLE fast_events AS
        SELECT pos, item_id, version, trigger IN ('S17', 'S24') AS deleted,
               CASE WHEN trigger IN ('S23', 'S24') THEN '{TIMEOFF}' ELSE '{APPOINTMENT}' END AS kind,
               CASE WHEN trigger IN ('S23', 'S24') THEN NULL WHEN trigger = 'S17' THEN 'deleted' ELSE status END AS status, NULL AS tz
        FROM fast_all""")  # noqa: S608 - constants only
    db.execute("""
        CREATE TEMP TABLE fast_blocks AS
        SELECT pos, (generate_subscripts(providers, 1) - 1) AS n, unnest(providers) AS provider_id, NULL AS ref,
               s AS start_ts, e AS end_ts, s_local AS is_local, false AS end_elapsed
        FROM fast_all WHERE blocks""")


# a message holds no line break nor MLLP byte (they part the messages and segments become `\r`): a file of these
# bytes alone holds printable ASCII messages (found in 4 ms for 10 MB)
_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\r\n\x0b\x1c"


def columns(data: bytes, file: str = "", threads: int | None = None) -> Columns | None:
    """Columns of an SIU file (templates are parsed row by row: they are small); None for a file
    that is not UTF-8 as a whole. `threads`: DuckDB's worker threads, as `connect`."""
    if file.lower().endswith(".csv"):
        return None
    data = data.removeprefix(BOM)
    try:  # strict UTF-8 gives `decode`'s very text when it has no undecoded byte, and is quicker to
        # ask than `not_utf8` (79k messages: 0.6 ms, where the search of the decoded text took 30)
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    messages = split_messages(text)
    db = connect(threads)
    try:
        db.register("lines", pa.table({"pos": pa.array(range(1, len(messages) + 1), pa.int64()),
                                        "message": pa.array(messages, pa.string()),
                                        "fp": pa.array([zlib.crc32(m.replace("\r", "\n").strip().encode()) for m in messages], pa.int64())}))
        _fast(db, not data.translate(None, _PRINTABLE))
        slow = Parsed()
        for (pos,) in db.execute("SELECT pos FROM lines ANTI JOIN fast_events USING (pos) ORDER BY pos").fetchall():
            message = messages[pos - 1]
            record(slow, pos, message.replace("\r", "\n"), lambda: _message(message, pos))  # noqa: B023 - called at once
        return merge_columns(db, slow)
    finally:
        db.close()


FORMAT = FeedFormat("hl7", PATTERNS, parse, TEMPLATE_PATTERNS, columns)
