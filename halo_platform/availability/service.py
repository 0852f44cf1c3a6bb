"""Running the Dagster processing in-process (CLI, benchmark, tests) and querying spans
(CLI, REST, GraphQL) — the same definitions and queries everywhere."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import itertools
import os
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from halo_platform.availability import pipeline
from halo_platform.availability.bulk_sql import Codec
from halo_platform.availability.group import MODES, GroupSpan, group_spans
from halo_platform.availability.slots import (
    DEFAULT_TYPE,
    LONGEST_LEAD,
    LONGEST_REACH,
    SlotRules,
    bookable,
    horizon,
    resolve_rules,
    slot_types,
)
from halo_platform.availability.tables import AvailableSpan, EmrQuarantine, EmrWindow, ProcessedFile, became_current
from halo_platform.core.errors import HaloError, NotFoundError
from halo_platform.core.files import replaced_whole
from halo_platform.core.instance import dagster_instance
from halo_platform.core.models import EARLIEST_DATE, LATEST_DATE, in_calendar, iso_z
from halo_platform.core.redact import mask_text
from halo_platform.core.store import StoreResource
from halo_platform.core.text import echo, unstorable, yyyy_mm_dd

MAX_QUERY_DAYS = 366  # local dates a query's range holds at most, its first and last included
UNSTORABLE = "a value the database cannot take: text with a NUL character, or a number out of range"
DEFAULT_SLOT_DAYS = 7  # of a slots or group query without dates
# The slots one answer of /v1/slots or GraphQL lists: a provider-year of the default 15-minute starts
# around the clock is 35,232. Listing is what costs (GraphQL ~50 us a slot, REST ~65 us): a year
# at a 1-minute alignment, 527,040 slots, took 35 s over REST and 60 s over GraphQL, inside its budget
MAX_LISTED_SLOTS = 40_000


def run_processing(store: StoreResource, as_of: dt.date | None = None, horizon_days: int = pipeline.DEFAULT_HORIZON_DAYS,
                   files: list[str] | None = None, instance=None, log_level: str = "WARNING") -> pipeline.ProcessSummary:  # noqa: ANN001
    """Execute `emr_processing_job` in-process for the feeds with work (unprocessed files, dirty
    provider-dates, a moved window), over the range of dates that work impacts, on `store`.
    `log_level` of Dagster's console logger: the CLI raises it past ERROR, as a failed step's
    event carries its stack trace and the error itself is raised (one line there)."""

    from halo_platform.availability.feeds import load_feeds

    as_of = as_of or pipeline.today()
    if not 1 <= horizon_days <= 366:
        raise HaloError(f"--horizon-days must be between 1 and 366, got {horizon_days}")
    in_calendar(as_of + dt.timedelta(days=horizon_days - 1), "the horizon's last day (--as-of + --horizon-days - 1)")
    planned, unreadable = {}, {}
    for feed in load_feeds().values():
        try:  # a feed whose landing cannot be read (an S3 endpoint down) holds back no other feed, as in the sensor
            dates = pipeline.planned_dates(store, feed, as_of, horizon_days)
            if dates or pipeline.pending_files(store, feed):
                planned[feed.name] = dates
        except HaloError as exc:  # a misconfigured landing too ("feed F: ..."), as in the sensor
            unreadable[feed.name] = str(exc).removeprefix(f"feed {feed.name}: ")
    feeds = sorted(planned)
    summary = pipeline.ProcessSummary()
    if feeds:
        if instance is None:
            instance = dagster_instance()
        with instance:
            # a run covers a range of feed partitions: with a feed left out, each feed runs alone so
            # that no range takes in the unreadable one
            for group in ([[f] for f in feeds] if unreadable else [feeds]):
                summary.add(_run_job(store, group, set().union(*(planned[f] for f in group)) or {as_of}, as_of, horizon_days,
                                     files, instance, log_level))
    if unreadable:
        processed = f"; processed {', '.join(feeds)}" if feeds else ""
        raise pipeline.LandingReadError("; ".join(f"feed {name}: {problem}" for name, problem in sorted(unreadable.items())) + processed)
    return summary


def _run_job(store: StoreResource, feeds: list[str], dates: set[dt.date], as_of: dt.date, horizon_days: int,
             files: list[str] | None, instance, log_level: str) -> pipeline.ProcessSummary:  # noqa: ANN001
    import dagster as dg

    from halo_platform.availability.assets import FEEDS, missing_feeds, run_config, run_range
    from halo_platform.availability.definitions import defs
    from halo_platform.core.failures import original

    job = defs.resolve_job_def("emr_processing_job")
    if new := missing_feeds(instance, feeds):
        instance.add_dynamic_partitions(FEEDS.name, new)
    try:
        result = job.execute_in_process(
            run_config={**run_config(as_of, horizon_days, files),
                        "loggers": {"console": {"config": {"log_level": log_level}}}},
            instance=instance,
            resources={"store": store},
            tags=run_range(feeds, min(dates), max(dates)),
            raise_on_error=True,
        )
    except dg.Failure as failure:  # the event log has it masked; the caller handles our errors by type
        raise original(failure) from None
    summary = pipeline.ProcessSummary()
    seen = set()
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        if mat.asset_key in seen:  # one materialization per partition, the same metadata on each
            continue
        seen.add(mat.asset_key)
        meta = {k: v.value for k, v in mat.metadata.items()}
        if mat.asset_key.to_user_string() == "scheduling_items":
            summary.add(pipeline.ProcessSummary(meta["files"], meta["events"], meta["quarantined"], meta["items_changed"], 0))
        elif mat.asset_key.to_user_string() == "available_spans":
            summary.provider_dates += meta["provider_dates_recomputed"]
    return summary


#: a date and time as FHIR's dateTime writes one: minutes whenever an hour is given, and an
#: offset (when there is one) within -14:00..+14:00
DATE_TIME = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))?"
_DATE_TIME = re.compile(DATE_TIME)


def date_time(value: object) -> dt.datetime:
    """A date and time written in full (`DATE_TIME`), else ValueError: dateutil's isoparse also
    takes a bare date or year (as midnight), the basic form and week dates."""
    if not isinstance(value, str) or not _DATE_TIME.fullmatch(value):
        raise ValueError(f"expected a date and time YYYY-MM-DDThh:mm[:ss][Z|+hh:mm], got {echo(value)}")
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def parse_date(value: str | None, what: str) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        day = yyyy_mm_dd(value)
    except ValueError:
        raise HaloError(f"{what}: expected a date YYYY-MM-DD, got {echo(value)}") from None
    return in_calendar(day, what)


@dataclass(frozen=True)
class Span:
    span_date: dt.date
    start_at: dt.datetime
    end_at: dt.datetime

    def as_json(self) -> dict:
        return {"span_date": self.span_date.isoformat(), "start_at": iso_z(self.start_at), "end_at": iso_z(self.end_at)}


def _known_feed(feed: str) -> None:
    from halo_platform.availability.feeds import get_feed

    get_feed(feed)


def check_range(first: dt.date | None, last: dt.date | None, from_default: str | None = None, bounded: bool = True) -> None:
    """The range is inside the calendar, in order and, when `bounded`, not too long (slots bound
    the days of it they search instead). `from_default` names the day `first` is when the caller
    gave no `from` ("the provider's today"): a `to` before it is refused naming the default, not a
    `from` the caller never sent."""
    for day, what in ((first, "from"), (last, "to")):
        if day:
            in_calendar(day, what)
    if first and last:
        if last < first:
            since = f"from's default, {from_default} ({first}): give from, or a later to" if from_default else f"from {first}"
            raise HaloError(f"to {last} is before {since}")
        if bounded:
            check_length(first, last)


def dates_in(first: dt.date, last: dt.date) -> int:
    """The local dates of the range [first, last], both included: what MAX_QUERY_DAYS bounds."""
    return (last - first).days + 1


def check_length(first: dt.date, last: dt.date, argument: str = "", reckoned: str = "") -> None:
    """At most MAX_QUERY_DAYS local dates in [first, last]; `argument` names what the caller gave
    the range as, when it is not `from` and `to`, and `reckoned` how the range came out of it."""
    if (days := dates_in(first, last)) > MAX_QUERY_DAYS:
        raise HaloError(f"{argument}at most {MAX_QUERY_DAYS} days per query (first and last included), got {days}: {first} to {last}{reckoned}")


def storable(*texts: str) -> None:
    """HaloError for text no store holds (`core.text.unstorable`): PostgreSQL's driver refuses a NUL
    character, while SQLite and MariaDB look it up and find nothing; a lone surrogate (a GraphQL
    variable may carry one) has no UTF-8. Refused before any store is asked, every store gives the
    one answer."""
    if any(unstorable(text) for text in texts):
        raise HaloError(UNSTORABLE)


def spans(store: StoreResource, feed: str, provider_id: str, first: dt.date | None = None, last: dt.date | None = None) -> list[Span]:
    """Spans of one provider (a caller's id read by `provider_key`) with span_date in [first, last] (inclusive, either open)."""
    _known_feed(feed)
    storable(provider_id)
    check_range(first, last)
    return _read_spans(store, feed, provider_id, first, last)


def _read_spans(store: StoreResource, feed: str, provider_id: str, first: dt.date | None, last: dt.date | None) -> list[Span]:
    """`spans` without the checks: for a window reckoned from a range already checked."""
    # Raw SQL through the codec, not a Core select on the table: this is the REST hot path, and
    # SQLAlchemy's result type processing made it about 2x slower (~1.3 ms vs ~0.5 ms per call
    # on SQLite, one provider-week).
    sql = "SELECT span_date, start_at, end_at FROM available_spans WHERE feed = ? AND provider_id = ?"
    params: list = [feed, provider_id]
    with store.read() as conn:
        codec = Codec(conn)
        if first:
            sql += " AND span_date >= ?"
            params.append(codec.date(first))
        if last:
            sql += " AND span_date <= ?"
            params.append(codec.date(last))
        rows = codec.select(sql + " ORDER BY start_at", params)
        return [Span(codec.read_date(d), codec.read_ts(s).replace(tzinfo=dt.UTC), codec.read_ts(e).replace(tzinfo=dt.UTC)) for d, s, e in rows]


MAX_GROUP_PROVIDERS = 20


class TooManySlotsError(HaloError):
    """More bookable slots than the caller's limit (of MAX_LISTED_SLOTS in one answer)."""


def provider_key(provider_id: str, argument: str) -> str:
    """A provider id as a caller wrote it (REST, GraphQL, the CLI), trimmed: every route reads
    `" D1"` as D1, as a group's list (`D1, D2`) and the Availability page do. A blank one is
    refused naming `argument`, the caller's name for it."""
    key = provider_id.strip()
    if not key:
        raise HaloError(f"{argument} is required")
    return key


def group_ids(provider_ids: Iterable[str], argument: str, form: str) -> list[str]:
    """A group query's provider ids, from REST's comma-separated text (`D1, D2` split at its
    commas) or GraphQL's list alike: each trimmed, so both read `" D1"` as D1. None blank, else
    refused naming `argument` and `form`, the caller's name for them and how they are written;
    so are more than MAX_GROUP_PROVIDERS different ones. One named twice is one provider (the
    answer listed `A, A` as asked, and spans computed for A alone)."""
    ids = [p.strip() for p in provider_ids]
    if not ids or not all(ids):
        raise HaloError(f"{argument}: expected {form} of provider ids, none of them blank")
    ids = list(dict.fromkeys(ids))
    if len(ids) > MAX_GROUP_PROVIDERS:
        raise HaloError(f"{argument}: at most {MAX_GROUP_PROVIDERS} providers, got {len(ids)}")
    return ids


def group_mode(mode: str) -> str:
    """A group query's mode, `any` or `all` in any case: REST's spelling (emr.md) and GraphQL's
    enum's (ANY, ALL) alike. Any other is refused, repeated as given."""
    if mode.lower() not in MODES:
        raise HaloError(f"mode must be one of {', '.join(MODES)}, got {echo(mode)}")
    return mode.lower()


def group_availability(store: StoreResource, feed: str, provider_ids: list[str], mode: str = "any",
                       first: dt.date | None = None, last: dt.date | None = None) -> list[GroupSpan]:
    """When any (or all) of `provider_ids` (read by `group_ids`) are free, over local dates [first, last]
    (default: `pipeline.today()`, the earliest date anywhere, and the 6 days after), from each one's
    spans of those dates as `spans` reads them, whole (a night past midnight is its first date's):
    the instants in a span of those dates of at least one of them, and at each, who is free then (a
    span of any date: on D at 01:00, A still in D-1's night is free beside B in D's morning), `any`
    when one is, `all` when every one is (providers a day apart share no whole date: a doctor's
    evening is a room's morning). So `any` holds `all`, and a group of one is that provider's spans,
    touching ones joined."""
    _known_feed(feed)
    mode = group_mode(mode)
    storable(*provider_ids)
    check_range(first, last)  # the dates given, before a default is reckoned from them
    default = None if first else "today at UTC-12"
    first = first or pipeline.today()
    last = last or min(first + dt.timedelta(days=DEFAULT_SLOT_DAYS - 1), LATEST_DATE)  # as bookable_slots
    check_range(first, last, default)
    dated = _read_free(store, feed, provider_ids, first, last)
    # everyone's free time, whatever its date, over those instants: a night of `last` ends before 00:00 of `last` + 2
    zones = provider_zones(store, feed, provider_ids).values()
    around = _read_free(store, feed, provider_ids, *_span_dates(
        min(dt.datetime.combine(first, dt.time(), tzinfo=zone) for zone in zones),
        max(dt.datetime.combine(last + dt.timedelta(days=2), dt.time(), tzinfo=zone) for zone in zones), zones))
    return group_spans(around, mode, within=[piece for pieces in dated.values() for piece in pieces])


def _read_free(store: StoreResource, feed: str, provider_ids: list[str], first: dt.date, last: dt.date) -> dict[str, list]:
    """Each provider's free (start, end) with span_date in [first, last], unchecked: for
    `group_availability` and a window reckoned from a range already checked."""
    found: dict[str, list] = {p: [] for p in provider_ids}
    # One indexed lookup per provider: with `provider_id IN (...)` PostgreSQL, before its
    # statistics catch up with a bulk load, scanned the feed's whole date range (200 ms for 20
    # providers over 5,000, instead of 0.2 ms)
    branch = "SELECT provider_id, start_at, end_at FROM available_spans WHERE feed = ? AND provider_id = ? AND span_date >= ? AND span_date <= ?"
    with store.read() as conn:
        codec = Codec(conn)
        params = [v for p in sorted(found) for v in (feed, p, codec.date(first), codec.date(last))]
        for provider, start, end in codec.select(" UNION ALL ".join([branch] * len(found)), params):
            found[provider].append((codec.read_ts(start).replace(tzinfo=dt.UTC), codec.read_ts(end).replace(tzinfo=dt.UTC)))
    return found


def next_available(store: StoreResource, feed: str, provider_id: str, minutes: int, after: dt.datetime | None = None,
                   slot_type: str | None = None) -> tuple[dt.datetime, dt.datetime]:
    """The earliest free slot of `minutes` starting at or after `after` (default now). A feed with
    `slot_rules` (or a request naming `slot_type`) answers the earliest bookable slot of that type
    (default: default) under its rules (buffers, notice, alignment, horizon), `minutes` long."""
    if not 1 <= minutes <= 24 * 60:
        raise HaloError(f"durationMinutes must be 1..1440, got {minutes}")
    storable(provider_id)
    from halo_platform.availability.feeds import get_feed

    config = get_feed(feed).options.get("slot_rules")
    now = pipeline.utcnow()
    try:
        after = (after or now).astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 is before year 1 in UTC
        raise HaloError(f"after: {after} is out of range ({EARLIEST_DATE} to {LATEST_DATE})") from None
    in_calendar(after.date(), "after")
    # instants are answered to the whole second: a slot starting at 09:10:00.5 was answered as
    # 09:10:00Z, before the `after` asked (the default, now, has its fraction too)
    after += dt.timedelta(microseconds=-after.microsecond % 1_000_000)
    rules = None
    if config is not None or slot_type is not None:
        rules = dataclasses.replace(resolve_rules(feed, config, provider_id, slot_type), duration_minutes=minutes)
    # a slot at `after` needs its buffer before free: the span ending there is read too, so that
    # the answer is the first of what /v1/slots lists
    reach = after - dt.timedelta(minutes=rules.buffer_before if rules else 0)
    with store.read() as conn:
        codec = Codec(conn)
        rows = codec.select("SELECT start_at, end_at FROM available_spans WHERE feed = ? AND provider_id = ? AND end_at > ? ORDER BY start_at",
                            (feed, provider_id, codec.ts(reach.replace(tzinfo=None))))
    free = [(codec.read_ts(s).replace(tzinfo=dt.UTC), codec.read_ts(e).replace(tzinfo=dt.UTC)) for s, e in rows]
    if rules is None:
        found = pipeline.earliest_slots(free, after, minutes)
    else:
        found = next((s for s in bookable(free, rules, provider_zone(store, feed, provider_id), now) if s[0] >= after), None)
    if found is None:
        raise NotFoundError(f"no free {minutes}-minute slot for {feed}/{provider_id} after {iso_z(after)}")
    return found


@dataclass(frozen=True)
class Slots:
    feed: str
    provider_id: str
    slot_type: str
    rules: SlotRules
    slots: list[tuple[dt.datetime, dt.datetime]]
    searched: tuple[dt.date, dt.date] | None  # the local dates searched: those of the range a slot can start on

    def as_json(self) -> dict:
        searched = {"from": self.searched[0].isoformat(), "to": self.searched[1].isoformat()} if self.searched else None
        return {"feed": self.feed, "provider_id": self.provider_id, "type": self.slot_type, "rules": self.rules.as_json(),
                "searched": searched, "slots": [{"start_at": iso_z(s), "end_at": iso_z(e)} for s, e in self.slots]}


def slot_rules(feed: str, provider_id: str, slot_type: str | None) -> SlotRules:
    from halo_platform.availability.feeds import get_feed

    return resolve_rules(feed, get_feed(feed).options.get("slot_rules"), provider_id, slot_type)


def provider_slot_types(feed: str, provider_id: str) -> list[str]:
    """Every appointment type the feed's slot rules define for the provider, the default first."""
    from halo_platform.availability.feeds import get_feed

    return slot_types(get_feed(feed).options.get("slot_rules"), provider_id)


def provider_zone(store: StoreResource, feed: str, provider_id: str) -> dt.tzinfo:
    """The provider's timezone (UTC for a provider without working hours, who has no spans)."""
    return provider_zones(store, feed, [provider_id])[provider_id]


def provider_zones(store: StoreResource, feed: str, provider_ids: list[str]) -> dict[str, dt.tzinfo]:
    """Each provider's timezone, as `provider_zone`."""
    with store.read() as conn:
        return zones_of(Codec(conn), feed, provider_ids)


def zones_of(codec: Codec, feed: str, provider_ids: list[str]) -> dict[str, dt.tzinfo]:
    """Each provider's timezone on `codec`'s connection: its template's, UTC without one."""
    from halo_platform.availability.span_store import load_hours

    tz_of = load_hours(codec, feed, provider_ids)[1]
    return {p: ZoneInfo(tz_of[p]) if p in tz_of else dt.UTC for p in provider_ids}


def first_start(now: dt.datetime, rules: Iterable[SlotRules]) -> dt.datetime:
    """The earliest instant a slot under one of `rules` may start: now and the least min_notice_minutes."""
    return now + dt.timedelta(minutes=min(r.min_notice_minutes for r in rules))


def slot_start_dates(lo: dt.datetime, hi: dt.datetime, tz: dt.tzinfo, now: dt.datetime,
                     rules: Iterable[SlotRules]) -> tuple[dt.date, dt.date] | None:
    """The local dates of `tz` on which a slot starting in [lo, hi) can start under one of `rules`:
    from its min_notice_minutes after now to its max_days_ahead after now, inside the calendar,
    where spans are; None when there is none. A range reaching a year and more ahead is mostly days
    no slot starts on: those are neither searched nor counted against MAX_QUERY_DAYS (nor, under a
    day's notice, now's own date: a type of a year ahead came to 367 dates, refused)."""
    rules = list(rules)
    lo = max(lo, first_start(now, rules), dt.datetime.combine(EARLIEST_DATE, dt.time(), tzinfo=tz))
    hi = min(hi, horizon(now, max(r.max_days_ahead for r in rules), tz),
             dt.datetime.combine(LATEST_DATE + dt.timedelta(days=1), dt.time(), tzinfo=tz))
    if hi <= lo:
        return None
    return lo.astimezone(tz).date(), (hi - dt.timedelta(microseconds=1)).astimezone(tz).date()


def _slot_window(first: dt.date, last: dt.date, rules: SlotRules, zones: list[dt.tzinfo]) -> tuple[dt.date, dt.date]:
    """The span dates (`_span_dates`) that slots starting on local dates [first, last] of `zones[0]`
    (the provider's) may need, in every zone of `zones` (its own and those of the providers it must
    be free with): those of the instants from the buffer before the first day to the duration and
    buffer after the last, which may be two days apart across the date line (00:00 at
    Pacific/Kiritimati is 22:00 two days before at Etc/GMT+12)."""
    start = dt.datetime.combine(first, dt.time(), tzinfo=zones[0]) - dt.timedelta(minutes=rules.buffer_before)
    end = (dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=zones[0])
           + dt.timedelta(minutes=rules.duration_minutes + rules.buffer_after))
    return _span_dates(start, end, zones)


