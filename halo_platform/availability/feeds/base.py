"""The normalized event every adapter produces, and the helpers adapters share.

An adapter is a pure function `parse(data: bytes, file: str) -> Parsed`: no store,
no Dagster, no clock. Bad records become `Rejected(position, reason, raw)`; nothing raises,
whatever the bytes. Every event leaves through `record()`, which quarantines what the store
could not hold or what would overflow downstream date arithmetic:
- instants and wall times outside years 1900..2200 (after offset conversion): far enough
  from `datetime.min`/`max` that planning dates, resolving timezones and the store's
  DATETIME columns can never overflow, wide enough for any real calendar;
- ids, statuses and timezones longer than their store columns, or carrying NUL (which
  PostgreSQL text cannot hold).
A UTF-8 byte order mark is ignored; a line or message that is not UTF-8 is quarantined
with its bytes escaped (`\\xe9`), never stored mangled.

Intervals are either instants (`local=False`, naive UTC) or provider-local wall
times (`local=True`, resolved later with the provider's timezone, which may only be
known from another record such as an HL7 working-hours template).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from halo_platform.core.text import within_bytes
from halo_platform.core.timezones import iana_zone

APPOINTMENT = "appointment"
TIMEOFF = "timeoff"
HOURS = "hours"
ROLE = "role"
SCHEDULE = "schedule"
SLOT = "slot"

# An appointment blocks time unless its status is one of these (spec, case-insensitive).
NON_BLOCKING = frozenset({"cancelled", "deleted", "entered-in-error", "noshow", "waitlist", "proposed", "dc"})


def sql_set(values: frozenset[str]) -> str:
    """Constant words (statuses) as the list of an SQL `IN (...)`."""
    return ", ".join(f"'{v}'" for v in sorted(values))

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

EARLIEST, LATEST = dt.datetime(1900, 1, 1), dt.datetime(2201, 1, 1)
SANE_YEARS = "1900..2200"
# Longest duration worth reading: any longer one ends past LATEST whatever its start.
MAX_MINUTES = (LATEST - EARLIEST) // dt.timedelta(minutes=1)
# String column sizes of availability/tables.py (a test pins them): a longer value cannot be stored.
ID_MAX, TZ_MAX, STATUS_MAX = 255, 64, 32
BOM = b"\xef\xbb\xbf"


class Invalid(ValueError):
    """A record that cannot be applied; the message is the quarantine reason."""


class Huge(float):
    """A JSON number beyond a double's range (JSON sets no limit), read as infinity and shown as written."""

    __slots__ = ("text",)

    def __new__(cls, text: str) -> Huge:
        number = super().__new__(cls, text)
        number.text = text
        return number

    def __repr__(self) -> str:
        return written(self.text)


def written(text: str) -> str:
    """A value as a reason quotes it: as written, a long one shortened."""
    return text if len(text) <= 24 else f"{text[:12]}... ({len(text)} characters)"


_JSON_TYPES = {bool: "true or false", int: "a number", float: "a number", Huge: "a number", str: "text", list: "a list",
               dict: "an object"}


def required_text(value: object, what: str) -> str:
    """`value` as non-empty text; else Invalid saying `what` is missing (absent, null or empty) or
    is not text (`"id": 2` read "missing id", which sends a reader looking for a field that is there)."""
    if isinstance(value, str) and value:
        return value
    if value is None or value == "":
        raise Invalid(f"missing {what}")
    raise Invalid(f"{what} must be text, got {_JSON_TYPES.get(type(value), type(value).__name__)}")


