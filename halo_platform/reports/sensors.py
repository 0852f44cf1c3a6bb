"""Sensors of the report domain: the task schedule sensor and the run-status sensors that
keep `task_requests` in step with Dagster for runs that start, fail or are canceled outside
the asset body (resource errors, a canceled queue entry, a killed worker, a killed
`halo tasks run --wait`, a run deleted from Dagster)."""

import datetime as dt
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence

import dagster as dg

from halo_platform.alerts.failing_sensors import alerted_when_failing
from halo_platform.alerts.send import Alert, send_alerts
from halo_platform.core.errors import HaloError
from halo_platform.core.failures import masked
from halo_platform.core.models import utcnow
from halo_platform.core.redact import error_line
from halo_platform.core.run_status import failure_message, runs_since
from halo_platform.core.store import StoreResource
from halo_platform.reports import audit
from halo_platform.reports.assets import job_name, run_config, run_payload, run_tags
from halo_platform.reports.requests import (
    HOST_TAG,
    PID_TAG,
    START_TAG,
    check_default_sinks,
    process_host,
    process_start,
)
from halo_platform.reports.schedules import Due, commit_positions, due_runs, list_schedules, object_payload
from halo_platform.reports.task import RunContext, get_task
from halo_platform.sinks import SinksResource

log = logging.getLogger(__name__)
SCHEDULE_SENSOR_INTERVAL = 30


def run_request_for(due: Due, check_sinks: Callable[..., None]) -> dg.RunRequest:
    """The run of a due tick; a HaloError when the run would refuse its payload at that tick (the
    task's schema, or its defaults resolved at the tick: a fixed period_end the default start has
    passed) or fail to deliver to a sink the sinks file no longer names, as an edit is refused
    (`schedules.validate_schedule`): nothing is queued to fail. `check_sinks`: the tick's
    `SinksResource.names_check()` (the sinks file read once a tick, not once a due run). A
    schedule row with no sinks of its own (`[]` written by hand: every entry point gives a new
    one its task's defaults) goes to the task's defaults, and one missing from the file is said to
    be that (`check_default_sinks`), not an unknown sink the schedule named."""
    task = get_task(due.task)
    payload = {**object_payload(due.payload), "sinks": list(due.sinks)}
    task.check_payload(payload, RunContext(due.tick, due.timezone))
    if payload["sinks"]:
        check_sinks(payload["sinks"])
    else:
        check_default_sinks(task, check_sinks, of="schedule")
    tags = run_tags(task, "schedule", f"schedule:{due.schedule_id}", payload)
    tags.update({"halo/schedule": due.schedule_id, "halo/tick": due.tick.isoformat(), "halo/timezone": due.timezone})
    return dg.RunRequest(run_key=due.run_key, job_name=job_name(due.task), run_config=run_config(task, payload), tags=tags)


def read_cursor(cursor: str | None) -> tuple[dict[str, dt.datetime], dict[str, str]]:
    """(each schedule's committed position, the problem of each schedule skipped) from the
    sensor's cursor; a cursor of the first version held the positions alone."""
    data = json.loads(cursor) if cursor else {}
    if not isinstance(data.get("positions"), dict):
        data = {"positions": data, "skipped": {}}
    return {k: dt.datetime.fromisoformat(v) for k, v in data["positions"].items()}, dict(data["skipped"])


