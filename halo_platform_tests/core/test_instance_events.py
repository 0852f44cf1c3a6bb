"""The local instance's event log (core.instance.SqliteEventLogStorage) writes a batch of a ranged
run's per-partition events in two transactions; what the instance then answers (partitions
materialized, latest materializations, check executions, the run's log) is what Dagster's own
SQLite storage answers for the same run. And `dagster_instance()` uses it, in Dagster's folder."""

from types import SimpleNamespace

import dagster as dg
import pytest

from halo_platform.core import instance as halo_instance

DATES = dg.DailyPartitionsDefinition(start_date="2026-11-01", end_date="2026-11-21")
FEEDS = dg.StaticPartitionsDefinition(["acme", "fhir", "hl7"])
PARTITIONS = dg.MultiPartitionsDefinition({"date": DATES, "feed": FEEDS})


@dg.asset(partitions_def=PARTITIONS, backfill_policy=dg.BackfillPolicy.single_run())
def items(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"partitions": len(context.partition_keys)})


@dg.multi_asset(specs=[dg.AssetSpec("spans", deps=[items], partitions_def=PARTITIONS),
                       dg.AssetSpec("slots", deps=["spans"], partitions_def=PARTITIONS)],
                partitions_def=PARTITIONS, backfill_policy=dg.BackfillPolicy.single_run())
def spans(context: dg.AssetExecutionContext):  # noqa: ARG001
    yield dg.MaterializeResult(asset_key="spans", metadata={"n": 1})
    yield dg.MaterializeResult(asset_key="slots", metadata={"n": 2})


@dg.asset_check(asset="spans")
def spans_sorted() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


JOB = dg.define_asset_job("ranged", selection=["items", "spans", "slots"])
DEFS = dg.Definitions(assets=[items, spans], asset_checks=[spans_sorted], jobs=[JOB])


def run_ranged(instance: dg.DagsterInstance, first: str, last: str) -> str:
    tags = {"dagster/asset_partition_range_start": str(dg.MultiPartitionKey({"date": first, "feed": "acme"})),
            "dagster/asset_partition_range_end": str(dg.MultiPartitionKey({"date": last, "feed": "hl7"}))}
    result = DEFS.resolve_job_def("ranged").execute_in_process(instance=instance, tags=tags)
    assert result.success
    return result.run_id


def answers(instance: dg.DagsterInstance, run_ids: list[str]) -> dict:
    """What the instance says of the runs, with the run ids and storage ids made comparable."""
    name = {run_id: f"run{i}" for i, run_id in enumerate(run_ids)}
    out: dict = {}
    for key in ("items", "spans", "slots"):
        asset = dg.AssetKey(key)
        latest = instance.get_latest_materialization_event(asset)
        records = instance.fetch_materializations(asset, limit=1000).records
        out[key] = {
            "partitions": sorted(instance.get_materialized_partitions(asset)),
            "records": sorted((name[r.run_id], r.partition_key) for r in records),
            "latest": (name[latest.run_id], latest.dagster_event.partition),
            "feed=fhir, date=2026-11-05": len(instance.fetch_materializations(
                dg.AssetRecordsFilter(asset, asset_partitions=[str(dg.MultiPartitionKey({"date": "2026-11-05", "feed": "fhir"}))]),
                limit=1000).records),
            "tagged feed=fhir": len(instance.get_event_tags_for_asset(asset, filter_tags={"dagster/partition/feed": "fhir"})),
            "last run": name[instance.get_latest_materialization_event(asset).run_id],
        }
    check = dg.AssetCheckKey(dg.AssetKey("spans"), "spans_sorted")
    out["check"] = sorted((name[e.run_id], e.status.value) for e in instance.event_log_storage.get_asset_check_execution_history(check, limit=100))
    out["logs"] = {name[r]: [(e.dagster_event_type, e.dagster_event.asset_key if e.is_dagster_event else None,
                              e.dagster_event.partition if e.is_dagster_event else None)
                             for e in instance.all_logs(r) if e.is_dagster_event] for r in run_ids}
    return out


def test_a_batch_written_at_once_reads_back_as_dagsters_one_by_one(tmp_path, monkeypatch):
    monkeypatch.setenv(halo_instance.EVENT_BATCH_SWITCH, "1000")
    monkeypatch.setenv(halo_instance.PLANNED_EVENTS_SWITCH, "true")
    batched = []
    store_batch = halo_instance.SqliteEventLogStorage.store_event_batch
    monkeypatch.setattr(halo_instance.SqliteEventLogStorage, "store_event_batch",
                        lambda self, events: (batched.append(len(events)), store_batch(self, events)))
    results = {}
    for label, storage in (("dagster", None),
                           ("halo", {"module": "halo_platform.core.instance", "class": "SqliteEventLogStorage",
                                     "config": {"base_dir": str(tmp_path / "halo_events")}})):
        (tmp_path / label).mkdir()
        with dg.instance_for_test(temp_dir=str(tmp_path / label), overrides={"event_log_storage": storage} if storage else None) as instance:
            assert isinstance(instance.event_log_storage, halo_instance.SqliteEventLogStorage) == (label == "halo")
            run_ids = [run_ranged(instance, "2026-11-01", "2026-11-20"), run_ranged(instance, "2026-11-03", "2026-11-06")]
            results[label] = answers(instance, run_ids)
    assert results["halo"] == results["dagster"]
    assert max(batched) == 60  # 20 dates x 3 feeds per asset, each batch written at once
    assert results["halo"]["spans"]["partitions"].__len__() == 60
    assert results["halo"]["spans"]["feed=fhir, date=2026-11-05"] == 2  # both runs cover it
    assert results["halo"]["spans"]["tagged feed=fhir"] == 20 + 4
    assert results["halo"]["spans"]["latest"][0] == "run1"


def test_the_local_instance_uses_it_in_dagsters_own_folder(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setattr(halo_instance, "get_settings", lambda: type("S", (), {"dagster_home": home})())
    with halo_instance.dagster_instance() as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, halo_instance.SqliteEventLogStorage)
        assert storage._base_dir.rstrip("/") == str(home / "history" / "runs")  # noqa: SLF001 - where Dagster keeps it by default


@pytest.mark.parametrize("kinds", [["ASSET_MATERIALIZATION", "STEP_SUCCESS"], ["ASSET_FAILED_TO_MATERIALIZE"]])
def test_other_batches_go_through_dagsters_own_writes(kinds, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(halo_instance.dg_sqlite.SqliteEventLogStorage, "store_event_batch", lambda self, events: calls.append(len(events)))
    storage = halo_instance.SqliteEventLogStorage(base_dir=str(tmp_path))
    events = [SimpleNamespace(run_id="r", dagster_event_type=getattr(dg.DagsterEventType, kind)) for kind in kinds]
    storage.store_event_batch(events)
    assert calls == [len(kinds)]


def test_without_dagster_home_or_a_folder_it_says_which_is_missing(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with pytest.raises(dg.DagsterInvalidConfigError, match="set DAGSTER_HOME or config.base_dir"):
        halo_instance.SqliteEventLogStorage.from_config_value(None, {})
