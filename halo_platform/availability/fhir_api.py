"""FHIR R4 read API: `GET /fhir/Slot?schedule=Schedule/<id>&start=ge<date>&start=lt<date>&status=free`
answers a `searchset` Bundle of the free Slots of that schedule, built from the spans and the
feed's slot rules (`service-type` names the appointment type, default `default`, or a
comma-separated list of them: FHIR's OR; a token `[system|]code`, which matches nothing when it
names a system or a type no rule defines), a page at a time: `_count` entries (at most 1,000,
also when not given) from `_offset`, linked to the next. The links name `_at`, the instant the
first page was answered as of, so that every page is one of the same matches. `POST
/fhir/Slot/_search` with the parameters as a form (in the URL too) is the same search (FHIR R4 http.html).

A schedule is one a feed received (its Practitioner actors, free together) or `<feed>.<provider
id>`. Dates without a time are the schedule's local days; a search matching no schedule is an
empty Bundle, as FHIR searches are; a malformed one is a 422 in the service's error shape,
`{error, detail}` (as every route answers), whose detail is the FHIR OperationOutcome. A
parameter the search does not support is ignored, unless the client sends `Prefer:
handling=strict` (then it is a 422), and a modifier it does not support is always refused.

A Slot is computed from the spans, never stored, so it cannot be read back: its id is a UUID
named by (schedule, type, start), the same from one search to the next, and its entry's
fullUrl is `urn:uuid:<id>`, which FHIR allows for a resource that is not to be resolved (a
`{base}/fhir/Slot/<id>` URL would promise a read this API does not have)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from halo_platform.access.guard import CSRF_FIELD, requires
from halo_platform.availability import service
from halo_platform.availability.feeds.fhir import day_after, partial_date
from halo_platform.availability.slots import horizon
from halo_platform.core.errors import HaloError
from halo_platform.core.http import ChecksFirstRoute, public_error, resource
from halo_platform.core.models import EARLIEST_DATE, LATEST_DATE, iso_z, utcnow
from halo_platform.core.store import StoreResource
from halo_platform.core.text import cut, echo, plain_number

FHIR_JSON = "application/fhir+json"
SLOT_STATUS_SYSTEM = "http://hl7.org/fhir/slotstatus"  # Slot.status's code system (its value set's)
SLOT_STATUSES = ("busy", "free", "busy-unavailable", "busy-tentative", "entered-in-error")
# a FHIR id is [A-Za-z0-9-.]{1,64}; `<feed>.<provider id>` also takes the `_` and the length (up to
# 255) EMRs' provider ids have, else such a provider had no Slot search
_ID = re.compile(r"^[A-Za-z0-9\-._]{1,320}\Z")
# a FHIR date may be partial (YYYY, YYYY-MM); only a whole one takes a time
_PREFIXED = re.compile(rf"^(eq|ge|gt|le|lt|sa|eb|ne|ap)?([0-9]{{4}}(-[0-9]{{2}})?|[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}|({service.DATE_TIME}))\Z")
DEFAULT_DAYS = 7
MAX_DIGITS = 18  # of `_count` and `_offset`: 2147483647, a client's "all", has 10
# entries a page: a year at a 1-minute alignment is ~165,000 slots; FHIR lets a server return fewer
# than `_count` asks (2147483647, a client's "all"), and page when none is given. A provider's month
# of 30-minute slots fits in one
MAX_COUNT = 1_000
_AS_INSTANT = {"sa": "gt", "eb": "lt"}
_ONE_DAY = dt.timedelta(days=1)
_UNSUPPORTED = ("ne", "ap")  # not one range of starts (ne), or a closeness of the server's choosing (ap)
PLAIN_JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
# what a `_format` may name for the JSON this API serves, and the type the answer then has: FHIR's
# `json` is its own type, as a wildcard is
_FORMATS = {"json": FHIR_JSON, FHIR_JSON: FHIR_JSON, PLAIN_JSON: PLAIN_JSON, "*/*": FHIR_JSON, "application/*": FHIR_JSON}
# the JSON types an answer may have, FHIR's first (taken on a tie), each with the names an Accept
# header may give it (`json`, as `_format` writes it, was taken in an Accept too)
_ACCEPTED = ((FHIR_JSON,), (PLAIN_JSON, "json"))

router = APIRouter(tags=["fhir"], dependencies=[Depends(requires("availability:read"))], route_class=ChecksFirstRoute)


class NotAcceptableError(HaloError):
    http_status = 406


class UnsupportedMediaTypeError(HaloError):
    http_status = 415


@dataclass(frozen=True)
class Bound:
    prefix: str
    value: dt.date | dt.datetime  # a date is the first of its local days; a datetime an instant (local when naive)
    until: dt.date | None = None  # a date's day after its last: the next day, month (YYYY-MM) or year (YYYY)


def parse_start(values: list[str]) -> list[Bound]:
    bounds = []
    for value in values:
        match = _PREFIXED.match(value)
        try:
            if not match:
                raise ValueError
            text = value[len(match.group(1) or ""):]
            parsed, parts = (service.date_time(text), 0) if match.group(4) else partial_date(text)
        except ValueError:
            raise HaloError(f"start: expected [eq|ge|gt|le|lt|sa|eb]YYYY[-MM[-DD[Thh:mm[:ss][Z|+hh:mm]]]], got {echo(value)}") from None
        prefix = match.group(1) or "eq"
        if prefix in _UNSUPPORTED:
            raise HaloError(f"start: the prefix {prefix} is not supported here; use eq, ge, gt, le, lt, sa or eb")
        day = parsed.date() if isinstance(parsed, dt.datetime) else parsed
        # a bound whose days reach the calendar or the day just outside it (lt2200-01-01, lt2200,
        # gt1899-12-31, gt1899) still bounds a range touching it, which `search_slots` clips to it
        if day > LATEST_DATE + _ONE_DAY or (day_after(parsed, parts) if parts else day + _ONE_DAY) < EARLIEST_DATE:
            service.in_calendar(day, "start")
        # a Slot's start is an instant: it starts after a range (sa) when it is past the range's
        # end, and ends before it (eb) when it is before the range's start, as gt and lt say
        bounds.append(Bound(_AS_INSTANT.get(prefix, prefix), parsed, day_after(parsed, parts) if parts else None))
    return bounds


def instant_range(bounds: list[Bound], tz: dt.tzinfo, opens: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[lo, hi) of slot starts the bounds allow, in `tz` for dates and naive times; from `opens` (now
    and the least notice of the types searched) and for 7 local days when open (the same wall-clock
    time 7 dates later, as max_days_ahead counts them: 7 x 24 hours was an hour off across a DST
    change); UTC instants. Bounds are compared by their instants: Python compares
    two times of one timezone by their wall times, and a wall time in a DST gap is an instant
    after later wall times (02:30 in New York on 2027-03-14 is 07:30Z, 03:15 is 07:15Z)."""
    lo: dt.datetime | None = None
    hi: dt.datetime | None = None
    for bound in bounds:
        if isinstance(bound.value, dt.datetime):
            start = bound.value if bound.value.tzinfo else bound.value.replace(tzinfo=tz)
            end = start + dt.timedelta(microseconds=1)  # an instant is the smallest day there is
        else:
            start = dt.datetime.combine(bound.value, dt.time(), tzinfo=tz)
            end = dt.datetime.combine(bound.until, dt.time(), tzinfo=tz)
        low, high = {"eq": (start, end), "ge": (start, None), "gt": (end, None), "lt": (None, start), "le": (None, end)}[bound.prefix]
        lo = max(lo, low, key=dt.datetime.timestamp) if lo and low else lo or low
        hi = min(hi, high, key=dt.datetime.timestamp) if hi and high else hi or high
    lo = lo or opens
    return lo.astimezone(dt.UTC), (hi or horizon(lo, DEFAULT_DAYS, tz)).astimezone(dt.UTC)


