"""The span engine: pure functions, no store, no Dagster. `ProviderCalendar.spans` is the
reference, one provider-date at a time: the stored spans are computed in bulk by
`span_vector.py`, which the property tests compare with it.

For provider P and local date D: P's working intervals for D's weekday (an interval
whose end is not after its start runs past midnight and belongs to D) become
instants through `zoneinfo` with fold=0 (a non-existent wall time moves forward by
the gap, an ambiguous one takes its first occurrence); time off and blocking
appointments are subtracted; what touches or overlaps is merged; empty pieces drop.

One rule the spec leaves open, so spans stay non-overlapping per provider: an
overnight interval of D-1 owns the instants it covers, so D's intervals are cut by it.

Instants are integer seconds since the epoch (UTC).
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from halo_platform.availability.feeds.base import zone

Interval = tuple[int, int]
_ONE_DAY = dt.timedelta(days=1)


@functools.lru_cache(maxsize=200_000)
def local_instant(tz: str, day: dt.date, minute: int) -> int:
    """The instant of wall time `minute` after local midnight of `day` (fold=0)."""
    wall = dt.datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=zone(tz))
    return int(wall.timestamp())


def wall_instant(tz: str, wall: dt.datetime) -> int:
    """A naive provider-local datetime -> instant (fold=0)."""
    return int(wall.replace(tzinfo=zone(tz), fold=0).timestamp())


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted union; touching or overlapping intervals join, empty ones drop."""
    out: list[list[int]] = []
    for s, e in sorted(intervals):
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1][1] = e
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def subtract(base: Sequence[Interval], cuts: Sequence[Interval]) -> list[Interval]:
    """`base` minus `cuts`, both merged (sorted, disjoint)."""
    out: list[Interval] = []
    i = 0
    for s, e in base:
        while i < len(cuts) and cuts[i][1] <= s:
            i += 1
        j, cur = i, s
        while j < len(cuts) and cuts[j][0] < e:
            if cuts[j][0] > cur:
                out.append((cur, cuts[j][0]))
            cur = max(cur, cuts[j][1])
            j += 1
        if cur < e:
            out.append((cur, e))
    return out


def working_intervals(tz: str, weekly: dict[int, list[tuple[int, int]]], day: dt.date) -> list[Interval]:
    """D's working intervals as instants (unmerged)."""
    out = []
    for start, end in weekly.get(day.weekday(), ()):
        out.append((local_instant(tz, day, start), local_instant(tz, day + _ONE_DAY if end <= start else day, end)))
    return out


@functools.lru_cache(maxsize=100_000)
def _day_work(tz: str, weekly_key: tuple, day: dt.date) -> tuple[tuple[Interval, ...], tuple[Interval, ...]]:
    """(D's merged working intervals, D-1's intervals that reach into D); many providers share a
    template and a timezone, so this is computed once per (timezone, template, date)."""
    weekly = {d: list(v) for d, v in weekly_key}
    work = tuple(merge(working_intervals(tz, weekly, day)))
    previous = tuple(iv for iv in working_intervals(tz, weekly, day - _ONE_DAY) if work and iv[1] > work[0][0])
    return work, previous


@dataclass
class ProviderCalendar:
    """Everything that decides one provider's spans: timezone, weekly template, and
    the merged unavailable intervals (time off + blocking appointments)."""

    tz: str | None
    weekly: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    blocked: list[Interval] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.blocked = merge(self.blocked)
        self._ends = [e for _, e in self.blocked]
        self._key = tuple(sorted((d, tuple(sorted(v))) for d, v in self.weekly.items()))

    def spans(self, day: dt.date) -> list[Interval]:
        if not self.tz or not self.weekly:
            return []
        work, previous = _day_work(self.tz, self._key, day)
        if not work:
            return []
        lo, hi = work[0][0], work[-1][1]
        i = bisect.bisect_right(self._ends, lo)
        cuts = []
        while i < len(self.blocked) and self.blocked[i][0] < hi:
            cuts.append(self.blocked[i])
            i += 1
        if not cuts and not previous:
            return list(work)
        cuts.extend(previous)
        return subtract(work, merge(cuts))


_EPOCH = dt.datetime(1970, 1, 1)


def calendar_from_rows(tz: str | None, hours: Iterable[tuple[int, int, int]], blocks: Iterable[tuple]) -> ProviderCalendar:
    """Build a calendar from stored rows: hours (weekday, start_minute, end_minute) and blocks
    (start, end, is_local[, end_elapsed]) as seconds since 1970 read as UTC; a local block is a
    wall time in the provider's timezone, resolved here; an elapsed one ends `end - start`
    seconds after its start's instant (a local start and a duration)."""
    weekly: dict[int, list[tuple[int, int]]] = {}
    for weekday, start, end in hours:
        weekly.setdefault(weekday, []).append((start, end))
    intervals = []
    for start, end, local, *elapsed in blocks:
        if not local:
            intervals.append((start, end))
        elif tz:
            begin = wall_seconds_instant(tz, start)
            intervals.append((begin, begin + end - start if elapsed and elapsed[0] else wall_seconds_instant(tz, end)))
    return ProviderCalendar(tz, weekly, intervals)


@functools.lru_cache(maxsize=500_000)
def wall_seconds_instant(tz: str, wall_seconds: int) -> int:
    """A wall time given as seconds since 1970 (read as UTC) -> the instant in `tz` (fold=0).
    Cached: booked times sit on a grid and repeat across providers."""
    return wall_instant(tz, _EPOCH + dt.timedelta(seconds=wall_seconds))


def horizon(as_of: dt.date, days: int) -> list[dt.date]:
    return [as_of + dt.timedelta(days=i) for i in range(days)]


def date_runs(dates: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Sorted dates grouped into inclusive runs of consecutive days."""
    runs: list[list[dt.date]] = []
    for d in sorted(dates):
        if runs and (d - runs[-1][1]).days == 1:
            runs[-1][1] = d
        else:
            runs.append([d, d])
    return [(a, b) for a, b in runs]
