"""A processing run over many partitions records one planned event per asset (the range inside
it), not one per partition, on the instance the CLI uses; every partition is still materialized.
On the production instance (PostgreSQL) its materializations are stored in batches."""

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg

from halo_platform.availability.service import run_processing
from halo_platform.core.instance import EVENT_BATCH_SWITCH, PLANNED_EVENTS_SWITCH, dagster_environment, dagster_instance
from halo_platform_tests.availability.helpers import land
from halo_platform_tests.fixtures.databases import deploy_instance_env

ROOT = Path(__file__).resolve().parents[2]

ASSETS = ("scheduling_items", "available_spans")  # partitioned by (date, feed); next_available_slots is not


def test_a_run_over_a_range_records_one_planned_event_per_asset_and_every_partition(store, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv(PLANNED_EVENTS_SWITCH, "")  # restored after the test: the switch is dropped, then set by the platform
    monkeypatch.delenv(PLANNED_EVENTS_SWITCH)
    land_two_feeds()

    summary = run_processing(store, dt.date(2026, 12, 1), 10)  # no instance given: DAGSTER_HOME's, as `halo emr process`

    assert summary.events == 2
    instance = dagster_instance()
    (run,) = instance.get_runs()
    planned = [e.dagster_event.event_specific_data for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)]
    assert sorted(p.asset_key.to_user_string() for p in planned) == sorted([*ASSETS, "next_available_slots"])
    for p in planned:
        assert p.partition is None
        assert (set(p.partitions_subset.get_partition_keys()) if p.partitions_subset else None) == (
            None if p.asset_key.to_user_string() == "next_available_slots" else EXPECTED)
    for asset in ASSETS:
        assert instance.get_materialized_partitions(dg.AssetKey(asset)) == EXPECTED
    slots = instance.fetch_materializations(dg.AssetKey("next_available_slots"), limit=10).records
    assert [(r.run_id, r.partition_key) for r in slots] == [(run.run_id, None)]  # one record per run, not one per partition


def test_on_postgresql_a_ranged_run_stores_its_materializations_in_batches(store, fresh_pg_url, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv(EVENT_BATCH_SWITCH, raising=False)  # restored after the test
    dagster_environment()  # as a run worker does when it imports the code location
    for key, value in deploy_instance_env(fresh_pg_url).items():
        monkeypatch.setenv(key, value)
    shutil.copy(ROOT / "deploy" / "dagster.yaml", tmp_path / "dagster.yaml")
    land_two_feeds()
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    storage = instance.event_log_storage
    one_by_one, batches = [], []
    store_event, store_event_batch = storage.store_event, storage.store_event_batch
    monkeypatch.setattr(storage, "store_event", lambda event: (one_by_one.append((event.dagster_event_type, event.dagster_event and event.dagster_event.asset_key)),
                                                                 store_event(event))[1])
    monkeypatch.setattr(storage, "store_event_batch", lambda events: (batches.append((events[0].dagster_event_type, len(events))),
                                                                      store_event_batch(events))[1])

    run_processing(store, dt.date(2026, 12, 1), 10, instance=instance)  # closes the instance

    alone = [key.to_user_string() for kind, key in one_by_one if kind == dg.DagsterEventType.ASSET_MATERIALIZATION]
    assert alone == ["next_available_slots"]  # the one record of the one unpartitioned asset
    materialized = [size for kind, size in batches if kind == dg.DagsterEventType.ASSET_MATERIALIZATION]
    assert materialized == [len(EXPECTED)] * len(ASSETS)  # one batch per asset: all its partitions
    with dg.DagsterInstance.from_config(str(tmp_path)) as reopened:
        for asset in ASSETS:
            assert reopened.get_materialized_partitions(dg.AssetKey(asset)) == EXPECTED


EXPECTED = {f"{day:%Y-%m-%d}|{feed}" for feed in ("acme", "hl7") for day in (dt.date(2026, 12, 1) + dt.timedelta(days=i) for i in range(10))}


def land_two_feeds() -> None:
    land("hl7", "templates.csv", "provider_id,timezone,weekday,start,end,version\nDR1,Europe/Paris,mon,08:00,12:00,2026-10-01T00:00:00Z\n")
    land("acme", "hours.jsonl", '{"type":"hours","provider":"P1","tz":"UTC","week":{"tue":[["09:00","17:00"]]},"updated_at":"2026-10-01T00:00:00Z"}\n')