_SLOT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "halo_platform/fhir/Slot")


def slot_id(schedule: str, slot_type: str, start: dt.datetime) -> str:
    """A UUID (a valid FHIR id) named by the Slot's schedule, type and start."""
    return str(uuid.uuid5(_SLOT_NAMESPACE, f"{schedule}|{slot_type}|{start.isoformat()}"))


# the search parameters a Slot search reads: the links of its pages name these (others are ignored)
SEARCH_PARAMETERS = ("schedule", "start", "status", "service-type", "_format", "_count")


@dataclass(frozen=True)
class Page:
    """Which page of a search's matches to answer: `count` of them from `offset`, and the
    search's URL (`base`, the parameters it used and the instant `at` it was answered as of) for its links."""

    base: str
    params: tuple[tuple[str, str], ...]
    at: dt.datetime
    count: int = MAX_COUNT
    offset: int = 0

    def url(self, offset: int, count: int | None = None) -> str:
        """The page from `offset` of the search's `_count` matches, or of `count` when given."""
        used = [(k, v) for k, v in self.params if k in SEARCH_PARAMETERS and not (count and k == "_count")]
        used += ([("_count", str(count))] if count else []) + ([("_offset", str(offset))] if offset else [])
        return f"{self.base}?{urlencode([*used, ('_at', iso_z(self.at))])}"

    def links(self, total: int) -> list[dict]:
        """self, and the `previous` and `next` pages where there are any (FHIR R4 search paging).
        A page of none (`_count=0`, the total alone) has neither: its previous was itself. The
        previous of a page past the end is the last matches: it was the page before, as empty.
        A page from an offset under `_count` has the matches before it as its previous, fewer than
        `_count`: a whole page from 0 listed again the first matches of this one."""
        links = [{"relation": "self", "url": self.url(self.offset)}]
        if self.count and self.offset > 0:
            previous = max(0, min(self.offset, total) - self.count)
            links.append({"relation": "previous", "url": self.url(previous, self.offset if self.offset < self.count else None)})
        if self.count and self.offset + self.count < total:
            links.append({"relation": "next", "url": self.url(self.offset + self.count)})
        return links


