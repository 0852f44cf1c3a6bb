"""A landed file that cannot be read (not a malformed one: it is left pending, never quarantined)
holds back no other file's spans nor slots, nor another feed's (spec emr.md, "Nothing stops the
pipeline"): `scheduling_items` failed on it after applying the other files, so `available_spans`
and `next_available_slots` were skipped, and every retried run failed the same way while the
file stayed unreadable: the feed's spans never updated again. Now they are computed in the same
run, and the run still fails naming the file, which is asked for again, backing off."""

import datetime as dt

import dagster as dg
import pytest

from halo_platform.availability import pipeline
from halo_platform.availability.feeds import get_feed
from halo_platform.availability.service import quarantined
from halo_platform.core.run_status import failure_message
from halo_platform_tests.availability.helpers import land, process, spans_on
from halo_platform_tests.availability.test_review_landing16 import BOOKING, DAY, HOURS, file_permissions_enforced
from halo_platform_tests.availability.test_sensor import HOURS as JAKARTA_HOURS
from halo_platform_tests.availability.test_sensor import appointment, evaluate
from halo_platform_tests.availability.test_sensor_failed_runs import launch


def test_the_other_feeds_and_files_spans_are_computed_in_the_run_that_could_not_read_a_file(halo_env, store, tmp_path, monkeypatch):
    feeds = tmp_path / "two-clinics.yaml"
    feeds.write_text("feeds:\n  acme: {format: acme}\n  clinic2: {format: acme}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    land("acme", "good.jsonl", HOURS)
    land("clinic2", "hours.jsonl", HOURS.replace("P1", "P2"))
    land("acme", "late.jsonl", BOOKING).chmod(0)
    with file_permissions_enforced():
        with pytest.raises(Exception, match=r"^1 landed file\(s\) not read, left pending: acme/late\.jsonl: .*Permission denied"):
            process(store, DAY, 1)
        assert [f.relpath for f in pipeline.pending_files(store, get_feed("acme"))] == ["acme/late.jsonl"]
    assert spans_on(store, "acme", "P1", DAY) == [(f"{DAY}T09:00Z", f"{DAY}T12:00Z")]
    assert spans_on(store, "clinic2", "P2", DAY) == [(f"{DAY}T09:00Z", f"{DAY}T12:00Z")]
    assert quarantined(store, "acme") == []


def slots_of(store, feed: str) -> list[str]:  # noqa: ANN001
    with store.read() as conn:
        return [p for (p,) in conn.exec_driver_sql(f"SELECT provider_id FROM next_available_slots WHERE feed = '{feed}'")]  # noqa: S608


def test_a_sensor_run_that_cannot_read_a_file_computes_the_others_then_fails_and_the_file_is_asked_for_again(halo_env, store):
    with dg.DagsterInstance.ephemeral() as instance:
        day = pipeline.today() + dt.timedelta(days=5)
        land("acme", "good.jsonl", JAKARTA_HOURS)
        land("acme", "late.jsonl", appointment("S1", day, 10)).chmod(0)
        with file_permissions_enforced():
            [first] = evaluate(instance, store)
            result = launch(instance, first, store)
            assert not result.success
            assert spans_on(store, "acme", "J1", day.isoformat()) == [(f"{day}T02:00Z", f"{day}T10:00Z")]
            assert slots_of(store, "acme") == ["J1"]
            materialized = {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}
            assert materialized["scheduling_items"]["unread"].value.startswith("1 landed file(s) not read, left pending: acme/late.jsonl")
            assert "next_available_slots" in materialized  # refreshed, then the step failed
            run = instance.get_run_by_id(result.run_id)
            [failure] = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
            assert failure_message(instance, run, failure).startswith(
                "1 landed file(s) not read, left pending: acme/late.jsonl: [Errno 13] Permission denied")
            # Dagster's own retries run every step again (the daemon re-executes from the failed step by
            # default: the last one alone, which would pass without reading the file)
            assert run.tags["dagster/retry_strategy"] == "ALL_STEPS"

            # the unread file alone is asked for again; a run per tick it is not, once its runs keep failing
            [second] = evaluate(instance, store)
            assert second.run_config["ops"]["scheduling_items"]["config"]["files"] == ["acme/late.jsonl"]
            assert not launch(instance, second, store).success
            [third] = evaluate(instance, store)
            assert third.run_key == f"{second.run_key}#attempt2"
            assert not launch(instance, third, store).success
            assert "waiting to ask again after failed runs" in str(evaluate(instance, store))
        assert quarantined(store, "acme") == []
