"""The EMR pipeline at its edges: a file growing while processed, a file with no event and
freshness, the window moving or shrinking with no file, a file replaced within a second, S3
objects of nested prefixes and unreadable landings (each test failed before its fix)."""

import datetime as dt
import os

import dagster as dg
import pytest

from halo_platform.availability import pipeline
from halo_platform.availability.freshness import freshness
from halo_platform.availability.pipeline import today
from halo_platform.availability.sensors import emr_landing_sensor
from halo_platform.core.store import StoreResource
from halo_platform.sinks import SinksResource
from halo_platform_tests.availability.helpers import land, process, spans_on
from halo_platform_tests.availability.test_s3_landing import s3_feed  # noqa: F401 - the fixture

WEEK = ",".join(f'"{d}":[["09:00","17:00"]]' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
HOURS = f'{{"type":"hours","provider":"P1","tz":"UTC","week":{{{WEEK}}},"updated_at":"2026-11-01T00:00:00Z"}}\n'
MONDAY = dt.date(2027, 1, 4)


def booking(item: str, day: dt.date, hour: int) -> str:
    return (f'{{"type":"appointment","action":"upsert","id":"{item}","provider":"P1","start":"{day}T{hour:02d}:00:00",'
            '"duration_min":60,"tz":"UTC","status":"booked","updated_at":"2026-11-20T10:00:00Z"}\n')


def evaluate(instance: dg.DagsterInstance, store: StoreResource):
    with dg.build_sensor_context(instance=instance, resources={"store": store, "sinks": SinksResource()}) as context:
        result = emr_landing_sensor(context)
    for request in result.dynamic_partitions_requests or ():
        instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
    return result


@pytest.fixture
def instance(halo_env):
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def test_a_file_that_grows_while_it_is_processed_has_its_rest_processed_next_time(halo_env, store, monkeypatch):
    """A file still being written when processing reads it: the part written meanwhile must be
    processed by the next run, not taken as already processed because the file's modification
    time was stamped after the read."""
    land("acme", "hours.jsonl", HOURS)
    process(store, MONDAY.isoformat(), 3)
    first, rest = booking("A1", MONDAY, 10), booking("A2", MONDAY, 14)
    path = land("acme", "bookings.jsonl", first)
    os.utime(path, (1_800_000_000, 1_800_000_000))
    real = pipeline.apply_files

    def apply_while_the_writer_finishes(conn, feed, files):  # noqa: ANN001, ANN202
        result = real(conn, feed, files)
        path.write_bytes((first + rest).encode())  # the writer appends the rest
        os.utime(path, (1_800_000_005, 1_800_000_005))
        return result

    with monkeypatch.context() as patched:
        patched.setattr(pipeline, "apply_files", apply_while_the_writer_finishes)
        process(store, MONDAY.isoformat(), 3)
    process(store, MONDAY.isoformat(), 3)
    assert spans_on(store, "acme", "P1", MONDAY.isoformat()) == [
        ("2027-01-04T09:00Z", "2027-01-04T10:00Z"), ("2027-01-04T11:00Z", "2027-01-04T14:00Z"), ("2027-01-04T15:00Z", "2027-01-04T17:00Z")]


def test_freshness_is_not_refreshed_by_a_file_without_any_event(halo_env, store):
    """Freshness is when the newest *event* was received and applied: a file quarantined whole
    (no event at all) must not make a silent feed look current."""
    landed_at = dt.datetime.fromtimestamp(land("acme", "hours.jsonl", HOURS).stat().st_ctime, dt.UTC)
    process(store, MONDAY.isoformat(), 3)
    land("acme", "garbage.jsonl", b"\xff\xfe not json at all\n")
    process(store, MONDAY.isoformat(), 3)
    found = freshness(store, "acme", now=landed_at + dt.timedelta(hours=5, minutes=1))
    assert found.received_at == landed_at
    assert found.lag_seconds == 5 * 3600 + 60


def test_the_sensor_moves_the_window_on_a_day_no_file_lands(instance, store):
    """Under `dagster dev` the sensor is what keeps spans current: on a new day with no new file,
    the date entering the horizon (today + 59) still needs its spans."""
    land("acme", "hours.jsonl", HOURS)
    yesterday = today() - dt.timedelta(days=1)
    process(store, yesterday.isoformat(), pipeline.DEFAULT_HORIZON_DAYS)
    last = today() + dt.timedelta(days=pipeline.DEFAULT_HORIZON_DAYS - 1)
    assert spans_on(store, "acme", "P1", last.isoformat()) == []
    result = evaluate(instance, store)
    assert result.run_requests, result.skip_reason
    from halo_platform.definitions import defs

    job = defs.resolve_job_def("emr_processing_job")
    for request in result.run_requests:
        assert job.execute_in_process(run_config=request.run_config, tags=request.tags, instance=instance,
                                      resources={"store": store}).success
    assert spans_on(store, "acme", "P1", last.isoformat()) == [(f"{last}T09:00Z", f"{last}T17:00Z")]
    assert spans_on(store, "acme", "P1", yesterday.isoformat()) == []


def test_a_shorter_horizon_drops_the_spans_left_outside_it(halo_env, store):
    """Spans exist for local dates in [as_of, as_of + horizon_days) only: shrinking the horizon
    with nothing new landed still removes the dates past it."""
    land("acme", "hours.jsonl", HOURS)
    process(store, MONDAY.isoformat(), 10)
    later = (MONDAY + dt.timedelta(days=7)).isoformat()
    assert spans_on(store, "acme", "P1", later) == [(f"{later}T09:00Z", f"{later}T17:00Z")]
    process(store, MONDAY.isoformat(), 5)
    assert spans_on(store, "acme", "P1", later) == []
    assert spans_on(store, "acme", "P1", MONDAY.isoformat()) == [(f"{MONDAY}T09:00Z", f"{MONDAY}T17:00Z")]


def test_a_file_replaced_within_the_second_of_a_whole_second_mtime_is_processed_again(halo_env, store):
    """The one-second tolerance of `_unchanged` is for stores keeping whole seconds (MariaDB); on
    SQLite a file whose landing time happened to be a whole second, replaced in place with new
    content half a second later, was taken as unchanged and its new content never processed."""
    land("acme", "hours.jsonl", HOURS)
    path = land("acme", "bookings.jsonl", booking("A1", MONDAY, 10))
    os.utime(path, ns=(1_800_000_000_000_000_000,) * 2)
    process(store, MONDAY.isoformat(), 3)
    path.write_text(booking("A1", MONDAY, 10).replace("2026-11-20T10", "2026-11-21T10").replace("T10:00:00\"", "T14:00:00\""))
    os.utime(path, ns=(1_800_000_000_500_000_000,) * 2)
    process(store, MONDAY.isoformat(), 3)
    assert spans_on(store, "acme", "P1", MONDAY.isoformat()) == [
        ("2027-01-04T09:00Z", "2027-01-04T14:00Z"), ("2027-01-04T15:00Z", "2027-01-04T17:00Z")]


def test_halo_emr_process_reports_an_s3_object_it_cannot_read_in_one_line(s3_feed, store, monkeypatch):  # noqa: F811
    """The S3 endpoint lists the objects but fails their GET (503 past botocore's retries): the
    run fails and the objects stay pending, and the CLI says so in one error line (README: never a
    stack trace). Dagster's console logger printed the step failure with its stack trace first."""
    from click.testing import CliRunner

    from halo_platform.cli import cli

    s3_feed.client().put_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl", Body=HOURS.encode())
    from halo_platform.availability.landing import S3Object
    from halo_platform_tests.availability.test_s3_landing import failing_reads

    monkeypatch.setattr(S3Object, "read_bytes", failing_reads(s3_feed, lambda location: True))
    result = CliRunner().invoke(cli, ["emr", "process", "--as-of", MONDAY.isoformat(), "--horizon-days", "3"])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "error: 1 landed file(s) not read, left pending: cloud/hours.jsonl: S3 landing get s3://emr-landing/clinic-a/hours.jsonl: SlowDown"]


