"""Bookable slots: the appointments of one type that fit a provider's free spans under the
feed's slot rules. Pure functions; `service` reads the spans and the rules.

Rules come from a feed's `slot_rules` in emr_feeds.yaml, most specific last:

    slot_rules:
      default: {duration_minutes: 30, alignment_minutes: 15}    # every type of the feed
      types:
        new_patient: {duration_minutes: 60, buffer_after: 10}
      providers:
        DR001:
          default: {min_notice_minutes: 240}                    # every type, this provider
          types: {new_patient: {duration_minutes: 45}}

A slot [start, start + duration) is bookable when [start - buffer_before, end + buffer_after)
lies inside one free span (touching spans joined), start is at least `min_notice_minutes`
after now and less than `max_days_ahead` days after it (`horizon`: on the local calendar, the
same wall-clock time that many days later), and the provider's local wall-clock
time at start (at that instant's own UTC offset, so both passes of a repeated DST hour count)
is a whole multiple of `alignment_minutes` after the local day's start: its midnight, or, on a
day whose clock skips midnight (Santiago, Beirut: 00:00 -> 01:00), its first instant (01:00).
Every such start is a slot: slots overlap when the alignment is shorter than the appointment.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from halo_platform.core.errors import HaloError
from halo_platform.core.settings import refuse_unknown_keys
from halo_platform.core.text import cut, echo, visible

DEFAULT_TYPE = "default"
_DAY = 86_400


@dataclass(frozen=True)
class SlotRules:
    duration_minutes: int = 30
    buffer_before: int = 0
    buffer_after: int = 0
    min_notice_minutes: int = 0
    alignment_minutes: int = 15
    max_days_ahead: int = 60

    def as_json(self) -> dict:
        return dataclasses.asdict(self)


_LIMITS = {"duration_minutes": (1, 1440), "buffer_before": (0, 1440), "buffer_after": (0, 1440),
           "min_notice_minutes": (0, 366 * 1440), "alignment_minutes": (1, 1440), "max_days_ahead": (1, 366)}
#: the furthest past its start a slot's free time may reach (the longest duration and buffer after)
LONGEST_REACH = dt.timedelta(minutes=_LIMITS["duration_minutes"][1] + _LIMITS["buffer_after"][1])
#: the furthest before its start a slot's free time may begin (the longest buffer before)
LONGEST_LEAD = dt.timedelta(minutes=_LIMITS["buffer_before"][1])


def _override(rules: SlotRules, values: object, where: str) -> SlotRules:
    if values is None:
        return rules
    if not isinstance(values, Mapping):
        raise HaloError(f"{where}: expected a mapping of slot rules")
    for key, value in values.items():
        if key not in _LIMITS:
            raise HaloError(f"{where}: unknown slot rule {key!r}; known: {', '.join(_LIMITS)}")
        lo, hi = _LIMITS[key]
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise HaloError(f"{where}: {key} must be a whole number in {lo}..{hi}, got {value!r}")
    return dataclasses.replace(rules, **dict(values))


def _section(config: object, key: str, where: str) -> Mapping:
    value = config.get(key) if isinstance(config, Mapping) else None
    if value is not None and not isinstance(value, Mapping):
        raise HaloError(f"{where}.{key}: expected a mapping")
    return value or {}


def resolve_rules(feed: str, config: object, provider_id: str, slot_type: str | None) -> SlotRules:
    """The rules of `slot_type` (default: the feed's default) for `provider_id` from a feed's
    `slot_rules`: built-in defaults, then the feed's default, its type, the provider's default,
    the provider's type. A type neither the feed nor the provider names is refused."""
    where = f"feed {feed}: slot_rules"
    if config is not None and not isinstance(config, Mapping):
        raise HaloError(f"{where}: expected a mapping")
    slot_type = slot_type or DEFAULT_TYPE
    types, providers = _section(config, "types", where), _section(config, "providers", where)
    provider = providers.get(provider_id) or {}
    if not isinstance(provider, Mapping):
        raise HaloError(f"{where}.providers.{provider_id}: expected a mapping")
    provider_types = _section(provider, "types", f"{where}.providers.{provider_id}")
    if slot_type != DEFAULT_TYPE and slot_type not in types and slot_type not in provider_types:
        known = sorted({DEFAULT_TYPE, *types, *provider_types})
        # the caller's type and provider id repeated cut, control characters written out (a 10 kB type came back whole)
        raise HaloError(f"unknown appointment type {echo(slot_type)} for {feed}/{visible(cut(provider_id))}; known: {', '.join(known)}")
    rules = _override(SlotRules(), (config or {}).get("default"), f"{where}.default")
    rules = _override(rules, types.get(slot_type), f"{where}.types.{slot_type}")
    rules = _override(rules, provider.get("default"), f"{where}.providers.{provider_id}.default")
    return _override(rules, provider_types.get(slot_type), f"{where}.providers.{provider_id}.types.{slot_type}")


def check_rules(config: object, where: str) -> None:
    """Every section and rule of a feed's `slot_rules` (`where` names it), checked when the feeds
    file is read: a misspelled section (`defualt:`) was ignored and the built-in rules taken, and a
    misspelled rule of a type was reported only when that type was asked for."""
    if config is None:
        return
    if not isinstance(config, Mapping):
        raise HaloError(f"{where}: expected a mapping")
    refuse_unknown_keys(config, ("default", "types", "providers"), where)
    _override(SlotRules(), config.get("default"), f"{where}.default")
    for name, rules in _section(config, "types", where).items():
        _override(SlotRules(), rules, f"{where}.types.{name}")
    for provider_id, provider in _section(config, "providers", where).items():
        at = f"{where}.providers.{provider_id}"
        if not isinstance(provider, Mapping):
            raise HaloError(f"{at}: expected a mapping")
        refuse_unknown_keys(provider, ("default", "types"), at)
        _override(SlotRules(), provider.get("default"), f"{at}.default")
        for name, rules in _section(provider, "types", at).items():
            _override(SlotRules(), rules, f"{at}.types.{name}")


def slot_types(config: object, provider_id: str) -> list[str]:
    """Every appointment type with rules for `provider_id`, the default first."""
    provider = _section(config, "providers", "slot_rules").get(provider_id) or {}
    return [DEFAULT_TYPE, *sorted((set(_section(config, "types", "slot_rules")) | set(_section(provider, "types", "slot_rules"))) - {DEFAULT_TYPE})]


def _offset(t: dt.datetime, tz: ZoneInfo) -> dt.timedelta:
    return t.astimezone(tz).utcoffset() or dt.timedelta(0)


def _next_offset_change(t: dt.datetime, until: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The first whole second in (t, until] whose UTC offset differs from t's (there is one;
    zone transitions fall on whole seconds)."""
    before = _offset(t, tz)
    lo, hi = math.floor(t.timestamp()), math.ceil(until.timestamp())

    def at(second: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(second, dt.UTC)

    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _offset(at(mid), tz) == before else (lo, mid)
    return at(hi)


@functools.lru_cache(maxsize=4096)  # asked once per slot; a provider's days repeat
def _day_start(day: dt.date, tz: ZoneInfo) -> float:
    """Seconds after midnight at which local date `day` starts on the wall clock: 0, or, where the
    clock skips midnight, the wall time of the day's first instant (the change; 3600 for 00:00 ->
    01:00): a day with no 00:00 had no day-aligned slot."""
    midnight = dt.datetime.combine(day, dt.time())
    after, before = (midnight.replace(tzinfo=tz, fold=fold).astimezone(dt.UTC) for fold in (0, 1))
    if after.astimezone(tz).replace(tzinfo=None) == midnight:
        return 0.0
    first = _next_offset_change(before, after, tz)  # in a gap, fold 1 reads midnight before the change, fold 0 after
    return ((first + _offset(first, tz)).replace(tzinfo=None) - midnight).total_seconds()


def align_up(t: dt.datetime, tz: ZoneInfo, minutes: int) -> dt.datetime:
    """The first instant at or after `t` whose local wall-clock time, at that instant's own UTC
    offset, is its local day's start (`_day_start`) plus a whole multiple of `minutes`."""
    step = minutes * 60
    while True:
        offset = _offset(t, tz)
        local = (t + offset).replace(tzinfo=None)
        since_midnight = (local - local.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()
        since_start = since_midnight - _day_start(local.date(), tz)
        wait = min(-since_start % step, _DAY - since_midnight)  # a day's last step ends at the next midnight
        candidate = t + dt.timedelta(seconds=wait)
        if _offset(candidate, tz) == offset:
            return candidate
        t = _next_offset_change(t, candidate, tz)  # the clock jumped on the way: align from the jump


def joined(spans: list[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    """Sorted spans with touching or overlapping ones joined (a day's last span may continue the next day)."""
    out: list[tuple[dt.datetime, dt.datetime]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def horizon(now: dt.datetime, days: int, tz: dt.tzinfo) -> dt.datetime:
    """The instant `days` local days after `now`: its wall-clock time in `tz` that many dates later
    (a time the clock skips is read at the offset before the change, 02:30 as 03:30), UTC. As 24-hour
    steps it was an hour off the provider's clock when the clocks changed in between."""
    return (now.astimezone(tz) + dt.timedelta(days=days)).astimezone(dt.UTC)


def bookable(spans: list[tuple[dt.datetime, dt.datetime]], rules: SlotRules, tz: ZoneInfo,
             now: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """Every bookable slot (start, end) in `spans` (aware UTC instants), in order."""
    duration = dt.timedelta(minutes=rules.duration_minutes)
    before, after = dt.timedelta(minutes=rules.buffer_before), dt.timedelta(minutes=rules.buffer_after)
    earliest = now + dt.timedelta(minutes=rules.min_notice_minutes)
    ends = horizon(now, rules.max_days_ahead, tz)
    for span_start, span_end in joined(spans):
        last = span_end - after - duration
        start = align_up(max(span_start + before, earliest), tz, rules.alignment_minutes)
        while start <= last and start < ends:
            yield start, start + duration
            start = align_up(start + dt.timedelta(seconds=1), tz, rules.alignment_minutes)
