"""fhir: FHIR R4 resources, one JSON resource per line (PractitionerRole, Appointment, Schedule, Slot)."""

from __future__ import annotations

import datetime as dt
import re
from fractions import Fraction

import duckdb

from halo_platform.availability.feeds.base import (
    APPOINTMENT,
    EARLIEST,
    ID_MAX,
    LATEST,
    ROLE,
    SCHEDULE,
    SLOT,
    WEEKDAYS,
    WHITESPACE,
    Block,
    Event,
    FeedFormat,
    Hours,
    Invalid,
    Parsed,
    check_interval,
    check_tz,
    parse_json_lines,
    parse_version,
    required_id,
    required_text,
    sane_time,
    sql_set,
    utc_naive,
)
from halo_platform.availability.feeds.columns import Columns, json_lines

PATTERNS = ("*.ndjson",)
TIMEZONE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/timezone"
APPOINTMENT_STATUSES = frozenset({"proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow",
                                  "entered-in-error", "checked-in", "waitlist"})
SLOT_STATUSES = frozenset({"busy", "free", "busy-unavailable", "busy-tentative", "entered-in-error"})
_BLOCKING_APPOINTMENT = APPOINTMENT_STATUSES - {"cancelled", "noshow", "entered-in-error", "waitlist", "proposed"}
# a FHIR `time` (HH:MM:SS, a fraction of a second, a leap second); HH:MM and 24:00 as the other feeds write them
_TIME = re.compile(r"^(?:([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]|60)(\.[0-9]{1,9})?)?|24:00(?::00)?)\Z")  # ASCII digits only
# a FHIR date, whole or partial: YYYY, YYYY-MM, YYYY-MM-DD (a dateTime may be any of them)
_DATE = re.compile(r"^[0-9]{4}(?:-[0-9]{2}(?:-[0-9]{2})?)?\Z")


def _relative(reference: str) -> str:
    """A reference as `Type/id`: without its version (`Practitioner/P1/_history/2` names
    Practitioner P1) and, written as an absolute URL (`https://emr.example/fhir/Practitioner/P1`,
    the feed's server's own resource), without its base."""
    reference = reference.split("/_history/", 1)[0]
    if reference.startswith(("https://", "http://")):
        return "/".join(reference.rsplit("/", 2)[-2:])
    return reference


def _referenced(reference: object, resource_type: str) -> str | None:
    """The id a reference to a `resource_type` names, trimmed as every id (`Practitioner/ P1 `
    names P1, as `required_id`); None when it refers to something else."""
    if isinstance(reference, str) and (relative := _relative(reference.strip(WHITESPACE))).startswith(f"{resource_type}/"):
        return relative[len(resource_type) + 1:].strip(WHITESPACE)
    return None


def _practitioner(reference: object) -> str | None:
    return _referenced(reference, "Practitioner") or None


def partial_date(text: str) -> tuple[dt.date, int]:
    """A FHIR date, YYYY, YYYY-MM or YYYY-MM-DD -> (its first day, how many parts it has)."""
    parts = [int(part) for part in text.split("-")]
    return dt.date(*parts, *[1] * (3 - len(parts))), len(parts)


def day_after(first: dt.date, parts: int) -> dt.date:
    """The day after the last of the days a date of `parts` parts starting on `first` names."""
    if parts == 3:
        return first + dt.timedelta(days=1)
    return (first + dt.timedelta(days=31)).replace(day=1) if parts == 2 else first.replace(year=first.year + 1)


def _days(value: str) -> tuple[dt.datetime, dt.datetime] | None:
    """The local [first, after the last) of the days a FHIR date names (2027 is the year, 2027-01
    January, 2027-01-04 that day); None for a value that is no date."""
    if not _DATE.match(value):
        return None
    first, parts = partial_date(value)
    return dt.datetime.combine(first, dt.time()), dt.datetime.combine(day_after(first, parts), dt.time())


def _when(value: object, what: str, *, local_ok: bool) -> tuple[dt.datetime, bool]:
    """(naive instant or wall time, is_local). FHIR instants carry an offset; a `dateTime`
    without one (or a date, whole or partial: its first midnight) is provider-local where `local_ok`."""
    value = required_text(value, what)
    try:
        days = _days(value)
        parsed = days[0] if days else dt.datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        raise Invalid(f"invalid {what} {value!r}") from None
    if parsed.tzinfo is not None:
        return sane_time(utc_naive(parsed, what), what), False
    if not local_ok:
        raise Invalid(f"{what} {value!r} has no timezone offset")
    return sane_time(parsed, what), True