def test_an_s3_object_is_read_from_its_own_feeds_endpoint(s3_feed, store, tmp_path, monkeypatch):  # noqa: F811
    """An object's `s3://bucket/key` is resolved back to a landing by the first feed whose prefix
    it starts with: a feed landing at the bucket's root on another endpoint (another clinic's
    store) took the reads of `cloud`'s objects, which could then never be read."""
    feeds = tmp_path / "feeds2.yaml"
    feeds.write_text("feeds:\n"
                     f"  other: {{format: acme, landing: 's3://emr-landing/', endpoint_url: '{s3_feed.unreachable_endpoint_url}'}}\n"
                     f"  cloud: {{format: acme, landing: 's3://emr-landing/clinic-a/', endpoint_url: '{s3_feed.endpoint_url}'}}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    s3_feed.client().put_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl", Body=HOURS.replace("P1", "S1").encode())
    from halo_platform.availability.feeds import get_feed

    cloud = get_feed("cloud")
    results = pipeline.ingest_feeds(store, [(cloud, pipeline.pending_files(store, cloud))])
    assert results["cloud"].files == 1
    pipeline.recompute_spans(store, ["cloud"], MONDAY, 1)
    assert spans_on(store, "cloud", "S1", MONDAY.isoformat()) == [(f"{MONDAY}T09:00Z", f"{MONDAY}T17:00Z")]


def test_halo_emr_process_still_processes_the_other_feeds_when_one_landing_is_unreachable(s3_feed, store, tmp_path, monkeypatch):  # noqa: F811
    """As the sensor does, a feed whose S3 landing cannot be listed holds back no other feed:
    `halo emr process` planned every feed first, and the first unreachable one stopped the lot."""
    from click.testing import CliRunner

    from halo_platform.cli import cli

    feeds = tmp_path / "feeds3.yaml"
    feeds.write_text("feeds:\n  acme: {format: acme}\n"
                     f"  cloud: {{format: acme, landing: 's3://emr-landing/clinic-a/', endpoint_url: '{s3_feed.unreachable_endpoint_url}'}}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    land("acme", "hours.jsonl", HOURS)
    result = CliRunner().invoke(cli, ["emr", "process", "--as-of", MONDAY.isoformat(), "--horizon-days", "1"])
    assert result.exit_code != 0 and result.output.startswith("error: ") and "clinic-a" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert spans_on(store, "acme", "P1", MONDAY.isoformat()) == [(f"{MONDAY}T09:00Z", f"{MONDAY}T17:00Z")]
