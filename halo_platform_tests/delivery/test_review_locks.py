"""A sending round and a provider callback moving the same messages at once, on PostgreSQL and
MariaDB: both commit, nothing is lost, nothing is applied or sent twice.

Pinned here: a round locked its messages in another order than a callback (which moves them in
the order of their ids): on PostgreSQL the answers in the order they came (or the rows lay), on
MariaDB the answers in key order but the next requests' markers after them. A callback naming
those messages before the round committed deadlocked with it: on PostgreSQL the round was rolled
back (the dispatcher stopped with the provider's answers unrecorded, their messages later lost or
sent again), on MariaDB the callback (a 500). A round applying kept statuses before its answers
deadlocked likewise with a callback naming both; either transaction rolled back to end a deadlock
is now run again."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.delivery import callbacks
from halo_platform.delivery.dispatch import Dispatcher, _Sending
from halo_platform.delivery.lifecycle import Transition
from halo_platform.delivery.providers.base import CallbackEvent
from halo_platform.delivery.queue import claim, mark_in_flight, park_all, persist
from halo_platform.delivery.service import enqueue_many
from halo_platform.delivery.tables import DeliveryAttempt, Message, MessageEvent

OWNER = "round-1"
URLS = {"mariadb": "migrated_mysql_url", "postgresql": "migrated_pg_url"}


@pytest.fixture
def queued(request, providers_file, halo_env):  # noqa: ANN001, ANN201
    """A store of `request.param` with 6 SMS queued, in order of their ids, among 3,000 emails sent before
    (in a table of that size PostgreSQL finds a round's rows in the order of its arrays)."""
    store = StoreResource(db_url=request.getfixturevalue(URLS[request.param]))
    request.addfinalizer(store.dispose)
    providers = providers_file({"s": {"kind": "sandbox", "channel": "sms"}}, [])
    enqueue_many("sms", [{"to": "+33612345678", "body": f"m{i}", "priority": "LOW"} for i in range(6)], store=store, providers=providers)
    enqueue_many("email", [{"to": "ada@example.com", "subject": "s", "body": f"e{i}", "priority": "LOW"} for i in range(3000)],
                 store=store, providers=providers)
    return store


def claimed(store: StoreResource, in_flight: int) -> list:
    """The SMS claimed by `OWNER`, in order of their ids; the last `in_flight` of them marked in flight at provider `s`."""
    now = utcnow()
    with store.write() as conn:
        rows = sorted(claim(conn, "sms", OWNER, 6, now, 300), key=lambda r: r.id)
        marks = [(r.id, "s", r.lease_until) for r in rows[-in_flight:]]
        assert mark_in_flight(conn, OWNER, marks, now) == {m[0] for m in marks}
    return rows


def race(store: StoreResource, rows: list, answered: list, marks: list, monkeypatch, events: list | None = None,
         record=None) -> dict:  # noqa: ANN001
    """A callback reporting every one of `rows` delivered (or its `events`), paused once it has moved the
    first (its row locked), while a round records the answers of `answered` (the last first) and marks
    `marks` in flight (or, in one transaction, what `record(answers, attempts, now)` does)."""
    first_moved, go_on = threading.Event(), threading.Event()
    real_apply = callbacks.apply_event

    def apply_then_wait(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        applied = real_apply(*args, **kwargs)
        if not first_moved.is_set():
            first_moved.set()
            go_on.wait(10)
        return applied

    monkeypatch.setattr(callbacks, "apply_event", apply_then_wait)
    outcomes: dict[str, object] = {}
    events = events or [CallbackEvent("delivered", f"dlr-{r.id}", message_id=r.id) for r in rows]

    def callback() -> None:
        try:
            outcomes["callback"] = callbacks._apply("s", events, store)
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            outcomes["callback"] = exc

    def round_() -> None:
        now = utcnow()
        answers = [Transition(r.id, "sent", "s", f"SM{r.id}", 0, r.next_attempt_at) for r in reversed(answered)]
        attempts = [{"message_id": r.id, "provider": "s", "outcome": "acknowledged", "http_status": 200, "latency_ms": 5.0, "at": now}
                    for r in reversed(answered)]
        try:
            if record is not None:
                outcomes["round"] = record(answers, attempts, now)
                return
            with store.write() as conn:
                outcomes["round"] = persist(conn, OWNER, answers, attempts, now, [(r.id, "s", r.lease_until) for r in marks], now)
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            outcomes["round"] = exc

    threads = [threading.Thread(target=callback), threading.Thread(target=round_)]
    threads[0].start()
    assert first_moved.wait(10)
    threads[1].start()
    time.sleep(0.5)  # the round waits for the first message's row
    go_on.set()
    for thread in threads:
        thread.join(30)
    return outcomes


def stored(store: StoreResource, rows: list) -> tuple[list, list, int]:
    ids = [r.id for r in rows]
    with store.read() as conn:
        messages = conn.execute(sa.select(Message.id, Message.status, Message.provider_message_id, Message.lease_owner, Message.in_flight_at)
                                .where(Message.id.in_(ids)).order_by(Message.id)).all()
        events = conn.execute(sa.select(MessageEvent.event).where(MessageEvent.message_id.in_(ids))).scalars().all()
        attempts = conn.execute(sa.select(sa.func.count()).select_from(DeliveryAttempt).where(DeliveryAttempt.message_id.in_(ids))).scalar_one()
    return [tuple(m) for m in messages], sorted(events), attempts


@pytest.mark.parametrize("queued", ["postgresql", "mariadb"], indirect=True)
def test_a_round_recording_answers_while_a_callback_moves_the_same_messages_both_commit(queued, monkeypatch):
    """On PostgreSQL the round took the last message's row, waited for the first's and was rolled back."""
    rows = claimed(queued, in_flight=6)
    outcomes = race(queued, rows, rows, [], monkeypatch)
    assert outcomes == {"callback": {"applied": 6, "duplicates": 0, "unmatched": 0}, "round": set()}, outcomes
    messages, events, attempts = stored(queued, rows)
    assert [m[1:4] for m in messages] == [("delivered", f"SM{r.id}", None) for r in rows]
    assert events == ["delivered"] * 6 + ["queued"] * 6  # the answers came after: no lifecycle change
    assert attempts == 6


@pytest.mark.parametrize("queued", ["postgresql", "mariadb"], indirect=True)
def test_a_round_marking_a_message_a_late_callback_moves_is_not_sent_again_and_both_commit(queued, monkeypatch):
    """The first message waits for its retry at provider `s`, whose callback now reports the first
    request delivered, along with the other messages, whose answers the round records while it marks
    the first for its next request: on MariaDB the round held the others' rows and waited for the
    first's (its marker came after them), and the callback was rolled back as a deadlock."""
    rows = claimed(queued, in_flight=5)
    with queued.write() as conn:  # its first request's outcome was unknown: a retry, at the same provider
        persist(conn, OWNER, [Transition(rows[0].id, "retry_scheduled", "s", None, 1, rows[0].next_attempt_at)], [], utcnow())
    with queued.write() as conn:
        rows[:1] = claim(conn, "sms", OWNER, 6, utcnow(), 300)  # claimed again, with the others' answers still to record
    outcomes = race(queued, rows, rows[1:], rows[:1], monkeypatch)
    assert outcomes == {"callback": {"applied": 6, "duplicates": 0, "unmatched": 0}, "round": set()}, outcomes  # not marked: never sent again
    messages, events, attempts = stored(queued, rows)
    assert [m[1:5] for m in messages] == [("delivered", None, OWNER, None)] + [("delivered", f"SM{r.id}", None, None) for r in rows[1:]]
    assert events == ["delivered"] * 6 + ["queued"] * 6 + ["retry_scheduled"]
    assert attempts == 5


@pytest.mark.parametrize("queued", ["postgresql", "mariadb"], indirect=True)
def test_a_round_applying_a_kept_status_while_a_callback_moves_its_messages_both_commit(queued, providers_file, monkeypatch):
    """A round's transaction first applies the statuses kept for the provider ids that the rounds before
    recorded (`queue.apply_parked`), then records its answers. The second message's status had overtaken
    its answer (kept); a callback reports the first delivered and the second received, while the round
    applies the kept status to the second and records the first's answer."""
    rows = claimed(queued, in_flight=6)
    first, second = rows[0], rows[1]
    now = utcnow()
    with queued.write() as conn:
        persist(conn, OWNER, [Transition(second.id, "sent", "s", "SM2", 0, second.next_attempt_at)], [], now)
        park_all(conn, "s", [("SM2", "delivered", "s:SM2:delivered", None)], now)
    sending = _Sending(Dispatcher(providers_file({"s": {"kind": "sandbox", "channel": "sms"}}, []), queued, owner=OWNER))
    sending.unsettled, sending.settled_at = {("s", "SM2")}, 0.0  # recorded by an earlier round, due for a look

    def record(answers: list, attempts: list, now):  # noqa: ANN001, ANN202
        try:
            return sending._commit(answers, attempts, [], now, now)[1]
        finally:
            sending.recorder.shutdown()
            if sending.held is not None:
                sending.held.close()

    events = [CallbackEvent("delivered", f"dlr-{first.id}", message_id=first.id), CallbackEvent("received", f"rcv-{second.id}", message_id=second.id)]
    outcomes = race(queued, rows, [first], [], monkeypatch, events, record)
    assert outcomes == {"callback": {"applied": 2, "duplicates": 0, "unmatched": 0}, "round": set()}, outcomes
    messages, events, attempts = stored(queued, rows[:2])
    assert [m[1:4] for m in messages] == [("delivered", f"SM{first.id}", None), ("received", "SM2", None)]
    assert attempts == 1
