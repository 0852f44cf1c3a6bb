"""EMR availability: feeds -> scheduling items -> available spans (+ next slots), the landing sensor."""

import dagster as dg

from halo_platform.availability.assets import ASSETS, PARTITIONS, TAGS
from halo_platform.availability.checks import CHECKS, feeds_within_max_lag
from halo_platform.availability.sensors import emr_landing_sensor
from halo_platform.core.definitions import STORE

emr_processing_job = dg.define_asset_job(
    "emr_processing_job",
    selection=dg.AssetSelection.assets(*ASSETS),
    partitions_def=PARTITIONS,
    tags=TAGS,
    description="Ingest landed EMR files and recompute the impacted available spans (one at a time: halo/emr-processing).",
)

# the freshness check must also run when nothing lands: that is when a feed goes stale
emr_freshness_job = dg.define_asset_job(
    "emr_freshness_job",
    selection=dg.AssetSelection.checks(feeds_within_max_lag),
    tags={"owner": "availability", "domain": "availability"},
    description="Check every feed's lag against its max_lag_minutes.",
)
emr_freshness_schedule = dg.ScheduleDefinition(name="emr_freshness_schedule", job=emr_freshness_job, cron_schedule="*/5 * * * *",
                                               default_status=dg.DefaultScheduleStatus.RUNNING)

defs = dg.Definitions(
    assets=list(ASSETS),
    asset_checks=CHECKS,
    jobs=[emr_processing_job, emr_freshness_job],
    schedules=[emr_freshness_schedule],
    sensors=[emr_landing_sensor],
    resources={"store": STORE},
)
