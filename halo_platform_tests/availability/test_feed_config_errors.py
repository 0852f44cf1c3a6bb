"""A feeds file entry that is not what a feed takes is one error naming the file and the feed,
and a feed whose landing cannot be read holds back no other feed's files."""

from __future__ import annotations

import dagster as dg
import pytest
import yaml

from halo_platform.availability.feeds import load_feeds
from halo_platform.availability.sensors import emr_landing_sensor
from halo_platform.core.errors import HaloError
from halo_platform.core.store import StoreResource
from halo_platform.sinks import SinksResource
from halo_platform_tests.availability.helpers import land
from halo_platform_tests.fixtures.alerts import alerts_sent

HOURS = ('{"type":"hours","provider":"J1","tz":"Asia/Jakarta","week":{"mon":[["09:00","17:00"]]},'
         '"updated_at":"2026-11-01T00:00:00Z"}\n')


def feeds_file(tmp_path, monkeypatch, feeds: dict):  # noqa: ANN001, ANN201
    path = tmp_path / "feeds.yaml"
    path.write_text(yaml.safe_dump({"feeds": feeds}))
    monkeypatch.setenv("HALO_FEEDS_FILE", str(path))
    return path


@pytest.mark.parametrize(("entry", "says"), [
    ({"format": "acme", "quarantine_threshold": "5%"}, "quarantine_threshold must be a number from 0 to 1, got '5%'"),  # a ValueError
    ({"format": "acme", "quarantine_threshold": 7}, "quarantine_threshold must be a number from 0 to 1, got 7"),  # the check never failed
    ({"format": "acme", "quarantine_threshold": -1}, "quarantine_threshold must be a number from 0 to 1, got -1"),  # it always failed
    (["acme"], "expected a mapping of settings, not list"),  # an AttributeError
])
def test_a_feed_entry_that_is_not_one_is_an_error_naming_the_file_and_the_feed(halo_env, tmp_path, monkeypatch, entry, says) -> None:
    path = feeds_file(tmp_path, monkeypatch, {"acme": entry})
    with pytest.raises(HaloError) as refused:
        load_feeds(path)
    assert str(refused.value) == f"{path}: feed acme: {says}"


def test_a_feed_whose_landing_cannot_be_read_holds_back_no_other_feed(halo_env, tmp_path, monkeypatch) -> None:
    feeds_file(tmp_path, monkeypatch, {"acme": {"format": "acme"},
                                       "remote": {"format": "acme", "landing": "s3://bucket/in/", "endpoint_url": "http://127.0.0.1:9"}})
    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1"}.items():
        monkeypatch.setenv(name, value)
    land("acme", "hours.jsonl", HOURS)
    store = StoreResource(db_url=halo_env["HALO_DB_URL"])
    try:
        resources = {"store": store, "sinks": SinksResource()}
        with dg.DagsterInstance.ephemeral() as instance, dg.build_sensor_context(instance=instance, resources=resources) as context:
            result = emr_landing_sensor(context)  # the whole tick raised for the S3 feed
            assert [r.run_key.split("@")[0] for r in result.run_requests] == ["acme/hours.jsonl"]
            assert [a["title"] for a in alerts_sent()] == ["emr feed landing not read: remote"]
            (tmp_path / "feeds.yaml").write_text(yaml.safe_dump({"feeds": {"remote": {"format": "acme", "landing": "s3://bucket/in/",
                                                                                     "endpoint_url": "http://127.0.0.1:9"}}}))
        with dg.DagsterInstance.ephemeral() as instance, dg.build_sensor_context(instance=instance, resources=resources,
                                                                                   cursor=result.cursor) as context:
            skipped = emr_landing_sensor(context)  # nothing else to request: the skip names it; alerted already
        assert skipped.skip_reason.skip_message.startswith("landing not read for remote: S3 landing list")
        assert len(alerts_sent()) == 1
    finally:
        store.dispose()