def bundle(page: Page, schedule: str, slots: list[tuple[dt.datetime, dt.datetime, str]]) -> dict:
    """The searchset of `slots` (start, end, appointment type): `total` counts them all, the entries are the page's.
    A Slot's type is a code of its serviceType, which is what a `service-type` token search matches."""
    entries = []
    for start, end, slot_type in slots[page.offset:page.offset + page.count]:
        ident = slot_id(schedule, slot_type, start)
        entries.append({"fullUrl": f"urn:uuid:{ident}", "search": {"mode": "match"}, "resource": {
            "resourceType": "Slot", "id": ident, "schedule": {"reference": f"Schedule/{schedule}"},
            "serviceType": [{"coding": [{"code": slot_type}], "text": slot_type}], "status": "free", "start": iso_z(start), "end": iso_z(end)}})
    found = {"resourceType": "Bundle", "type": "searchset", "total": len(slots), "link": page.links(len(slots))}
    if entries:  # FHIR JSON has no empty arrays: a search matching nothing has no `entry`
        found["entry"] = entries
    return found


def outcome(message: str) -> dict:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid", "diagnostics": message}]}


def search_slots(store: StoreResource, params: list[tuple[str, str]], base_url: str,
                 now: dt.datetime | None = None, strict: bool = False) -> dict:
    """The searchset Bundle answering a Slot search's parameters, the page `_count` and `_offset`
    ask for; `base_url` is the search's URL without them. Other parameters are ignored, as FHIR
    allows, unless `strict` (the client's `Prefer: handling=strict`): then they are refused. A
    modifier on one of the search's own parameters is refused, as FHIR says, but the schedule's
    type (`schedule:Schedule=<id>`)."""
    def values(name: str) -> list[str]:
        return [v for k, v in params if k == name]

    # a reference with its type as the modifier (`schedule:Schedule=<id>`) is the plain reference
    params = [("schedule", value if "/" in value else f"Schedule/{value}") if name == "schedule:Schedule" else (name, value)
              for name, value in params]
    known = (*SEARCH_PARAMETERS, "_offset", "_at")
    for name, _ in params:
        # a modifier makes another search of the parameter (`status:not=free`: the slots that are
        # not free); ignored, as an unknown parameter is, it answered the search without it
        base, colon, modifier = name.partition(":")
        if colon and base in SEARCH_PARAMETERS:
            raise HaloError(f"{cut(name)}: the modifier :{cut(modifier)} is not supported; search by {base} without a modifier")
        if strict and name not in known:
            raise HaloError(f"{cut(name)}: not a search parameter of this server (Prefer: handling=strict); known: {', '.join(known)}")
    schedules = values("schedule")
    if len(schedules) != 1:
        raise HaloError("schedule: give exactly one Schedule/<id>")
    schedule = schedules[0]
    if schedule.startswith(("https://", "http://")) and "/Schedule/" in schedule:  # the Schedule's URL on this server
        schedule = schedule.rsplit("/Schedule/", 1)[1]
    schedule = schedule.removeprefix("Schedule/")
    if not _ID.match(schedule):
        raise HaloError(f"schedule: expected Schedule/<id>, got {echo(schedules[0])}")
    # FHIR search ANDs repeated parameters, and a comma list is an OR: a free Slot matches when
    # every `status` lists free
    asked = [set().union(*map(status_codes, split_escaped(v, ","))) for v in values("status")]
    statuses = set().union(*asked)
    if "" in statuses:  # `status=` or `status=free,`: a token is never empty
        raise HaloError(f"status: expected comma-separated Slot status codes, none of them empty; known: {', '.join(SLOT_STATUSES)}")
    if unknown := sorted(statuses - set(SLOT_STATUSES)):
        raise HaloError(f"status: unknown {cut(', '.join(map(echo, unknown)), 200)}; known: {', '.join(SLOT_STATUSES)}")
    if len(values("service-type")) > 1:
        raise HaloError("service-type: give at most one")
    # a comma list is an OR, as for status: the slots of each type it lists (`short,long` was
    # refused as one unknown type); none (or `service-type=` left empty) is the default type
    codes = service_type_codes([t for v in values("service-type") if v for t in split_escaped(v, ",")])
    count = whole_number(values("_count"), "_count")
    # whole seconds, as the links write it: the first page's matches are the next pages'
    now = as_of(values("_at"), (now or utcnow()).replace(microsecond=0))
    page = Page(base_url, tuple(params), now, min(MAX_COUNT if count is None else count, MAX_COUNT),
                whole_number(values("_offset"), "_offset") or 0)
    bounds = parse_start(values("start"))
    actors = service.schedule_actors(store, schedule)
    if actors is None or any("free" not in listed for listed in asked):  # only free slots are known
        return bundle(page, schedule, [])
    feed, (provider, *others) = actors
    # a code no slot rule of the provider defines is a token matching nothing, as a system is
    defined = service.provider_slot_types(feed, provider)
    types = [None] if codes is None else [c for c in codes if c in defined]
    if not types:
        return bundle(page, schedule, [])
    asked_types = ",".join(t or service.DEFAULT_TYPE for t in types)
    tz = service.provider_zone(store, feed, provider)
    rules = [service.slot_rules(feed, provider, t) for t in types]
    # an open search's week starts where a slot can first start: from now, a type booked weeks
    # ahead had none in it
    lo, hi = instant_range(bounds, tz, service.first_start(now, rules))
    # a slot starts from its type's notice after now to its max_days_ahead after now: the search
    # looks there (a `start` ending a year and more ahead, as `le2028` does, was refused as more days
    # than a query takes, most of them days no slot can start on), and so inside the calendar, where spans are
    searched = service.slot_start_dates(lo, hi, tz, now, rules)
    if searched is None:
        return bundle(page, schedule, [])
    first, last = searched
    # `start` is the only range this search has: name it, and the days it came to
    service.check_length(first, last, "start: ", f", the days from now on which slots of service-type {asked_types} can start: "
                                                 "give start=lt<date> to end the search sooner")
    found, left = [], service.MAX_LISTED_SLOTS  # each page works the search out again: bounded as /v1/slots, its types together
    try:
        for slot_type in types:
            listed = service.bookable_slots(store, feed, provider, slot_type, first, last, now, tuple(others), limit=left)
            left -= len(listed.slots)
            found += [(s, e, listed.slot_type) for s, e in listed.slots if lo <= s < hi]
    except service.TooManySlotsError:
        if len(types) == 1:
            raise
        # the bound is the answer's, not what the types before this one left of it
        raise HaloError(f"more than {service.MAX_LISTED_SLOTS} slots from {first} to {last} of service-type {asked_types} together "
                        f"({service.MAX_LISTED_SLOTS} at most in one answer): ask for fewer days or fewer service types") from None
    return bundle(page, schedule, sorted(found))