def evaluate_schedules(store: StoreResource, now: dt.datetime, cursor: str | None) -> tuple[list[dg.RunRequest], str]:
    """(run requests, the sensor's next cursor) for the ticks due by `now` of the schedules as
    stored right now, each schedule's missed ticks by its `catch_up` policy.

    The cursor holds each schedule's position after the decisions of the evaluation that made
    it. Dagster stores a cursor together with that evaluation's run requests (their run ids
    reserved, submitted again if the daemon stops half way), so a position it brings back is
    committed (`commit_positions` records it as `last_tick_at` first). If the daemon stopped
    before storing them, the cursor it brings back is the one before: the same ticks are decided
    again, and their run keys (schedule id + tick) make a launch that did happen a no-op. Each
    due tick runs exactly once. A schedule whose run no longer builds (its cron no longer
    computes, its task retired, its payload refused by the task's schema or at its tick, a sink
    gone from the sinks file) is skipped with a
    warning and keeps its position, so its ticks are owed (by its catch_up) once the row is
    fixed; the others run. The cursor also holds the problem of each schedule skipped
    (`skipped_alerts` alerts each once)."""
    committed, before = read_cursor(cursor)
    schedules = list_schedules(store)
    behind = {s["schedule_id"]: committed[s["schedule_id"]] for s in schedules if s["schedule_id"] in committed
              and (s["last_tick_at"] is None or dt.datetime.fromisoformat(s["last_tick_at"]) < committed[s["schedule_id"]])}
    if behind:  # an evaluation with nothing new to record writes nothing
        commit_positions(store, behind)
        schedules = list_schedules(store)
    requests, positions, skipped, built_now = [], dict(committed), {}, set()
    check_sinks = SinksResource().names_check()
    for decision in due_runs(schedules, now):
        try:
            if decision.problem:
                raise HaloError(decision.problem)
            built = [run_request_for(due, check_sinks) for due in decision.runs]
        except HaloError as exc:  # its cron no longer computes, its task retired, its payload no longer fits the task's schema, or a sink is gone
            skipped[decision.schedule_id] = error_line(str(exc))[0]
            log.warning("schedule %s skipped: %s; its ticks are owed once fixed with `halo schedules set`",
                        decision.schedule_id, skipped[decision.schedule_id])
            continue
        requests += built
        positions[decision.schedule_id] = decision.until
        if built:
            built_now.add(decision.schedule_id)
    # a schedule skipped before with no run to build now (no tick due; catch_up none past its tick)
    # keeps its problem until a run of it builds: else each of its ticks alerts again
    enabled = {s["schedule_id"] for s in schedules if s["enabled"]}
    skipped |= {k: v for k, v in before.items() if k in enabled and k not in skipped and k not in built_now}
    return requests, json.dumps({"positions": {k: v.isoformat() for k, v in sorted(positions.items())}, "skipped": skipped})


def skipped_alerts(before: str | None, after: str) -> list[Alert]:
    """An alert for each schedule the evaluation that made cursor `after` skipped and the one
    before (cursor `before`) had not skipped for the same problem: one per schedule and problem,
    not one every 30 s; a schedule fixed and broken again alerts again."""
    alerted, skipped = read_cursor(before)[1], read_cursor(after)[1]
    return [Alert(title=f"schedule skipped: {schedule_id}", severity="ERROR", error=problem,
                  details={"schedule": schedule_id, "owed": "its ticks run once it is fixed with `halo schedules set`"})
            for schedule_id, problem in sorted(skipped.items()) if alerted.get(schedule_id) != problem]


def run_times(instance: dg.DagsterInstance, run_id: str) -> tuple[dt.datetime | None, dt.datetime | None, dt.datetime | None]:
    """When Dagster created, started and ended the run; None for what did not happen (a run canceled
    or failed while queued never started) and for a run the instance does not hold."""
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return None, None, None
    started, ended = (None if t is None else dt.datetime.fromtimestamp(t, dt.UTC) for t in (record.start_time, record.end_time))
    return record.create_timestamp, started, ended


def record_run_outcome(store: StoreResource, instance: dg.DagsterInstance, run: dg.DagsterRun, status: str,
                       error: str | None = None) -> None:
    """Create or advance the audit row of a task run (no-op for other jobs), with the Dagster run's
    own times (`run_times`), not the time a sensor got to it (a busy or restarted daemon is
    minutes late): its creation, its start past QUEUED (a run whose asset body never recorded
    RUNNING has it too), its end for a terminal status."""
    task = run.tags.get("halo/task")
    if not task:
        return
    trigger = "retry" if run.parent_run_id else run.tags.get("halo/trigger") or "manual"
    fields: dict = {"error": error} if error else {}
    created_at, started_at, ended_at = run_times(instance, run.run_id)
    if status != "QUEUED" and started_at is not None:
        fields["started_at"] = started_at
    audit.record_run_status(store, run, status, task=task, payload=run_payload(task, run), trigger=trigger,
                            requested_by=audit.requester(run.tags), created_at=created_at,
                            at=ended_at if status in audit.TERMINAL else None, **fields)


