"""EMR availability: feeds -> scheduling items -> available spans (+ next slots), the landing sensor."""

import dagster as dg

from halo_platform.availability.assets import PARTITIONS, TAGS, available_spans, scheduling_items
from halo_platform.availability.checks import CHECKS
from halo_platform.availability.sensors import emr_landing_sensor
from halo_platform.core.definitions import STORE

emr_processing_job = dg.define_asset_job(
    "emr_processing_job",
    selection=dg.AssetSelection.assets(scheduling_items, available_spans),
    partitions_def=PARTITIONS,
    tags=TAGS,
    description="Ingest landed EMR files and recompute the impacted available spans (one at a time: halo/emr-processing).",
)

defs = dg.Definitions(
    assets=[scheduling_items, available_spans],
    asset_checks=CHECKS,
    jobs=[emr_processing_job],
    sensors=[emr_landing_sensor],
    resources={"store": STORE},
)
