"""Asset checks on `available_spans`: pure-ish queries over the store, thin Dagster shells."""


import datetime as dt
from collections import defaultdict

import dagster as dg
import sqlalchemy as sa

from halo_platform.availability.bulk_sql import Codec
from halo_platform.availability.feeds import DEFAULT_QUARANTINE_THRESHOLD, load_feeds
from halo_platform.availability.freshness import LagVerdict, lag_verdicts
from halo_platform.availability.span_store import load_hours
from halo_platform.availability.spans import merge, working_intervals
from halo_platform.availability.tables import ProcessedFile
from halo_platform.core.failures import masked
from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource

SAMPLE_PROVIDERS = 300  # providers per feed whose every span is checked against their working hours
# The quarantine rate is of the files processed in this window: over a feed's whole history, a new file
# entirely quarantined (an export in a changed format) barely moved the rate of a feed of a million events.
QUARANTINE_WINDOW = dt.timedelta(hours=24)


def overlapping_spans(store: StoreResource) -> list[tuple]:
    """(feed, provider, span_date, start_at) of every span starting before the previous one ends.
    The previous span is found by a step back along the table's key (feed, provider, start): over
    the 750k spans of the 1M-event bench, 0.45 s where a LAG window over the table took 1.1 s."""
    with store.read() as conn:
        return Codec(conn).select("""
            SELECT feed, provider_id, span_date, start_at FROM available_spans s
            WHERE start_at < (SELECT p.end_at FROM available_spans p
                              WHERE p.feed = s.feed AND p.provider_id = s.provider_id AND p.start_at < s.start_at
                              ORDER BY p.start_at DESC LIMIT 1)""")


def spans_outside_hours(store: StoreResource, sample: int = SAMPLE_PROVIDERS) -> tuple[int, list[tuple]]:
    """(spans checked, spans not inside a working interval of their provider-date) over the
    first `sample` providers of each feed. Instants come out of the database as integers, and a
    date's working intervals are computed once per (timezone, template), which providers share."""
    checked, bad = 0, []
    with store.read() as conn:
        codec = Codec(conn)
        epoch = codec.epoch_sql
        for (feed,) in codec.select("SELECT DISTINCT feed FROM available_spans"):
            providers = [p for (p,) in codec.select(
                "SELECT DISTINCT provider_id FROM available_spans WHERE feed = ? ORDER BY provider_id LIMIT ?", (feed, sample))]
            rows, tz_of = load_hours(codec, feed, providers)
            # each provider's (timezone, template) by its number: a span's key held the template itself,
            # hashed whole (a dozen hours rows) for each span (the 1M-event bench's 131k: 0.46 -> 0.34 CPU-s)
            templates: dict[tuple, int] = {(None, ()): 0}
            template_of = {p: templates.setdefault((tz_of.get(p), tuple(sorted(r))), len(templates)) for p, r in rows.items()}
            template = list(templates)
            work_of: dict[tuple, list[tuple[int, int]]] = {}
            for provider, day, start, end in codec.select_in(
                    f"SELECT provider_id, span_date, {epoch('start_at')}, {epoch('end_at')} FROM available_spans "  # noqa: S608 - codec SQL
                    "WHERE feed = ? AND provider_id IN ({keys})", (feed,), providers):
                checked += 1
                key = (template_of.get(provider, 0), day)
                if key not in work_of:
                    (tz, weekly), date = template[key[0]], codec.read_date(day)
                    hours: dict[int, list] = defaultdict(list)
                    for weekday, s, e in weekly:
                        hours[weekday].append((s, e))
                    work_of[key] = merge(working_intervals(tz, hours, date)) if tz else []
                if not any(ws <= start and end <= we for ws, we in work_of[key]):
                    bad.append((feed, provider, codec.read_date(day).isoformat(),
                                dt.datetime.fromtimestamp(start, dt.UTC).replace(tzinfo=None).isoformat()))
    return checked, bad


def quarantine_counts(store: StoreResource, window: dt.timedelta = QUARANTINE_WINDOW) -> dict[str, tuple[int, int]]:
    """feed -> (records quarantined, records) of the files it processed within `window` (by when they were)."""
    files = ProcessedFile.__table__.c
    with store.read() as conn:
        rows = conn.execute(sa.select(files.feed, sa.func.sum(files.events), sa.func.sum(files.quarantined))
                            .where(files.processed_at >= utcnow() - window).group_by(files.feed)).all()
    return {feed: (int(quarantined or 0), int(events or 0) + int(quarantined or 0)) for feed, events, quarantined in rows}


