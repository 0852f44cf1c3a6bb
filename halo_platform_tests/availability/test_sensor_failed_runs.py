"""A run of the landing sensor that fails (for good: Dagster will not retry it) leaves its files
pending, and the sensor asks for them again. Dagster launches one run per run key and skips a
request whose key a run already took, whatever that run's status (only a run not started yet is
launched again): with keys made of the pending files alone, the files of a failed run waited
until another file landed in their feed. The request after a failure carries an attempt number
in its key; while that attempt has not ended, the key stays the same, so nothing is duplicated;
a failed run Dagster will retry itself is left to its retry."""

import datetime as dt

import dagster as dg
import pytest

from halo_platform.availability.pipeline import today
from halo_platform.core.store import StoreResource
from halo_platform_tests.availability.helpers import land, process
from halo_platform_tests.availability.test_sensor import HOURS, appointment, evaluate

RUN_KEY, SENSOR = "dagster/run_key", "dagster/sensor_name"


@pytest.fixture
def instance(halo_env):
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def launch(instance: dg.DagsterInstance, request: dg.RunRequest, store: StoreResource) -> dg.ExecuteInProcessResult:
    """Run a request as the daemon would: its run key and the sensor's name as tags."""
    from halo_platform.definitions import defs

    job = defs.resolve_job_def("emr_processing_job")
    return job.execute_in_process(run_config=request.run_config, instance=instance, raise_on_error=False, resources={"store": store},
                                  tags={**request.tags, RUN_KEY: request.run_key, SENSOR: "emr_landing_sensor"})


def unreachable(tmp_path) -> StoreResource:
    """A store no run can open: its database would sit under a regular file."""
    (tmp_path / "a-file").write_text("")
    return StoreResource(db_url=f"sqlite:///{tmp_path}/a-file/halo.db")


def taken(instance: dg.DagsterInstance, key: str) -> list[dg.DagsterRunStatus]:
    return [r.status for r in instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY: key}))]


def test_the_files_of_a_failed_run_are_requested_again_under_a_key_no_run_has_taken(halo_env, instance, store, tmp_path):
    land("acme", "hours.jsonl", HOURS)
    process(store, today().isoformat(), 60)
    land("acme", "booking.jsonl", appointment("S1", today() + dt.timedelta(days=5), 10))
    [first] = evaluate(instance, store)
    # the store unreachable for this run: it fails, its file stays pending
    assert not launch(instance, first, unreachable(tmp_path)).success
    assert taken(instance, first.run_key) == [dg.DagsterRunStatus.FAILURE]

    [second] = evaluate(instance, store)
    assert second.run_config["ops"]["scheduling_items"]["config"]["files"] == ["acme/booking.jsonl"]
    assert taken(instance, second.run_key) == [], f"{second.run_key} was taken by a run: Dagster would skip it"
    assert [r.run_key for r in evaluate(instance, store)] == [second.run_key]  # not started yet: the same request

    assert launch(instance, second, store).success
    assert isinstance(evaluate(instance, store), dg.SkipReason)  # processed


def test_a_failed_run_dagster_will_retry_is_left_to_its_retry(halo_env, instance, store, tmp_path):
    land("acme", "hours.jsonl", HOURS)
    process(store, today().isoformat(), 60)
    land("acme", "booking.jsonl", appointment("S1", today() + dt.timedelta(days=5), 10))
    [first] = evaluate(instance, store)
    result = launch(instance, first, unreachable(tmp_path))
    instance.add_run_tags(result.run_id, {"dagster/will_retry": "true"})
    assert [r.run_key for r in evaluate(instance, store)] == [first.run_key]


@pytest.mark.parametrize(("failures", "expected"), [
    ([], 0.0),                          # never failed: now
    ([100.0], 100.0),                   # after a first failure: at the next tick
    ([100.0, 200.0], 260.0),            # then a minute after the last failure, doubling
    ([1.0, 2.0, 300.0], 420.0),
    ([float(i) for i in range(20)], 19.0 + 3600),  # at most an hour apart
])
def test_requests_after_failures_back_off_up_to_an_hour(failures, expected):
    """A run failing every time (a bug, a store down for hours) is asked for again less and less
    often, not every tick, each failure costing an alert."""
    from halo_platform.core.run_status import again_after

    assert again_after(failures) == expected
