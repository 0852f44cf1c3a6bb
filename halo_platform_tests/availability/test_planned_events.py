"""A processing run over many partitions records one planned event per asset (the range inside
it), not one per partition, on the instance the CLI uses; every partition is still materialized."""

import datetime as dt

import dagster as dg

from halo_platform.availability.service import run_processing
from halo_platform.core.instance import PLANNED_EVENTS_SWITCH, dagster_instance
from halo_platform_tests.availability.helpers import land

ASSETS = ("scheduling_items", "available_spans", "next_available_slots")


def test_a_run_over_a_range_records_one_planned_event_per_asset_and_every_partition(store, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv(PLANNED_EVENTS_SWITCH, "")  # restored after the test: the switch is dropped, then set by the platform
    monkeypatch.delenv(PLANNED_EVENTS_SWITCH)
    land("hl7", "templates.csv", "provider_id,timezone,weekday,start,end,version\nDR1,Europe/Paris,mon,08:00,12:00,2026-10-01T00:00:00Z\n")
    land("acme", "hours.jsonl", '{"type":"hours","provider":"P1","tz":"UTC","week":{"tue":[["09:00","17:00"]]},"updated_at":"2026-10-01T00:00:00Z"}\n')

    summary = run_processing(store, dt.date(2026, 12, 1), 10)  # no instance given: DAGSTER_HOME's, as `halo emr process`

    assert summary.events == 2
    instance = dagster_instance()
    (run,) = instance.get_runs()
    planned = [e.dagster_event.event_specific_data for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)]
    assert sorted(p.asset_key.to_user_string() for p in planned) == sorted(ASSETS)
    expected = {f"{day:%Y-%m-%d}|{feed}" for feed in ("acme", "hl7") for day in (dt.date(2026, 12, 1) + dt.timedelta(days=i) for i in range(10))}
    for p in planned:
        assert p.partition is None
        assert set(p.partitions_subset.get_partition_keys()) == expected
    for asset in ASSETS:
        assert instance.get_materialized_partitions(dg.AssetKey(asset)) == expected
