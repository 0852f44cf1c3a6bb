"""The landing-zone sensor: requests runs of `emr_processing_job` for new files, one per feed with
pending files, only for the partitions (local dates x feed) they impact. Run keys are made of the
files' landing paths and sha256s (plus the date range when they impact several disjoint ranges),
so the same pending files are requested once however often the sensor ticks.

Dagster launches one run per run key: a request whose key a run already took is skipped, whatever
that run's status. So a request whose run failed for good (Dagster will not retry it) is asked for
again under `<key>#attempt<n>` (n: its failures + 1), the next tick after a first failure, then a
minute after the last one, doubling up to an hour; until that attempt ends its key stays the same."""


import datetime as dt
import hashlib
import json
import time
from dataclasses import dataclass

import dagster as dg

from halo_platform.alerts.failing_sensors import alerted_when_failing
from halo_platform.alerts.send import Alert, send_alerts
from halo_platform.availability import pipeline
from halo_platform.availability.assets import FEEDS, missing_feeds, run_config, run_range
from halo_platform.availability.feeds import load_feeds
from halo_platform.availability.landing import LandingTimeSpent, s3_within
from halo_platform.availability.spans import date_runs
from halo_platform.core.errors import HaloError
from halo_platform.core.failures import masked
from halo_platform.core.redact import error_line
from halo_platform.core.run_status import attempt, final_failures
from halo_platform.core.store import StoreResource
from halo_platform.sinks import SinksResource

# The time of a tick's S3 calls in all (each has its own, `landing.S3_TIMEOUT`): Dagster gives up a tick
# at 60 s and loses it whole; the rest is the store's and the requests'.
TICK_S3_SECONDS = 40.0
REQUEST_TAG = "halo/emr-request"  # a request's first key, on every attempt (Dagster's retries copy it)


@dataclass(frozen=True)
class PlannedRun:
    run_key: str
    feed: str
    files: tuple[str, ...]
    first: dt.date
    last: dt.date


def plan_runs(files: list[tuple[str, str, str, list[dt.date]]]) -> list[PlannedRun]:
    """(feed, landing path `feed/name`, sha256, impacted dates) -> runs. A feed's pending files go
    in one run (per disjoint range of the dates they impact): a burst of files is read and applied
    in one pass, and each of its dates recomputed once, where a run per file recomputed them per
    file and wrote Dagster's records of every partition again. A run's key is its file's path and
    sha256, or, for several files, the feed, their number and a digest of their paths and sha256s.
    Files impacting no date of the window still get one run (on its first date key), so they are
    recorded as processed."""
    by_feed: dict[str, list[tuple[str, str, list[dt.date]]]] = {}
    for feed, path, sha, dates in files:
        by_feed.setdefault(feed, []).append((path, sha, dates))
    runs = []
    for feed, group in by_feed.items():
        if len(group) == 1:
            name = f"{group[0][0]}@{group[0][1]}"
        else:
            digest = hashlib.sha256("\n".join(sorted(f"{path}@{sha}" for path, sha, _ in group)).encode()).hexdigest()
            name = f"{feed}/{len(group)} files@{digest}"
        paths = tuple(path for path, _, _ in group)
        ranges = date_runs({d for _, _, dates in group for d in dates})
        if not ranges:
            runs.append(PlannedRun(name, feed, paths, dt.date.min, dt.date.min))
            continue
        for first, last in ranges:
            suffix = "" if len(ranges) == 1 else f"#{first.isoformat()}..{last.isoformat()}"
            runs.append(PlannedRun(f"{name}{suffix}", feed, paths, first, last))
    return runs


def retried(instance: dg.DagsterInstance, requests: list[dg.RunRequest]) -> tuple[list[dg.RunRequest], list[str]]:
    """The requests as they are to be asked for now, and the keys held back after failures."""
    now, out, waiting = time.time(), [], []
    for request in requests:
        found = attempt(request, final_failures(instance, {REQUEST_TAG: request.tags[REQUEST_TAG]}), now)
        if found is None:
            waiting.append(request.run_key)
        else:
            out.append(found)
    return out, waiting


def run_request(run: PlannedRun, as_of: dt.date, horizon_days: int) -> dg.RunRequest:
    first = run.first if run.first != dt.date.min else as_of
    last = run.last if run.last != dt.date.min else as_of
    shown = run.files[0] if len(run.files) == 1 else f"{run.files[0]} and {len(run.files) - 1} more"
    return dg.RunRequest(
        run_key=run.run_key,
        run_config=run_config(as_of, horizon_days, list(run.files)),
        tags={**run_range([run.feed], first, last), "halo/emr-file": shown, REQUEST_TAG: run.run_key},
    )


