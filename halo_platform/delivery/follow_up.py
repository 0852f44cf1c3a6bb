"""Dagster shells of what follows a message's lifecycle, apart from the dispatch runs so that
none of it can slow sending: status webhooks to the sender (job + sensor), channel fallback
(job + sensor), and the assets and checks that watch the webhook backlog and the suppressions."""


import hashlib
import json
import time

import dagster as dg

from halo_platform.alerts.failing_sensors import alerted_when_failing
from halo_platform.core.failures import masked
from halo_platform.core.run_status import again_after, attempt, final_failures
from halo_platform.core.store import StoreResource
from halo_platform.delivery.resources import ProvidersResource

OWNER = "team:messaging"
JOB_TAGS = {"owner": OWNER, "domain": "delivery"}
ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
#: the webhook backlog check warns when an event has waited longer than this
BACKLOG_WARN_SECONDS = 3600


class WebhooksConfig(dg.Config):
    max_seconds: float = 50.0
    workers: int = 8
    timeout_seconds: float = 5.0


@dg.op(description="POSTs the due status webhooks (each message's events in order), records every attempt, until none is due.")
@masked
def deliver_status_webhooks(context: dg.OpExecutionContext, config: WebhooksConfig, store: StoreResource) -> dict:
    from halo_platform.delivery.webhooks import deliver

    totals = deliver(store, timeout=config.timeout_seconds, workers=config.workers, max_seconds=config.max_seconds)
    context.log.info(f"status webhooks: {totals}")
    return totals


@dg.job(tags=JOB_TAGS, description="Delivers the status webhooks of messages that asked for them (retries with backoff for 24 h).")
def status_webhooks_job() -> None:
    deliver_status_webhooks()


def _active(context: dg.SensorEvaluationContext, job_name: str) -> bool:
    return bool(context.instance.get_runs(dg.RunsFilter(job_name=job_name, statuses=ACTIVE), limit=1))