_ESCAPE = re.compile(r"\\([\\,|$])")


def split_escaped(value: str, separator: str) -> list[str]:
    """The parts of a search value between its `separator`s (`,` of a list, `|` of a token's
    system) not escaped by a backslash: FHIR's `\\,` `\\|` `\\$` and `\\\\` are the value's own
    characters (R4 search.html#escaping). The escapes stay, for a part to be split again; `unescaped` reads them."""
    parts, part, chars = [], "", iter(value)
    for char in chars:
        if char == separator:
            parts.append(part)
            part = ""
        else:
            part += char + (next(chars, "") if char == "\\" else "")
    return [*parts, part]


def unescaped(part: str) -> str:
    """A part of a search value (`split_escaped`) as written: `\\,` is a comma (any other backslash is itself)."""
    return _ESCAPE.sub(r"\1", part)


def token_parts(token: str) -> tuple[str | None, str]:
    """A token search value `[system|]code` as (system, code), unescaped: None for the system of a
    plain code (any system), "" for `|code`'s (no system). It splits at its first unescaped `|`."""
    first, *rest = split_escaped(token, "|")
    return (unescaped(first), unescaped("|".join(rest))) if rest else (None, unescaped(first))


def status_codes(token: str) -> set[str]:
    """The Slot statuses a `status` token (`[system|]code`) names: Slot.status is a code of
    SLOT_STATUS_SYSTEM alone, so `system|code` of that system is the code (`system|` any status),
    and another system's, or no system's (`|free`), none. A plain code is itself."""
    system, code = token_parts(token)
    if system is None:
        return {code}
    if system != SLOT_STATUS_SYSTEM:
        return set()
    return {code} - {""} or set(SLOT_STATUSES)