def _span_dates(start: dt.datetime, end: dt.datetime, zones: Iterable[dt.tzinfo]) -> tuple[dt.date, dt.date]:
    """The span dates holding the free time of instants [start, end] in any of `zones`: the local
    dates of both ends in each zone, one day more back (a night running past midnight belongs to
    the day it starts). Within the calendar: no span is stored outside it."""
    dates = [t.astimezone(zone).date() for zone in zones for t in (start, end)]
    return max(min(dates) - dt.timedelta(days=1), EARLIEST_DATE), min(max(dates), LATEST_DATE)


def bookable_slots(store: StoreResource, feed: str, provider_id: str, slot_type: str | None = None,
                   first: dt.date | None = None, last: dt.date | None = None, now: dt.datetime | None = None,
                   together_with: tuple[str, ...] = (), limit: int | None = None) -> Slots:
    """The slots of `slot_type` bookable now with the provider's local start date in [first, last]
    (default: the provider's date when the type's notice ends, and the 6 days after: a type booked
    weeks ahead had a default week with no slot). With `together_with`, the slots when
    the provider and those all are free (a FHIR Schedule of several actors), under the provider's
    rules and timezone. The dates searched are those of the range on which a slot can start
    (`slot_start_dates`), at most MAX_QUERY_DAYS of them. More than `limit` slots is refused
    (HaloError) once the one past it is found."""
    rules = slot_rules(feed, provider_id, slot_type)
    storable(provider_id)
    if len(actors := {provider_id, *together_with}) > MAX_GROUP_PROVIDERS:  # a Schedule's actors come from feed data
        raise HaloError(f"at most {MAX_GROUP_PROVIDERS} providers are searched free together, this schedule has {len(actors)}")
    check_range(first, last, bounded=False)  # the dates given, before a default is reckoned from them
    now = now or pipeline.utcnow()
    zones = provider_zones(store, feed, [provider_id, *together_with])
    tz = zones[provider_id]
    default = None if first else "the provider's today" if not rules.min_notice_minutes else "the provider's date when the type's notice ends"
    first = first or first_start(now, [rules]).astimezone(tz).date()
    last = last or min(first + dt.timedelta(days=DEFAULT_SLOT_DAYS - 1), LATEST_DATE)
    check_range(first, last, default, bounded=False)
    searched = slot_start_dates(dt.datetime.combine(first, dt.time(), tzinfo=tz),
                                dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=tz), tz, now, [rules])
    if searched is None:
        return Slots(feed, provider_id, slot_type or DEFAULT_TYPE, rules, [], None)
    first, last = searched
    check_length(first, last, reckoned=f", the days from now on which slots of type {slot_type or DEFAULT_TYPE} can start: give an earlier to")
    # the caller's range is what the limits hold: the wider window is read unchecked
    window = _slot_window(first, last, rules, [tz, *zones.values()])
    if together_with:
        group = group_spans(_read_free(store, feed, [provider_id, *together_with], *window), "all")
        free = [(g.start_at, g.end_at) for g in group]
    else:
        free = [(x.start_at, x.end_at) for x in _read_spans(store, feed, provider_id, *window)]
    chosen = list(itertools.islice(((s, e) for s, e in bookable(free, rules, tz, now) if first <= s.astimezone(tz).date() <= last),
                                   None if limit is None else limit + 1))
    if limit is not None and len(chosen) > limit:
        raise TooManySlotsError(f"more than {limit} slots from {first} to {last} ({MAX_LISTED_SLOTS} at most in one answer): ask for fewer days")
    return Slots(feed, provider_id, slot_type or DEFAULT_TYPE, rules, chosen, searched)


