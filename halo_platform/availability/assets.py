"""Dagster shells around `pipeline`: the feeds' scheduling items and the standardized
`available_spans`, partitioned by (local date, feed), and `next_available_slots`.

A run covers a rectangle of partitions (a date range x one or more feeds, via the
partition-range tags); it ingests the run's files (or every pending file of its feeds),
then recomputes exactly the dirty provider-dates of those feeds. The partitions are the
bookkeeping of which dates a run touched; the work is set-based, never per partition.
"""


import datetime as dt
from collections.abc import Iterator

import dagster as dg

from halo_platform.availability import pipeline, service
from halo_platform.availability.feeds import load_feeds
from halo_platform.core.errors import fail_once
from halo_platform.core.failures import masked
from halo_platform.core.redact import mask_text
from halo_platform.core.store import StoreResource

GROUP = "availability"
OWNERS = ["team:availability"]
DATE_START = "2026-11-01"
DATE_END_OFFSET = 180  # partitions exist up to today + 180 days: the horizon plus room for an --as-of ahead
# Dagster's retry of a failed run runs every step again: from the failed step (its default), a run failing at
# its end on a file it could not read (`next_available_slots`) was retried without reading the file again
TAGS = {"owner": "availability", "domain": "availability", "halo/emr-processing": "true", "dagster/retry_strategy": "ALL_STEPS"}


def feed_names() -> tuple[str, ...]:
    """The feeds of the feeds file (HALO_FEEDS_FILE), read when asked: a new feed is a new
    entry there, its partitions added by the next run or sensor tick."""
    return tuple(sorted(load_feeds()))


DATES = dg.DailyPartitionsDefinition(start_date=DATE_START, end_offset=DATE_END_OFFSET)
# Feed partitions are dynamic: the definitions do not read the environment when imported.
FEEDS = dg.DynamicPartitionsDefinition(name="emr_feed")
PARTITIONS = dg.MultiPartitionsDefinition({"date": DATES, "feed": FEEDS})


def missing_feeds(instance: dg.DagsterInstance, feeds: list[str]) -> list[str]:
    """The feeds among `feeds` the instance has no partition for yet."""
    known = set(instance.get_dynamic_partitions(FEEDS.name))
    return sorted(set(feeds) - known)


class EmrProcessingConfig(dg.Config):
    """`as_of` (YYYY-MM-DD, default today at UTC-12, the earliest date anywhere) and `horizon_days` bound the spans' local dates;
    `files` (landing paths `feed/name`) limits ingestion to those files, default every pending one."""

    as_of: str | None = None
    horizon_days: int = pipeline.DEFAULT_HORIZON_DAYS
    files: list[str] | None = None

    def window(self, context: dg.AssetExecutionContext) -> tuple[dt.date, int]:
        """(as_of, horizon_days); a launchpad typo fails the run once (`fail_once`: not retried)."""
        try:
            as_of = dt.date.fromisoformat(self.as_of) if self.as_of else pipeline.today()
        except ValueError:
            fail_once(context, f"invalid as_of {self.as_of!r}")
        if not 1 <= self.horizon_days <= 366:
            fail_once(context, f"horizon_days must be 1..366, got {self.horizon_days}")
        return as_of, self.horizon_days


def run_feeds(context: dg.AssetExecutionContext) -> list[str]:
    """The feeds of the run's partitions that the feeds file still has (every feed of it for a run
    without partitions). A feed removed from the file keeps its partitions in the instance: a range
    holding it (a backfill of every feed, a run queued before the removal) processes the others, and
    the run's log names it."""
    keys = context.partition_keys if context.has_partition_key_range or context.has_partition_key else []
    if not keys:
        return list(feed_names())
    asked, known = {PARTITIONS.get_partition_key_from_str(k).keys_by_dimension["feed"] for k in keys}, set(feed_names())
    if gone := sorted(asked - known):
        context.log.warning(f"feed(s) {', '.join(gone)} no longer in the feeds file (HALO_FEEDS_FILE): their partitions are left as they are")
    return sorted(asked & known)


def run_range(feeds: list[str], first: dt.date, last: dt.date) -> dict[str, str]:
    """Tags selecting the partition rectangle [first, last] x feeds (clipped to existing dates)."""
    keys = DATES.get_partition_keys()
    lo, hi = max(first.isoformat(), keys[0]), min(last.isoformat(), keys[-1])
    if lo > hi:
        lo = hi = keys[-1] if first.isoformat() > keys[-1] else keys[0]
    start = dg.MultiPartitionKey({"date": lo, "feed": min(feeds)})
    end = dg.MultiPartitionKey({"date": hi, "feed": max(feeds)})
    return {"dagster/asset_partition_range_start": str(start), "dagster/asset_partition_range_end": str(end)}