def window_request(instance: dg.DagsterInstance, feed: str, dates: set[dt.date], as_of: dt.date, horizon_days: int) -> dg.RunRequest:
    """A run of `feed` with no file: its window moved (a new day) or dates stayed dirty. Keyed by
    the window, so each day's move is requested once; work found after a run of that window ended
    without failing (dates a later run left dirty: its files applied, its spans step failed for
    good) is requested under the key's next number, as Dagster skips a key a run took: under the
    day's key it waited for the next day's window, the spans stale until then."""
    window = f"{feed}/window@{as_of.isoformat()}+{horizon_days}"
    ended = len(instance.get_run_records(filters=dg.RunsFilter(
        tags={REQUEST_TAG: window}, statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.CANCELED])))
    return dg.RunRequest(
        run_key=f"{window}#{ended}" if ended else window,
        run_config=run_config(as_of, horizon_days, []),
        tags={**run_range([feed], min(dates), max(dates)), "halo/emr-file": "(window moved)", REQUEST_TAG: window},
    )


def unreadable_alerts(before: str | None, unreadable: dict[str, str]) -> list[Alert]:
    """An alert for each feed whose landing could not be read at this tick and could at the one
    before (cursor `before`: the feeds unreadable then): one per feed and outage, not one every 10 s."""
    known = json.loads(before) if before else {}
    return [Alert(title=f"emr feed landing not read: {name}", severity="ERROR", error=problem,
                  details={"feed": name, "owed": "its files are read once the landing answers again"})
            for name, problem in sorted(unreadable.items()) if name not in known]


@dg.sensor(job_name="emr_processing_job", minimum_interval_seconds=10, default_status=dg.DefaultSensorStatus.RUNNING)
@alerted_when_failing("emr_landing_sensor")
@masked
def emr_landing_sensor(context: dg.SensorEvaluationContext, store: StoreResource, sinks: SinksResource):
    """Watches $HALO_HOME/landing/<feed>/ for files not yet processed; requests one run per feed
    (per disjoint impacted date range) for the impacted (date, feed) partitions, adding the
    partitions of a feed the instance does not know yet. A feed whose landing cannot be read
    is alerted once per outage (the cursor holds the feeds unreadable at the last tick). The tick's S3
    calls have `TICK_S3_SECONDS` in all: the feeds not reached within them are read at the next tick,
    where the feeds unreadable at this one come after the others."""
    as_of, horizon = pipeline.today(), pipeline.DEFAULT_HORIZON_DAYS
    known = json.loads(context.cursor) if context.cursor else {}
    found, unreadable, idle, unreached = [], {}, [], []
    with s3_within(TICK_S3_SECONDS):
        for feed in sorted(load_feeds().values(), key=lambda feed: feed.name in known):
            try:  # a feed whose landing cannot be read (an S3 endpoint down) holds back no other feed
                files = pipeline.pending_files(store, feed)
                for file in files:
                    found.append((feed.name, file.relpath, file.sha256, pipeline.file_dates(store, feed, file, as_of, horizon)))
                if not files and (dates := pipeline.stored_work_dates(store, feed.name, as_of, horizon)):
                    idle.append(window_request(context.instance, feed.name, dates, as_of, horizon))  # a new day moved the window
            except LandingTimeSpent:
                unreached.append(feed.name)
            except HaloError as exc:
                unreadable[feed.name] = error_line(str(exc))[0]
                context.log.error(f"emr feed {feed.name}: landing not read: {unreadable[feed.name]}")
    send_alerts(unreadable_alerts(context.cursor, unreadable), sinks, store=store)
    cursor = json.dumps(unreadable | {name: known[name] for name in unreached if name in known}, sort_keys=True)
    skipped = []
    if unreached:
        skipped.append(f"not reached within the tick's {TICK_S3_SECONDS:g} s of S3 calls, read at the next tick: {', '.join(sorted(unreached))}")
        context.log.warning(f"emr feeds {skipped[0]}")
    if not found and not idle and (unreadable or unreached):  # nothing else to request: the skip names them
        if unreadable:
            skipped.insert(0, "landing not read for " + "; ".join(f"{name}: {problem}" for name, problem in sorted(unreadable.items())))
        return dg.SensorResult(skip_reason=dg.SkipReason("; ".join(skipped)), cursor=cursor)
    if not found and not idle:
        return dg.SensorResult(skip_reason=dg.SkipReason("no unprocessed files in the landing zone"), cursor=cursor)
    # a feed with no file but work (a new day) is asked for beside the feeds with files: asked for only at a
    # tick where no feed had a file, a busy feed (or one backing off after failed runs) starved the others
    planned = [run_request(run, as_of, horizon) for run in plan_runs(found)] + idle
    requests, waiting = retried(context.instance, planned)
    if not requests:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"waiting to ask again after failed runs: {', '.join(waiting)}"), cursor=cursor)
    new = missing_feeds(context.instance, sorted({r.tags["dagster/asset_partition_range_start"].split("|")[1] for r in requests}))
    return dg.SensorResult(run_requests=requests, cursor=cursor,
                           dynamic_partitions_requests=[FEEDS.build_add_request(new)] if new else None)
