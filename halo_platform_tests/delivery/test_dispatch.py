"""Queued dispatch and HIGH sends against the provider fakes: ordering, leases, retries with
backoff on another provider, lost past max_retries, permanent failures, expiry, all providers
down, HIGH failover within the deadline and never re-sent after an unknown outcome."""

from __future__ import annotations

import datetime as dt
import os
import random
import sys
import threading
import time

import pytest
import sqlalchemy as sa

from halo_platform.core.definitions import STORE
from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.delivery import dispatch
from halo_platform.delivery.dispatch import DRAIN_NICENESS, DRAIN_SWITCH_INTERVAL, Dispatcher, provider_result
from halo_platform.delivery.queue import claim
from halo_platform.delivery.service import enqueue_many, message_view, submit
from halo_platform.delivery.tables import DeliveryAttempt, Message, MessageEvent, ProviderState
from halo_platform.lab.provider_fakes import SECRETS


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def sms_providers(fakes, weights=None, **settings):  # noqa: ANN001, ANN003, ANN201
    providers = {
        "tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000", "max_concurrency": 1, "timeout_seconds": 2},
        "vo": {"kind": "vonage", "channel": "sms", "base_url": fakes["vonage"].url, **SECRETS["vonage"], "max_concurrency": 1, "timeout_seconds": 2},
    }
    routing = [{"channel": "sms", "country": "*", "capability": "*", "weights": weights or {"tw": 1, "vo": 1}}]
    return providers, routing, {"retry": {"max_retries": 3, "backoff_seconds": [30, 60]}, **settings}


def sms_config(providers_file, fakes, weights=None, **settings):  # noqa: ANN001, ANN003, ANN201
    providers, routing, extra = sms_providers(fakes, weights, **settings)
    return providers_file(providers, routing, **extra)


def sms(n: int, priority: str = "LOW", prefix: str = "m", **extra) -> list[dict]:  # noqa: ANN003
    return [{"to": "+33612345678", "body": f"{prefix}{i}", "priority": priority, **extra} for i in range(n)]


def statuses(db_url: str | None = None) -> dict[str, int]:
    with StoreResource(db_url=db_url).read() as conn:
        return dict(conn.execute(sa.select(Message.status, sa.func.count()).group_by(Message.status)).all())


def event_names(message_id: str) -> list[tuple[str, str | None]]:
    with STORE.read() as conn:
        rows = conn.execute(sa.select(MessageEvent.event, MessageEvent.provider).where(MessageEvent.message_id == message_id).order_by(MessageEvent.id))
        return [tuple(r) for r in rows]


def all_ids() -> list[str]:
    with STORE.read() as conn:
        return list(conn.execute(sa.select(Message.id)).scalars())


def test_normal_goes_strictly_before_low_and_oldest_first(fakes, providers_file, halo_store):
    config = sms_config(providers_file, fakes, {"tw": 1})
    enqueue_many("sms", sms(4, "LOW", "low"), store=halo_store, providers=config)
    enqueue_many("sms", sms(3, "NORMAL", "normal"), store=halo_store, providers=config)
    dispatcher = Dispatcher(config, halo_store, batch_size=4)
    first = dispatcher.run_once("sms")
    assert first.claimed == 4
    bodies = [a["ref"] for a in fakes["twilio"].accepted]
    assert bodies == ["normal0", "normal1", "normal2", "low0"]
    dispatcher.drain(["sms"])
    assert [a["ref"] for a in fakes["twilio"].accepted][4:] == ["low1", "low2", "low3"]
    assert statuses() == {"sent": 7}


@pytest.mark.parametrize("store", ["sqlite", "postgresql", "mariadb"])
def test_two_concurrent_dispatch_runs_never_take_the_same_message(fakes, providers_file, halo_store, store, request):
    db_url = {"sqlite": None, "postgresql": "migrated_pg_url", "mariadb": "mysql_url"}[store]
    db_url = db_url and request.getfixturevalue(db_url)
    store = StoreResource(db_url=db_url) if db_url else halo_store
    providers, routing, settings = sms_providers(fakes)
    for p in providers.values():
        p["max_concurrency"] = 4
    config = providers_file(providers, routing, **settings)
    enqueue_many("sms", sms(600), store=store, providers=config)
    runs = [Dispatcher(config, store, batch_size=50, owner=f"run-{i}") for i in range(3)]
    threads = [threading.Thread(target=d.drain, args=(["sms"],)) for d in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    accepted = fakes["twilio"].accepted.snapshot() + fakes["vonage"].accepted.snapshot()
    assert len(accepted) == 600
    assert fakes["twilio"].duplicates() == [] and fakes["vonage"].duplicates() == []
    assert len({a["ref"] for a in accepted}) == 600
    assert statuses(db_url) == {"sent": 600}
    with StoreResource(db_url=db_url).read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(DeliveryAttempt)).scalar_one() == 600
    if store is not halo_store:
        store.dispose()


