"""A sending round and provider callbacks moving the same messages at once, on PostgreSQL and
MariaDB: both commit, nothing is lost, nothing is applied twice.

Pinned here: on PostgreSQL a round's answers (`queue._RECORD_ARRAYS`) locked their messages in
the order the answers came (or the rows lay), a callback in the order of their ids; a callback
naming a message in flight before the round recorded its answer deadlocked with it, and the
round was the one PostgreSQL rolled back: the dispatcher stopped with the provider's answers
unrecorded (their messages then `lost` or sent again)."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.delivery import callbacks
from halo_platform.delivery.lifecycle import Transition
from halo_platform.delivery.providers.base import CallbackEvent
from halo_platform.delivery.queue import claim, mark_in_flight, persist
from halo_platform.delivery.service import enqueue_many
from halo_platform.delivery.tables import DeliveryAttempt, Message, MessageEvent

OWNER = "round-1"


def in_flight(store: StoreResource, providers, count: int) -> list:  # noqa: ANN001
    """`count` SMS claimed by `OWNER` and marked in flight at provider `s`, in order of their ids."""
    enqueue_many("sms", [{"to": "+33612345678", "body": f"m{i}", "priority": "LOW"} for i in range(count)], store=store, providers=providers)
    # the messages sent before: in a table of this size PostgreSQL finds a round's rows in the order of its arrays
    enqueue_many("email", [{"to": "ada@example.com", "subject": "s", "body": f"e{i}", "priority": "LOW"} for i in range(3000)], store=store, providers=providers)
    now = utcnow()
    with store.write() as conn:
        rows = sorted(claim(conn, "sms", OWNER, count, now, 300), key=lambda r: r.id)
        assert mark_in_flight(conn, OWNER, [(r.id, "s", r.lease_until) for r in rows], now) == {r.id for r in rows}
    return rows


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_a_round_recording_answers_while_a_callback_moves_the_same_messages_both_commit(backend, providers_file, halo_env, request, monkeypatch):
    """The callback has moved the first message (by id) and goes on to the last while the round,
    whose answers came last first, records them: on PostgreSQL the round took the last message's
    row, waited for the first's and was rolled back as a deadlock."""
    store = StoreResource(db_url=request.getfixturevalue({"mariadb": "fresh_mysql_url", "postgresql": "fresh_pg_url"}[backend]))
    request.addfinalizer(store.dispose)
    rows = in_flight(store, providers_file({"s": {"kind": "sandbox", "channel": "sms"}}, []), 6)
    first_moved, go_on = threading.Event(), threading.Event()
    real_apply = callbacks.apply_event

    def apply_then_wait(*args):  # noqa: ANN002, ANN202 - the callback pauses after its first message, its row locked
        applied = real_apply(*args)
        if not first_moved.is_set():
            first_moved.set()
            go_on.wait(10)
        return applied

    monkeypatch.setattr(callbacks, "apply_event", apply_then_wait)
    outcomes: dict[str, object] = {}

    def callback() -> None:
        events = [CallbackEvent("delivered", f"dlr-{r.id}", message_id=r.id) for r in rows]
        try:
            outcomes["callback"] = callbacks._apply("s", events, store)
        except Exception as exc:  # noqa: BLE001 - reported below
            outcomes["callback"] = exc

    def round_() -> None:
        now = utcnow()
        answers = [Transition(r.id, "sent", "s", f"SM{n}", 0, r.next_attempt_at) for n, r in enumerate(reversed(rows))]
        attempts = [{"message_id": r.id, "provider": "s", "outcome": "acknowledged", "http_status": 200, "latency_ms": 5.0, "at": now}
                    for r in reversed(rows)]
        try:
            with store.write() as conn:
                outcomes["round"] = persist(conn, OWNER, answers, attempts, now)
        except Exception as exc:  # noqa: BLE001 - reported below
            outcomes["round"] = exc

    threads = [threading.Thread(target=callback), threading.Thread(target=round_)]
    threads[0].start()
    assert first_moved.wait(10)
    threads[1].start()
    time.sleep(0.5)  # the round waits for the first message's row
    go_on.set()
    for thread in threads:
        thread.join(30)
    assert outcomes == {"callback": {"applied": 6, "duplicates": 0, "unmatched": 0}, "round": set()}, outcomes
    with store.read() as conn:
        stored = conn.execute(sa.select(Message.status, Message.provider_message_id, Message.lease_owner).where(Message.channel == "sms")).all()
        events = conn.execute(sa.select(MessageEvent.event).where(MessageEvent.message_id.in_([r.id for r in rows]))).scalars().all()
        attempts = conn.execute(sa.select(sa.func.count()).select_from(DeliveryAttempt)).scalar_one()
    assert sorted(stored) == [("delivered", f"SM{n}", None) for n in range(6)]
    assert sorted(events) == ["delivered"] * 6 + ["queued"] * 6  # the answer came after: no lifecycle change
    assert attempts == 6
