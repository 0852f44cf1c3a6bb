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
        message = step_errors[0].message
    send_alert(alert_for_failed_run(context.dagster_run, message), sinks)