def test_a_crashed_runs_leased_messages_return_to_the_queue_when_the_lease_ends(fakes, providers_file, halo_store):
    config = sms_config(providers_file, fakes, lease_seconds=60)
    enqueue_many("sms", sms(5), store=halo_store, providers=config)
    clock = Clock()
    with STORE.write() as conn:
        assert len(claim(conn, "sms", "crashed-run", 100, clock(), 60)) == 5  # and then it dies
    dispatcher = Dispatcher(config, halo_store, clock=clock)
    assert dispatcher.run_once("sms").claimed == 0
    clock.advance(61)
    assert dispatcher.drain(["sms"]).by_status["sent"] == 5
    assert statuses() == {"sent": 5}


def test_a_retryable_failure_is_retried_after_the_backoff_on_another_provider(fakes, providers_file, halo_store):
    fakes["twilio"].set_switches(failure_rate=1.0)
    config = sms_config(providers_file, fakes, {"tw": 1000, "vo": 1})
    (message_id,) = [submit("sms", sms(1)[0], store=halo_store, providers=config)[0]["id"]]
    clock = Clock()
    dispatcher = Dispatcher(config, halo_store, clock=clock, rng=random.Random(0))
    assert dispatcher.run_once("sms").by_status == {"retry_scheduled": 1}
    assert dispatcher.run_once("sms").claimed == 0  # backoff: not due yet
    clock.advance(31)
    assert dispatcher.run_once("sms").by_status == {"sent": 1}
    assert event_names(message_id) == [("queued", None), ("retry_scheduled", "tw"), ("sent", "vo")]
    view = message_view(message_id, halo_store)
    assert view["number_of_retries"] == 1 and view["provider"] == "vo"


def test_past_max_retries_a_message_is_lost(fakes, providers_file, halo_store):
    fakes["twilio"].set_switches(failure_rate=1.0)
    config = sms_config(providers_file, fakes, {"tw": 1})
    message_id = submit("sms", sms(1)[0], store=halo_store, providers=config)[0]["id"]
    clock = Clock()
    dispatcher = Dispatcher(config, halo_store, clock=clock)
    for _ in range(6):
        dispatcher.run_once("sms")
        clock.advance(61)
    assert [e for e, _ in event_names(message_id)] == ["queued", "retry_scheduled", "retry_scheduled", "retry_scheduled", "lost"]
    assert message_view(message_id, halo_store)["number_of_retries"] == 3
    assert fakes["twilio"].request_count == 4


def test_a_permanent_failure_ends_as_provider_error_without_retry(fakes, providers_file, halo_store):
    config = sms_config(providers_file, fakes, {"tw": 1})
    message_id = submit("sms", {"to": "+33612340000", "body": "x", "priority": "LOW"}, store=halo_store, providers=config)[0]["id"]
    clock = Clock()
    dispatcher = Dispatcher(config, halo_store, clock=clock)
    dispatcher.run_once("sms")
    clock.advance(3600)
    assert dispatcher.run_once("sms").claimed == 0
    assert [e for e, _ in event_names(message_id)] == ["queued", "provider_error"]
    assert fakes["twilio"].request_count == 1


def test_a_message_that_expires_in_the_queue_is_never_sent(fakes, providers_file, halo_store):
    config = sms_config(providers_file, fakes)
    expires = (utcnow() + dt.timedelta(seconds=20)).isoformat()
    message_id = submit("sms", sms(1, expires_at=expires)[0], store=halo_store, providers=config)[0]["id"]
    clock = Clock()
    clock.advance(21)
    assert Dispatcher(config, halo_store, clock=clock).run_once("sms").by_status == {"expired": 1}
    assert [e for e, _ in event_names(message_id)] == ["queued", "expired"]
    assert fakes["twilio"].request_count == fakes["vonage"].request_count == 0