def schedule_actors(store: StoreResource, schedule_id: str) -> tuple[str, list[str]] | None:
    """The feed and providers of FHIR `Schedule/<schedule_id>`: a Schedule a feed received (its
    Practitioner actors), else `<feed>.<provider id>`, one provider's schedule; None when unknown."""
    from halo_platform.availability.feeds import load_feeds

    rows = []
    with store.read() as conn:
        codec = Codec(conn)
        for name in sorted(load_feeds()):  # (feed, item id) is the key: a lookup per feed, never a scan
            rows += codec.select(
                "SELECT b.feed, b.provider_id FROM scheduling_item_blocks b JOIN scheduling_items i "
                "ON i.feed = b.feed AND i.item_id = b.item_id WHERE b.feed = ? AND b.item_id = ? AND b.start_ts IS NULL "
                "AND b.provider_id IS NOT NULL AND i.deleted = ? ORDER BY b.n", (name, f"Schedule/{schedule_id}", False))
    feeds = sorted({f for f, _ in rows})
    if len(feeds) > 1:
        raise HaloError(f"Schedule/{schedule_id} is in several feeds ({', '.join(feeds)}); ask for <feed>.<provider id>")
    if feeds:
        return feeds[0], [p for _, p in rows]
    feed, _, provider = schedule_id.partition(".")
    if provider and feed in load_feeds():
        return feed, [provider]
    return None