def failure_line(instance: dg.DagsterInstance, run: dg.DagsterRun, failure: dg.EventLogRecord) -> str:
    """A failed run's audit error: the first line of what made it fail, as its alert says it."""
    return failure_message(instance, run, failure).strip().splitlines()[0]


# (name, the run event it follows, the status it records, the error it records, what it does)
RUN_STATUS_SENSORS = [
    ("task_request_queued_sensor", dg.DagsterEventType.RUN_ENQUEUED, "QUEUED", None,
     "Records task runs queued outside the API/CLI (launchpad, schedules) as QUEUED in task_requests."),
    ("task_request_started_sensor", dg.DagsterEventType.RUN_START, "RUNNING", None,
     "Marks the task_requests row of a started task run RUNNING with the run's start time (also a run"
     " that fails before its asset body records it)."),
    ("task_request_failure_sensor", dg.DagsterEventType.RUN_FAILURE, "FAILED", failure_line,
     "Marks the task_requests row of a failed task run FAILED with the error's first line."),
    ("task_request_canceled_sensor", dg.DagsterEventType.RUN_CANCELED, "CANCELED", lambda *_: "canceled",
     "Marks the task_requests row of a canceled task run CANCELED."),
]


def running_sensor(name: str, seconds: int, description: str) -> Callable[[Callable], dg.SensorDefinition]:
    """The sensor `name` of the decorated function: running from the start, every `seconds`, an
    alert when it fails, its log lines masked."""

    def define(evaluate: Callable) -> dg.SensorDefinition:
        return dg.sensor(name=name, minimum_interval_seconds=seconds, default_status=dg.DefaultSensorStatus.RUNNING,
                         description=description)(alerted_when_failing(name)(masked(evaluate)))

    return define


def run_status_sensor(name: str, event: dg.DagsterEventType, status: str, error: Callable | None,
                      description: str) -> dg.SensorDefinition:
    """A sensor recording `status` (with `error(instance, run, event record)`) on the audit row of
    each task run of this code location that reached `event` since its last tick, up to 50 a tick
    (`runs_since`; Dagster's run-status sensors, whose cursor it takes up, handed 5)."""

    @running_sensor(name, 15, description)
    def sensor(context: dg.SensorEvaluationContext, store: StoreResource) -> dg.SkipReason:
        runs = runs_since(context, event)
        for run, record in runs:
            record_run_outcome(store, context.instance, run, status, error and error(context.instance, run, record))
        return dg.SkipReason(f"{len(runs)} run{'' if len(runs) == 1 else 's'} read; task runs recorded {status}")

    return sensor