def service_type_codes(tokens: list[str]) -> list[str] | None:
    """The appointment types that `service-type` tokens (`[system|]code`, FHIR's token search) can
    match; None when none is given (the default type). A Slot's type is a coding with no system:
    `code` (any system) and `|code` (no system) match it, `system|code` and `system|` none
    (`token_parts`: an escaped `\\|` is the code's own)."""
    if not tokens:
        return None
    parsed = [token_parts(t) for t in tokens]
    if any(not system and not code for system, code in parsed):  # `short,` or `|`: neither a system nor a code
        raise HaloError("service-type: expected comma-separated appointment types, none of them empty (each [system|]code)")
    return list(dict.fromkeys(code for system, code in parsed if not system))


#: how long a page's links stay good (their `_at`): slots started since are still listed by them
AT_LIFETIME = dt.timedelta(days=1)


def as_of(values: list[str], now: dt.datetime) -> dt.datetime:
    """The instant a search is answered as of: `_at`, which a page's links name, else `now`. The
    slots are bookable from then on and an open `start` starts then: answered as of the current
    time, a page read after a slot's start had passed counted its `_offset` from one slot later,
    and a slot was never listed."""
    if len(values) > 1:
        raise HaloError("_at: give at most one")
    if not values:
        return now
    try:
        at = service.date_time(values[0])
        at = (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)  # 0001-01-01T00:00+01:00 is before year 1
    except (ValueError, OverflowError):
        raise HaloError(f"_at: expected an instant YYYY-MM-DDThh:mm:ssZ, got {echo(values[0])}") from None
    if at > now:  # a search is answered as of a time that was, never one to come
        raise HaloError(f"_at: {iso_z(at)} is after now, {iso_z(now)}")
    service.in_calendar(at.date(), "_at")  # the links write it YYYY: the year 1 was written 1-01-01
    if at < now - AT_LIFETIME:  # links are for paging on, not for reading the past as free slots
        raise HaloError(f"_at: {iso_z(at)} is more than a day ago: search again for the slots free now")
    return at


def whole_number(values: list[str], name: str) -> int | None:
    """`_count` (at most that many entries: FHIR R4 lets a server return fewer, never more) or
    `_offset` (the matches skipped before the page); None when not given."""
    if len(values) > 1:
        raise HaloError(f"{name}: give at most one")
    if values and not (values[0].isascii() and values[0].isdigit()):
        raise HaloError(f"{name}: expected a whole number >= 0, got {echo(values[0])}")
    # int() refuses more than 4,300 digits (a ValueError, a 500); no page is that long
    if values and len(digits := values[0].lstrip("0")) > MAX_DIGITS:
        raise HaloError(f"{name}: expected a whole number >= 0 of at most {MAX_DIGITS} digits, got {len(digits)} digits")
    return int(values[0]) if values else None


