"""The run-failure sensor: one alert per failed run of any job in the code location; and the
asset-check sensor: one alert per failed ERROR check (and WARN check marked `halo/alert`).

Each reads the runs that ended (failed, or succeeded) since its cursor, up to 50 a tick
(`core.run_status.runs_since`), and sends all their alerts together: they wait for their sinks at most
`send.ALERT_DEADLINE_SECONDS` in all, so that a tick stays well under Dagster's sensor timeout
(60 s); the cursor, past the runs the tick read, is saved when the tick ends: no alert is lost or
sent twice. (Dagster's own run-status sensors hand a sensor 5 runs a tick, one after another: with
a tick every 15 s, the last of 25 runs failing at once was alerted 75 s after it failed.)

An alert a sink failed to take is kept in the operational store, and `alert_retry_sensor` sends it
again to that sink on a later tick, until delivered (`alerts.outbox`).
"""

from __future__ import annotations

import collections
import json

import dagster as dg

from halo_platform.alerts import outbox
from halo_platform.alerts.send import Alert, alert_sinks, resend_due, send_alerts
from halo_platform.core.failures import masked
from halo_platform.core.redact import mask_text
from halo_platform.core.run_status import failure_message, runs_since
from halo_platform.core.store import StoreResource
from halo_platform.sinks import DeliveryOutcome, SinksResource

PAYLOAD_CHARS = 300
# Tagged with its own run id on a run that fails on purpose having done nothing amiss (the run of a
# request ended already: a repeat of a request sent again with its idempotency key): its failure is
# not alerted. A re-execution carries its parent's tags: the id names the run the tag is about.
NO_ALERT_FOR_RUN = "halo/no_alert_for_run"


def _payload_of(run: dg.DagsterRun) -> str | None:
    """A task run's payload as JSON text: the `halo/payload` tag its request set (API, CLI,
    schedule); a run launched from the launchpad has none (the UI sets the run config alone),
    and its task's op config is the payload the launchpad form took."""
    tags = run.tags or {}
    if tags.get("halo/payload"):
        return tags["halo/payload"]
    ops = (run.run_config or {}).get("ops") or {}
    config = (ops.get(tags["halo/task"]) or {}).get("config") if tags.get("halo/task") else None
    return json.dumps(config, sort_keys=True) if config else None


def alert_for_failed_run(run: dg.DagsterRun, error_message: str) -> Alert:
    tags = run.tags or {}
    details = {}
    if tags.get("halo/task"):
        details["task"] = tags["halo/task"]
    if payload := _payload_of(run):  # masked before it is cut: a cut address would escape the mask
        details["payload"] = mask_text(payload)[:PAYLOAD_CHARS]
    return Alert(
        title=f"run failed: {run.job_name}",
        severity="ERROR",
        error=error_message,
        run_id=run.run_id,
        job=run.job_name,
        details=details,
    )


def failed_run_alerts(instance: dg.DagsterInstance, run: dg.DagsterRun, failure: dg.EventLogRecord) -> list[Alert]:
    """A failed run's alert, with its first failed step's error, then its failed checks' alerts."""
    return [alert_for_failed_run(run, failure_message(instance, run, failure)), *failed_check_alerts(instance, run.run_id)]


def tick_said(runs: list, ended: str, outcomes: list[DeliveryOutcome]) -> dg.SkipReason:
    """What a tick that sent the alerts of `runs` (which `ended`: failed, succeeded) says in the UI."""
    if not runs:
        return dg.SkipReason(f"no run {ended} since the last tick")
    counts = ", ".join(f"{n} {status.lower()}" for status, n in sorted(collections.Counter(o.status for o in outcomes).items()))
    pending = sorted({o.sink for o in outcomes if o.status == "PENDING"})
    waiting = f"; {', '.join(pending)} still to answer (see the log)" if pending else ""
    return dg.SkipReason(f"{len(runs)} run{'s' if len(runs) > 1 else ''} {ended}; alerts: {counts or 'none'}{waiting}")


@dg.sensor(
    name="run_failure_alert_sensor",
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends one alert per failed run of any job here to the HALO_ALERTS sinks, with a link to the run"
                " (none for a run that stopped as a repeat of a request: it did nothing amiss).",
)
@masked
def run_failure_alert_sensor(context: dg.SensorEvaluationContext, sinks: SinksResource,
                             store: StoreResource) -> dg.SkipReason:
    runs = runs_since(context, dg.DagsterEventType.RUN_FAILURE)
    alerts = [alert for run, failure in runs if run.tags.get(NO_ALERT_FOR_RUN) != run.run_id
              for alert in failed_run_alerts(context.instance, run, failure)]
    return tick_said(runs, "failed", send_alerts(alerts, sinks, store=store))


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


def failed_check_alerts(instance: dg.DagsterInstance, run_id: str) -> list[Alert]:
    """One alert per failed check evaluation of one run that is due one. Reading per run works on
    every event storage, the run-sharded SQLite of `dagster dev` included."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    alerts = (alert_for_failed_check(r.event_log_entry.dagster_event.event_specific_data, run_id) for r in records)
    return [alert for alert in alerts if alert is not None]


@dg.sensor(
    name="asset_check_alert_sensor",
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After each successful run, alerts the HALO_ALERTS sinks on its failed ERROR asset checks "
    "(and WARN checks that ask for it). Failed runs' checks are alerted by run_failure_alert_sensor.",
)
@masked
def asset_check_alert_sensor(context: dg.SensorEvaluationContext, sinks: SinksResource,
                             store: StoreResource) -> dg.SkipReason:
    runs = runs_since(context, dg.DagsterEventType.RUN_SUCCESS)
    alerts = [alert for run, _ in runs for alert in failed_check_alerts(context.instance, run.run_id)]
    return tick_said(runs, "succeeded", send_alerts(alerts, sinks, store=store))


@dg.sensor(
    name="alert_retry_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends again each alert a HALO_ALERTS sink failed to take, to that sink alone, backing off, "
    "until it is delivered (then never again) or 24 h have passed.",
)
@masked
def alert_retry_sensor(sinks: SinksResource, store: StoreResource) -> dg.SkipReason:
    said = outbox.summary([(o.sink, o.status) for o in resend_due(sinks, store)])
    if unusable := alert_sinks(sinks)[1]:  # alerts go nowhere there: said at every tick, where the UI shows it
        said = f"HALO_ALERTS names a sink no alert reaches: {'; '.join(unusable)}. {said}"
    return dg.SkipReason(said)
