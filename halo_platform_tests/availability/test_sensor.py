"""The landing sensor requests runs only for the partitions a new file impacts, with run keys
made of the file's landing path and sha256; running the request in-process makes the file's
effect visible through GET /v1/availability."""

import datetime as dt
import hashlib

import dagster as dg
import pytest

from halo_platform.availability.pipeline import today
from halo_platform.availability.sensors import emr_landing_sensor
from halo_platform.core.store import StoreResource
from halo_platform.http import create_app
from halo_platform.sinks import SinksResource
from halo_platform_tests.availability.helpers import land, process
from halo_platform_tests.fixtures.access import authorized_client

HOURS = ('{"type":"hours","provider":"J1","tz":"Asia/Jakarta","week":{' + ",".join(
    f'"{d}":[["09:00","17:00"]]' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")) + '},"updated_at":"2026-11-01T00:00:00Z"}\n')


def appointment(item: str, day: dt.date, hour: int) -> str:
    return (f'{{"type":"appointment","action":"upsert","id":"{item}","provider":"J1","start":"{day}T{hour:02d}:00:00","duration_min":60,'
            '"tz":"Asia/Jakarta","status":"booked","updated_at":"2026-11-20T10:00:00Z"}\n')


def evaluate(instance: dg.DagsterInstance, store: StoreResource) -> list[dg.RunRequest] | dg.SkipReason:
    """One tick; the feed partitions it asks for are added as the daemon would."""
    with dg.build_sensor_context(instance=instance, resources={"store": store, "sinks": SinksResource()}) as context:
        result = emr_landing_sensor(context)
    if result.skip_reason is not None:
        return result.skip_reason
    for request in result.dynamic_partitions_requests or ():
        instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
    return list(result.run_requests)


@pytest.fixture
def instance(halo_env):
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


@pytest.fixture
def hours_processed(instance, store):
    land("acme", "hours.jsonl", HOURS)
    process(store, today().isoformat(), 60)


def test_a_new_file_is_requested_once_for_its_impacted_dates_and_the_run_shows_in_the_rest_api(hours_processed, instance, store):
    day = today() + dt.timedelta(days=5)
    text = appointment("S1", day, 10)
    land("acme", "booking.jsonl", text)
    requests = evaluate(instance, store)
    sha = hashlib.sha256(text.encode()).hexdigest()
    assert [r.run_key for r in requests] == [f"acme/booking.jsonl@{sha}"]
    tags = requests[0].tags
    assert tags["dagster/asset_partition_range_start"] == f"{(day - dt.timedelta(days=2)).isoformat()}|acme"
    assert tags["dagster/asset_partition_range_end"] == f"{(day + dt.timedelta(days=1)).isoformat()}|acme"
    assert requests[0].run_config["ops"]["scheduling_items"]["config"]["files"] == ["acme/booking.jsonl"]

    from halo_platform.definitions import defs

    job = defs.resolve_job_def("emr_processing_job")
    result = job.execute_in_process(run_config=requests[0].run_config, tags=requests[0].tags, instance=instance,
                                 resources={"store": store})
    assert result.success
    materialized = {str(e.partition) for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("available_spans")}
    assert materialized == {f"{(day + dt.timedelta(days=i)).isoformat()}|acme" for i in (-2, -1, 0, 1)}

    body = authorized_client(create_app({"store": store}), "availability:read").get("/v1/availability", params={"feed": "acme", "provider_id": "J1",
                                                                    "from": day.isoformat(), "to": day.isoformat()}).json()
    # 09:00-17:00 WIB (+07:00) = 02:00-10:00Z minus 10:00-11:00 WIB = 03:00-04:00Z
    assert [(s["start_at"], s["end_at"]) for s in body["spans"]] == [
        (f"{day}T02:00:00Z", f"{day}T03:00:00Z"), (f"{day}T04:00:00Z", f"{day}T10:00:00Z")]
    assert isinstance(evaluate(instance, store), dg.SkipReason)  # processed: nothing more to request


def test_a_file_touching_two_distant_dates_asks_for_two_ranges_with_distinct_keys(hours_processed, instance, store):
    near, far = today() + dt.timedelta(days=3), today() + dt.timedelta(days=20)
    text = appointment("N1", near, 9) + appointment("F1", far, 9)
    land("acme", "two.jsonl", text)
    sha = hashlib.sha256(text.encode()).hexdigest()
    requests = evaluate(instance, store)
    assert [r.run_key for r in requests] == [
        f"acme/two.jsonl@{sha}#{near - dt.timedelta(days=2)}..{near + dt.timedelta(days=1)}",
        f"acme/two.jsonl@{sha}#{far - dt.timedelta(days=2)}..{far + dt.timedelta(days=1)}",
    ]
    assert evaluate(instance, store)[0].run_key == requests[0].run_key  # stable across ticks: the daemon dedupes


def test_a_working_hours_file_impacts_the_whole_horizon_and_an_empty_landing_zone_is_skipped(instance, store):
    assert "no unprocessed files" in evaluate(instance, store).skip_message
    land("acme", "hours.jsonl", HOURS)
    (request,) = evaluate(instance, store)
    assert request.tags["dagster/asset_partition_range_start"] == f"{today()}|acme"
    assert request.tags["dagster/asset_partition_range_end"] == f"{today() + dt.timedelta(days=59)}|acme"


def test_a_burst_of_files_is_one_run_per_feed_over_the_dates_they_impact(hours_processed, instance, store):
    near, far = today() + dt.timedelta(days=3), today() + dt.timedelta(days=20)
    first, second = appointment("B1", near, 9), appointment("B2", near + dt.timedelta(days=1), 9)
    land("acme", "burst1.jsonl", first)
    land("acme", "burst2.jsonl", second)
    land("fhir", "roles.ndjson", '{"resourceType":"Schedule","id":"S1","meta":{"lastUpdated":"2026-11-01T00:00:00Z"},'
                                 '"actor":[{"reference":"Practitioner/X1"}]}\n')
    requests = evaluate(instance, store)
    by_feed = {r.tags["dagster/asset_partition_range_start"].split("|")[1]: r for r in requests}
    assert sorted(by_feed) == ["acme", "fhir"] and len(requests) == 2
    acme = by_feed["acme"]
    keys = sorted(f"acme/{name}@{hashlib.sha256(text.encode()).hexdigest()}" for name, text in (("burst1.jsonl", first), ("burst2.jsonl", second)))
    assert acme.run_key == f"acme/2 files@{hashlib.sha256(chr(10).join(keys).encode()).hexdigest()}"
    assert acme.run_config["ops"]["scheduling_items"]["config"]["files"] == ["acme/burst1.jsonl", "acme/burst2.jsonl"]
    assert acme.tags["dagster/asset_partition_range_start"] == f"{near - dt.timedelta(days=2)}|acme"
    assert acme.tags["dagster/asset_partition_range_end"] == f"{near + dt.timedelta(days=2)}|acme"
    assert acme.tags["halo/emr-file"] == "acme/burst1.jsonl and 1 more"
    assert [r.run_key for r in evaluate(instance, store)] == [r.run_key for r in requests]  # stable across ticks

    from halo_platform.definitions import defs

    result = defs.resolve_job_def("emr_processing_job").execute_in_process(
        run_config=acme.run_config, tags=acme.tags, instance=instance, resources={"store": store})
    assert result.success
    assert [r.run_key for r in evaluate(instance, store)] == [by_feed["fhir"].run_key]  # both acme files applied by the one run
    land("acme", "late.jsonl", appointment("B3", far, 9))
    late = [r for r in evaluate(instance, store) if r.tags["dagster/asset_partition_range_start"].endswith("|acme")]
    assert [r.run_config["ops"]["scheduling_items"]["config"]["files"] for r in late] == [["acme/late.jsonl"]]
