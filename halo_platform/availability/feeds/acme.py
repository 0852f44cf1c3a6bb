"""acme: the vendor's JSON lines (appointments, vacations, weekly hours)."""

from __future__ import annotations

import datetime as dt

from halo_platform.availability.feeds.base import (
    APPOINTMENT,
    HOURS,
    TIMEOFF,
    WEEKDAYS,
    Block,
    Event,
    FeedFormat,
    Hours,
    Invalid,
    Parsed,
    after,
    check_tz,
    local_to_utc,
    parse_hhmm,
    parse_json_lines,
    parse_version,
    sane_time,
)

PATTERNS = ("*.jsonl",)
STATUSES = {"booked": "booked", "cancelled": "cancelled"}


def _text(obj: dict, key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise Invalid(f"missing {key}")
    return value


def _appointment(obj: dict, item_id: str, version: dt.datetime, position: int, raw: str) -> Event:
    status = STATUSES.get(str(obj.get("status", "")).lower())
    if status is None:
        raise Invalid(f"unknown status {obj.get('status')!r}")
    provider = _text(obj, "provider")
    tz = check_tz(obj.get("tz"))
    duration = obj.get("duration_min")
    if not isinstance(duration, int) or isinstance(duration, bool) or duration < 0:
        raise Invalid(f"invalid duration_min {duration!r}")
    start_utc = local_to_utc(_text(obj, "start"), tz)
    event = Event(item_id, version, APPOINTMENT, position, raw, status=status, tz=obj["tz"])
    if status == "booked":
        event.blocks.append(Block(provider, start_utc, after(start_utc, duration, "duration_min")))
    return event


def _vacation(obj: dict, item_id: str, version: dt.datetime, position: int, raw: str) -> Event:
    provider = _text(obj, "provider")
    try:
        first = dt.date.fromisoformat(_text(obj, "from_date"))
        last = dt.date.fromisoformat(_text(obj, "to_date"))
    except ValueError:
        raise Invalid("invalid from_date/to_date") from None
    if last < first:
        raise Invalid(f"to_date {last} before from_date {first}")
    start = sane_time(dt.datetime.combine(first, dt.time()), "from_date")
    end = sane_time(dt.datetime.combine(last, dt.time()), "to_date") + dt.timedelta(days=1)
    return Event(item_id, version, TIMEOFF, position, raw, blocks=[Block(provider, start, end, local=True)])


def _hours(obj: dict, version: dt.datetime, position: int, raw: str) -> Event:
    provider = _text(obj, "provider")
    tz = check_tz(obj.get("tz"))
    week = obj.get("week")
    if not isinstance(week, dict):
        raise Invalid("missing week")
    event = Event(f"hours:{provider}", version, HOURS, position, raw, tz=tz)
    for day, intervals in week.items():
        if day not in WEEKDAYS:
            raise Invalid(f"invalid weekday {day!r}")
        if not isinstance(intervals, list):
            raise Invalid(f"invalid intervals for {day}")
        for pair in intervals:
            if not isinstance(pair, list) or len(pair) != 2:
                raise Invalid(f"invalid interval {pair!r} for {day}")
            event.hours.append(Hours(provider, WEEKDAYS.index(day), parse_hhmm(pair[0]), parse_hhmm(pair[1])))
    return event


def _record(obj: object, position: int, raw: str) -> Event:
    if not isinstance(obj, dict):
        raise Invalid("not a JSON object")
    version = parse_version(obj.get("updated_at"), "updated_at")
    kind = obj.get("type")
    if kind == "hours":
        return _hours(obj, version, position, raw)
    if kind not in ("appointment", "vacation"):
        raise Invalid(f"unknown type {kind!r}")
    item_id = f"{kind}:{_text(obj, 'id')}"
    action = obj.get("action")
    if action == "delete":
        return Event(item_id, version, APPOINTMENT if kind == "appointment" else TIMEOFF, position, raw, deleted=True)
    if action != "upsert":
        raise Invalid(f"unknown action {action!r}")
    return (_appointment if kind == "appointment" else _vacation)(obj, item_id, version, position, raw)


def parse(data: bytes, file: str = "") -> Parsed:
    return parse_json_lines(data, _record)


FORMAT = FeedFormat("acme", PATTERNS, parse)