def test_when_every_provider_of_a_rule_is_down_messages_stay_queued(fakes, providers_file, halo_store):
    config = sms_config(providers_file, fakes)
    enqueue_many("sms", sms(3), store=halo_store, providers=config)
    with STORE.write() as conn:
        conn.execute(sa.insert(ProviderState), [{"provider": p, "active": False, "factor": 0.0, "reason": "test", "updated_at": utcnow()} for p in ("tw", "vo")])
    clock = Clock()
    dispatcher = Dispatcher(config, halo_store, clock=clock)
    assert dispatcher.drain(["sms"]).by_status == {"held": 3}
    assert statuses() == {"queued": 3}
    with STORE.write() as conn:
        conn.execute(sa.update(ProviderState).where(ProviderState.provider == "vo").values(active=True, factor=1.0))
    clock.advance(31)
    assert dispatcher.drain(["sms"]).by_status == {"sent": 3}
    assert all(event_names(i)[0] == ("queued", None) and len(event_names(i)) == 2 for i in all_ids())


def test_high_fails_over_to_the_next_provider_inside_the_call(fakes, providers_file, halo_store):
    fakes["twilio"].set_switches(failure_rate=1.0)
    config = sms_config(providers_file, fakes, {"tw": 1_000_000, "vo": 1})
    view, _ = submit("sms", sms(1, "HIGH")[0], store=halo_store, providers=config)
    assert view["status"] == "sent" and view["provider"] == "vo"
    assert fakes["twilio"].request_count == 1 and len(fakes["vonage"].accepted) == 1
    with STORE.read() as conn:
        outcomes = conn.execute(sa.select(DeliveryAttempt.provider, DeliveryAttempt.outcome).order_by(DeliveryAttempt.id)).all()
    assert [tuple(o) for o in outcomes] == [("tw", "retryable"), ("vo", "acknowledged")]


def test_high_is_never_resent_after_an_unknown_outcome(fakes, providers_file, halo_store):
    fakes["twilio"].set_switches(hard_down=True)
    config = sms_config(providers_file, fakes, {"tw": 1_000_000, "vo": 1})
    view, _ = submit("sms", sms(1, "HIGH")[0], store=halo_store, providers=config)
    assert view["status"] == "lost"
    assert fakes["vonage"].request_count == 0
    assert Dispatcher(config, halo_store).drain(["sms"]).claimed == 0


def test_high_respects_its_deadline(fakes, providers_file, halo_store):
    """The provider would answer after 30 s; the 0.4 s deadline ends the call long before (the
    bound leaves a busy CI machine 10 s for everything else, and still fails if the call waits)."""
    fakes["twilio"].set_switches(latency_seconds=30)
    config = sms_config(providers_file, fakes, {"tw": 1}, high_deadline_seconds=0.4)
    started = time.monotonic()
    view, _ = submit("sms", sms(1, "HIGH")[0], store=halo_store, providers=config)
    assert time.monotonic() - started < 10
    assert view["status"] == "lost"
    assert "not re-sent" in message_view(view["id"], halo_store)["events"][-1]["detail"]


def test_high_that_no_provider_took_is_retried_by_the_queue_first(fakes, providers_file, halo_store):
    fakes["twilio"].set_switches(failure_rate=1.0)
    fakes["vonage"].set_switches(failure_rate=1.0)
    config = sms_config(providers_file, fakes)
    enqueue_many("sms", sms(2, "NORMAL"), store=halo_store, providers=config)
    view, _ = submit("sms", sms(1, "HIGH", "otp")[0], store=halo_store, providers=config)
    assert view["status"] == "retry_scheduled"
    fakes["twilio"].reset()
    fakes["vonage"].reset()
    clock = Clock()
    clock.advance(31)
    dispatcher = Dispatcher(config, halo_store, clock=clock, batch_size=1)
    dispatcher.run_once("sms")
    assert message_view(view["id"], halo_store)["status"] == "sent"