def _interval(period: dict, who: str | None, *, local_ok: bool, ongoing: bool = False) -> Block:
    """`ongoing`: a Period missing one of its ends runs on that way (FHIR R4 Period: "If the end of
    the period is missing, it means that the period is ongoing"), to the edge of the calendar."""
    start_value, end_value = period.get("start"), period.get("end")
    open_start = ongoing and start_value is None and end_value is not None
    open_end = ongoing and end_value is None and start_value is not None
    if not open_start:
        start, start_local = _when(start_value, "start", local_ok=local_ok)
    if not open_end:
        end, end_local = _when(end_value, "end", local_ok=local_ok)
        if isinstance(end_value, str) and (days := _days(end_value)):
            end = sane_time(days[1], "end")  # a date end covers the whole day, month or year it names
    if open_start:
        start, start_local = EARLIEST, end_local
    if open_end:
        end, end_local = LATEST, start_local
    if start_local != end_local:
        raise Invalid("start and end must both carry an offset or neither")
    check_interval(start, end)
    return Block(who, start, end, local=start_local)


def _seconds(value: object) -> int | Fraction:
    """A FHIR `time` -> seconds from local midnight, exactly (24:00 is the midnight that starts a day, as in `parse_hhmm`):
    an int, a Fraction only for a fraction of a second (made for every time, the Fractions were most of a role's parsing)."""
    m = _TIME.match(value) if isinstance(value, str) else None
    if not m:
        raise Invalid(f"invalid time of day {value!r}")
    if m.group(1) is None:
        return 0
    whole = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3) or 0)
    return whole + Fraction(m.group(4)) if m.group(4) else whole


