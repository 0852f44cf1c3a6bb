"""The local instance's storage (dagster.yaml: `core.event_storage.SqliteStorage`) writes a ranged
run's materializations a batch at a time, two transactions a batch, and stores what Dagster's own
SQLite storage stores: the same events in the run's database and the index, the same asset event
tags, the same latest materialization per asset, in the same files under DAGSTER_HOME."""

import shutil
import sqlite3
from pathlib import Path

import dagster as dg
import pytest

from halo_platform.core.event_storage import BatchingSqliteEventLogStorage
from halo_platform.core.instance import EVENT_BATCH_SWITCH, dagster_environment, dagster_instance

ROOT = Path(__file__).resolve().parents[2]
DAYS = dg.StaticPartitionsDefinition([f"2026-12-{day:02d}" for day in range(1, 31)])


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
def daily(context: dg.AssetExecutionContext) -> dg.Output[None]:
    return dg.Output(None, metadata={"rows": len(context.partition_keys)}, data_version=dg.DataVersion("v1"))


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run(), deps=[daily])
def summary(context: dg.AssetExecutionContext) -> dg.Output[None]:
    return dg.Output(None, data_version=dg.DataVersion("v2"))


JOB = dg.Definitions(assets=[daily, summary], jobs=[dg.define_asset_job("ranged", selection=[daily, summary])]).resolve_job_def("ranged")
RANGE = {"dagster/asset_partition_range_start": "2026-12-03", "dagster/asset_partition_range_end": "2026-12-27"}  # 25 partitions


@pytest.fixture(autouse=True)
def batching(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv(EVENT_BATCH_SWITCH, raising=False)  # restored after the test
    dagster_environment()  # as the CLI and a run worker set it


def opened_connections(storage: BatchingSqliteEventLogStorage, monkeypatch) -> list[str]:  # noqa: ANN001
    """The shards (a run's id, `index`) the storage connects to, in order, from now on."""
    shards: list[str] = []
    connect = storage._connect  # noqa: SLF001 - Dagster's SQLite storage opens every connection here

    def counted(shard: str):  # noqa: ANN202
        shards.append(shard)
        return connect(shard)

    monkeypatch.setattr(storage, "_connect", counted)
    return shards


def stored(home: Path) -> dict[str, list]:
    """What the instance under `home` stored, without ids, run ids and times."""
    runs = home / "history" / "runs"
    (run_db,) = [p for p in runs.glob("*.db") if p.name != "index.db"]
    with sqlite3.connect(run_db) as run, sqlite3.connect(runs / "index.db") as index:
        events = "SELECT dagster_event_type, asset_key, partition, step_key FROM event_logs ORDER BY id"
        return {"run": run.execute(events).fetchall(),
                "index": index.execute(events).fetchall(),
                "tags": index.execute("SELECT event_id, key, value, asset_key FROM asset_event_tags ORDER BY id").fetchall(),
                "latest": [(key, partition) for key, partition in index.execute(
                    "SELECT asset_key, json_extract(last_materialization, '$.event_log_entry.dagster_event.event_specific_data"
                    ".materialization.partition') FROM asset_keys ORDER BY asset_key")]}


def test_the_local_instance_stores_a_batch_of_materializations_in_two_transactions(halo_env, monkeypatch) -> None:  # noqa: ANN001
    instance = dagster_instance()  # DAGSTER_HOME's, with the project's dagster.yaml
    storage = instance.event_log_storage
    assert isinstance(storage, BatchingSqliteEventLogStorage)
    assert Path(storage._base_dir) == Path(halo_env["DAGSTER_HOME"], "history", "runs")  # noqa: SLF001 - Dagster's own layout
    batches: list[tuple] = []
    shards = opened_connections(storage, monkeypatch)
    store_event_batch = storage.store_event_batch

    def watched(events) -> None:  # noqa: ANN001
        before = len(shards)
        store_event_batch(events)
        batches.append((events[0].dagster_event_type, len(events), shards[before:]))

    monkeypatch.setattr(storage, "store_event_batch", watched)
    with instance:
        result = JOB.execute_in_process(instance=instance, tags=RANGE)
        assert result.success
        materialized = [b for b in batches if b[0] == dg.DagsterEventType.ASSET_MATERIALIZATION]
        assert [size for _, size, _ in materialized] == [25, 25]  # one batch per asset
        for _, _, opened in materialized:
            assert opened == [result.run_id, "index"]  # the run's database, then the index (one by one: 50 connections)
        for asset in ("daily", "summary"):
            assert instance.get_materialized_partitions(dg.AssetKey(asset)) == set(DAYS.get_partition_keys()[2:27])
        assert instance.get_latest_materialization_event(dg.AssetKey("daily")).run_id == result.run_id


def test_it_stores_what_dagsters_own_sqlite_storage_stores(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    contents = {}
    for name, settings in (("ours", (ROOT / "dagster.yaml").read_text()), ("dagster", "telemetry:\n  enabled: false\n")):
        home = tmp_path / name
        home.mkdir()
        (home / "dagster.yaml").write_text(settings)
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert isinstance(instance.event_log_storage, BatchingSqliteEventLogStorage) == (name == "ours")
            assert JOB.execute_in_process(instance=instance, tags=RANGE).success
        contents[name] = stored(home)
    ours, dagster = contents["ours"], contents["dagster"]
    assert len([e for e in ours["index"] if e[0] == "ASSET_MATERIALIZATION"]) == 50
    assert ours == dagster


def test_a_batch_of_other_events_is_stored_one_by_one_as_dagster_stores_it(halo_env, monkeypatch) -> None:  # noqa: ANN001
    with dagster_instance() as instance:
        result = JOB.execute_in_process(instance=instance, tags=RANGE)
        planned = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
        storage = instance.event_log_storage
        one_by_one = []
        monkeypatch.setattr(storage, "store_event", lambda event: one_by_one.append(event.dagster_event_type))
        storage.store_event_batch(planned)
    assert one_by_one == [dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED] * 2


def test_the_project_dagster_yaml_copied_to_a_new_dagster_home_keeps_dagsters_layout(halo_env) -> None:  # noqa: ANN001
    home = Path(halo_env["DAGSTER_HOME"])
    shutil.rmtree(home, ignore_errors=True)
    with dagster_instance() as instance:
        instance.get_runs(limit=1)
    assert (home / "dagster.yaml").read_text() == (ROOT / "dagster.yaml").read_text()
    assert sorted(p.relative_to(home).as_posix() for p in home.rglob("*.db")) == ["history/runs.db", "history/runs/index.db", "schedules/schedules.db"]
