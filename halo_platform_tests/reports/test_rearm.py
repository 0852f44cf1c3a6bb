"""Condition alerts re-arm after `rearm_hours`: an alert (campaign + kind) that a delivered
request sent is not sent again inside the window, by this process or another one (the marks
are in the operational store); a new alert is sent at once; an alert whose delivery failed is
not held back; past the window, or with `rearm_hours: 0`, everything is sent again."""

from __future__ import annotations

import datetime as dt
import functools
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.reports.audit import get_request, record_deliveries, record_status
from halo_platform.reports.demo import campaign, write_marketing
from halo_platform.reports.rearm import CLAIM_LEASE, LONGEST_REARM, AlertMarks
from halo_platform.reports.requests import create_request, dagster_instance
from halo_platform.reports.tables import TaskAlertMark
from halo_platform.sinks import DeliveryOutcome
from halo_platform_tests.reports.conftest import at_once, read_csv

AS_OF = dt.date(2024, 5, 10)
PAYLOAD = {"as_of": AS_OF.isoformat(), "rearm_hours": 24}


def seed(urls: dict, *ids: str) -> None:
    """EXPIRING campaigns: each ends on AS_OF."""
    write_marketing(Path(urls["marketing"].split("duckdb:///", 1)[1]), [campaign(cid, AS_OF, "1000.00") for cid in ids], [])


def alerts_file(env: dict) -> Path:
    return Path(env["HALO_HOME"]) / "outbox" / f"campaign_alerts_{AS_OF}.csv"


def sent(env: dict) -> list[str]:
    rows = read_csv(alerts_file(env))
    alerts_file(env).unlink()
    return [r["campaign_id"] for r in rows]


