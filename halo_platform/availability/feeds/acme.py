"""acme: the vendor's JSON lines (appointments, vacations, weekly hours)."""

from __future__ import annotations

import datetime as dt
import re

import duckdb
import pyarrow as pa

from halo_platform.availability.feeds.base import (
    APPOINTMENT,
    HOURS,
    ID_MAX,
    MAX_MINUTES,
    NON_BLOCKING,
    TIMEOFF,
    TZ_MAX,
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
    required_id,
    required_number,
    required_text,
    sane_time,
    sql_set,
    zone,
)
from halo_platform.availability.feeds.columns import Columns, json_lines

PATTERNS = ("*.jsonl",)
# `booked` blocks; `cancelled` and the other statuses emr.md names non-blocking for every feed do not
STATUSES = frozenset({"booked"}) | NON_BLOCKING


def _text(obj: dict, key: str) -> str:
    return required_text(obj.get(key), key)


def _id(obj: dict, key: str) -> str:
    return required_id(obj.get(key), key)


def _appointment(obj: dict, item_id: str, version: dt.datetime, position: int, raw: str) -> Event:
    status = str(obj.get("status", "")).lower()
    if status not in STATUSES:
        raise Invalid(f"unknown status {obj.get('status')!r}")
    provider = _id(obj, "provider")
    tz = check_tz(obj.get("tz"))
    # any JSON number of minutes: 30 and 30.0 are one number, 30.5 half a minute more
    duration = required_number(obj.get("duration_min"), "duration_min")
    if duration < 0:
        raise Invalid(f"duration_min {duration!r} is negative")
    start_utc = local_to_utc(_text(obj, "start"), tz)
    event = Event(item_id, version, APPOINTMENT, position, raw, status=status, tz=obj["tz"])
    if status == "booked":
        event.blocks.append(Block(provider, start_utc, after(start_utc, duration, f"duration_min {duration!r}")))
    return event


# emr.md's dates, as the vectorized path's `iso_date` takes them (ASCII digits: `\d` takes any script's)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


def _date(obj: dict, key: str) -> dt.date:
    """A `YYYY-MM-DD` date. `date.fromisoformat` alone also read ISO week dates (`2026-W49-1`),
    ordinal dates (`2026-335`) and the basic form (`20261201`): a vacation so written was stored."""
    value = _text(obj, key)
    try:
        if _DATE.match(value):
            return dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"invalid {key} {value!r}: no such day") from None
    raise Invalid(f"invalid {key} {value!r}: expected YYYY-MM-DD")


def _vacation(obj: dict, item_id: str, version: dt.datetime, position: int, raw: str) -> Event:
    provider = _id(obj, "provider")
    first, last = _date(obj, "from_date"), _date(obj, "to_date")
    if last < first:
        raise Invalid(f"to_date {last} before from_date {first}")
    start = sane_time(dt.datetime.combine(first, dt.time()), "from_date")
    end = sane_time(dt.datetime.combine(last, dt.time()), "to_date") + dt.timedelta(days=1)
    return Event(item_id, version, TIMEOFF, position, raw, blocks=[Block(provider, start, end, local=True)])


def _hours(obj: dict, version: dt.datetime, position: int, raw: str) -> Event:
    provider = _id(obj, "provider")
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
    item_id = f"{kind}:{_id(obj, 'id')}"
    action = obj.get("action")
    if action == "delete":
        return Event(item_id, version, APPOINTMENT if kind == "appointment" else TIMEOFF, position, raw, deleted=True)
    if action != "upsert":
        raise Invalid(f"unknown action {action!r}")
    return (_appointment if kind == "appointment" else _vacation)(obj, item_id, version, position, raw)


def parse(data: bytes, file: str = "") -> Parsed:
    return parse_json_lines(data, _record)


_FIELDS = ("type", "action", "id", "provider", "start", "duration_min", "tz", "status", "updated_at", "from_date", "to_date")


