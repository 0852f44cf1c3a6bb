"""The run-failure sensor: one alert per failed run of any job in the code location."""

from __future__ import annotations

import dagster as dg

from halo_platform.alerts.send import Alert, send_alert
from halo_platform.sinks import SinksResource


def alert_for_failed_run(run: dg.DagsterRun, error_message: str | None) -> Alert:
    tags = run.tags or {}
    details = {}
    if tags.get("halo/task"):
        details["task"] = tags["halo/task"]
    if tags.get("halo/payload"):
        details["payload"] = tags["halo/payload"][:300]
    return Alert(
        title=f"run failed: {run.job_name}",
        severity="ERROR",
        error=error_message or "run failed",
        run_id=run.run_id,
        job=run.job_name,
        details=details,
    )


@dg.run_failure_sensor(
    name="run_failure_alert_sensor",
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends one alert per failed run of any job here to the HALO_ALERTS sinks, with a link to the run.",
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, sinks: SinksResource) -> None:
    message = context.failure_event.message if context.failure_event else None
    step_errors = [e.event_specific_data.error for e in context.get_step_failure_events() if e.event_specific_data]
    if step_errors and step_errors[0] is not None:
        error = step_errors[0]
        while error.cause is not None:  # Dagster wraps the user's exception: report the root
            error = error.cause
        message = error.message
    send_alert(alert_for_failed_run(context.dagster_run, message), sinks)
    alert_failed_checks_of_run(context.instance, context.dagster_run.run_id, sinks)


ALERT_ON_WARN = "halo/alert"


def alert_for_failed_check(evaluation, run_id: str | None) -> Alert | None:  # noqa: ANN001
    """The alert for a failed check evaluation: always for ERROR severity; for WARN only
    where the check marked its result with metadata `halo/alert`. None when no alert is due."""
    if evaluation.passed:
        return None
    severity = evaluation.severity.value
    if severity != "ERROR" and ALERT_ON_WARN not in (evaluation.metadata or {}):
        return None
    asset = evaluation.asset_key.to_user_string()
    details = {"asset": asset, "check": evaluation.check_name}
    if evaluation.partition:
        details["partition"] = evaluation.partition
    return Alert(
        title=f"check failed: {asset} {evaluation.check_name}",
        severity=severity,
        error=evaluation.description or f"asset check {evaluation.check_name} failed",
        run_id=run_id,
        details=details,
    )


def alert_failed_checks_of_run(instance: dg.DagsterInstance, run_id: str, sinks: SinksResource) -> int:
    """Send one alert per failed check evaluation of one run; returns how many were sent.
    Reading per run works on every event storage, the run-sharded SQLite of `dagster dev` included."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    sent = 0
    for record in records:
        alert = alert_for_failed_check(record.event_log_entry.dagster_event.event_specific_data, run_id)
        if alert is not None:
            send_alert(alert, sinks)
            sent += 1
    return sent


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="asset_check_alert_sensor",
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After each successful run, alerts the HALO_ALERTS sinks on its failed ERROR asset checks "
    "(and WARN checks that ask for it). Failed runs' checks are alerted by run_failure_alert_sensor.",
)
def asset_check_alert_sensor(context: dg.RunStatusSensorContext, sinks: SinksResource) -> dg.SkipReason:
    sent = alert_failed_checks_of_run(context.instance, context.dagster_run.run_id, sinks)
    return dg.SkipReason(f"run {context.dagster_run.run_id}: {sent} check alerts sent")
