"""Runs that changed status since a sensor's cursor, for the plain sensors that follow them (the
alerts' and the task audit's), the first failed step's message of a failed run, and when a sensor
asks again for a request whose runs failed for good.

Dagster's own run-status sensors hand a sensor 5 runs a tick, one after another: with a tick every
15 s, the last of 25 runs ending at once was seen 75 s after it ended. `runs_since` hands a tick
up to `RUNS_PER_TICK`, and takes up the cursor such a sensor saved under the same name."""

from __future__ import annotations

import json

import dagster as dg

from halo_platform.core.failures import failure_text

# Runs a tick reads: 50 runs' alerts to a sink that takes 1 s each, 4 at a time
# (`alerts.send.PARALLEL_PER_SINK`), take 13 s; the next ones go at the next tick, 15 s later.
RUNS_PER_TICK = 50
WILL_RETRY_TAG = "dagster/will_retry"  # set "true" by Dagster on a failed run it will retry itself
FIRST_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS = 60, 3600


def runs_since(context: dg.SensorEvaluationContext, event: dg.DagsterEventType) -> list[tuple[dg.DagsterRun, dg.EventLogRecord]]:
    """The runs of this code location that reached `event` since the cursor, oldest first, at most
    `RUNS_PER_TICK`, with the record of that event; the cursor is moved past them (saved when the
    tick ends). On the sensor's first tick, none: the cursor is set past the last such event."""
    if context.cursor is None:
        last = context.instance.fetch_run_status_changes(event, limit=1).records
        context.update_cursor(str(last[0].storage_id if last else 0))
        return []
    seen = json.loads(context.cursor)  # the cursor Dagster's run-status sensor kept, before this one, names its record
    records = context.instance.fetch_run_status_changes(
        dg.RunStatusChangeRecordsFilter(event, after_storage_id=seen["record_id"] if isinstance(seen, dict) else seen),
        limit=RUNS_PER_TICK, ascending=True).records
    if not records:
        return []
    context.update_cursor(str(records[-1].storage_id))
    runs = {r.dagster_run.run_id: r.dagster_run for r in context.instance.get_run_records(
        dg.RunsFilter(run_ids=list({r.run_id for r in records})))}
    return [(runs[r.run_id], r) for r in records if r.run_id in runs and _here(context, runs[r.run_id])]


def _here(context: dg.SensorEvaluationContext, run: dg.DagsterRun) -> bool:
    """Whether `run` is of a job of the sensor's code location, as Dagster's run-status sensors tell
    (a run executed in process, as a test's, has no origin, and neither has a sensor built for a test).
    A run with no origin of a job of the sensor's repository is one `halo` ran in its own process on
    the same definitions (`halo tasks run --wait`, `halo emr process`, `halo delivery drain`): here too."""
    origin = run.remote_job_origin.repository_origin if run.remote_job_origin else None
    if origin is None and context.repository_def is not None and context.repository_def.has_job(run.job_name):
        return True
    location = context.code_location_origin
    return ((origin.code_location_origin.location_name, origin.repository_name) if origin else (None, None)) == (
        location.location_name if location else None, context.repository_name)


def failure_message(instance: dg.DagsterInstance, run: dg.DagsterRun, failure: dg.EventLogRecord) -> str:
    """What made a failed run fail: its first failed step's error, else the run failure's message;
    'run failed' when neither says anything (none, or white space: a worker killed mid-line)."""
    message = failure.event_log_entry.dagster_event.message if failure.event_log_entry.dagster_event else None
    steps = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
    step_errors = [r.event_log_entry.dagster_event.event_specific_data.error for r in steps
                   if r.event_log_entry.dagster_event and r.event_log_entry.dagster_event.event_specific_data]
    if step_errors and step_errors[0] is not None:
        message = failure_text(step_errors[0])
    return message if message and message.strip() else "run failed"


# Dagster launches a run key once, whatever became of its run: a sensor asks again for a request whose
# runs failed for good under `<key>#attempt<n>` (n: its failures + 1), backing off (`again_after`) so
# that a run failing every time (a bug, a store down for hours) is not launched every tick, each
# failure costing an alert.
def again_after(failures: list[float]) -> float:
    """When a request may be asked for again after its runs that failed for good ended at
    `failures` (oldest first): at once after one, then a minute after the last, doubling up to an hour."""
    if len(failures) < 2:
        return failures[-1] if failures else 0.0
    return failures[-1] + min(FIRST_BACKOFF_SECONDS * 2 ** (len(failures) - 2), MAX_BACKOFF_SECONDS)


def attempt(request: dg.RunRequest, failures: list[float], now: float) -> dg.RunRequest | None:
    """`request` under the key of its next attempt after `failures`; None while it backs off."""
    if not failures:
        return request
    if now < again_after(failures):
        return None
    return dg.RunRequest(run_key=f"{request.run_key}#attempt{len(failures) + 1}", run_config=request.run_config, tags=request.tags)


def final_failures(instance: dg.DagsterInstance, tags: dict[str, str], job_name: str | None = None) -> list[float]:
    """End times (oldest first) of the runs carrying `tags` (of `job_name`, if given) that failed
    and that Dagster will not retry."""
    records = instance.get_run_records(filters=dg.RunsFilter(job_name=job_name, tags=tags, statuses=[dg.DagsterRunStatus.FAILURE]))
    return sorted(r.end_time or r.update_timestamp.timestamp() for r in records if r.dagster_run.tags.get(WILL_RETRY_TAG) != "true")
