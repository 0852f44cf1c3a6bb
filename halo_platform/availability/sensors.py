"""The landing-zone sensor: requests runs of `emr_processing_job` for new files, only for
the partitions (local dates x feed) they impact. Run keys are the file's landing path and
sha256 (plus the date range when a file impacts several disjoint ranges), so a file is
requested once however often the sensor ticks."""


import datetime as dt
from dataclasses import dataclass

import dagster as dg

from halo_platform.availability import pipeline
from halo_platform.availability.assets import FEEDS, missing_feeds, run_range
from halo_platform.availability.feeds import load_feeds
from halo_platform.availability.spans import date_runs
from halo_platform.core.store import StoreResource


@dataclass(frozen=True)
class PlannedRun:
    run_key: str
    feed: str
    file: str
    first: dt.date
    last: dt.date


def plan_runs(files: list[tuple[str, str, str, list[dt.date]]]) -> list[PlannedRun]:
    """(feed, landing path `feed/name`, sha256, impacted dates) -> runs. A file impacting no date
    of the window still gets one run (on its first date key) so it is recorded as processed."""
    runs = []
    for feed, path, sha, dates in files:
        ranges = date_runs(dates)
        if not ranges:
            runs.append(PlannedRun(f"{path}@{sha}", feed, path, dt.date.min, dt.date.min))
            continue
        for first, last in ranges:
            suffix = "" if len(ranges) == 1 else f"#{first.isoformat()}..{last.isoformat()}"
            runs.append(PlannedRun(f"{path}@{sha}{suffix}", feed, path, first, last))
    return runs


def run_request(run: PlannedRun, as_of: dt.date, horizon_days: int) -> dg.RunRequest:
    first = run.first if run.first != dt.date.min else as_of
    last = run.last if run.last != dt.date.min else as_of
    config = {"as_of": as_of.isoformat(), "horizon_days": horizon_days}
    return dg.RunRequest(
        run_key=run.run_key,
        run_config={"ops": {"scheduling_items": {"config": {**config, "files": [run.file]}},
                            "available_spans": {"config": config}}},
        tags={**run_range([run.feed], first, last), "halo/emr-file": run.file},
    )


@dg.sensor(job_name="emr_processing_job", minimum_interval_seconds=10, default_status=dg.DefaultSensorStatus.RUNNING)
def emr_landing_sensor(context: dg.SensorEvaluationContext, store: StoreResource):
    """Watches $HALO_HOME/landing/<feed>/ for files not yet processed; requests one run per
    file (per disjoint impacted date range) for the impacted (date, feed) partitions, adding
    the partitions of a feed the instance does not know yet."""
    as_of, horizon = pipeline.today(), pipeline.DEFAULT_HORIZON_DAYS
    found = []
    for feed in load_feeds().values():
        for file in pipeline.pending_files(store, feed):
            found.append((feed.name, file.relpath, file.sha256, pipeline.file_dates(store, feed, file, as_of, horizon)))
    if not found:
        return dg.SkipReason("no unprocessed files in the landing zone")
    runs = plan_runs(found)
    new = missing_feeds(context.instance, [run.feed for run in runs])
    return dg.SensorResult(run_requests=[run_request(run, as_of, horizon) for run in runs],
                           dynamic_partitions_requests=[FEEDS.build_add_request(new)] if new else None)
