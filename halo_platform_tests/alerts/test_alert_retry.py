"""An alert whose sink failed is not lost (reports.md: failures alert within a minute): it waits in
the operational store and a later sensor tick sends it again to that sink alone, until it is
delivered, and never again once it has been. The sink is a real HTTP server on 127.0.0.1 that is
down (nothing listens on its port) when the run fails and up afterwards."""

import contextlib
import time
from collections.abc import Callable, Iterator

import dagster as dg
import pytest
import yaml

from halo_platform.alerts import definitions as alerts
from halo_platform.core.store import StoreResource
from halo_platform.lab.fakehttp import FakeHTTPServer
from halo_platform.sinks import SinksResource
from halo_platform_tests.alerts.test_hung_alert_sinks import failing_job
from halo_platform_tests.fixtures.ports import closed_port


@pytest.fixture
def slack_down(halo_env, tmp_path, monkeypatch) -> Iterator[tuple[int, Callable[[], None]]]:
    """HALO_ALERTS=ops_slack,alerts: a Slack webhook on a port that refuses connections until the
    test frees it (the second item), to start Slack there at once; and a folder."""
    with contextlib.ExitStack() as down:
        port = down.enter_context(closed_port())
        sinks_file = tmp_path / "sinks.yaml"
        sinks_file.write_text(yaml.safe_dump({"sinks": {
            "ops_slack": {"kind": "slack", "webhook_url": f"http://127.0.0.1:{port}/slack"},
            "alerts": {"kind": "folder", "path": str(tmp_path / "alerts")},
        }}))
        monkeypatch.setenv("HALO_SINKS_FILE", str(sinks_file))
        monkeypatch.setenv("HALO_ALERTS", "ops_slack,alerts")
        yield port, down.close


def tick_every_alert_sensor(instance: dg.DagsterInstance, cursors: dict) -> None:
    """One tick of each sensor of the alerts domain, as the daemon runs them."""
    for sensor in alerts.defs.sensors:
        with dg.build_sensor_context(instance=instance, cursor=cursors.get(sensor.name),
                                     resources={"sinks": SinksResource(), "store": StoreResource()}) as context:
            cursors[sensor.name] = sensor.evaluate_tick(context).cursor


def test_an_alert_whose_sink_was_down_is_sent_on_a_later_tick_to_that_sink_alone_and_never_twice(slack_down, tmp_path, monkeypatch):
    from halo_platform.alerts import outbox

    monkeypatch.setattr(outbox, "RETRY_AFTER_SECONDS", (0.5, 60.0))  # production: 15 s, under the sensor's 30 s interval
    with dg.instance_for_test() as instance:
        cursors: dict = {}
        tick_every_alert_sensor(instance, cursors)  # the sensors start after the runs they have seen
        run_id = failing_job.execute_in_process(instance=instance, raise_on_error=False).run_id
        tick_every_alert_sensor(instance, cursors)  # ops_slack is down: its delivery fails
        assert len(list((tmp_path / "alerts").glob("*.json"))) == 1

        port, free_it = slack_down
        free_it()
        with FakeHTTPServer(port=port) as slack:
            slack.add_route("POST", "/slack", lambda request: (200, "ok"))
            time.sleep(0.5)
            tick_every_alert_sensor(instance, cursors)  # ops_slack is back
            assert len(slack.requests) == 1, "the alert that failed was never sent again"
            assert f"/runs/{run_id}" in slack.requests[0].json()["text"]
            for _ in range(2):
                tick_every_alert_sensor(instance, cursors)
            assert len(slack.requests) == 1  # delivered once: never again
        assert len(list((tmp_path / "alerts").glob("*.json"))) == 1  # the folder had it at once: not again


def test_a_retry_in_hand_is_not_taken_twice_a_failed_one_backs_off_and_one_undelivered_for_a_day_is_dropped(halo_env):
    import datetime as dt

    from halo_platform.alerts import outbox
    from halo_platform.core.models import utcnow

    store = StoreResource()
    try:
        now = utcnow()
        outbox.hold(store, "ops_slack", outbox.Letter("[halo ERROR] run failed: j", "text", "alert_x.json", "{}"), "down", now)
        assert outbox.take_due(store, now) == []  # due after its first backoff
        later = now + outbox.retry_after(1)
        (retry,) = outbox.take_due(store, later)
        assert outbox.take_due(store, later + dt.timedelta(minutes=1)) == []  # in hand: another tick leaves it
        assert outbox.settle(store, retry, delivered=False, detail="down again", now=later) is False
        assert outbox.take_due(store, later + outbox.retry_after(2) - dt.timedelta(seconds=1)) == []
        (again,) = outbox.take_due(store, later + outbox.retry_after(2))
        assert again.failures == 2 and again.letter.subject == "[halo ERROR] run failed: j"
        assert outbox.settle(store, again, delivered=False, detail="down", now=now + outbox.GIVE_UP_AFTER) is True
        assert outbox.take_due(store, now + dt.timedelta(days=2)) == []  # dropped
    finally:
        store.dispose()


def test_an_alert_sink_no_alert_can_reach_is_named_at_every_retry_tick_and_by_halo_up(slack_down, monkeypatch, capsys):
    """HALO_ALERTS naming a sink the file lacks (a typo, a sink renamed) sent alerts nowhere, and said
    so only in a log line at each failure: the retry sensor's tick, in the Dagster UI every 30 s, names
    it, and so does `halo up` when it starts (its check, `alert_sinks`)."""
    from halo_platform.alerts.send import alert_sinks

    monkeypatch.setenv("HALO_ALERTS", "ops_slack,ops_slak,alerts")
    usable, unusable = alert_sinks(SinksResource())
    assert usable == ["ops_slack", "alerts"]
    assert len(unusable) == 1 and unusable[0].startswith("ops_slak: unknown sink 'ops_slak'; known: alerts, ops_slack")
    from halo_platform.cli import _warn_of_unusable_alert_sinks  # what `halo up` says as it starts

    _warn_of_unusable_alert_sinks()
    assert capsys.readouterr().err == f"warning: HALO_ALERTS names a sink no alert reaches: {unusable[0]}\n"
    sensor = next(s for s in alerts.defs.sensors if s.name == "alert_retry_sensor")
    with dg.instance_for_test() as instance, dg.build_sensor_context(
            instance=instance, resources={"sinks": SinksResource(), "store": StoreResource()}) as context:
        reason = sensor.evaluate_tick(context).skip_message
    assert reason.startswith("HALO_ALERTS names a sink no alert reaches: ops_slak: unknown sink 'ops_slak'"), reason
    assert reason.endswith("no alert waits for a retry")
    monkeypatch.setenv("HALO_ALERTS", "ops_slack,alerts")
    with dg.instance_for_test() as instance, dg.build_sensor_context(
            instance=instance, resources={"sinks": SinksResource(), "store": StoreResource()}) as context:
        assert sensor.evaluate_tick(context).skip_message == "no alert waits for a retry"
