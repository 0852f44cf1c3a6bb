"""Quiet hours, pure: when a NORMAL/LOW message due at `now` may go out in the recipient's local
time. The window is per channel, with per-country overrides (`quiet_hours` in the providers
file); the recipient's time zone is the message's `timezone`, else the phone number's zone
(phonenumbers' data, which tells apart the zones of a country that spans several, where the
number names one), else the country's. A country of several zones whose number tells none of
them (a Russian mobile: Kaliningrad to Kamchatka) may be any of them: the message waits until
it is outside the quiet hours in each (`quiet_until`)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phone_zones


@dataclass(frozen=True)
class QuietHours:
    """Local times: messages wait from `start` until `end` (crossing midnight when end <= start)."""

    start: dt.time
    end: dt.time

    def contains(self, local: dt.time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@functools.cache
def country_zones() -> dict[str, tuple[str, ...]]:
    """ISO country -> its IANA zones, in `zone.tab` order: by no rule of population (the first of RU is
    Europe/Kaliningrad, of CA America/St_Johns, of AU Australia/Lord_Howe)."""
    zones: dict[str, list[str]] = {}
    text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line and not line.startswith("#"):
            country, _coordinates, zone = line.split("\t")[:3]
            zones.setdefault(country, []).append(zone)
    return {c: tuple(z) for c, z in zones.items()}


def recipient_zones(channel: str, recipient: str, country: str | None, timezone: str | None) -> tuple[ZoneInfo, ...]:
    """The zones the recipient may be in: one where the message or the number tells it, else
    every zone of the country (zone.tab lists them in no order of population: the first of RU is
    Europe/Kaliningrad, UTC+2, of 26 up to UTC+12); none when nothing tells (no quiet hours then)."""
    if timezone:
        return (ZoneInfo(timezone),)
    if channel == "sms":
        # one zone, or none that phonenumbers knows: a number of several (a Russian mobile has every
        # zone of +7, Kazakhstan's first) tells none of them, and the country's are used
        zones = [z for z in phone_zones.time_zones_for_number(phonenumbers.parse(recipient)) if z != phone_zones.UNKNOWN_TIMEZONE]
        if len(zones) == 1:
            return (ZoneInfo(zones[0]),)
    return tuple(map(ZoneInfo, country_zones().get(country or "", ())))


def quiet_until(now: dt.datetime, window: QuietHours | None, zones: Sequence[ZoneInfo]) -> dt.datetime | None:
    """When the quiet hours around `now` end (UTC) in every one of `zones`, or None if `now` is
    outside them in each: the first instant after which none of them is inside its quiet hours.
    Where the zones leave no such instant in a day (quiet hours longer than the day less the
    zones' spread), the end of the quiet hours that hold at `now`."""
    if window is None:
        return None
    at = first = None
    # each step leaves one quiet night of one zone, and a day holds at most two of each zone's
    for _ in range(2 * len(zones) + 1):
        ends = [end for zone in zones if (end := _zone_quiet_until(at or now, window, zone)) is not None]
        if not ends:
            return at
        at = max(ends)
        first = first or at
    return first


def _zone_quiet_until(now: dt.datetime, window: QuietHours, zone: ZoneInfo) -> dt.datetime | None:
    """When the quiet hours around `now` end (UTC) in `zone`, or None if `now` is outside them. The
    end is the first instant at or after `now` whose local time is `end`, DST gaps included."""
    local = now.astimezone(zone)
    if not window.contains(local.time()):
        return None
    day = local.date() if local.time() < window.end else local.date() + dt.timedelta(days=1)
    wall = dt.datetime.combine(day, window.end)
    # a wall time repeated by a fall-back (fold 0, then fold 1): the first one at or after `now`; at
    # 01:10 of the repeated hour, the quiet hours ending 01:30 end at its second 01:30, not the
    # first one, 40 minutes ago
    real = [at for fold in (0, 1) if (at := wall.replace(tzinfo=zone, fold=fold).astimezone(dt.UTC)).astimezone(zone).replace(tzinfo=None) == wall]
    if not real:  # a wall time inside a spring-forward gap does not exist: fold it onto the UTC timeline
        return wall.replace(tzinfo=zone).astimezone(dt.UTC)
    return min((at for at in real if at >= now), default=max(real))
