"""The benchmark's baseline: what a straightforward implementation does — each event applied
alone in its own transaction (read the stored version, replace the item's rows one by one),
then each impacted provider-day recomputed from the stored items, in plain Python."""

from __future__ import annotations

import datetime as dt
import time

from halo_platform.availability.bulk_sql import Codec
from halo_platform.availability.feeds import adapter, load_feeds
from halo_platform.availability.feeds.base import HOURS, ROLE, SCHEDULE, Event
from halo_platform.availability.span_store import load_hours
from halo_platform.availability.spans import calendar_from_rows
from halo_platform.core.store import StoreResource


def _days_of(codec: Codec, feed: str, provider: str, start: dt.datetime, end: dt.datetime, as_of: dt.date, days: int) -> list[dt.date]:
    last = as_of + dt.timedelta(days=days - 1)
    d, out = start.date() - dt.timedelta(days=1), []
    while d <= end.date():
        if as_of <= d <= last:
            out.append(d)
        d += dt.timedelta(days=1)
    return out


def _recompute_day(codec: Codec, feed: str, provider: str, day: dt.date) -> None:
    hours, tz_of = load_hours(codec, feed, [provider])
    lo = codec.ts(dt.datetime.combine(day - dt.timedelta(days=2), dt.time()))
    hi = codec.ts(dt.datetime.combine(day + dt.timedelta(days=3), dt.time()))
    epoch = codec.epoch_sql
    blocks = codec.select(f"SELECT {epoch('start_ts')}, {epoch('end_ts')}, is_local, end_elapsed FROM scheduling_item_blocks WHERE feed = ? AND provider_id = ? "  # noqa: S608
                          "AND start_ts IS NOT NULL AND end_ts > ? AND start_ts < ?", (feed, provider, lo, hi))
    blocks += codec.select(f"SELECT {epoch('s.start_ts')}, {epoch('s.end_ts')}, s.is_local, s.end_elapsed FROM scheduling_item_blocks s JOIN scheduling_item_blocks m "  # noqa: S608
                           "ON m.feed = s.feed AND m.item_id = s.ref AND m.start_ts IS NULL WHERE s.feed = ? AND m.provider_id = ? "
                           "AND s.end_ts > ? AND s.start_ts < ?", (feed, provider, lo, hi))
    cal = calendar_from_rows(tz_of.get(provider), hours[provider],
                             [(s, e, bool(loc), bool(ela)) for s, e, loc, ela in blocks])
    codec.execute_many("DELETE FROM available_spans WHERE feed = ? AND provider_id = ? AND span_date = ?", [(feed, provider, codec.date(day))])
    for s, e in cal.spans(day):
        codec.execute_many("INSERT INTO available_spans (feed, provider_id, span_date, start_at, end_at, computed_at) VALUES (?, ?, ?, ?, ?, ?)",
                           [(feed, provider, codec.date(day), codec.epoch(s), codec.epoch(e), codec.epoch(int(time.time())))])


def apply_event(codec: Codec, feed: str, e: Event, as_of: dt.date, days: int) -> None:
    row = codec.select("SELECT version, deleted, fingerprint FROM scheduling_items WHERE feed = ? AND item_id = ?", (feed, e.item_id))
    if row and (codec.read_ts(row[0][0]), bool(row[0][1]), row[0][2]) >= (e.version, e.deleted, e.fingerprint):
        return
    old = codec.select("SELECT provider_id, ref, start_ts, end_ts FROM scheduling_item_blocks WHERE feed = ? AND item_id = ?", (feed, e.item_id))
    old_hours = codec.select("SELECT DISTINCT provider_id FROM scheduling_item_hours WHERE feed = ? AND item_id = ?", (feed, e.item_id))
    for table in ("scheduling_item_blocks", "scheduling_item_hours", "scheduling_items"):
        codec.execute_many(f"DELETE FROM {table} WHERE feed = ? AND item_id = ?", [(feed, e.item_id)])  # noqa: S608 - fixed names
    codec.execute_many("INSERT INTO scheduling_items (feed, item_id, kind, version, deleted, fingerprint, status, tz, updated_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [(feed, e.item_id, e.kind, codec.ts(e.version), e.deleted, e.fingerprint,
                                                              e.status, e.tz, codec.ts(dt.datetime.now()))])
    if not e.deleted:
        for n, b in enumerate(e.blocks):
            codec.execute_many("INSERT INTO scheduling_item_blocks (feed, item_id, n, provider_id, ref, start_ts, end_ts, is_local, end_elapsed) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [(feed, e.item_id, n, b.provider_id, b.ref, codec.ts(b.start), codec.ts(b.end),
                                                                      b.local, b.elapsed)])
        for n, h in enumerate(e.hours):
            codec.execute_many("INSERT INTO scheduling_item_hours (feed, item_id, n, provider_id, weekday, start_minute, end_minute) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?)", [(feed, e.item_id, n, h.provider_id, h.weekday, h.start_minute, h.end_minute)])
    impacted: set[tuple[str, dt.date]] = set()
    if e.kind in (HOURS, ROLE, SCHEDULE):
        providers = {p for (p,) in old_hours} | {h.provider_id for h in e.hours} | {b.provider_id for b in e.blocks if b.provider_id}
        impacted |= {(p, as_of + dt.timedelta(days=i)) for p in providers for i in range(days)}
    intervals = [(p, r, codec.read_ts(s), codec.read_ts(t)) for p, r, s, t in old if s is not None]
    intervals += [(b.provider_id, b.ref, b.start, b.end) for b in e.blocks if b.start is not None]
    for provider, ref, start, end in intervals:
        members = [provider] if provider else [m for (m,) in codec.select(
            "SELECT provider_id FROM scheduling_item_blocks WHERE feed = ? AND item_id = ? AND start_ts IS NULL", (feed, ref))]
        for p in members:
            impacted |= {(p, d) for d in _days_of(codec, feed, p, start, end, as_of, days)}
    for provider, day in sorted(impacted):
        _recompute_day(codec, feed, provider, day)


def apply_one_by_one(store: StoreResource, events: list[tuple[str, str]], as_of: dt.date, days: int) -> float:
    """Apply (feed, raw record) pairs one at a time; seconds per event."""
    feeds = load_feeds()
    started = time.perf_counter()
    for feed, raw in events:
        parsed = adapter(feeds[feed].format).parse((raw + "\n").encode() if feed != "hl7" else raw.encode(), "x." + feed)
        for e in parsed.events:
            with store.write() as conn:
                apply_event(Codec(conn), feed, e, as_of, days)
    return (time.perf_counter() - started) / len(events)