def handling_strict(prefer: list[str]) -> bool:
    """Whether the `Prefer` headers ask `handling=strict`: an error for a parameter the server does
    not support, where FHIR servers otherwise ignore it (preferences are comma-separated, in one
    header or several; names and these values case-insensitive)."""
    return any(p.split(";", 1)[0].replace(" ", "").lower() == "handling=strict" for p in ",".join(prefer).split(","))


def json_quality(accept: str) -> str | None:
    """The JSON type (FHIR's, plain JSON's) an Accept header gives the highest q-value, each q from
    the most specific range naming the type (RFC 9110 12.5.1); None when it gives both a q of 0
    ("not acceptable") or names neither: `application/json;q=0` refuses plain JSON, `*/*;q=0.5`
    takes FHIR's, `application/*;q=0, */*` refuses both. At the same q, a type the header names
    outranks one it takes by a wildcard (`application/json, */*` asks for plain JSON), then FHIR's
    is answered. A q that is no number from 0 to 1 is left out: the range as written, at 1."""
    quality: dict[str, float] = {}
    for media_range in accept.split(","):
        media, *params = media_range.split(";")
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q" and (number := plain_number(value.strip())) is not None and number <= 1:
                q = number
        media = media.strip().lower()
        quality[media] = max(q, quality.get(media, 0.0))  # a range named twice: its better q
    ranked = []  # (q, how specific its range, FHIR's first, the type)
    for preference, names in enumerate(_ACCEPTED):
        for wildcard, ranges in enumerate((names, ("application/*",), ("*/*",))):
            if found := [quality[r] for r in ranges if r in quality]:
                ranked.append((max(found), -wildcard, -preference, names[0]))
                break
    best = max(ranked, default=None)
    return best[-1] if best and best[0] > 0 else None


def answer_type(formats: list[str], accept: str | None) -> str:
    """The JSON type the answer has: the first JSON type a `_format` (FHIR's override of Accept)
    names, else the Accept header's (`json_quality`), FHIR's when there is neither. Only JSON is
    served: a `_format` or an Accept taking no JSON type (XML, Turtle, every JSON type at q 0) is a
    406, not JSON a client would fail to read."""
    given = [f for f in formats if f.strip()]
    if len(given) > 1:  # the last one was read, where a proxy or a log reads the first
        raise HaloError("_format: give at most one")
    if given:
        named = (m.split(";", 1)[0].strip().lower() for m in given[0].split(","))
        media = next((_FORMATS[m] for m in named if m in _FORMATS), None)
    else:
        media = json_quality(accept) if accept else FHIR_JSON
    if media is None:
        raise NotAcceptableError(f"only JSON ({FHIR_JSON}) is served, not {echo(given[0] if given else accept)}")
    return media


_SEARCH_PARAMETERS = [
    {"name": "schedule", "in": "query", "required": True, "schema": {"type": "string"}, "example": "Schedule/hl7.DR001",
     "description": "Schedule/<id>: a Schedule a feed received, or <feed>.<provider id> (also schedule:Schedule=<id>)"},
    {"name": "start", "in": "query", "required": False, "style": "form", "explode": True,
     "schema": {"type": "array", "items": {"type": "string"}}, "example": ["ge2027-01-04", "lt2027-01-11"],
     "description": "[eq|ge|gt|le|lt|sa|eb]YYYY[-MM[-DD[Thh:mm:ssZ]]], repeatable; dates are the schedule's local days"},
    {"name": "status", "in": "query", "required": False, "schema": {"type": "string"}, "example": "free",
     "description": "Slot status codes, comma-separated; only free slots exist here"},
    {"name": "service-type", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "The appointment type of the feed's slot rules (default: default), or a comma-separated list of them (any of them)"},
    {"name": "_format", "in": "query", "required": False, "schema": {"enum": ["json", "application/json", FHIR_JSON]},
     "description": "json, application/json or application/fhir+json (the default), the answer's type (json: "
                    "application/fhir+json); overrides Accept; another format is a 406"},
    {"name": "_count", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0},
     "description": f"At most this many entries a page (at most {MAX_COUNT}, also when not given); `total` still counts "
                    "every match, and the `next` link gives the next page"},
    {"name": "_offset", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0},
     "description": "The matches skipped before this page (the `next` and `previous` links set it)"},
    {"name": "_at", "in": "query", "required": False, "schema": {"type": "string"}, "example": "2027-01-04T08:00:00Z",
     "description": "The instant the search is answered as of (default: now; not after it): the links of a page name the "
                    "first page's, so that paging neither skips nor repeats a slot as time passes"},
    {"name": "Prefer", "in": "header", "required": False, "schema": {"type": "string"}, "example": "handling=strict",
     "description": "handling=strict: a parameter this search does not support is a 422 (by default it is ignored)"},
]


