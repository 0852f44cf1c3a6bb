"""Message delivery: dispatch job + queue sensor, autopilot (provider_health + checks, job,
sensor), the routing weights job, and what follows a message (status webhooks, channel
fallback, suppressions and webhook backlog checks: `follow_up`). Binds the shared `store` and `sinks` (autopilot alerts) and its own `providers`."""

import dagster as dg

from halo_platform.core.definitions import STORE
from halo_platform.delivery.follow_up import (
    channel_fallback_job,
    channel_fallback_sensor,
    follow_up_checks_job,
    follow_up_checks_schedule,
    message_suppressions,
    no_message_sent_to_a_suppressed_recipient,
    status_webhook_backlog,
    status_webhooks_job,
    status_webhooks_sensor,
    status_webhooks_younger_than_an_hour,
)
from halo_platform.delivery.jobs import (
    autopilot_job,
    autopilot_schedule,
    message_dispatch_job,
    message_queue_sensor,
    provider_error_rates_under_threshold,
    provider_health,
    provider_shares_near_configured,
    routing_weights_job,
)
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.sinks.definitions import SINKS

PROVIDERS = ProvidersResource()

defs = dg.Definitions(
    assets=[provider_health, message_suppressions, status_webhook_backlog],
    asset_checks=[provider_error_rates_under_threshold, provider_shares_near_configured, no_message_sent_to_a_suppressed_recipient,
                  status_webhooks_younger_than_an_hour],
    jobs=[message_dispatch_job, autopilot_job, routing_weights_job, status_webhooks_job, channel_fallback_job, follow_up_checks_job],
    sensors=[message_queue_sensor, status_webhooks_sensor, channel_fallback_sensor],
    schedules=[autopilot_schedule, follow_up_checks_schedule],
    resources={"store": STORE, "sinks": SINKS, "providers": PROVIDERS},
)