def test_onesignal_retries_after_a_lost_answer_reuse_the_request_key_so_nothing_is_accepted_twice(fakes, providers_file, halo_store):
    fakes["onesignal"].set_switches(latency_seconds=0.6)
    config = providers_file(
        {"os": {"kind": "onesignal", "channel": "push", "base_url": fakes["onesignal"].url, **SECRETS["onesignal"], "timeout_seconds": 0.3}},
        [{"channel": "push", "country": "*", "capability": "*", "weights": {"os": 1}}],
        retry={"max_retries": 3, "backoff_seconds": [1]},
    )
    message_id = submit("push", {"to": "user_1234567", "title": "t", "body": "b", "priority": "LOW"}, store=halo_store, providers=config)[0]["id"]
    clock = Clock()
    dispatcher = Dispatcher(config, halo_store, clock=clock)
    assert dispatcher.run_once("push").by_status == {"retry_scheduled": 1}
    fakes["onesignal"].accepted.wait_for(1, timeout=3)
    fakes["onesignal"].set_switches(latency_seconds=0)
    clock.advance(2)
    assert dispatcher.run_once("push").by_status == {"sent": 1}
    assert len(fakes["onesignal"].accepted) == 1
    assert [r.json()["idempotency_key"] for r in fakes["onesignal"].requests] == [message_id, message_id]


def test_email_dispatch_uses_the_batch_apis_with_per_message_acknowledgement(fakes, providers_file, halo_store):
    config = providers_file(
        {"sg": {"kind": "sendgrid", "channel": "email", "base_url": fakes["sendgrid"].url, **SECRETS["sendgrid"], "sender": "n@example.com"},
         "mj": {"kind": "mailjet", "channel": "email", "base_url": fakes["mailjet"].url, **SECRETS["mailjet"], "sender": "n@example.com"}},
        [{"channel": "email", "country": "*", "capability": "*", "weights": {"sg": 1, "mj": 1}}],
    )
    enqueue_many("email", ({"to": f"u{i}@example.com", "subject": "Reminder", "body": "See you soon", "priority": "LOW"} for i in range(1500)), store=halo_store, providers=config)
    enqueue_many("email", [{"to": "bounce@example.com", "subject": "Reminder", "body": "See you soon", "priority": "LOW"}], store=halo_store, providers=config)
    stats = Dispatcher(config, halo_store, batch_size=2000).drain(["email"])
    assert stats.by_status == {"sent": 1500, "provider_error": 1}
    assert len(fakes["sendgrid"].accepted) + len(fakes["mailjet"].accepted) == 1500
    assert fakes["sendgrid"].request_count <= 2 + 2 * 11 and fakes["mailjet"].request_count <= 1500 // 50 + 2



def test_a_drain_sends_from_threads_at_a_lower_cpu_priority_and_leaves_the_callers_alone(fakes, providers_file, halo_store, monkeypatch):
    """Lower priority, and a short GIL switch interval while drains run (two at once here), then the caller's again."""
    config = sms_config(providers_file, fakes)
    enqueue_many("sms", sms(6), store=halo_store, providers=config)
    niceness: list[int] = []
    intervals: list[float] = []

    def observed(*args):  # noqa: ANN002, ANN202 - the answer is read on the thread that sends
        niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        intervals.append(sys.getswitchinterval())
        time.sleep(0.05)  # the two drains overlap
        return provider_result(*args)

    monkeypatch.setattr(dispatch, "provider_result", observed)
    caller, interval = os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), sys.getswitchinterval()
    assert interval > DRAIN_SWITCH_INTERVAL
    drains = [threading.Thread(target=Dispatcher(config, halo_store, batch_size=2).drain, args=(["sms"],)) for _ in range(2)]
    for drain in drains:
        drain.start()
    for drain in drains:
        drain.join()
    assert statuses() == {"sent": 6}
    assert len(niceness) == 6 and min(niceness) >= max(caller, DRAIN_NICENESS)
    assert intervals == [DRAIN_SWITCH_INTERVAL] * 6
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == caller
    assert sys.getswitchinterval() == interval


def test_a_drain_fills_slots_from_the_next_batch_while_the_last_answers_of_a_batch_are_awaited(fakes, providers_file, halo_store):
    """Claims of 2 messages, 4 connections: one batch at a time never had more than 2 requests on the
    wire; the sending loop takes the next claimed batch as soon as the requests left no longer fill the
    free slots, so all 4 are in use."""
    providers, routing, extra = sms_providers(fakes, {"tw": 1})
    providers["tw"]["max_concurrency"] = 4
    config = providers_file(providers, routing, **extra)
    fakes["twilio"].set_switches(latency_seconds=0.3)
    enqueue_many("sms", sms(12), store=halo_store, providers=config)
    stats = Dispatcher(config, halo_store, batch_size=2).drain(["sms"])
    assert statuses() == {"sent": 12} and stats.by_status == {"sent": 12} and stats.claimed == 12
    assert fakes["twilio"].peak_in_progress == 4