NEXT_SLOTS_LOOKAHEAD = dt.timedelta(days=14)


def refresh_next_slots(store: StoreResource, feed: str, now: dt.datetime) -> int:
    """Rewrite `next_available_slots` of `feed`: for every provider and every appointment type
    with rules for it, the earliest slot bookable at `now` that starts in the next two weeks
    (`bookable_slots` searches the whole horizon). The spans are read as far as such a slot's
    free time may reach past them, and before now as far as its buffer before may: a span that
    ended before now joins the one after it (read from now only, a slot at 00:15 with 30 minutes'
    buffer after a night's spans touching at midnight was missed, and 00:30 stored)."""
    from halo_platform.availability.feeds import get_feed
    from halo_platform.availability.span_store import spans_transaction

    config = get_feed(feed).options.get("slot_rules")
    # one writer of the feed's spans and slots at a time: of two runs at once, the second deleted
    # the rows it saw, not the first's new ones, and its insert failed on them
    with spans_transaction(store, feed) as conn:
        codec = Codec(conn)
        naive_now = now.astimezone(dt.UTC).replace(tzinfo=None)
        by_provider: dict[str, list] = defaultdict(list)
        # spans start and end on a grid of times that providers share: each stored value is read once
        instant = functools.cache(lambda value: codec.read_ts(value).replace(tzinfo=dt.UTC))
        for provider, start, end in codec.select_plain(
                "SELECT provider_id, start_at, end_at FROM available_spans WHERE feed = ? AND end_at > ? AND start_at < ? "
                "ORDER BY provider_id, start_at", (feed, codec.ts(naive_now - LONGEST_LEAD), codec.ts(naive_now + NEXT_SLOTS_LOOKAHEAD + LONGEST_REACH))):
            by_provider[provider].append((instant(start), instant(end)))
        zones = zones_of(codec, feed, list(by_provider))
        rows = []
        stamp = codec.ts(pipeline.utcnow().replace(tzinfo=None))
        for provider, found in by_provider.items():
            for slot_type in slot_types(config, provider):
                rules = resolve_rules(feed, config, provider, slot_type)
                if (slot := next(bookable(found, rules, zones[provider], now), None)) and slot[0] < now + NEXT_SLOTS_LOOKAHEAD:
                    rows.append((feed, provider, slot_type, rules.duration_minutes,
                                 codec.ts(slot[0].replace(tzinfo=None)), codec.ts(slot[1].replace(tzinfo=None)), stamp))
        codec.execute_many("DELETE FROM next_available_slots WHERE feed = ?", [(feed,)])
        return codec.insert("next_available_slots",
                            ("feed", "provider_id", "slot_type", "duration_minutes", "start_at", "end_at", "computed_at"), rows)