def _working_minutes(start: int | Fraction, end: int | Fraction) -> tuple[int, int] | None:
    """The working hours [start, end) given to the second, as the whole minutes they hold (the
    hours are kept in minutes): the start rounded up, the end down, so that no moment outside
    the role's hours is ever offered (08:00:30-17:00:00 is 08:01-17:00); None when no whole
    minute is left. An end not after the start runs past midnight, as in every feed."""
    first = -(-start // 60)  # rounded up, exactly
    last = (end + (86400 if end <= start else 0)) // 60
    if last <= first:
        return None
    return first % 1440, last % 1440


def _boolean(value: object, what: str, absent: bool) -> bool:
    """A FHIR boolean, `absent` when missing or null. Anything else is no answer: read for its
    truth, `"allDay": "false"` made the provider work 24 hours a day."""
    if value is None:
        return absent
    if not isinstance(value, bool):
        raise Invalid(f"{what} is not a boolean: {value!r}")
    return value


def _role(res: dict, event: Event) -> Event:
    provider = _practitioner((res.get("practitioner") or {}).get("reference"))
    if provider is None:
        raise Invalid("missing practitioner.reference Practitioner/<id>")
    tz = next((e.get("valueCode") for e in res.get("extension") or [] if isinstance(e, dict) and e.get("url") == TIMEZONE_EXTENSION), None)
    available = res.get("availableTime") or []
    if tz is None and available:
        raise Invalid("missing timezone extension")
    event.tz = check_tz(tz) if tz is not None else None
    if not _boolean(res.get("active"), "active", absent=True):
        return event
    for slot in available:
        days = slot.get("daysOfWeek") or []
        if not isinstance(days, list):  # a string or an object would be read letter by letter, key by key
            raise Invalid(f"daysOfWeek is not a list: {days!r}")
        if _boolean(slot.get("allDay"), "allDay", absent=False):
            minutes = (0, 0)
        else:
            minutes = _working_minutes(_seconds(slot.get("availableStartTime")), _seconds(slot.get("availableEndTime")))
        for day in days:
            if day not in WEEKDAYS:
                raise Invalid(f"invalid daysOfWeek {day!r}")
            if minutes is not None:
                event.hours.append(Hours(provider, WEEKDAYS.index(day), *minutes))
    for absence in res.get("notAvailable") or []:
        if not isinstance(absence, dict):
            raise Invalid("notAvailable is not an object")
        during = absence.get("during")
        if during is None:
            continue  # a description alone (FHIR's required part): no time it blocks
        if not isinstance(during, dict):
            raise Invalid("notAvailable.during is not a Period")
        event.blocks.append(_interval(during, provider, local_ok=True, ongoing=True))
    return event


def _names_another_resource(reference: object) -> bool:
    """Whether a participant's reference names a resource other than a Practitioner (`Patient/X`,
    `Location/ROOM1`), or a resource the appointment contains (`#locum`, FHIR's local reference: a
    Practitioner of its own, no `Practitioner/<id>`): an actor the appointment may list instead of
    any Practitioner."""
    if not isinstance(reference, str):
        return False
    reference = reference.strip(WHITESPACE)
    if reference.startswith("#"):
        return reference[1:].strip(WHITESPACE) != ""
    resource_type, _, rid = _relative(reference).partition("/")
    return resource_type != "Practitioner" and rid.strip(WHITESPACE) != ""


def _appointment(res: dict, event: Event) -> Event:
    status = str(res.get("status", "")).lower()
    if status not in APPOINTMENT_STATUSES:
        raise Invalid(f"unknown status {res.get('status')!r}")
    event.status = status
    references = [(part.get("actor") or {}).get("reference") for part in res.get("participant") or []]
    providers = [p for p in map(_practitioner, references) if p]
    if status not in _BLOCKING_APPOINTMENT:
        if res.get("start") is not None or res.get("end") is not None:
            _interval(res, None, local_ok=False)  # blocks nothing, yet a malformed interval is a malformed appointment
        return event
    # An appointment of other actors alone (a room, the patient) blocks no Practitioner, yet is a
    # version of its item: quarantined, the older version listing a Practitioner kept them blocked.
    # One naming no actor (none listed, or `Practitioner/ `) is malformed.
    if not providers and not any(map(_names_another_resource, references)):
        raise Invalid("no Practitioner participant")
    block = _interval(res, None, local_ok=False)
    event.blocks.extend(Block(p, block.start, block.end) for p in dict.fromkeys(providers))
    return event


def _schedule(res: dict, event: Event) -> Event:
    listed = res.get("actor") or []
    if not isinstance(listed, list):  # an object or a string was read as no actor: the Schedule emptied
        raise Invalid(f"actor is not a list: {listed!r}")
    actors = [p for p in (_practitioner(a.get("reference")) for a in listed) if p]  # an actor not a Reference: malformed
    event.blocks.extend(Block(p, None, None) for p in dict.fromkeys(actors))
    return event


def _slot(res: dict, event: Event) -> Event:
    status = str(res.get("status", "")).lower()
    if status not in SLOT_STATUSES:
        raise Invalid(f"unknown status {res.get('status')!r}")
    event.status = status
    schedule = _referenced((res.get("schedule") or {}).get("reference"), "Schedule")
    if not schedule:  # `Schedule/ ` names no Schedule
        raise Invalid("missing schedule.reference Schedule/<id>")
    ref = f"Schedule/{schedule}"
    block = _interval(res, None, local_ok=False)
    if status == "busy-unavailable":
        event.blocks.append(Block(None, block.start, block.end, ref=ref))
    return event


KINDS = {"PractitionerRole": (ROLE, _role), "Appointment": (APPOINTMENT, _appointment),
         "Schedule": (SCHEDULE, _schedule), "Slot": (SLOT, _slot)}


def _record(res: object, position: int, raw: str) -> Event:
    if not isinstance(res, dict):
        raise Invalid("not a JSON object")
    resource_type = res.get("resourceType")
    kind = KINDS.get(resource_type) if isinstance(resource_type, str) else None
    if kind is None:
        raise Invalid(f"unsupported resourceType {resource_type!r}")
    rid = required_id(res.get("id"), "id")
    meta = res.get("meta")
    version = parse_version(meta.get("lastUpdated") if isinstance(meta, dict) else None, "meta.lastUpdated")
    try:
        return kind[1](res, Event(f"{res['resourceType']}/{rid}", version, kind[0], position, raw))
    except (AttributeError, TypeError):
        raise Invalid(f"malformed {res['resourceType']}") from None


def parse(data: bytes, file: str = "") -> Parsed:
    return parse_json_lines(data, _record)


_FIELDS = ("resourceType", "id", "meta", "status", "start", "end", "schedule", "participant")
_NOT_BLOCKING = APPOINTMENT_STATUSES - _BLOCKING_APPOINTMENT


def _fast(db: duckdb.DuckDBPyConnection) -> None:
    """Appointments (one participant, or none when not blocking) and Slots in their plain shape:
    the checks of `_record`, as expressions; every other resource is left to `_record`."""
    # the fields first, in a table of their own: in one query DuckDB inlined them into each expression
    # that reads them, and computed each as many times (1M events: 0.7 s a file for this step, 0.3 s)
    db.execute("""
        CREATE TEMP TABLE fields AS
        SELECT pos, text_of(resourceType) AS resource_type, trimmed(text_of(id)) AS id, ascii_lower(text_of(status)) AS status,
               coalesce(text_between(meta, '{"lastUpdated":"', '"}'),
                        CASE WHEN json_type(meta) = 'OBJECT' AND unique_keys(json_keys(meta)) THEN text_of(meta -> '$.lastUpdated') END) AS updated,
               text_of(start) AS start_at, text_of("end") AS end_at,
               coalesce(start, 'null') = 'null' AND coalesce("end", 'null') = 'null' AS no_times,
               CASE WHEN json_type(schedule) = 'OBJECT' AND unique_keys(json_keys(schedule))
                    THEN trimmed(text_of(schedule -> '$.reference')) END AS schedule_ref,
               participant IS NULL OR json_type(participant) = 'NULL' OR participant = '[]' AS no_participant,
               trimmed(coalesce(text_between(participant, '[{"actor":{"reference":"', '"}}]'),
                        CASE WHEN json_type(participant, ['$', '$[0]', '$[0].actor']) = ['ARRAY', 'OBJECT', 'OBJECT']
                              AND json_array_length(participant) = 1
                              AND list_bool_and(list_transform(json_keys(participant, ['$[0]', '$[0].actor']), lambda k: unique_keys(k)))
                             THEN text_of(participant -> '$[0].actor.reference') END)) AS reference
        FROM records""")
    db.execute(f"""
        CREATE TEMP TABLE c AS
        SELECT pos, resource_type, id, status, no_participant, reference, no_times,
               CASE WHEN starts_with(schedule_ref, 'Schedule/') AND NOT contains(schedule_ref[10:], '/')
                         AND trimmed(schedule_ref[10:]) <> '' THEN 'Schedule/' || trimmed(schedule_ref[10:]) END AS schedule_ref,
               resource_type || '/' || id AS item_id, iso_utc(updated) AS version,
               CASE WHEN has_offset(start_at) THEN iso_utc(start_at) END AS s,
               CASE WHEN has_offset(end_at) THEN iso_utc(end_at) END AS e,
               CASE WHEN starts_with(reference, 'Practitioner/') AND NOT contains(reference[14:], '/') AND trimmed(reference[14:]) <> ''
                    THEN trimmed(reference[14:]) END AS provider
        FROM fields
        WHERE resource_type IN ('Appointment', 'Slot') AND id <> '' AND length(resource_type || '/' || id) <= {ID_MAX}""")  # noqa: S608
    interval_ok = "sane(s) AND sane(e) AND e >= s"
    db.execute(f"""
        CREATE TEMP TABLE fast_all AS SELECT * FROM c
        WHERE sane(version) AND (
            (resource_type = 'Appointment' AND status IN ({sql_set(_NOT_BLOCKING)}) AND (no_participant OR reference IS NOT NULL)
                AND (no_times OR {interval_ok}))
            OR (resource_type = 'Appointment' AND status IN ({sql_set(_BLOCKING_APPOINTMENT)}) AND provider IS NOT NULL
                AND length(provider) <= {ID_MAX} AND {interval_ok})
            OR (resource_type = 'Slot' AND status IN ({sql_set(SLOT_STATUSES)}) AND schedule_ref IS NOT NULL
                AND length(schedule_ref) <= {ID_MAX} AND {interval_ok}))""")  # noqa: S608 - constants only
    db.execute(f"""
        CREATE TEMP TABLE fast_events AS
        SELECT pos, item_id, version, false AS deleted,
               CASE WHEN resource_type = 'Appointment' THEN '{APPOINTMENT}' ELSE '{SLOT}' END AS kind, status, NULL AS tz
        FROM fast_all""")  # noqa: S608 - constants only
    db.execute(f"""
        CREATE TEMP TABLE fast_blocks AS
        SELECT pos, 0 AS n, provider AS provider_id, NULL AS ref, s AS start_ts, e AS end_ts, false AS is_local, false AS end_elapsed
        FROM fast_all WHERE resource_type = 'Appointment' AND status IN ({sql_set(_BLOCKING_APPOINTMENT)})
        UNION ALL
        SELECT pos, 0, NULL, schedule_ref, s, e, false, false FROM fast_all WHERE resource_type = 'Slot' AND status = 'busy-unavailable'""")  # noqa: S608


def columns(data: bytes, file: str = "", threads: int | None = None) -> Columns | None:
    return json_lines(data, _FIELDS, _fast, _record, threads)


FORMAT = FeedFormat("fhir", PATTERNS, parse, columns=columns)