@dg.sensor(job=status_webhooks_job, minimum_interval_seconds=10, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Launches a webhook delivery run when a status webhook is due and no such run is active.")
@alerted_when_failing("status_webhooks_sensor")
@masked
def status_webhooks_sensor(context: dg.SensorEvaluationContext, store: StoreResource):  # noqa: ANN201
    from halo_platform.delivery.webhooks import backlog

    waiting = backlog(store)
    if not waiting["due_messages"]:
        return dg.SkipReason(f"no webhook due ({waiting['events']} event(s) waiting for a retry)" if waiting["events"] else "no webhook pending")
    if _active(context, "status_webhooks_job"):
        return dg.SkipReason("a webhook delivery run is active")
    return dg.RunRequest(run_key=f"webhooks:{int(time.time() // 10)}", tags=JOB_TAGS)


class FallbackConfig(dg.Config):
    after_event_id: int = 0


@dg.op(description="Submits the fallback email of each SMS with a fallback that failed after the event id (once per SMS).")
@masked
def send_channel_fallbacks(context: dg.OpExecutionContext, config: FallbackConfig, store: StoreResource, providers: ProvidersResource) -> dict:
    from halo_platform.delivery.fallback import send_fallbacks

    done = send_fallbacks(store, providers, config.after_event_id)
    context.log.info(f"fallbacks made: {len(done['made'])}, existing: {len(done['existing'])}")
    return done


@dg.job(tags=JOB_TAGS, description="Sends the channel fallback of failed SMS (exactly once each).")
def channel_fallback_job() -> None:
    send_channel_fallbacks()


# Event ids come from a sequence in the order transactions insert, not the order they commit (on
# PostgreSQL): a failure stored by a dispatcher whose transaction commits after another's newer
# one has an id below what the sensor already read. The sensor looks back that long.
LATE_COMMIT_SECONDS = 300


def fallback_cursor(cursor: str | None) -> tuple[int, list[list[float]]]:
    """(floor, ticks): every failure after event `floor` is looked at; `ticks` are [time, newest
    event id] of the evaluations of the last LATE_COMMIT_SECONDS. A first version's cursor (an
    event id) is the floor."""
    if not cursor:
        return 0, []
    if cursor.isdigit():
        return int(cursor), []
    state = json.loads(cursor)
    return int(state["floor"]), state["ticks"]


@dg.sensor(job=channel_fallback_job, minimum_interval_seconds=10, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Launches a fallback run for SMS with a fallback that failed and have none yet, looking back "
                       f"over the failures of the last {LATE_COMMIT_SECONDS} s (stored late by a slow transaction).")
@alerted_when_failing("channel_fallback_sensor")
@masked
def channel_fallback_sensor(context: dg.SensorEvaluationContext, store: StoreResource):  # noqa: ANN201
    from halo_platform.delivery.fallback import newest_event_id, waiting_fallbacks

    now = time.time()
    floor, ticks = fallback_cursor(context.cursor)
    floor = max([floor, *(int(newest) for at, newest in ticks if at <= now - LATE_COMMIT_SECONDS)])
    ticks = [tick for tick in ticks if tick[0] > now - LATE_COMMIT_SECONDS]
    with store.read() as conn:
        ticks.append([now, newest_event_id(conn)])
        waiting = waiting_fallbacks(conn, floor)
    context.update_cursor(json.dumps({"floor": floor, "ticks": ticks}))
    if not waiting:
        return dg.SkipReason(f"no failed SMS with a fallback to make after event {floor}")
    # one run per set of SMS waiting: a run not finished yet is not launched again; Dagster launches a key
    # once, whatever became of its run, so a set whose runs failed for good is asked for under a key of its
    # own, backing off (`again_after`)
    request = f"fallback:{hashlib.sha256(','.join(waiting).encode()).hexdigest()[:24]}"
    failures = final_failures(context.instance, {FALLBACK_REQUEST_TAG: request}, "channel_fallback_job")
    found = attempt(dg.RunRequest(run_key=request, tags={**JOB_TAGS, FALLBACK_REQUEST_TAG: request},
                                  run_config={"ops": {"send_channel_fallbacks": {"config": {"after_event_id": floor}}}}), failures, now)
    if found is None:
        return dg.SkipReason(f"the fallback run of {len(waiting)} SMS failed for good {len(failures)} times; asked for again at "
                             f"{time.strftime('%H:%M:%S', time.gmtime(again_after(failures)))} UTC")
    return found


FALLBACK_REQUEST_TAG = "halo/fallback-request"  # a set of waiting SMS's first key, on every attempt (Dagster's retries copy it)


_ASSET = {"group_name": "delivery", "owners": [OWNER], "kinds": {"python"}, "tags": {"halo/domain": "delivery"}}


@dg.asset(**_ASSET, description="The opt-out list, one row per channel and scope: how many recipients are suppressed "
                                "(stored as keyed hashes) and the newest suppression.")
@masked
def message_suppressions(store: StoreResource) -> dg.MaterializeResult:
    import sqlalchemy as sa

    from halo_platform.delivery.suppressions import suppressions_t

    with store.read() as conn:
        rows = conn.execute(sa.select(suppressions_t.c.channel, suppressions_t.c.scope, sa.func.count(), sa.func.max(suppressions_t.c.at))
                            .group_by(suppressions_t.c.channel, suppressions_t.c.scope)).all()
    table = "\n".join(["| channel | scope | recipients | newest |", "|---|---|---|---|"] + [f"| {c} | {s} | {n} | {at:%Y-%m-%d %H:%M} |" for c, s, n, at in rows])
    return dg.MaterializeResult(metadata={"suppressed": sum(r[2] for r in rows), "by_channel": dg.MetadataValue.md(table)})


@dg.asset_check(asset=message_suppressions, description="No NORMAL/LOW message was sent in the last day to a recipient who had opted out before it was sent.")
@masked
def no_message_sent_to_a_suppressed_recipient(store: StoreResource) -> dg.AssetCheckResult:
    from halo_platform.delivery.suppressions import sent_despite_suppression

    ids = sent_despite_suppression(store)
    # what the alert of a failed check says (`alerts.sensors.alert_for_failed_check`): how many, which (ids, no recipient)
    description = (f"{len(ids)} message{'s' if len(ids) > 1 else ''} sent in the last day to a recipient who had opted out"
                   f" before: {', '.join(ids[:5])}{' and more' if len(ids) > 5 else ''}") if ids else None
    return dg.AssetCheckResult(passed=not ids, severity=dg.AssetCheckSeverity.ERROR, description=description,
                               metadata={"messages": len(ids), "first": ", ".join(ids[:5]) or "none"})


@dg.asset(**_ASSET, description="The status webhooks waiting for delivery (events of the last 24 h no attempt delivered): "
                                "how many, for how many messages, failed attempts so far, and the oldest one's age.")
@masked
def status_webhook_backlog(store: StoreResource) -> dg.MaterializeResult:
    from halo_platform.delivery.webhooks import backlog

    waiting = backlog(store)
    return dg.MaterializeResult(metadata={k: v for k, v in waiting.items() if k != "oldest_at"})


def backlog_result(waiting: dict, warn_seconds: float = BACKLOG_WARN_SECONDS) -> dg.AssetCheckResult:
    """WARN when the oldest undelivered webhook has waited past `warn_seconds`."""
    age = waiting["oldest_age_seconds"]
    return dg.AssetCheckResult(passed=age <= warn_seconds, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"oldest_age_minutes": round(age / 60, 1), "events": waiting["events"], "messages": waiting["messages"]})


@dg.asset_check(asset=status_webhook_backlog, description="No status webhook has been waiting for more than an hour (WARN).")
@masked
def status_webhooks_younger_than_an_hour(store: StoreResource) -> dg.AssetCheckResult:
    from halo_platform.delivery.webhooks import backlog

    return backlog_result(backlog(store))


follow_up_checks_job = dg.define_asset_job(
    "follow_up_checks_job", selection=dg.AssetSelection.assets(message_suppressions, status_webhook_backlog), tags=JOB_TAGS,
    description="The suppressions and the webhook backlog with their checks.")
follow_up_checks_schedule = dg.ScheduleDefinition(job=follow_up_checks_job, cron_schedule="*/15 * * * *", default_status=dg.DefaultScheduleStatus.RUNNING,
                                                  description="Every 15 minutes: the suppressions and webhook backlog checks.")