def export_csv(store: StoreResource, out: Path) -> int:
    """Every span, header `feed,provider_id,span_date,start_at,end_at`, sorted by those columns
    (the text ones character by character, whatever the database's collation: MariaDB's default
    ignores case). Written whole or not at all: a failure leaves `out` as it was. Its folder must
    exist: one that does not is refused, not created (a mistyped path made folders anywhere)."""
    import csv

    try:
        is_dir = out.is_dir()
    except OSError as exc:  # a name too long for the system: the OSError's number and stack, exit 1
        raise HaloError(f"cannot write {out}: {exc.strerror or exc}") from None
    if is_dir:
        raise HaloError(f"cannot write {out}: it is a directory")
    with store.read() as conn:
        codec = Codec(conn)
        rows = codec.select("SELECT feed, provider_id, span_date, start_at, end_at FROM available_spans "
                            "ORDER BY feed, provider_id, span_date, start_at, end_at")
    rows.sort(key=lambda row: (row[0], row[1]))  # stable: each provider's spans keep the database's date order
    try:
        # a link is followed, as a plain open would: replaced, the link itself became a copy (and
        # /dev/stdout, as root, a regular file for every later writer); a pipe or a terminal is
        # written as it comes, where a rename can only replace it
        # (asked of `out`, the link followed by the system: /dev/stdout into a pipe resolves, by
        # name, to `pipe:[...]`, a file that does not exist, and was refused as a missing one)
        target = Path(os.path.realpath(out)) if out.is_symlink() else out
        with (replaced_whole(target, mode="w", newline="") if not out.exists() or out.is_file()
              else open(out, "w", newline="")) as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["feed", "provider_id", "span_date", "start_at", "end_at"])
            for feed, provider, day, start, end in rows:
                writer.writerow([feed, provider, codec.read_date(day).isoformat(),
                                 iso_z(codec.read_ts(start).replace(tzinfo=dt.UTC)), iso_z(codec.read_ts(end).replace(tzinfo=dt.UTC))])
    except OSError as exc:
        raise HaloError(f"cannot write {out}: {exc.strerror or exc}") from None
    return len(rows)