def test_one_drain_sends_several_channels_through_one_sending_loop(fakes, providers_file, halo_store):
    providers, routing, extra = sms_providers(fakes)
    providers["sg"] = {"kind": "sendgrid", "channel": "email", "base_url": fakes["sendgrid"].url, **SECRETS["sendgrid"], "sender": "n@example.com"}
    routing.append({"channel": "email", "country": "*", "capability": "*", "weights": {"sg": 1}})
    config = providers_file(providers, routing, **extra)
    enqueue_many("sms", sms(30), store=halo_store, providers=config)
    enqueue_many("email", ({"to": f"u{i}@example.com", "subject": "Reminder", "body": "See you", "priority": "LOW"} for i in range(25)),
                 store=halo_store, providers=config)
    stats = Dispatcher(config, halo_store, batch_size=7).drain(["sms", "email"])
    assert statuses() == {"sent": 55} and stats.by_status == {"sent": 55} and stats.claimed == 55
    assert len(fakes["twilio"].accepted) + len(fakes["vonage"].accepted) == 30 and len(fakes["sendgrid"].accepted) == 25
    assert fakes["twilio"].duplicates() == fakes["vonage"].duplicates() == fakes["sendgrid"].duplicates() == []


def test_a_high_send_marks_its_message_in_flight_in_the_transaction_that_stores_it(fakes, providers_file, halo_store):
    """Two write transactions per HIGH send instead of three (each may wait for a drain's on SQLite):
    the routing read and the message with its first provider's marker, then its outcome, which
    also reads the answer back; one read transaction, not four: after the commit the look for a
    status callback kept for its provider id (`settle_parked`); the row is not read back after
    its insert, nor the answer after the outcome."""
    config = sms_config(providers_file, fakes, {"tw": 1})
    began: list[str] = []

    def count(conn) -> None:  # noqa: ANN001
        began.append("write" if conn.get_execution_options().get("halo_write") else "read")

    sa.event.listen(halo_store.engine, "begin", count)
    try:
        view, _ = submit("sms", sms(1, "HIGH", "otp")[0], store=halo_store, providers=config)
    finally:
        sa.event.remove(halo_store.engine, "begin", count)
    assert view["status"] == "sent" and view["provider"] == "tw" and len(fakes["twilio"].accepted) == 1
    assert began == ["write", "write", "read"]
    assert view == message_view(view["id"], halo_store, with_events=False)
    with STORE.read() as conn:
        row = conn.execute(sa.select(Message).where(Message.id == view["id"])).one()
    assert (row.lease_owner, row.in_flight_at) == (None, None)


def test_a_rounds_answers_are_written_in_steps_of_64_messages_with_their_attempts_on_sqlite():
    from halo_platform.core.sqlite_rows import ROWS_PER_STATEMENT
    from halo_platform.delivery.dispatch import _answer_steps
    from halo_platform.delivery.lifecycle import Transition

    transitions = [Transition(f"m{i}", "sent", "tw") for i in range(150)]
    attempts = [{"message_id": f"m{i}", "provider": "tw"} for i in range(149, -1, -1)] + [{"message_id": "gone", "provider": "tw"}]
    steps = _answer_steps(transitions, attempts, StoreResource(db_url="sqlite:////tmp/x.db"))
    assert [len(t) for t, _ in steps] == [ROWS_PER_STATEMENT, ROWS_PER_STATEMENT, 150 - 2 * ROWS_PER_STATEMENT]
    for group, group_attempts in steps[:-1]:
        assert sorted(a["message_id"] for a in group_attempts) == sorted(t.message_id for t in group)
    assert {a["message_id"] for a in steps[-1][1]} == {t.message_id for t in steps[-1][0]} | {"gone"}
    assert sum((t for t, _ in steps), []) == transitions
    assert _answer_steps(transitions, attempts, StoreResource(db_url="postgresql+psycopg://u@127.0.0.1/x")) == [(transitions, attempts)]
    assert _answer_steps([], [], StoreResource(db_url="sqlite:////tmp/x.db")) == []