@dg.asset(
    partitions_def=PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=GROUP,
    owners=OWNERS,
    kinds={"python", "duckdb", "sql"},
    tags={"halo/layer": "silver"},
)
@masked
def scheduling_items(context: dg.AssetExecutionContext, config: EmrProcessingConfig, store: StoreResource) -> dg.MaterializeResult:
    """The newest version of every scheduling item (appointments, time off, working hours,
    schedules, slots) per (feed, item id), tombstones included; grain: one row per item.
    Ingests the run's landed files (each processed once), quarantines bad records, and
    records the provider-dates the changes dirty. Files that cannot be read (no fault of theirs)
    stay pending and are named in `unread`: the other files' spans and slots are computed, then
    the run fails (`next_available_slots`), so that it is retried."""
    feeds = load_feeds()
    totals = pipeline.ProcessSummary()
    per_feed, unread = {}, {}
    batches = [(feeds[name], pipeline.pending_files(store, feeds[name], config.files)) for name in run_feeds(context)]
    try:
        results = pipeline.ingest_feeds(store, batches)
    except pipeline.UnreadFiles as exc:
        results, unread = exc.results, {"unread": mask_text(str(exc))}
        context.log.error(unread["unread"])
    for name, result in results.items():
        per_feed[name] = f"{result.files} files, {result.events} events, {result.quarantined} quarantined, {result.items_changed} changed"
        totals.add(pipeline.ProcessSummary(result.files, result.events, result.quarantined, result.items_changed, 0))
        context.log.info(f"{name}: {per_feed[name]}")
    return dg.MaterializeResult(metadata={
        "files": totals.files, "events": totals.events, "quarantined": totals.quarantined,
        "items_changed": totals.items_changed, "feeds": dg.MetadataValue.json(per_feed), **unread})


def unread_in_run(context: dg.AssetExecutionContext) -> str | None:
    """The files this run's `scheduling_items` could not read (its `unread`), if any: its
    materializations are the run's first, the other assets depending on it."""
    first = context.instance.get_records_for_run(context.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=1).records
    found = first[0].asset_materialization if first else None
    return found.metadata["unread"].value if found and found.asset_key == scheduling_items.key and "unread" in found.metadata else None


@dg.asset(
    partitions_def=PARTITIONS,
    deps=[scheduling_items],
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=GROUP,
    owners=OWNERS,
    kinds={"python", "sql"},
    tags={"halo/layer": "gold"},
)
@masked
def available_spans(context: dg.AssetExecutionContext, config: EmrProcessingConfig, store: StoreResource) -> dg.MaterializeResult:
    """Free time per provider and local date: unique, sorted, non-overlapping [start_at, end_at)
    UTC instants per (feed, provider); grain: one row per span. Only the dirty provider-dates are
    recomputed."""
    as_of, horizon = config.window(context)
    provider_dates = spans = 0
    for result in pipeline.recompute_spans(store, run_feeds(context), as_of, horizon).values():
        provider_dates += result.provider_dates
        spans += result.spans
    return dg.MaterializeResult(metadata={
        "provider_dates_recomputed": provider_dates, "spans_written": spans,
        "as_of": as_of.isoformat(), "horizon_days": horizon})


# Not partitioned: the table holds each provider's first slot from the run on, whatever its date; a
# partition per (date, feed) stood for nothing, and cost a record each (180 on a first load, 1.9 s
# of Dagster's SQLite storage). A partitioned run refreshes the slots of the feeds of its partitions.
@dg.asset(deps=[available_spans], group_name=GROUP, owners=OWNERS, kinds={"python", "sql"})
@masked
def next_available_slots(context: dg.AssetExecutionContext, config: EmrProcessingConfig, store: StoreResource) -> Iterator[dg.MaterializeResult]:
    """Earliest bookable slot per (feed, provider, appointment type) under the feed's slot rules
    (duration, buffers, notice, alignment, max days ahead), within two weeks of the run; grain:
    one row per provider and appointment type. Refreshed for the feeds of the run's partitions.
    The run's last step: it fails, once the slots are refreshed, when files were left unread."""
    as_of, _ = config.window(context)
    after = max(pipeline.utcnow(), pipeline.first_instant(as_of))  # a window ahead: its first day's slots, in every zone
    feeds = run_feeds(context)
    yield dg.MaterializeResult(metadata={"slots": sum(service.refresh_next_slots(store, name, after) for name in feeds),
                                         "feeds": ", ".join(feeds)})
    if unread := unread_in_run(context):
        raise pipeline.LandingReadError(unread)


ASSETS = (scheduling_items, available_spans, next_available_slots)


def run_config(as_of: dt.date, horizon_days: int, files: list[str] | None) -> dict:
    """The processing job's run config: the window for every asset, the files for the ingestion."""
    config = {"as_of": as_of.isoformat(), "horizon_days": horizon_days}
    return {"ops": {"scheduling_items": {"config": {**config, "files": files}},
                    **{asset.key.path[-1]: {"config": config} for asset in ASSETS[1:]}}}