def quarantined(store: StoreResource, feed: str | None = None, limit: int = 100, newest: bool = False,
                before: int | None = None) -> list[dict]:
    """The first `limit` quarantined records in the order they were quarantined; `newest`: the
    last `limit`, newest first (the table keeps every record ever quarantined), those quarantined
    before the record of id `before` if given (the next page of older ones). A record is
    `superseded` when its file's current content is another (a file replaced in place; not when the
    content it came from landed again since): it is no longer the file's. A file's records are
    written with its processed row (`own`), at its `processed_at`."""
    t, own, other = EmrQuarantine.__table__, ProcessedFile.__table__.alias("own"), ProcessedFile.__table__.alias("other")
    superseded = sa.exists().where(own.c.feed == t.c.feed, own.c.path == t.c.file, own.c.processed_at == t.c.created_at,
                                   other.c.feed == t.c.feed, other.c.path == t.c.file, became_current(other) > became_current(own))
    query = sa.select(t.c.id, t.c.feed, t.c.file, t.c.position, t.c.reason, t.c.raw, superseded.label("superseded"))
    if feed:
        _known_feed(feed)
        query = query.where(t.c.feed == feed)
    if before is not None:
        query = query.where(t.c.id < before)
    with store.read() as conn:
        rows = conn.execute(query.order_by(t.c.id.desc() if newest else t.c.id).limit(int(limit))).all()
    return [{"id": i, "feed": f, "file": p, "position": n, "reason": r, "raw": raw, "superseded": bool(later)}
            for i, f, p, n, r, raw, later in rows]


