"""A hung alert sink holds back neither the healthy sinks nor later alerts (reports.md: an alert
within 60 s of the run failing). HALO_ALERTS=mail,alerts where `mail` is an SMTP relay that takes
the connection and never says a word (a plain listening socket that never accepts: the kernel
completes the handshake, nobody reads), `alerts` a healthy folder sink.

An alert goes to its sinks in parallel and waits for them at most ALERT_DEADLINE_SECONDS (30 s in
production, 1 s here: the wait is the same code, only shorter); a sink that did not answer is left
to finish in the background and is not waited for again while it still has alerts in hand. The
run-failure sensor sends the alerts of a tick's failed runs together, so a tick waits at most that
long and stays well under Dagster's sensor timeout, and its cursor moves past each failed run once:
no alert lost or doubled."""

import json
import socket
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from halo_platform.alerts import Alert, send, send_alert
from halo_platform.alerts.sensors import run_failure_alert_sensor
from halo_platform.core.store import StoreResource
from halo_platform.sinks import SinksResource

DEADLINE = 1.0


class HungRelay:
    """An SMTP port that accepts connections (kernel backlog) and never answers, until closed."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.port = self.socket.getsockname()[1]

    def close(self) -> None:  # pending connections are reset: the deliveries in hand fail at once
        self.socket.close()


@pytest.fixture
def hung_mail(halo_env, tmp_path, monkeypatch):
    """HALO_ALERTS=mail,alerts with `mail` hung; yields (relay, the folder of `alerts`)."""
    relay = HungRelay()
    folder = tmp_path / "alerts"
    sinks_file = tmp_path / "sinks.yaml"
    sinks_file.write_text(yaml.safe_dump({"sinks": {
        "mail": {"kind": "email", "host": "127.0.0.1", "port": relay.port, "sender": "halo@example.com",
                 "to": ["oncall@example.com"]},  # the default 30 s timeout, 2 attempts: a minute per alert
        "alerts": {"kind": "folder", "path": str(folder)},
    }}))
    monkeypatch.setenv("HALO_SINKS_FILE", str(sinks_file))
    monkeypatch.setenv("HALO_ALERTS", "mail,alerts")
    monkeypatch.setattr(send, "ALERT_DEADLINE_SECONDS", DEADLINE)
    yield relay, folder
    relay.close()
    # the deliveries left to finish in the background now fail at once: they end (recording their outcome
    # in this test's store) before the test's home goes; left running, one migrated a store while the next
    # test's Dagster instance stamped its own, and alembic's module-wide context failed that test (KeyError)
    for thread in threading.enumerate():
        if thread.name.startswith("halo-alert-"):
            thread.join(timeout=30)


def alerted_runs(folder: Path) -> list[str]:
    return sorted(json.loads(f.read_text())["run_id"] for f in folder.glob("*.json")) if folder.exists() else []


def statuses(outcomes: list) -> list[tuple[str, str]]:
    return [(o.sink, o.status) for o in outcomes]


def test_a_hung_alert_sink_holds_back_neither_the_healthy_sink_nor_the_next_alert(hung_mail, caplog):
    relay, folder = hung_mail
    sent = []

    def two_failed_runs():  # what the run-failure sensor does for two failed runs in one tick
        for run in ("run-1", "run-2"):
            began = time.monotonic()
            outcomes = send_alert(Alert(title=f"run failed: job_{run}", severity="ERROR", error="boom", run_id=run),
                                  SinksResource())
            sent.append((outcomes, time.monotonic() - began))

    started = time.monotonic()
    sender = threading.Thread(target=two_failed_runs, daemon=True)
    sender.start()
    arrived = {}
    while sender.is_alive() and time.monotonic() - started < 10:
        for run in alerted_runs(folder):
            arrived.setdefault(run, time.monotonic() - started)
        time.sleep(0.02)
    for run in alerted_runs(folder):
        arrived.setdefault(run, time.monotonic() - started)

    assert arrived["run-1"] < DEADLINE / 2  # not behind the hung relay
    assert arrived["run-2"] < DEADLINE + 1  # not behind the first alert's full minute of attempts
    (first, first_took), (second, second_took) = sent
    assert statuses(first) == statuses(second) == [("mail", "PENDING"), ("alerts", "DELIVERED")]
    assert DEADLINE - 0.05 < first_took < DEADLINE + 1  # the first alert waited its deadline for mail
    assert second_took < DEADLINE / 2  # mail still has the first alert in hand: not waited for again
    assert f"no answer within {DEADLINE:g} s" in first[0].detail

    relay.close()  # the relay goes away: both deliveries left to the background fail, and say so once each
    waited = time.monotonic()
    while len([r for r in caplog.records if "to mail failed" in r.getMessage()]) < 2 and time.monotonic() - waited < 10:
        time.sleep(0.05)
    late = [r.getMessage() for r in caplog.records if "to mail failed" in r.getMessage()]
    assert len(late) == 2 and [sum(run in m for m in late) for run in ("run-1", "run-2")] == [1, 1]

    # mail has nothing in hand any more: the next alert waits for it again and gets its real outcome
    third = send_alert(Alert(title="run failed: job_run-3", severity="ERROR", error="boom", run_id="run-3"),
                       SinksResource(), deadline=10)
    assert statuses(third) == [("mail", "FAILED"), ("alerts", "DELIVERED")]
    assert alerted_runs(folder) == ["run-1", "run-2", "run-3"]  # each alert once


@dg.op
def explode():
    raise ValueError("warehouse refused the query")


@dg.job
def failing_job():
    explode()


def test_the_failure_sensor_alerts_each_failed_run_once_and_a_hung_sink_keeps_its_ticks_short(hung_mail):
    relay, folder = hung_mail

    def tick(cursor: str | None) -> tuple:  # (the tick's SensorExecutionData, how long it took)
        began = time.monotonic()
        with dg.build_sensor_context(instance=instance, cursor=cursor,
                                     resources={"sinks": SinksResource(), "store": StoreResource()}) as context:
            return run_failure_alert_sensor.evaluate_tick(context), time.monotonic() - began

    with dg.instance_for_test() as instance:
        first, _ = tick(None)  # the sensor starts after the runs it has already seen
        runs = [failing_job.execute_in_process(instance=instance, raise_on_error=False).run_id for _ in range(3)]

        slow, slow_took = tick(first.cursor)
        assert alerted_runs(folder) == sorted(runs)  # the three together
        # waited its deadline for mail once, for the three (not mail's minute: 30 s timeout, 2 attempts);
        # the margin is the tick's own work on a loaded machine (a CI run took 2.1 s)
        assert DEADLINE - 0.05 < slow_took < DEADLINE + 5
        assert slow.skip_message == "3 runs failed; alerts: 3 delivered, 3 pending; mail still to answer (see the log)"

        runs.append(failing_job.execute_in_process(instance=instance, raise_on_error=False).run_id)
        fast, fast_took = tick(slow.cursor)
        assert alerted_runs(folder) == sorted(runs)  # mail still hung, not waited for
        assert fast_took < DEADLINE

        idle, _ = tick(fast.cursor)
        assert idle.cursor == fast.cursor and alerted_runs(folder) == sorted(runs)  # nothing sent twice


def test_alerts_sent_together_all_arrive_with_at_most_four_at_once_at_one_sink(halo_env, http_fake, tmp_path):
    """A run with many failed checks sends them together: in parallel, but never more than
    PARALLEL_PER_SINK at once to one sink (a mail relay or chat webhook would refuse a flood)."""
    http_fake.add_route("POST", "/slack", lambda request: (200, "ok"))
    http_fake.set_switches(latency_seconds=0.2)
    sinks_file = tmp_path / "sinks.yaml"
    sinks_file.write_text(yaml.safe_dump({"sinks": {"ops_slack": {"kind": "slack", "webhook_url": f"{http_fake.url}/slack"}}}))
    alerts = [Alert(title=f"check failed: ledger balances_{i}", severity="ERROR", error="off", run_id="r1") for i in range(10)]
    began = time.monotonic()
    outcomes = send.send_alerts(alerts, SinksResource(sinks_file=str(sinks_file)), to=["ops_slack"])
    took = time.monotonic() - began
    assert statuses(outcomes) == [("ops_slack", "DELIVERED")] * 10
    assert sorted(r.json()["text"].split("*")[1] for r in http_fake.requests.snapshot()) == sorted(
        f"[halo ERROR] {a.title}" for a in alerts)  # each once
    assert http_fake.peak_in_progress == send.PARALLEL_PER_SINK
    assert 0.6 < took < 2.0  # three rounds of 0.2 s, not ten
