"""The normalized event every adapter produces, and the helpers adapters share.

An adapter is a pure function `parse(data: bytes, file: str) -> Parsed`: no store,
no Dagster, no clock. Bad records become `Rejected(position, reason, raw)`; nothing raises.

Intervals are either instants (`local=False`, naive UTC) or provider-local wall
times (`local=True`, resolved later with the provider's timezone, which may only be
known from another record such as an HL7 working-hours template).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zlib
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

APPOINTMENT = "appointment"
TIMEOFF = "timeoff"
HOURS = "hours"
ROLE = "role"
SCHEDULE = "schedule"
SLOT = "slot"

# An appointment blocks time unless its status is one of these (spec, case-insensitive).
NON_BLOCKING = frozenset({"cancelled", "deleted", "entered-in-error", "noshow", "waitlist", "proposed", "dc"})
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Invalid(ValueError):
    """A record that cannot be applied; the message is the quarantine reason."""


@dataclass(slots=True)
class Block:
    """Time a provider is unavailable. `provider_id` None + `ref` set: a FHIR Slot whose
    providers are the actors of Schedule `ref`; `start` None: a Schedule membership row."""

    provider_id: str | None
    start: dt.datetime | None
    end: dt.datetime | None
    local: bool = False
    ref: str | None = None


@dataclass(slots=True)
class Hours:
    """One weekly working interval, minutes from local midnight; end <= start runs past midnight."""

    provider_id: str
    weekday: int
    start_minute: int
    end_minute: int


@dataclass(slots=True)
class Event:
    item_id: str
    version: dt.datetime  # naive UTC
    kind: str
    position: int
    raw: str
    deleted: bool = False
    status: str | None = None
    tz: str | None = None
    blocks: list[Block] = field(default_factory=list)
    hours: list[Hours] = field(default_factory=list)

    @property
    def fingerprint(self) -> int:
        """Deterministic tie-break between two events carrying the same version, so the
        winner never depends on arrival order."""
        return zlib.crc32(self.raw.encode())


@dataclass(slots=True)
class Rejected:
    position: int
    reason: str
    raw: str


@dataclass(slots=True)
class Parsed:
    events: list[Event] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


@functools.lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except Exception:  # noqa: BLE001 - any failure means "not a usable IANA zone"
        return None


def zone(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not name or name.startswith(("/", ".")) or _zone(name) is None:
        raise Invalid(f"unknown timezone {name!r}")
    return _zone(name)


def check_tz(name: object) -> str:
    zone(name)
    return name  # type: ignore[return-value]


def utc_naive(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def parse_version(value: object, what: str = "version") -> dt.datetime:
    """An ISO-8601 timestamp; without an offset it is read as UTC."""
    if not isinstance(value, str) or not value:
        raise Invalid(f"missing {what}")
    try:
        if value[-1] == "Z" and "+" not in value:  # the common case, without the tz round trip
            return dt.datetime.fromisoformat(value[:-1])
        return utc_naive(dt.datetime.fromisoformat(value))
    except ValueError:
        raise Invalid(f"invalid {what} {value!r}") from None


@functools.lru_cache(maxsize=200_000)
def local_to_utc(value: str, tz: str) -> dt.datetime:
    """An ISO-8601 wall time in `tz` (fold=0) -> naive UTC; an explicit offset wins.
    Cached: appointment starts repeat (clinic grids), the conversion is the costly part."""
    try:
        start = dt.datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"invalid start {value!r}") from None
    return utc_naive(start if start.tzinfo else start.replace(tzinfo=zone(tz)))


_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def parse_hhmm(value: object) -> int:
    """`HH:MM` -> minutes from midnight; `24:00` is midnight at the end of the day."""
    m = _HHMM.match(value) if isinstance(value, str) else None
    if not m or (m.group(1) == "24" and m.group(2) != "00"):
        raise Invalid(f"invalid time of day {value!r}")
    return (int(m.group(1)) * 60 + int(m.group(2))) % 1440


def check_interval(start: dt.datetime, end: dt.datetime) -> None:
    if end < start:
        raise Invalid(f"end {end.isoformat()} before start {start.isoformat()}")


def weekday_index(value: object) -> int:
    key = value.strip().lower()[:3] if isinstance(value, str) else None
    if key not in WEEKDAYS or value.strip().lower() not in (key, *_LONG_DAYS.get(key, ())):
        raise Invalid(f"invalid weekday {value!r}")
    return WEEKDAYS.index(key)


_LONG_DAYS = {"mon": ("monday",), "tue": ("tuesday",), "wed": ("wednesday",), "thu": ("thursday",),
              "fri": ("friday",), "sat": ("saturday",), "sun": ("sunday",)}


def parse_json_lines(data: bytes, record) -> Parsed:  # noqa: ANN001 - record(obj, position, raw) -> Event
    """One JSON value per line; blank lines skipped; position = 1-based line number."""
    import orjson

    out = Parsed()
    for position, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        raw = line.decode("utf-8", "replace").rstrip("\r")
        try:
            out.events.append(record(orjson.loads(line), position, raw))
        except orjson.JSONDecodeError as exc:
            out.rejected.append(Rejected(position, f"unparsable JSON: {exc}", raw))
        except Invalid as exc:
            out.rejected.append(Rejected(position, str(exc), raw))
    return out