def search_parameters(request: Request, body: bytes) -> list[tuple[str, str]]:
    """A search's parameters: its URL's, then those of a form it posts (FHIR R4 http.html: a
    `POST [base]/[type]/_search` is the GET search, its parameters in the URL and the body both)."""
    params = list(request.query_params.multi_items())
    if request.method != "POST":
        return params
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if body and media != FORM:
        raise UnsupportedMediaTypeError(f"a search is posted as {FORM}, not {echo(media) if media else 'a body of no Content-Type'}")
    try:
        posted = parse_qsl(body.decode(), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise HaloError(f"the posted search is not UTF-8 {FORM}") from None
    # a session's form carries its CSRF token (access.md), which `check_csrf` reads: no search
    # parameter, refused as one under `Prefer: handling=strict`
    return params + [(k, v) for k, v in posted if k != CSRF_FIELD]


async def posted_body(request: Request) -> bytes:
    """The request's body, read before the route (which runs in a thread and cannot await it)."""
    return await request.body()


_RESPONSES = {
    200: {"description": "A FHIR R4 searchset Bundle of Slot resources, typed as `_format` or Accept asks",
          "content": {FHIR_JSON: {}, PLAIN_JSON: {}}},
    406: {"description": "{error, detail}: a format other than JSON was asked for"},
    422: {"description": "{error, detail}: the bad parameter, and the FHIR OperationOutcome saying so"}}
_SEARCH_FORM = {"required": False, "content": {FORM: {"schema": {"type": "object", "properties": {
    p["name"]: {**p["schema"], "description": p["description"]} for p in _SEARCH_PARAMETERS if p["in"] == "query"}}}}}


@router.post("/fhir/Slot/_search", response_class=JSONResponse, responses={
    **_RESPONSES, 415: {"description": f"{{error, detail}}: a body that is not {FORM}"}}, openapi_extra={
    "parameters": [p for p in _SEARCH_PARAMETERS if p["in"] == "header"], "requestBody": _SEARCH_FORM})
@router.get("/fhir/Slot", response_class=JSONResponse, openapi_extra={"parameters": _SEARCH_PARAMETERS}, responses=_RESPONSES)
def fhir_slots(request: Request, store: StoreResource = Depends(resource("store")), body: bytes = Depends(posted_body)) -> JSONResponse:
    """Free Slots of a Schedule (`schedule=Schedule/<id>`, required), starting in the `start`
    range (`ge`/`gt`/`le`/`lt`/`eq`/`sa`/`eb` dates or instants), of the appointment type `service-type`;
    posted to `_search`, the parameters may be a form's too."""
    try:
        params = search_parameters(request, body)
        media = answer_type([v for k, v in params if k == "_format"], request.headers.get("accept"))
        # a posted search's links are the GET searches of its pages
        found = search_slots(store, params, str(request.url.replace(query="")).removesuffix("/_search"),
                             strict=handling_strict(request.headers.getlist("prefer")))
    except HaloError as exc:
        message = public_error(exc)
        raise HTTPException(exc.http_status, {"error": message, "detail": outcome(message)}) from None
    # the type depends on Accept: a cache keeps one answer per Accept
    # FHIR (http.html, "Content Types and encodings"): an answer SHALL name its charset, HTTP's default being ISO-8859-1
    return JSONResponse(found, media_type=f"{media}; charset=utf-8", headers={"Vary": "Accept"})