def shown_record(record: dict) -> dict:
    """A quarantined record as a person is shown it (the Control Center, `halo emr quarantine`):
    its reason and raw text masked as log lines are. A reason quotes the value it refused
    (`invalid start '+33 6 12 34 56 78'`), and a field can hold a patient's phone number or address."""
    return {**record, "reason": mask_text(record["reason"]), "raw": mask_text(record["raw"])}


def feed_names() -> list[str]:
    from halo_platform.availability.feeds import load_feeds

    return sorted(load_feeds())


def providers_of(store: StoreResource, feed: str) -> list[str]:
    """The provider ids that have spans in `feed` (what a person can pick to see a calendar of)."""
    _known_feed(feed)
    t = AvailableSpan.__table__
    with store.read() as conn:
        return list(conn.execute(sa.select(t.c.provider_id).where(t.c.feed == feed).distinct().order_by(t.c.provider_id)).scalars())


def provider_timezone(store: StoreResource, feed: str, provider_id: str) -> str | None:
    """The timezone of the provider's newest working hours: the one its spans' local dates are in."""
    from halo_platform.availability.span_store import load_hours

    with store.read() as conn:
        return load_hours(Codec(conn), feed, [provider_id])[1].get(provider_id)


def freshness(store: StoreResource, feed: str) -> dict:
    """How current a feed's spans are: its last processed file (when, events, quarantined), how
    many files were processed, when spans were last computed, the window they cover, and the lag
    of its newest received event against the feed's `max_lag_minutes`."""
    from halo_platform.availability.feeds import get_feed
    from halo_platform.availability.freshness import lag_verdicts

    (lag,) = lag_verdicts(store, [get_feed(feed)])
    files, spans_t, windows = ProcessedFile.__table__, AvailableSpan.__table__, EmrWindow.__table__
    with store.read() as conn:
        last = conn.execute(sa.select(files.c.path, files.c.processed_at, files.c.events, files.c.quarantined)
                            .where(files.c.feed == feed).order_by(files.c.processed_at.desc()).limit(1)).first()
        count = conn.execute(sa.select(sa.func.count()).select_from(files).where(files.c.feed == feed)).scalar_one()
        computed = conn.execute(sa.select(sa.func.max(spans_t.c.computed_at)).where(spans_t.c.feed == feed)).scalar()
        window = conn.execute(sa.select(windows.c.as_of, windows.c.horizon_days).where(windows.c.feed == feed)).first()
    return {
        "files": count,
        "last_file": last.path if last else None, "last_processed_at": last.processed_at if last else None,
        "last_events": last.events if last else None, "last_quarantined": last.quarantined if last else None,
        "spans_computed_at": computed,
        "window_as_of": window.as_of if window else None, "horizon_days": window.horizon_days if window else None,
        "received_at": lag.freshness.received_at, "lag_seconds": lag.freshness.lag_seconds,
        "max_lag_minutes": lag.limit_minutes, "stale": lag.stale,
    }