def rates_of(counts: dict[str, tuple[int, int]]) -> dict[str, tuple[float, float]]:
    """feed -> (quarantined share, threshold) of `quarantine_counts`."""
    feeds = load_feeds()
    return {feed: ((quarantined / total) if total else 0.0,
                   feeds[feed].quarantine_threshold if feed in feeds else DEFAULT_QUARANTINE_THRESHOLD)
            for feed, (quarantined, total) in counts.items()}


@dg.asset_check(asset="available_spans", name="spans_do_not_overlap", blocking=True)
@masked
def spans_do_not_overlap(store: StoreResource) -> dg.AssetCheckResult:
    """No span of a (feed, provider) starts before the previous one ends."""
    bad = overlapping_spans(store)
    return dg.AssetCheckResult(passed=not bad, metadata={"overlaps": len(bad), "examples": dg.MetadataValue.json([list(map(str, b)) for b in bad[:10]])})


@dg.asset_check(asset="available_spans", name="spans_inside_working_hours")
@masked
def spans_inside_working_hours(store: StoreResource) -> dg.AssetCheckResult:
    """Every span of a sample of providers per feed lies inside a working interval of its local date."""
    checked, bad = spans_outside_hours(store)
    return dg.AssetCheckResult(passed=not bad, metadata={"spans_checked": checked, "outside": len(bad),
                                                         "examples": dg.MetadataValue.json([list(b) for b in bad[:10]])})


@dg.asset_check(asset="scheduling_items", name="quarantine_rate_below_threshold")
@masked
def quarantine_rate_below_threshold(store: StoreResource) -> dg.AssetCheckResult:
    """The share of quarantined records of the files each feed processed in the last 24 hours
    (`QUARANTINE_WINDOW`) stays under its `quarantine_threshold`."""
    counts = quarantine_counts(store)
    rates = rates_of(counts)
    over = sorted(f for f, (r, t) in rates.items() if r >= t)
    said = [f"{f}: {counts[f][0]} of {counts[f][1]} records quarantined ({rates[f][0]:.1%}); its quarantine_threshold is {rates[f][1]:g}"
            for f in over]
    window = f"{QUARANTINE_WINDOW.total_seconds() / 3600:g} h"
    return dg.AssetCheckResult(passed=not over, severity=dg.AssetCheckSeverity.WARN,
                               description=f"in the files processed in the last {window}: {'; '.join(said)}" if over else None,
                               metadata={"rates": dg.MetadataValue.json({f: round(r, 4) for f, (r, _) in rates.items()}),
                                         "measured_over": f"the files each feed processed in the last {window}",
                                         "over_threshold": dg.MetadataValue.json(over)})


def stale_feed_said(verdict: LagVerdict) -> str:
    """A stale feed in words: its name, how long ago its newest applied event was received, its limit."""
    limit = f"its max_lag_minutes is {verdict.limit_minutes:g}"
    lag = verdict.freshness.lag_seconds
    if lag is None:
        return f"{verdict.freshness.feed}: no event applied yet; {limit}"
    return f"{verdict.freshness.feed}: newest event applied was received {lag // 60} min ago; {limit}"


@dg.asset_check(asset="scheduling_items", name="feeds_within_max_lag")
@masked
def feeds_within_max_lag(store: StoreResource) -> dg.AssetCheckResult:
    """Each feed setting `max_lag_minutes` has applied an event received at most that many
    minutes ago (lag: now minus the landing time of its newest processed file)."""
    verdicts = lag_verdicts(store, list(load_feeds().values()))
    stale = [stale_feed_said(v) for v in verdicts if v.stale]
    return dg.AssetCheckResult(
        passed=not stale,
        # what the alert of a failed check says (`alerts.sensors.alert_for_failed_check`): which feed, and how late
        description=f"stale feed{'s' if len(stale) > 1 else ''}: {'; '.join(stale)}" if stale else None,
        metadata={"lag_seconds": dg.MetadataValue.json({v.freshness.feed: v.freshness.lag_seconds for v in verdicts}),
                  "max_lag_minutes": dg.MetadataValue.json({v.freshness.feed: v.limit_minutes for v in verdicts}),
                  "stale": dg.MetadataValue.json(sorted(v.freshness.feed for v in verdicts if v.stale))})


CHECKS = [spans_do_not_overlap, spans_inside_working_hours, quarantine_rate_below_threshold, feeds_within_max_lag]