def _fast(db: duckdb.DuckDBPyConnection) -> None:
    """Appointments, vacations and deletes in their plain shape (the checks of `_record`, as
    expressions); hours and anything unusual are left to `_record`. Local starts become instants
    through `local_to_utc` itself, once per distinct (start, timezone)."""
    # the fields first, in a table of their own, as in fhir._fast: read from a subquery, each was
    # computed again in every expression reading it (1/4 of this step's time)
    db.execute("""
        CREATE TEMP TABLE fields AS
        SELECT pos, text_of(type) AS type, text_of(action) AS action, trimmed(text_of(id)) AS id, text_of(updated_at) AS updated_at,
               trimmed(text_of(provider)) AS provider, text_of(start) AS start, int_of(duration_min) AS duration, text_of(tz) AS tz,
               text_of(status) AS status, text_of(from_date) AS from_date, text_of(to_date) AS to_date
        FROM records""")
    db.execute(f"""
        CREATE TEMP TABLE c AS
        SELECT pos, type, action, type || ':' || id AS item_id, iso_utc(updated_at) AS version,
               CASE WHEN provider <> '' AND length(provider) <= {ID_MAX} THEN provider END AS provider,
               CASE WHEN start <> '' THEN start END AS start, duration,
               CASE WHEN length(tz) <= {TZ_MAX} THEN tz END AS tz, ascii_lower(status) AS status,
               iso_date(from_date) AS first, iso_date(to_date) AS last
        FROM fields
        WHERE type IN ('appointment', 'vacation') AND id <> '' AND length(type || ':' || id) <= {ID_MAX}
          AND action IN ('delete', 'upsert')""")  # noqa: S608 - constants only
    pairs = db.execute("SELECT DISTINCT start, tz FROM c WHERE type = 'appointment' AND action = 'upsert' "
                       "AND start IS NOT NULL AND tz IS NOT NULL").fetchall()
    db.register("starts", pa.table({"start": pa.array([p[0] for p in pairs], pa.string()), "tz": pa.array([p[1] for p in pairs], pa.string()),
                                    "utc": pa.array([_start_or_none(*p) for p in pairs], pa.timestamp("us"))}))
    db.execute(f"""
        CREATE TEMP TABLE fast_all AS
        SELECT c.*, s.utc, s.utc + to_minutes(c.duration) AS finish FROM c LEFT JOIN starts s USING (start, tz)
        WHERE sane(version) AND (
            action = 'delete'
            OR (type = 'appointment' AND status IN ({sql_set(STATUSES)}) AND provider IS NOT NULL AND duration BETWEEN 0 AND {MAX_MINUTES}
                AND sane(s.utc) AND sane(s.utc + to_minutes(c.duration)))
            OR (type = 'vacation' AND provider IS NOT NULL AND last >= first AND sane(first::TIMESTAMP) AND sane(last::TIMESTAMP + INTERVAL 1 DAY)))""")  # noqa: S608
    db.execute(f"""
        CREATE TEMP TABLE fast_events AS
        SELECT pos, item_id, version, action = 'delete' AS deleted,
               CASE WHEN type = 'appointment' THEN '{APPOINTMENT}' ELSE '{TIMEOFF}' END AS kind,
               CASE WHEN type = 'appointment' AND action = 'upsert' THEN status END AS status,
               CASE WHEN type = 'appointment' AND action = 'upsert' THEN tz END AS tz
        FROM fast_all""")  # noqa: S608 - constants only
    db.execute("""
        CREATE TEMP TABLE fast_blocks AS
        SELECT pos, 0 AS n, provider AS provider_id, NULL AS ref, utc AS start_ts, finish AS end_ts, false AS is_local, false AS end_elapsed
        FROM fast_all WHERE action = 'upsert' AND type = 'appointment' AND status = 'booked'
        UNION ALL
        SELECT pos, 0, provider, NULL, first::TIMESTAMP, last::TIMESTAMP + INTERVAL 1 DAY, true, false
        FROM fast_all WHERE action = 'upsert' AND type = 'vacation'""")


def _start_or_none(start: str, tz: str) -> dt.datetime | None:
    try:
        zone(tz)
        return local_to_utc(start, tz)
    except Invalid:
        return None


def columns(data: bytes, file: str = "", threads: int | None = None) -> Columns | None:
    return json_lines(data, _FIELDS, _fast, _record, threads)


FORMAT = FeedFormat("acme", PATTERNS, parse, columns=columns)
