"""hl7: HL7 v2.5 SIU messages (`*.hl7`) and CSV working-hours templates (`*.csv`).

Messages are framed by MLLP (`\\x0b ... \\x1c\\r`) or simply follow one another, each
starting at its MSH segment (newlines, blank lines); segments are separated by `\\r`
(a newline between segments is accepted too).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import re

from halo_platform.availability.feeds.base import (
    APPOINTMENT,
    HOURS,
    NON_BLOCKING,
    TIMEOFF,
    Block,
    Event,
    Hours,
    Invalid,
    Parsed,
    Rejected,
    check_interval,
    check_tz,
    parse_hhmm,
    parse_version,
    weekday_index,
)

PATTERNS = ("*.hl7", "*.csv")
TRIGGERS = {"S12": "booked", "S13": "booked", "S14": "booked", "S15": "cancelled", "S17": "deleted", "S26": "noshow"}
BLOCK_TRIGGERS = {"S23": False, "S24": True}  # trigger -> removes the block
# HL7 table 0278 (filler status codes)
STATUSES = frozenset({"pending", "waitlist", "booked", "started", "complete", "cancelled", "dc", "deleted",
                      "blocked", "overbook", "noshow"})
_TS = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(?:\.\d+)?([+-]\d{4})?$")
_UNITS = {"MIN": 1, "MINUTE": 1, "MINUTES": 1, "HOUR": 60, "HOURS": 60, "HR": 60}


def parse_ts(value: str, what: str) -> tuple[dt.datetime, bool]:
    """`YYYYMMDDHHMM[SS][+/-ZZZZ]` -> (naive UTC instant, False) or (naive local time, True)."""
    parsed = _parse_ts(value)
    if parsed is None:
        raise Invalid(f"invalid {what} {value!r}")
    return parsed


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
    sign = 1 if off[0] == "+" else -1
    return when - sign * dt.timedelta(hours=int(off[1:3]), minutes=int(off[3:5])), False


class _Message:
    def __init__(self, text: str) -> None:
        self.segments: dict[str, list[list[str]]] = {}
        for seg in filter(None, text.split("\r")):
            fields = seg.split("|")
            if fields[0] == "MSH":
                fields.insert(1, "|")  # MSH-1 is the separator itself
            self.segments.setdefault(fields[0], []).append(fields)
        if "MSH" not in self.segments:
            raise Invalid("no MSH segment")

    def all(self, seg: str) -> list[list[str]]:
        return self.segments.get(seg, [])

    def field(self, seg: str, n: int, component: int = 1, fields: list[str] | None = None) -> str:
        if fields is None:
            found = self.segments.get(seg)
            if not found:
                return ""
            fields = found[0]
        if n >= len(fields):
            return ""
        comps = fields[n].split("~")[0].split("^")
        return comps[component - 1].strip() if component <= len(comps) else ""


def _duration(msg: _Message, fields: list[str], seg: str, n: int) -> dt.timedelta:
    amount, unit = msg.field(seg, n, fields=fields), msg.field(seg, n + 1, fields=fields).upper() or "MIN"
    if unit not in _UNITS:
        raise Invalid(f"unknown duration unit {unit!r}")
    try:
        return dt.timedelta(minutes=float(amount) * _UNITS[unit])
    except ValueError:
        raise Invalid(f"invalid duration {amount!r}") from None


def _interval(msg: _Message) -> tuple[dt.datetime, dt.datetime, bool] | None:
    start, end = msg.field("TQ1", 7), msg.field("TQ1", 8)
    if not start:
        start, end = msg.field("SCH", 11, 4), msg.field("SCH", 11, 5)
    if start and end:
        (s, s_local), (e, e_local) = parse_ts(start, "start"), parse_ts(end, "end")
        if s_local != e_local:
            raise Invalid("start and end must both carry an offset or neither")
        check_interval(s, e)
        return s, e, s_local
    for seg, at, dur in (("AIP", 6, 9), ("AIS", 4, 7)):
        for fields in msg.all(seg):
            if msg.field(seg, at, fields=fields):
                s, local = parse_ts(msg.field(seg, at, fields=fields), "start")
                e = s + _duration(msg, fields, seg, dur)
                check_interval(s, e)
                return s, e, local
    return None


def _providers(msg: _Message) -> list[str]:
    found: list[str] = []
    for fields in msg.all("AIP"):
        if len(fields) > 3:
            found.extend(rep.split("^")[0].strip() for rep in fields[3].split("~"))
    return list(dict.fromkeys(p for p in found if p))


def _message(text: str, position: int) -> Event:
    msg = _Message(text)
    trigger = msg.field("MSH", 9, 2).upper()
    appointment_id = msg.field("SCH", 2)
    if not appointment_id:
        raise Invalid("missing SCH-2 filler appointment id")
    stamp = msg.field("MSH", 7)
    if not stamp:
        raise Invalid("missing MSH-7 version")
    version, _ = parse_ts(stamp, "MSH-7")  # an offset-less version is read as UTC
    raw = text.replace("\r", "\n").strip()
    if trigger in BLOCK_TRIGGERS:
        event = Event(f"block:{appointment_id}", version, TIMEOFF, position, raw, deleted=BLOCK_TRIGGERS[trigger])
        if not event.deleted:
            _block(msg, event)
        return event
    if trigger not in TRIGGERS:
        raise Invalid(f"unsupported trigger {trigger or '(none)'!r}")
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
    if not providers:
        raise Invalid("no AIP-3 provider")
    start, end, local = interval
    event.blocks.extend(Block(p, start, end, local=local) for p in providers)


def split_messages(text: str) -> list[tuple[int, str]]:
    """(1-based message number, message text with `\\r` segment separators)."""
    if "\x0b" in text:
        chunks = [c.replace("\x0b", "") for c in text.split("\x1c")]
        chunks = [c.replace("\r\n", "\r").replace("\n", "\r").strip("\r") for c in chunks]
    else:
        normal = text.replace("\r\n", "\r").replace("\n", "\r")
        chunks = re.split(r"\r+(?=MSH\|)", normal)
    return list(enumerate((c.strip("\r") for c in chunks if c.strip()), start=1))


def parse_messages(text: str) -> Parsed:
    out = Parsed()
    for position, message in split_messages(text):
        try:
            out.events.append(_message(message, position))
        except Invalid as exc:
            out.rejected.append(Rejected(position, str(exc), message.replace("\r", "\n")))
    return out


TEMPLATE_HEADER = ["provider_id", "timezone", "weekday", "start", "end", "version"]


def parse_templates(text: str) -> Parsed:
    """Working-hours CSV: each provider's template is its rows carrying its highest version."""
    out = Parsed()
    lines = text.splitlines()
    header = [h.strip().lower() for h in next(csv.reader(lines[:1]), [])]
    if header != TEMPLATE_HEADER:
        out.rejected.append(Rejected(1, f"expected header {','.join(TEMPLATE_HEADER)}", lines[0] if lines else ""))
        return out
    best: dict[str, tuple[dt.datetime, str, list[tuple[int, Hours]], list[str]]] = {}
    for position, row in enumerate(csv.reader(io.StringIO("\n".join(lines[1:]))), start=2):
        raw = lines[position - 1] if position - 1 < len(lines) else ""
        if not row or not "".join(row).strip():
            continue
        try:
            if len(row) != 6:
                raise Invalid(f"expected 6 columns, got {len(row)}")
            provider, tz, weekday, start, end, version = (c.strip() for c in row)
            if not provider:
                raise Invalid("missing provider_id")
            hours = Hours(provider, weekday_index(weekday), parse_hhmm(start), parse_hhmm(end))
            check_tz(tz)
            stamp = parse_version(version)
        except Invalid as exc:
            out.rejected.append(Rejected(position, str(exc), raw))
            continue
        current = best.get(provider)
        if current is None or stamp > current[0]:
            best[provider] = (stamp, tz, [(position, hours)], [raw])
        elif stamp == current[0]:
            current[2].append((position, hours))
            current[3].append(raw)
    for provider, (stamp, tz, rows, raws) in best.items():
        out.events.append(Event(f"hours:{provider}", stamp, HOURS, rows[0][0], "\n".join(raws), tz=tz, hours=[h for _, h in rows]))
    return out


def parse(data: bytes, file: str = "") -> Parsed:
    text = data.decode("utf-8", "replace")
    return parse_templates(text) if file.lower().endswith(".csv") else parse_messages(text)
