"""Dagster shells around the delivery logic: the dispatch job and its queue sensor, the
autopilot asset (`provider_health`) with its checks, job and sensor, and the weights job."""


import time
from collections import Counter

import dagster as dg

from halo_platform.alerts.failing_sensors import alerted_when_failing
from halo_platform.core.errors import fail_once
from halo_platform.core.failures import masked
from halo_platform.core.redact import mask_text
from halo_platform.core.store import StoreResource
from halo_platform.delivery.config import CHANNELS
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.sinks import SinksResource

OWNER = "team:messaging"
JOB_TAGS = {"owner": OWNER, "domain": "delivery"}
ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


#: a dispatch run still going this long after it started is dead or hung: its drain claims for
#: `max_seconds` (50 by default) and its last sends end within their provider's timeout. The
#: instance's run monitoring then cancels it (`dagster/max_runtime`), and a run whose worker died
#: (SIGKILL, the OOM killer), which the default run launcher cannot tell, is marked cancelled when
#: the cancellation times out: it held one of its channel's run slots for good
DISPATCH_MAX_RUNTIME_SECONDS = 600
#: due messages that justify one more dispatch run of a channel (up to the run queue's limit)
DUE_PER_RUN = 1000
MAX_BATCH = 10_000  # messages per claim at most: a claim's rows are held in memory and leased together


class DispatchConfig(dg.Config):
    channels: list[str] = list(CHANNELS)
    max_seconds: float = 50.0
    # messages per claim; None: the store's (`dispatch.default_batch`: 200 on SQLite, 1000 elsewhere)
    batch_size: int | None = None


@dg.op(description="Claims due messages of the channels in leased batches and sends them until none is due or max_seconds pass.")
@masked
def dispatch_messages(context: dg.OpExecutionContext, config: DispatchConfig, store: StoreResource, providers: ProvidersResource) -> dg.Output:
    from halo_platform.delivery.dispatch import Dispatcher

    unknown = sorted(set(config.channels) - set(CHANNELS))
    if unknown:  # a launchpad typo: one failed run, not retried by the instance
        fail_once(context, f"unknown channel(s): {', '.join(unknown)}")
    if config.batch_size is not None and not 1 <= config.batch_size <= MAX_BATCH:
        fail_once(context, f"batch_size must be between 1 and {MAX_BATCH}, not {config.batch_size}")
    dispatcher = Dispatcher(providers, store, batch_size=config.batch_size, owner=f"run:{context.run_id[:18]}")
    try:
        stats = dispatcher.drain(config.channels, timeout=config.max_seconds)
    finally:
        dispatcher.close()
    context.log.info(f"dispatched: {stats.as_dict()}")
    return dg.Output(
        stats.as_dict(),
        metadata={"claimed": stats.claimed, "sent": stats.by_status.get("sent", 0), "retry_scheduled": stats.by_status.get("retry_scheduled", 0),
                  "lost": stats.by_status.get("lost", 0), "seconds": stats.seconds},
    )


@dg.job(tags=JOB_TAGS, description="Sends queued messages (NORMAL before LOW, oldest first); retries, expiry, leases.")
def message_dispatch_job() -> None:
    dispatch_messages()


