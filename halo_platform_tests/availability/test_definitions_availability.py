"""The availability definitions: the processing job (tags, partitions), the landing sensor,
the checks, and assets carrying group, owners, kinds and descriptions."""

import dagster as dg

from halo_platform.availability.assets import FEEDS, PARTITIONS, feed_names, missing_feeds
from halo_platform.definitions import defs


def test_the_processing_job_is_tagged_for_the_instance_concurrency_limit():
    job = defs.resolve_job_def("emr_processing_job")
    assert job.tags["halo/emr-processing"] == "true"
    assert (job.tags["owner"], job.tags["domain"]) == ("availability", "availability")
    assert job.partitions_def == PARTITIONS


def test_partitions_are_date_by_feed_and_stay_small(halo_env):
    dims = {d.name: d.partitions_def for d in PARTITIONS.partitions_defs}
    assert set(dims) == {"date", "feed"}
    assert isinstance(dims["feed"], dg.DynamicPartitionsDefinition)  # not read from the environment at import
    with dg.DagsterInstance.ephemeral() as instance:
        assert missing_feeds(instance, list(feed_names())) == ["acme", "fhir", "hl7"]
        instance.add_dynamic_partitions(FEEDS.name, list(feed_names()))
        assert missing_feeds(instance, list(feed_names())) == []
        assert dims["feed"].get_partition_keys(dynamic_partitions_store=instance) == list(feed_names()) == ["acme", "fhir", "hl7"]
        assert len(PARTITIONS.get_partition_keys(dynamic_partitions_store=instance)) < 1500  # never per provider


def test_sensor_checks_and_assets_are_declared_with_metadata():
    assert defs.resolve_sensor_def("emr_landing_sensor").job_name == "emr_processing_job"
    graph = defs.resolve_asset_graph()
    checks = {key.name for key in graph.asset_check_keys}
    assert {"spans_do_not_overlap", "spans_inside_working_hours", "quarantine_rate_below_threshold"} <= checks
    for name in ("scheduling_items", "available_spans", "next_available_slots"):
        node = graph.get(dg.AssetKey(name))
        assert node.group_name == "availability" and node.owners and node.kinds, name
        assert node.description, name