def required_number(value: object, what: str) -> float:
    """`value` as a JSON number; else Invalid saying `what` is missing or is not a number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if value is None:
        raise Invalid(f"missing {what}")
    raise Invalid(f"{what} must be a number, got {_JSON_TYPES.get(type(value), type(value).__name__)}")


# Every character Python's `str.strip` removes (`str.isspace`; a test pins the list): the
# vectorized path trims ids with exactly these (`trimmed` in feeds/columns.py).
WHITESPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def required_id(value: object, what: str) -> str:
    """An id (a provider, an item) as `required_text`, trimmed as HL7's fields are and as every
    route reads the provider id it is given: `" D1"` is D1; one blank once trimmed is missing."""
    return required_text(value.strip(WHITESPACE) if isinstance(value, str) else value, what)


@dataclass(slots=True)
class Block:
    """Time a provider is unavailable. `provider_id` None + `ref` set: a FHIR Slot whose
    providers are the actors of Schedule `ref`; `start` None: a Schedule membership row.
    `elapsed` (local blocks): a local start plus a duration, so the end is the start's instant
    plus `end - start`, not the wall time `end` (which a DST change in between would move)."""

    provider_id: str | None
    start: dt.datetime | None
    end: dt.datetime | None
    local: bool = False
    ref: str | None = None
    elapsed: bool = False


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

    def __post_init__(self) -> None:
        # The quarantine table must be able to hold whatever was rejected.
        self.reason, self.raw = quarantinable(self.reason), quarantinable(self.raw)


@dataclass(slots=True)
class Parsed:
    events: list[Event] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


@dataclass(eq=False)
class FeedFormat:
    """A feed format, declared once by its module: the name feeds give it (`kind`), the
    landing-file globs it takes, its parser, and the globs of files whose working-hours rows
    of one version add up across files instead of replacing each other."""

    kind: str
    patterns: tuple[str, ...]
    parse: Callable[[bytes, str], Parsed]
    template_patterns: tuple[str, ...] = ()
    columns: Callable[[bytes, str, int | None], object] | None = None  # the columnar reader of `feeds.columns` (data, file, DuckDB threads), when the format has one


def zone(name: object) -> ZoneInfo:
    """The IANA zone `name` names, as every field taking a zone reads it (ZoneInfo alone also opened
    `Factory`, the host's `localtime` and the `right/` and `posix/` builds of its zone folder)."""
    found = iana_zone(name)
    if found is None:
        raise Invalid(f"unknown timezone {name!r}")
    return found


def check_tz(name: object) -> str:
    zone(name)
    return name  # type: ignore[return-value]


def utc_naive(value: dt.datetime, what: str = "time") -> dt.datetime:
    """Naive UTC; an aware time at the edge of the calendar (year 1 east of UTC) is Invalid."""
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    except OverflowError:
        raise Invalid(f"{what} {value.isoformat()} outside years {SANE_YEARS}") from None


def sane_time(value: dt.datetime, what: str) -> dt.datetime:
    if not EARLIEST <= value <= LATEST:
        raise Invalid(f"{what} {value.isoformat()} outside years {SANE_YEARS}")
    return value


def after(start: dt.datetime, minutes: float, what: str) -> dt.datetime:
    """`start` plus a duration in minutes; one that cannot end inside the sane range is Invalid.
    `what`: the field and its value, as the reason names them."""
    if not -MAX_MINUTES <= minutes <= MAX_MINUTES:  # also false for NaN
        raise Invalid(f"{what} out of range: longer than the {MAX_MINUTES:,} minutes of years {SANE_YEARS}")
    return start + dt.timedelta(minutes=minutes)


def parse_version(value: object, what: str = "version") -> dt.datetime:
    """An ISO-8601 timestamp; without an offset it is read as UTC."""
    value = required_text(value, what)
    try:
        if value[-1] == "Z":  # the common case, without the tz round trip
            parsed = dt.datetime.fromisoformat(value[:-1])
            if parsed.tzinfo is not None:  # an offset followed by Z
                raise ValueError
            return parsed
        return utc_naive(dt.datetime.fromisoformat(value), what)
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
    return utc_naive(start if start.tzinfo else start.replace(tzinfo=zone(tz)), "start")


_HHMM = re.compile(r"^([01][0-9]|2[0-4]):([0-5][0-9])\Z")  # ASCII digits: `\d` takes any script's, and int() reads them


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


def _storable(value: str | None, what: str, longest: int) -> None:
    if value is None:
        return
    if len(value) > longest:
        raise Invalid(f"{what} longer than {longest} characters")
    if "\x00" in value:
        raise Invalid(f"{what} {value!r} contains NUL")


def sane(event: Event) -> Event:
    """The event itself when the store can hold it and its times are in the sane range."""
    _storable(event.item_id, "item id", ID_MAX)
    _storable(event.status, "status", STATUS_MAX)
    _storable(event.tz, "timezone", TZ_MAX)
    sane_time(event.version, "version")
    for block in event.blocks:
        _storable(block.provider_id, "provider id", ID_MAX)
        _storable(block.ref, "reference", ID_MAX)
        if block.start is not None:
            sane_time(block.start, "start")
        if block.end is not None:
            sane_time(block.end, "end")
    return event


def record(out: Parsed, position: int, raw: str, build: Callable[[], Event]) -> None:
    """Add the event `build()` makes, or quarantine the record with the reason it is unusable."""
    try:
        out.events.append(sane(build()))
    except Invalid as exc:
        out.rejected.append(Rejected(position, str(exc), raw))
    except Exception as exc:  # noqa: BLE001 - a parser bug must cost one record, never the batch; tests assert none happen
        out.rejected.append(Rejected(position, f"{UNEXPECTED} {type(exc).__name__}: {exc}", raw))


UNEXPECTED = "unreadable record:"
NOT_STORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL (PostgreSQL text cannot hold it), lone surrogates (not UTF-8)


def storable_text(text: str) -> str:
    """`text` with what a text column cannot hold escaped: NUL, and the bytes that were not
    UTF-8 (decoded as lone surrogates by `decode`) as `\\xNN`."""
    if not NOT_STORABLE.search(text):
        return text
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that never was a byte (from a JSON escape)
        data = text.encode("utf-8", "backslashreplace")
    return data.decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


def quarantinable(text: str) -> str:
    """`text` as every store's quarantine can hold it: `storable_text`, cut to the 65,535 bytes of
    UTF-8 MariaDB's TEXT columns hold (`within_bytes`: a longer record or a reason quoting a long
    value failed the whole file's write), with a note of its whole length. Nothing is lost: the
    whole record stays in its landed file (never modified), at its position."""
    return within_bytes(storable_text(text))


def decode(data: bytes) -> str:
    """Text of a landed file: a leading BOM dropped; bytes that are not UTF-8 kept as lone
    surrogates, so the record holding them can be found (`not_utf8`) and quarantined."""
    return data.removeprefix(BOM).decode("utf-8", "surrogateescape")


_UNDECODED = re.compile("[\udc80-\udcff]")
NOT_UTF8 = "not valid UTF-8 text"


def not_utf8(text: str) -> bool:
    """Whether `decode` met bytes that are not UTF-8 in `text`."""
    return _UNDECODED.search(text) is not None


def parse_json_lines(data: bytes, build: Callable[[object, int, str], Event]) -> Parsed:
    """One JSON value per line; blank lines skipped; position = 1-based line number."""
    out = Parsed()
    for position, line in enumerate(data.split(b"\n"), start=1):
        json_line(out, position, line, build)
    return out


def json_line(out: Parsed, position: int, line: bytes, build: Callable[[object, int, str], Event]) -> None:
    """Add the event of one line of a JSON-lines file to `out`, or its rejection. A BOM starting
    the line is ignored, the file's as any other (files saved with one, then concatenated: orjson
    refused the line)."""
    line = line.removeprefix(BOM)
    if not line.strip():
        return
    try:
        raw = line.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        out.rejected.append(Rejected(position, NOT_UTF8, line.decode("utf-8", "surrogateescape").rstrip("\r")))
        return
    try:
        obj = _loads(line)
    except (ValueError, RecursionError) as exc:  # orjson's JSONDecodeError is a ValueError; the standard reader recurses
        out.rejected.append(Rejected(position, f"unparsable JSON: {exc}", raw))
        return
    record(out, position, raw, lambda: build(obj, position, raw))


def _json_number(text: str) -> float:
    number = float(text)
    return number if math.isfinite(number) else Huge(text)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def _loads(line: bytes) -> object:
    """The JSON value of a line. orjson refuses a number past a double's range, which is valid JSON:
    such a line is read again, each number a float (`Huge` past the range), so that the field
    holding it is named as any other wrong value is, and a field no one reads changes nothing."""
    import orjson

    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        if not str(exc).startswith("number is infinity"):
            raise
    return json.loads(line, parse_float=_json_number, parse_int=_json_number, parse_constant=_no_constant)
