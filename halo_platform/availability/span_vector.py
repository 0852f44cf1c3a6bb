"""The spans of many provider-dates at once, as array operations (NumPy): the bulk path of
`span_store.plan`. `ProviderCalendar.spans` (spans.py) stays the oracle the property test
compares this with, and this keeps its semantics exactly:

the spans of provider P on date D are D's working intervals minus D-1's working intervals
(an overnight interval of D-1 owns what it covers) minus P's blocked intervals, cut into
maximal half-open pieces (what touches joins, empty pieces drop).

Wall times become instants through `spans.local_instant` / `spans.wall_seconds_instant` once
per distinct (timezone, date, minute) / (timezone, wall time), so DST gaps and folds are
zoneinfo's fold=0 as in the oracle. The rest is integer arithmetic: the +1/-1 boundaries of
every (provider, date)'s working and cutting intervals sorted once, two cumulative sums, and
a piece wherever "working and not cut" switches on and off.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from halo_platform.availability.spans import local_instant, wall_seconds_instant

_WEEK = 7
_MINUTES = 1440
_SHIFT = np.int64(1 << 32)  # room for (instant - earliest instant) below a group or provider index
_WALL_BITS = 40  # room for (wall time - earliest wall time) in seconds: 34,000 years
_WALL_MASK = (1 << _WALL_BITS) - 1
_INT64_MAX = int(np.iinfo(np.int64).max)
_DENSE = 4  # keys on a grid of fewer points than this many times their count are ranked by a table (`unique_inverse`)


@dataclass(frozen=True)
class Calendars:
    """Providers 0..n-1 as columns: each one's timezone (None: no spans), its working hours
    (weekday, start and end minute per row), and its blocks (seconds since 1970; `local` ones
    are wall times in its timezone, and of those the `elapsed` ones end `end - start` seconds
    after their start's instant)."""

    tz: Sequence[str | None]
    hours_provider: np.ndarray
    weekday: np.ndarray
    start_minute: np.ndarray
    end_minute: np.ndarray
    block_provider: np.ndarray
    block_start: np.ndarray
    block_end: np.ndarray
    block_local: np.ndarray
    block_elapsed: np.ndarray | None = None  # None: no block is elapsed


def day_spans(cal: Calendars, provider: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spans of the provider-dates (`provider` index into `cal`, `day` a date ordinal), as
    (index of the provider-date, start, end) per span, sorted by that index, then start."""
    provider, day = np.asarray(provider, np.int64), np.asarray(day, np.int64)
    zones = sorted({z for z in cal.tz if z})
    tz_id = np.array([zones.index(z) if z else -1 for z in cal.tz], np.int64)
    if not len(provider) or not len(cal.hours_provider):
        return _empty(), _empty(), _empty()
    wanted = np.flatnonzero(tz_id[provider] >= 0)

    # working intervals of D (what works) and of D-1 (what cuts), as instants
    by_key = np.asarray(cal.hours_provider, np.int64) * _WEEK + np.asarray(cal.weekday, np.int64)
    order = np.argsort(by_key, kind="stable")
    count = np.bincount(by_key, minlength=len(cal.tz) * _WEEK)
    first = np.cumsum(count) - count
    starts_min, ends_min = np.asarray(cal.start_minute, np.int64)[order], np.asarray(cal.end_minute, np.int64)[order]

    def intervals(on: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        key = provider[wanted] * _WEEK + (on + 6) % _WEEK  # ordinal 1 (0001-01-01) is a Monday
        owner, row = _expand(first[key], count[key])
        group, base = wanted[owner], on[owner]
        s, e = starts_min[row], ends_min[row]
        return group, tz_id[provider[group]], base, s, e

    work_g, work_tz, work_day, work_s, work_e = intervals(day[wanted])
    prev_g, prev_tz, prev_day, prev_s, prev_e = intervals(day[wanted] - 1)
    lo_day = int(day.min()) - 1  # D-1 of the first date; an overnight interval ends on D+1 of the last
    width = int(day.max()) + 2 - lo_day
    keys = np.concatenate([
        (work_tz * width + work_day - lo_day) * _MINUTES + work_s,
        (work_tz * width + work_day + (work_e <= work_s) - lo_day) * _MINUTES + work_e,
        (prev_tz * width + prev_day - lo_day) * _MINUTES + prev_s,
        (prev_tz * width + prev_day + (prev_e <= prev_s) - lo_day) * _MINUTES + prev_e])
    distinct, where = unique_inverse(keys)
    instant = np.array([local_instant(zones[k // (width * _MINUTES)], dt.date.fromordinal(lo_day + k // _MINUTES % width), k % _MINUTES)
                        for k in distinct.tolist()], np.int64)[where]
    n, m = len(work_g), len(prev_g)
    work = _nonempty(work_g, instant[:n], instant[n:2 * n])
    prev = _nonempty(prev_g, instant[2 * n:2 * n + m], instant[2 * n + m:])
    if not len(work[0]):
        return _empty(), _empty(), _empty()

    # each provider-date's extent; instants are kept relative to the earliest working instant
    edges = np.flatnonzero(np.r_[True, work[0][1:] != work[0][:-1]])
    extent_g = work[0][edges]
    lo, hi = np.minimum.reduceat(work[1], edges), np.maximum.reduceat(work[2], edges)
    t0, t1 = int(lo.min()), int(hi.max())
    if t1 - t0 >= _SHIFT or len(day) >= _SHIFT:
        raise ValueError("span window too wide for the vectorized computation")

    # blocks, merged per provider, then joined to the provider-dates whose extent they reach
    b_provider, b_start, b_end = _blocks(cal, tz_id, zones, t0, t1)
    b_provider, b_start, b_end = _merge(b_provider, b_start - t0, b_end - t0)
    end_key, start_key = b_provider * _SHIFT + b_end, b_provider * _SHIFT + b_start
    extent_p = provider[extent_g] * _SHIFT
    k = np.searchsorted(end_key, extent_p + lo - t0, side="right")
    count_b = np.maximum(np.searchsorted(start_key, extent_p + hi - t0, side="left") - k, 0)
    owner, row = _expand(k, count_b)
    cut_g = np.concatenate([prev[0], extent_g[owner]])
    cut_s = np.concatenate([np.clip(prev[1], t0, t1) - t0, b_start[row]])
    cut_e = np.concatenate([np.clip(prev[2], t0, t1) - t0, b_end[row]])

    # the sweep: at each distinct (provider-date, instant), after all its boundaries, is it working and not cut?
    g = np.concatenate([work[0], work[0], cut_g, cut_g])
    t = np.concatenate([work[1] - t0, work[2] - t0, cut_s, cut_e])
    n, m = len(work[0]), len(cut_g)
    d_work = np.concatenate([np.ones(n, np.int64), np.full(n, -1), np.zeros(2 * m, np.int64)])
    d_cut = np.concatenate([np.zeros(2 * n, np.int64), np.ones(m, np.int64), np.full(m, -1)])
    key = g * _SHIFT + t
    order = np.argsort(key, kind="stable")
    key = key[order]
    last = np.flatnonzero(np.r_[key[1:] != key[:-1], True])
    free = (np.cumsum(d_work[order])[last] > 0) & (np.cumsum(d_cut[order])[last] == 0)
    switch = np.diff(np.r_[False, free].astype(np.int8))
    begin, end = key[last[switch == 1]], key[last[switch == -1]]  # every provider-date ends neither working nor cut
    return begin // _SHIFT, begin % _SHIFT + t0, end % _SHIFT + t0


def _blocks(cal: Calendars, tz_id: np.ndarray, zones: list[str], t0: int, t1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blocks of providers with a timezone as instants, clipped to [t0, t1] (which holds every
    working instant, so what a block cuts is unchanged); what is empty after that drops."""
    p = np.asarray(cal.block_provider, np.int64)
    s, e = np.asarray(cal.block_start, np.int64).copy(), np.asarray(cal.block_end, np.int64).copy()
    zone = tz_id[p] if len(p) else np.zeros(0, np.int64)
    local = np.asarray(cal.block_local, bool) & (zone >= 0)
    if local.any():
        walls = np.concatenate([s[local], e[local]])
        base = int(walls.min())
        # (timezone, wall) as one integer: a unique over pairs (axis=1) took 1.3 s for the 500k walls of a feed
        key = (np.concatenate([zone[local], zone[local]]) << _WALL_BITS) + walls - base
        distinct, where = np.unique(key, return_inverse=True)
        resolved = np.array([wall_seconds_instant(zones[k >> _WALL_BITS], base + (k & _WALL_MASK)) for k in distinct.tolist()], np.int64)[where]
        if cal.block_elapsed is not None:  # a local start and a duration: the duration counts from the start's instant
            elapsed = np.asarray(cal.block_elapsed, bool)[local]
            ends = resolved[len(walls) // 2:]
            ends[elapsed] = resolved[:len(walls) // 2][elapsed] + (e[local] - s[local])[elapsed]
        s[local], e[local] = resolved[:len(walls) // 2], resolved[len(walls) // 2:]
    s, e = np.clip(s, t0, t1), np.clip(e, t0, t1)
    keep = (zone >= 0) & (s < e)
    return p[keep], s[keep], e[keep]


def _merge(p: np.ndarray, s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per provider, the sorted union of (s, e) (instants >= 0 and below _SHIFT): touching joins."""
    if not len(p):
        return p, s, e
    order = np.argsort(p * _SHIFT + s)  # lexsort((s, p)) of a feed's 250k blocks: 42 -> 16 ms; how ties go changes no union
    p, s, e = p[order], s[order], e[order]
    reach = np.maximum.accumulate(p * _SHIFT + e)  # furthest end so far; never carries into another provider
    fresh = np.flatnonzero(np.r_[True, p[1:] * _SHIFT + s[1:] > reach[:-1]])
    return p[fresh], s[fresh], np.maximum.reduceat(e, fresh)


def unique_inverse(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(keys, return_inverse=True)`. Keys on a grid of fewer points than _DENSE times their
    count (their smallest, plus multiples of their offsets' greatest common divisor) are ranked
    through a table of the grid, without a sort: the 800k (zone, date, minute) keys of a feed's
    working intervals span 450k values (86 -> 12 ms), a feed's 250k span starts sit on its
    appointments' grid (18.5 -> 1.3 ms)."""
    if not len(keys):
        return np.unique(keys, return_inverse=True)
    lo = int(keys.min())
    spread = int(keys.max()) - lo
    if spread > _INT64_MAX:  # further apart, their offsets from the smallest wrapped around (two keys taken for one)
        return np.unique(keys, return_inverse=True)
    offsets = keys - lo
    step = int(np.gcd.reduce(offsets)) or 1
    last = spread // step  # the highest slot
    if last >= _DENSE * len(keys):
        return np.unique(keys, return_inverse=True)
    seen = np.zeros(last + 1, bool)
    slots = offsets // step
    seen[slots] = True
    return np.flatnonzero(seen) * step + lo, (np.cumsum(seen) - 1)[slots]


def _nonempty(g: np.ndarray, s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keep = s < e
    return g[keep], s[keep], e[keep]


def _expand(first: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ranges [first, first + count): (range index, position) of every element, in order."""
    owner = np.repeat(np.arange(len(count)), count)
    offsets = np.cumsum(count) - count
    return owner, np.arange(int(count.sum())) - offsets[owner] + first[owner]


def _empty() -> np.ndarray:
    return np.zeros(0, np.int64)