def process_alive(pid: int, started: str | None) -> bool:
    """Whether this host runs a process `pid` (another user's too) that started at `started`
    (`process_start`; None, or a start this host does not tell: whenever it started)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # there, another user's
        pass
    return started is None or process_start(pid) in (started, None)


def abandoned_pid(tags: Mapping[str, str], alive: Callable[[int, str | None], bool]) -> int | None:
    """The process that ran a run in-process (`halo tasks run --wait`) on this host, when it is
    gone: nobody else finishes that run. None while it lives. A process given its pid since (after
    a reboot, or pids wrapping around) is told from it by its start time; a run without one (not
    run on Linux) takes such a process for its own and stays STARTED, as it would without this."""
    pid = tags.get(PID_TAG, "")
    return int(pid) if pid.isdigit() and not alive(int(pid), tags.get(START_TAG)) else None


@running_sensor("task_request_abandoned_sensor", 60, "Ends CANCELED the task runs `halo tasks run --wait` ran on this host whose"
             " process is gone (killed, SIGKILL): nothing else would finish them, and their requests stayed RUNNING.")
def task_request_abandoned_sensor(context: dg.SensorEvaluationContext, store: StoreResource) -> dg.SkipReason:
    instance = context.instance
    started = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED], tags={HOST_TAG: process_host()}))
    canceled = 0
    for run in started:
        pid = abandoned_pid(run.tags, process_alive)
        # read again once the process is known gone: a run it finished just before is not canceled, nor one
        # deleted meanwhile (the UI's Delete: None)
        if pid is None or getattr(instance.get_run_by_id(run.run_id), "status", None) != dg.DagsterRunStatus.STARTED:
            continue
        error = f"its process (`halo tasks run --wait`, pid {pid}) ended before its run finished"
        record_run_outcome(store, instance, run, "CANCELED", error)
        instance.report_run_canceled(run, message=error)
        canceled += 1
    return dg.SkipReason(f"{canceled} task run{'' if canceled == 1 else 's'} of a process gone: canceled")


# A request this recent may have no Dagster run yet: `halo tasks run --wait` records it QUEUED before
# Dagster creates its run (the code location loads first, seconds on a busy host)
RUN_GONE_GRACE = dt.timedelta(minutes=10)
RUN_GONE = "its Dagster run is gone (deleted, or the Dagster instance was reset) before it finished"


def requests_without_run(store: StoreResource, instance: dg.DagsterInstance, now: dt.datetime) -> list[tuple[str, str]]:
    """(request id, task) of the requests older than RUN_GONE_GRACE, not ended, whose Dagster run the
    instance does not hold. The requests are read before the runs: a run created meanwhile is found."""
    unfinished = audit.unfinished_requests(store, now - RUN_GONE_GRACE)
    held: set[str] = set()
    for start in range(0, len(unfinished), 100):
        ids = [request_id for request_id, _ in unfinished[start:start + 100]]
        held.update(record.dagster_run.run_id for record in instance.get_run_records(dg.RunsFilter(run_ids=ids)))
    return [(request_id, task) for request_id, task in unfinished if request_id not in held]


@running_sensor("task_request_run_gone_sensor", 60, "Ends CANCELED the task requests whose Dagster run is gone before it ended"
             " (deleted, the instance reset): no run reports on them any more, and they stayed QUEUED or RUNNING for good.")
def task_request_run_gone_sensor(context: dg.SensorEvaluationContext, store: StoreResource) -> dg.SkipReason:
    gone = requests_without_run(store, context.instance, utcnow())
    for request_id, task in gone:  # a run that ended meanwhile recorded its terminal state: it is kept
        audit.record_status(store, request_id, "CANCELED", task=task, error=RUN_GONE)
    return dg.SkipReason(f"{len(gone)} task request{'' if len(gone) == 1 else 's'} whose Dagster run is gone: canceled")


def build_sensors(jobs: Sequence) -> list[dg.SensorDefinition]:
    @dg.sensor(
        name="task_schedule_sensor",
        jobs=list(jobs),
        minimum_interval_seconds=SCHEDULE_SENSOR_INTERVAL,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Launches every due tick of the enabled rows of task_schedules once, with the stored payload;"
                    " ticks missed while it was stopped by each schedule's catch_up (none, latest, all);"
                    " alerts once for each schedule it has to skip (its run no longer builds).",
    )
    @alerted_when_failing("task_schedule_sensor")
    @masked
    def task_schedule_sensor(context: dg.SensorEvaluationContext, store: StoreResource, sinks: SinksResource) -> dg.SensorResult:
        requests, cursor = evaluate_schedules(store, utcnow(), context.cursor)
        send_alerts(skipped_alerts(context.cursor, cursor), sinks, store=store)
        if not requests:
            return dg.SensorResult(skip_reason=dg.SkipReason("no schedule tick is due"), cursor=cursor)
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return [task_schedule_sensor, task_request_abandoned_sensor, task_request_run_gone_sensor, *(run_status_sensor(*args) for args in RUN_STATUS_SENSORS)]

