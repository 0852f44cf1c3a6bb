"""Message delivery: dispatch job + queue sensor, autopilot (provider_health + checks, job,
sensor), the routing weights job. Binds the shared `store` and `sinks` (autopilot alerts) and its own `providers`."""

import dagster as dg

from halo_platform.core.definitions import STORE
from halo_platform.delivery.jobs import (
    autopilot_job,
    autopilot_sensor,
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
    assets=[provider_health],
    asset_checks=[provider_error_rates_under_threshold, provider_shares_near_configured],
    jobs=[message_dispatch_job, autopilot_job, routing_weights_job],
    sensors=[message_queue_sensor, autopilot_sensor],
    resources={"store": STORE, "sinks": SINKS, "providers": PROVIDERS},
)