def channels_to_launch(due: dict[str, int], active: Counter, per_channel: int = 1, batch: int = DUE_PER_RUN) -> list[str]:
    """One entry per dispatch run to launch: for each channel with due messages, up to
    `per_channel` runs at once (those `active` count), no more than a run per `batch` due."""
    launch = []
    for channel in CHANNELS:
        wanted = min(per_channel, -(-due.get(channel, 0) // batch))
        launch += [channel] * max(wanted - active.get(channel, 0), 0)
    return launch


#: dispatch runs per channel at most on a SQLite store. Its writers take turns on one lock, but a
#: dispatcher is bound by its own process (one sending loop and one interpreter lock for its
#: threads) before that lock: `halo bench delivery --messages 100000 --high 1500`, three runs
#: (2026-12-02, load 2.3-6), 1 run per channel 4,221 / 4,632 / 4,302 msg/s with HIGH p99 32.2 /
#: 31.6 / 32.7 ms; 2 per channel 4,988 / 5,068 / 4,615 msg/s, HIGH p99 44.1 / 42.4 / 39.6 ms;
#: 4 per channel 3,290 / 4,031 msg/s, HIGH p99 144 / 126 ms (the writers then queue for the lock)
SQLITE_DISPATCHERS = 2


def dispatchers_per_channel(instance: dg.DagsterInstance, store: StoreResource) -> int:
    """How many dispatch runs a channel may have at once: the run queue's limit for the
    `halo/channel` tag (deploy/dagster.yaml), which holds further runs queued anyway; on a
    SQLite store no more than `SQLITE_DISPATCHERS`; one without a run queue."""
    if not isinstance(instance.run_coordinator, dg.QueuedRunCoordinator):
        return 1
    limits = instance.run_coordinator.get_run_queue_config().tag_concurrency_limits
    limit = max([int(entry.get("limit", 1)) for entry in limits if entry.get("key") == "halo/channel"] or [1])
    return min(limit, SQLITE_DISPATCHERS) if store.sqlite else limit


@dg.sensor(job=message_dispatch_job, minimum_interval_seconds=5, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Launches dispatch runs per channel with due messages (tag halo/channel), up to the run queue's "
                       "halo/channel limit (2 at most on SQLite); on PostgreSQL/MariaDB they claim with FOR UPDATE SKIP LOCKED.")
@alerted_when_failing("message_queue_sensor")
@masked
def message_queue_sensor(context: dg.SensorEvaluationContext, store: StoreResource):  # noqa: ANN201
    from halo_platform.core.models import utcnow
    from halo_platform.delivery.queue import due_counts

    with store.read() as conn:
        due = due_counts(conn, utcnow())
    runs = context.instance.get_runs(dg.RunsFilter(job_name="message_dispatch_job", statuses=ACTIVE))
    active = Counter(run.tags["halo/channel"] for run in runs if run.tags.get("halo/channel"))
    launch = channels_to_launch(due, active, dispatchers_per_channel(context.instance, store))
    if not launch:
        waiting = {c: n for c, n in due.items() if n}
        return dg.SkipReason(f"dispatch runs already active: {dict(active)}; due {waiting}" if waiting else "no message is due")
    bucket = int(time.time() // 5)
    return [
        dg.RunRequest(
            run_key=f"{channel}:{bucket}:{launch[:i].count(channel)}",
            run_config={"ops": {"dispatch_messages": {"config": {"channels": [channel]}}}},
            tags={"halo/channel": channel, "dagster/max_runtime": str(DISPATCH_MAX_RUNTIME_SECONDS), **JOB_TAGS},
        )
        for i, channel in enumerate(launch)
    ]


#: provider_health's metadata the next cycle reads: what this one reported, as lists (the other
#: entries are for people, and may say it otherwise)
REPORTED = "reported"


@dg.asset(
    group_name="delivery",
    owners=[OWNER],
    kinds={"python"},
    tags={"halo/domain": "delivery"},
    description=(
        "Autopilot's view of every message provider, one row per provider per cycle: attempts and transmission "
        "errors in the window, error rate, traffic factor (0 = deactivated, ramp steps, 1 = full) and the reason. "
        "Materializing it runs one autopilot cycle (deactivate, ping, ramp back, alert)."
    ),
)
@masked
def provider_health(context: dg.AssetExecutionContext, store: StoreResource, providers: ProvidersResource, sinks: SinksResource) -> dg.MaterializeResult:
    from halo_platform.delivery.autopilot import run_cycle

    report = run_cycle(store, providers, sinks=sinks, alerted=reported_before(context))
    for change in report.changes:
        context.log.warning(f"{change['provider']}: {change['reason']}")
    table = "\n".join(
        ["| provider | factor | attempts | error rate | reason |", "|---|---|---|---|---|"]
        + [f"| {n} | {p['factor']:g} | {p['attempts']} | {p['error_rate']:.1%} | {p['reason']} |" for n, p in report.providers.items()]
    )
    # masked as log lines are: a reason names who switched a provider off (`halo delivery switch --by`)
    return dg.MaterializeResult(metadata={"providers": dg.MetadataValue.md(mask_text(table)), "changes": len(report.changes), "rules_down": ", ".join(report.rules_down) or "none",
                                          "routes_unserved": ", ".join(report.routes_unserved) or "none",
                                          REPORTED: dg.MetadataValue.json({"rules_down": report.rules_down, "routes_unserved": list(report.routes_unserved)})})


def reported_before(context: dg.AssetExecutionContext) -> set[str]:
    """The rules down and routes unserved that provider_health's previous materialization reports:
    the cycle that made it alerted them (or one before it did), and they are still down. A
    materialization made before it had `REPORTED` lists them in its text entries (', '-joined, or 'none')."""
    event = context.instance.get_latest_materialization_event(context.asset_key)
    metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
    if REPORTED in metadata:
        return {item for items in metadata[REPORTED].value.values() for item in items}
    return {item for name in ("rules_down", "routes_unserved") if name in metadata
            for item in str(metadata[name].value).split(", ") if item != "none"}


@dg.asset_check(asset=provider_health, description="Every provider's error rate in the window is under the autopilot threshold (min_attempts applies).")
@masked
def provider_error_rates_under_threshold(store: StoreResource, providers: ProvidersResource) -> dg.AssetCheckResult:
    from halo_platform.delivery.health import error_rate_problems

    config = providers.config()
    problems = error_rate_problems(config, store)
    # what the alert of a failed check says (`alerts.sensors.alert_for_failed_check`): which provider, at what rate
    description = (f"provider{'s' if len(problems) > 1 else ''} at or above the {config.autopilot.error_rate_threshold:.0%}"
                   f" error rate threshold in the window: {', '.join(p + ' attempts' for p in problems)}") if problems else None
    return dg.AssetCheckResult(passed=not problems, severity=dg.AssetCheckSeverity.ERROR, description=description,
                               metadata={"failing": ", ".join(problems) or "none"})


@dg.asset_check(asset=provider_health, description="Each provider's actual share of its rule's traffic is near its configured share (else it is not sending what it should).")
@masked
def provider_shares_near_configured(store: StoreResource, providers: ProvidersResource) -> dg.AssetCheckResult:
    from halo_platform.delivery.health import share_problems

    problems = share_problems(providers.config(), store)
    return dg.AssetCheckResult(passed=not problems, severity=dg.AssetCheckSeverity.WARN, metadata={"off_share": "; ".join(problems) or "none"})


autopilot_job = dg.define_asset_job(
    "autopilot_job",
    selection=dg.AssetSelection.assets(provider_health),
    tags=JOB_TAGS,
    description="One autopilot cycle: provider_health and its checks.",
)


def autopilot_work(conn, since, now, config) -> str:  # noqa: ANN001
    """Why an autopilot cycle is due ('' when none is): attempts recorded since `since` (traffic
    to judge), a provider deactivated or ramping (a health call to make), or queued messages no
    provider of the delivery `config` can take (the cycle's ERROR alert: they make no attempt,
    and every tick was skipped while they waited without a word)."""
    import sqlalchemy as sa

    from halo_platform.delivery.autopilot import attempts_t, state_t

    attempts = conn.execute(sa.select(sa.func.count()).select_from(attempts_t).where(attempts_t.c.at > since, attempts_t.c.at <= now)).scalar_one()
    if attempts:
        return f"{attempts} attempts since {since:%H:%M:%S}"
    recovering = conn.execute(sa.select(state_t.c.provider).where(sa.or_(state_t.c.active.is_(False), state_t.c.ramp_step.is_not(None)))).scalars().all()
    if recovering:
        return f"to ping: {', '.join(sorted(recovering))}"
    from halo_platform.delivery.queue import queued_routes
    from halo_platform.delivery.routing import route_name, unserved_route
    from halo_platform.delivery.state import routing_at

    router = routing_at(config, conn, now)[0]
    unserved = sorted(route_name(*route) for route in queued_routes(conn) if unserved_route(router, *route) is not None)
    return f"queued messages no provider can take: {', '.join(unserved)}" if unserved else ""


@dg.schedule(name="autopilot", cron_schedule="* * * * *", job=autopilot_job, default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Every minute, one autopilot cycle when there is traffic to judge (attempts since the previous "
                         "tick), a deactivated or ramping provider to ping, or queued messages no provider can take "
                         "(their ERROR alert); otherwise the tick is skipped.")
@masked
def autopilot_schedule(context: dg.ScheduleEvaluationContext, store: StoreResource, providers: ProvidersResource):  # noqa: ANN201
    import datetime as dt

    from halo_platform.core.models import utcnow

    now = context.scheduled_execution_time or utcnow()
    with store.read() as conn:
        why = autopilot_work(conn, now - dt.timedelta(minutes=1), now, providers.config())
    if not why:
        return dg.SkipReason("no traffic since the previous tick and no provider to ping")
    return dg.RunRequest(run_key=f"autopilot:{now:%Y%m%dT%H%M}", tags={**JOB_TAGS, "halo/autopilot": why[:200]})


class WeightsConfig(dg.Config):
    rule: str
    weights: dict[str, float]
    changed_by: str = "dagster-ui"
    reason: str  # required: kept in the history


@dg.op(description="Validates and stores new weights for one routing rule (audited).")
@masked
def set_routing_weights(context: dg.OpExecutionContext, config: WeightsConfig, store: StoreResource, providers: ProvidersResource) -> dict:
    from halo_platform.core.errors import HaloError
    from halo_platform.delivery.state import set_weights

    try:
        stored = set_weights(providers.config(), config.rule, config.weights, config.changed_by, store, config.reason)
    except HaloError as exc:  # a typo in the launchpad: one failed run with the message, no run retries
        fail_once(context, exc)
    context.log.info(f"{config.rule}: {stored}")
    return stored


@dg.job(tags=JOB_TAGS, description="Edit the weights of a routing rule from the UI (validated and audited).")
def routing_weights_job() -> None:
    set_routing_weights()