def test_an_alert_is_not_sent_again_inside_the_window_even_from_another_process(warehouses, halo_env, store, sinks_file):
    sinks_file({"outbox": {"kind": "folder", "path": str(Path(halo_env["HALO_HOME"]) / "outbox")}})
    seed(warehouses, "C1", "C2")
    first = create_request(store, "campaign_alerts", PAYLOAD, wait=True)
    assert first["status"] == "SUCCEEDED", first["error"]
    assert sent(halo_env) == ["C1", "C2"]

    seed(warehouses, "C1", "C2", "C3")  # a new subject; the others are still expiring
    store.dispose()
    halo = Path(sys.executable).with_name("halo")
    proc = subprocess.run([str(halo), "tasks", "run", "campaign_alerts", "--payload",
                           f'{{"as_of": "{AS_OF}", "rearm_hours": 24}}', "--wait"],
                          capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sent(halo_env) == ["C3"]

    again = create_request(store, "campaign_alerts", PAYLOAD, wait=True)
    assert again["row_count"] == 0 and again["deliveries"] == []
    assert not alerts_file(halo_env).exists()

    everything = create_request(store, "campaign_alerts", {**PAYLOAD, "rearm_hours": 0}, wait=True)
    assert everything["row_count"] == 3 and sent(halo_env) == ["C1", "C2", "C3"]


def passed(store, ago: dt.timedelta) -> None:  # noqa: ANN001
    """As if every alert so far had been sent `ago`."""
    with store.write() as conn:
        conn.execute(sa.update(TaskAlertMark.__table__).values(at=utcnow() - ago))


def test_past_the_window_the_alert_is_sent_again(warehouses, halo_env, store):
    seed(warehouses, "C1")
    create_request(store, "campaign_alerts", PAYLOAD, wait=True)
    assert sent(halo_env) == ["C1"]
    passed(store, dt.timedelta(hours=24, minutes=1))
    create_request(store, "campaign_alerts", PAYLOAD, wait=True)
    assert sent(halo_env) == ["C1"]
    passed(store, dt.timedelta(hours=23))
    assert create_request(store, "campaign_alerts", PAYLOAD, wait=True)["row_count"] == 0


def test_an_alert_whose_delivery_failed_is_not_held_back(warehouses, halo_env, store, sinks_file, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    sinks_file({"outbox": {"kind": "folder", "path": str(Path(halo_env["HALO_HOME"]) / "outbox")},
                "broken": {"kind": "folder", "path": str(blocker / "inbox")}})
    seed(warehouses, "C1")
    failed = create_request(store, "campaign_alerts", {**PAYLOAD, "sinks": ["broken"]}, wait=True)
    assert failed["status"] == "FAILED" and [d["status"] for d in failed["deliveries"]] == ["FAILED"]
    retried = create_request(store, "campaign_alerts", PAYLOAD, wait=True)
    assert retried["status"] == "SUCCEEDED" and sent(halo_env) == ["C1"]


def test_alerts_a_re_execution_delivered_are_not_sent_again(warehouses, halo_env, store, sinks_file, tmp_path):
    """The first run failed on its only sink and a Dagster re-execution delivered: the alerts
    count as sent (the mark is the first run's, the delivery the re-execution's)."""
    outbox = Path(halo_env["HALO_HOME"]) / "outbox"
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    sinks_file({"outbox": {"kind": "folder", "path": str(blocker / "outbox")}})
    seed(warehouses, "C1")
    failed = create_request(store, "campaign_alerts", PAYLOAD, wait=True)
    assert failed["status"] == "FAILED"
    sinks_file({"outbox": {"kind": "folder", "path": str(outbox)}})
    instance = dagster_instance()
    result = dg.execute_job(dg.reconstructable(campaign_alerts_job), instance,
                            reexecution_options=dg.ReexecutionOptions.from_failure(failed["request_id"], instance))
    assert result.success and sent(halo_env) == ["C1"]
    assert create_request(store, "campaign_alerts", PAYLOAD, wait=True)["row_count"] == 0


def campaign_alerts_job() -> dg.JobDefinition:  # reconstructable by the re-execution
    from halo_platform.definitions import defs

    return defs.resolve_job_def("campaign_alerts_job")


def test_an_over_budget_campaign_fails_its_warn_check_and_alerts_on_every_run_even_when_its_alert_is_held_back(
        warehouses, halo_env, store):
    """The check judges the data, not what re-arming leaves to send: it had passed once the
    alert was held back. And its result carries the mark that makes a WARN check alert: only the
    check's definition had it, where the alerting sensor does not look, so it never alerted."""
    from halo_platform.alerts.send import send_alerts
    from halo_platform.alerts.sensors import failed_check_alerts
    from halo_platform.sinks import SinksResource

    over = {**campaign("C9", AS_OF + dt.timedelta(days=30), "100.00"), "campaign_id": "C9"}
    write_marketing(Path(warehouses["marketing"].split("duckdb:///", 1)[1]), [over],
                    [{"campaign_id": "C9", "spend_date": AS_OF, "amount": Decimal("120.00")}])
    alerts = Path(halo_env["HALO_HOME"]) / "alerts"
    for expected_status in ("SUCCEEDED", "SKIPPED_NO_DATA"):  # the second run holds the campaign's alert back
        request = create_request(store, "campaign_alerts", PAYLOAD, wait=True)
        assert request["status"] == expected_status, request["error"]
        with dagster_instance() as instance:
            evaluation = instance.get_records_for_run(request["request_id"], of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
            (record,) = evaluation.records
            assert record.event_log_entry.dagster_event.event_specific_data.passed is False
            before = len(list(alerts.iterdir())) if alerts.exists() else 0
            due = failed_check_alerts(instance, request["request_id"])
            assert len(due) == 1
            send_alerts(due, SinksResource())
        assert len(list(alerts.iterdir())) == before + 1


def test_identical_requests_at_the_same_time_send_an_alert_once(warehouses, halo_env, store):
    """Three `halo tasks run --wait` at once each read that nobody had sent C1's EXPIRING alert,
    then each marked and sent it. Claiming is one transaction under the task's lock row now: one
    run sends the alert, the others find it claimed by a request in flight and leave it out."""
    seed(warehouses, "C1")
    with store.read():  # the store and the Dagster instance made first: the processes race on the alert only
        pass
    dagster_instance().get_runs()
    halo = Path(sys.executable).with_name("halo")
    command = [str(halo), "tasks", "run", "campaign_alerts", "--payload", f'{{"as_of": "{AS_OF}"}}', "--wait"]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
             for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert sorted(p.returncode for p in procs) == [0, 1, 1], [err[-1000:] for _, err in outs]  # 0: SUCCEEDED only
    requests = [get_request(store, out.splitlines()[0]) for out, _ in outs]
    assert sorted((r["status"], r["row_count"]) for r in requests) == [
        ("SKIPPED_NO_DATA", 0), ("SKIPPED_NO_DATA", 0), ("SUCCEEDED", 1)]
    assert sent(halo_env) == ["C1"]


# the fixture giving each backend's database (SQLite: the test's own file)
STORE_DATABASES = {"sqlite": None, "postgresql": "migrated_pg_url", "mariadb": "migrated_mysql_url"}


@pytest.fixture(params=list(STORE_DATABASES))
def any_store(request, halo_env) -> Iterator[StoreResource]:  # noqa: ANN001
    """An operational store of its own on each backend."""
    database = STORE_DATABASES[request.param]
    made = StoreResource(db_url=request.getfixturevalue(database) if database else halo_env["HALO_DB_URL"])
    yield made
    made.dispose()


def running(store: StoreResource, request_id: str, started: dt.datetime | None = None) -> AlertMarks:
    """The marks of a request of campaign_alerts that started running (now, or at `started`)."""
    record_status(store, request_id, "RUNNING", task="campaign_alerts", at=started)
    return AlertMarks(store, request_id, utcnow())


KEYS = ["C1\x1fEXPIRING", "C2\x1fOVER_BUDGET", "C3\x1fEXPIRING"]


def test_runs_claiming_the_same_alerts_at_once_each_get_an_alert_once_on_every_store(any_store):
    """Eight runs claim the same three alerts at the same moment: each alert is claimed by exactly
    one of them, the others hold it back (on SQLite, PostgreSQL and MariaDB alike)."""
    marks = [running(any_store, f"r{n}") for n in range(8)]
    held: dict[str, set[str]] = {}

    def claim(run: AlertMarks) -> None:
        held[run.request_id] = run.claim("campaign_alerts", KEYS, 24)

    assert at_once([functools.partial(claim, run) for run in marks]) == []
    for key in KEYS:
        assert sum(key not in h for h in held.values()) == 1, (key, held)


def test_a_claim_holds_while_its_run_delivers_or_runs_and_frees_the_alert_when_the_run_failed_or_died(any_store):
    """A claim by a request still running holds the alert (it is being sent); once that request
    ended without delivering (FAILED), or has run past the lease (a killed process leaves its
    request RUNNING), the alert is free for the next run; a delivered one is held for the window."""
    first = running(any_store, "first")
    assert first.claim("campaign_alerts", KEYS, 24) == set()
    assert running(any_store, "second").claim("campaign_alerts", KEYS, 24) == set(KEYS)  # "first" is sending them
    record_status(any_store, "first", "FAILED", task="campaign_alerts", error="delivery failed")
    third = running(any_store, "third")
    assert third.claim("campaign_alerts", KEYS, 24) == set()  # "first" failed: sent again
    record_deliveries(any_store, "third", [DeliveryOutcome("outbox", "DELIVERED", 1, ["file:///x.csv"], "")])
    record_status(any_store, "third", "SUCCEEDED", task="campaign_alerts")
    assert running(any_store, "fourth").claim("campaign_alerts", KEYS, 24) == set(KEYS)  # sent by "third"
    assert running(any_store, "fifth").claim("campaign_alerts", KEYS, 0) == set()  # rearm_hours 0: every run

    long_ago = utcnow() - CLAIM_LEASE - dt.timedelta(minutes=1)
    dead = AlertMarks(any_store, "dead", long_ago + dt.timedelta(seconds=1))
    record_status(any_store, "dead", "RUNNING", task="campaign_alerts", at=long_ago)
    assert dead.claim("other_alerts", KEYS, 24) == set()
    assert running(any_store, "sixth").claim("other_alerts", KEYS, 24) == set()  # "dead" never ended: the lease ran out


def delivered(store: StoreResource, request_id: str, at: dt.datetime) -> AlertMarks:
    """The marks of a request of campaign_alerts that ran at `at` and delivered."""
    record_status(store, request_id, "RUNNING", task="campaign_alerts", at=at)
    record_deliveries(store, request_id, [DeliveryOutcome("outbox", "DELIVERED", 1, ["file:///x.csv"], "")])
    record_status(store, request_id, "SUCCEEDED", task="campaign_alerts", at=at)
    return AlertMarks(store, request_id, at)


def test_a_claim_deletes_the_tasks_marks_that_no_window_can_use_and_keeps_the_others_on_every_store(any_store):
    """Every alert sent added a mark that stayed forever: a daily alert task over many campaigns
    grew `task_alert_marks` without end. A claim now deletes its task's marks older than any
    request's window can reach (the longest `rearm_hours`, and a run started up to the lease
    before this one); a mark a request with a longer window than this run's can still use stays,
    and so do other tasks' marks, until a claim of theirs."""
    past_every_window = utcnow() - LONGEST_REARM - CLAIM_LEASE - dt.timedelta(days=1)
    assert delivered(any_store, "last-year", past_every_window).claim("campaign_alerts", KEYS, 24) == set()
    assert AlertMarks(any_store, "elsewhere", past_every_window).claim("other_alerts", KEYS, 24) == set()
    assert delivered(any_store, "last-month", utcnow() - dt.timedelta(days=30)).claim("campaign_alerts", KEYS, 24) == set()

    assert running(any_store, "daily").claim("campaign_alerts", KEYS, 24) == set()  # all sent over a day ago
    marks = TaskAlertMark.__table__
    with any_store.read() as conn:
        left = conn.execute(sa.select(marks.c.task, marks.c.request_id).distinct()).all()
    assert sorted(left) == [("campaign_alerts", "daily"), ("campaign_alerts", "last-month"), ("other_alerts", "elsewhere")]
    # a request re-arming after 60 days still finds what "last-month" sent
    assert running(any_store, "bimonthly").claim("campaign_alerts", KEYS, 24 * 60) == set(KEYS)


def test_a_claim_with_rearm_hours_0_deletes_the_tasks_marks_that_no_window_can_use_on_every_store(any_store):
    """Only a claim with `rearm_hours` above 0 deleted old marks: a task only ever run with
    `rearm_hours: 0` kept every mark it wrote. Every claim that marks now deletes them too."""
    past_every_window = utcnow() - LONGEST_REARM - CLAIM_LEASE - dt.timedelta(days=1)
    assert delivered(any_store, "last-year", past_every_window).claim("campaign_alerts", KEYS, 0) == set()
    assert running(any_store, "today").claim("campaign_alerts", KEYS, 0) == set()
    marks = TaskAlertMark.__table__
    with any_store.read() as conn:
        left = conn.execute(sa.select(marks.c.request_id).distinct()).scalars().all()
    assert left == ["today"]
