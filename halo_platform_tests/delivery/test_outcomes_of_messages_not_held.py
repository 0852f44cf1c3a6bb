"""A dispatcher records an outcome (expired, sent, lost...) only for the messages it still holds:
its guarded UPDATE skips a message that an opt-out ended or another dispatcher leased meanwhile,
and the lifecycle event (and so the sender's status webhook) must be skipped with it. On every
store: SQLite and PostgreSQL learn what matched from UPDATE ... RETURNING, MariaDB from one
grouped check (each test failed before its fix: `expired` was added after `suppressed`)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from halo_platform.core.models import utcnow
from halo_platform.delivery.lifecycle import expired, transition
from halo_platform.delivery.providers.base import ACKNOWLEDGED, SendResult
from halo_platform.delivery.queue import claim, events_t, messages_t, persist
from halo_platform.delivery.service import submit
from halo_platform.delivery.suppressions import suppress
from halo_platform.delivery.webhooks import pending_events

OPTED_OUT, OTHER = "+33612345678", "+33698765432"


@pytest.fixture
def setup(providers_file, every_store):  # noqa: ANN001, ANN201
    providers = providers_file({"sb": {"kind": "sandbox", "channel": "sms"}})
    return providers, every_store


def queue_sms(providers, store, to: str, **extra) -> str:  # noqa: ANN001, ANN003
    payload = {"to": to, "body": "reminder", "priority": "LOW", "callback_url": "https://hooks.example.com/status", **extra}
    return submit("sms", payload, store=store, providers=providers, webhook_key="test-key")[0]["id"]


def lifecycle(store, message_id: str) -> tuple[str, list[str]]:  # noqa: ANN001
    with store.read() as conn:
        status = conn.execute(sa.select(messages_t.c.status).where(messages_t.c.id == message_id)).scalar_one()
        events = conn.execute(sa.select(events_t.c.event).where(events_t.c.message_id == message_id).order_by(events_t.c.id)).scalars()
        return status, list(events)


def webhooks_of(store, message_id: str) -> list[str]:  # noqa: ANN001
    """The events the status webhook worker would POST to the message's sender."""
    with store.read() as conn:
        return [e.event for e in pending_events(conn, utcnow()) if e.message_id == message_id]


def test_an_expiry_recorded_after_an_opt_out_took_the_message_adds_no_event_nor_webhook(setup):
    """A dispatcher claimed two messages; before it recorded them `expired`, one recipient opted
    out (the suppression ends a claimed message not yet in flight and takes it from the
    dispatcher). The expiry must reach only the message still held: the other one stays
    `suppressed`, with no `expired` event after it and no webhook saying so."""
    providers, store = setup
    expires = (utcnow() + dt.timedelta(seconds=30)).isoformat()
    stopped, kept = (queue_sms(providers, store, to, expires_at=expires) for to in (OPTED_OUT, OTHER))
    with store.write() as conn:
        rows = claim(conn, "sms", "run-a", 10, utcnow(), 60)
    assert {r.id for r in rows} == {stopped, kept}
    assert suppress(store, "sms", OPTED_OUT)["ended"] == 1
    later = utcnow() + dt.timedelta(seconds=31)
    with store.write() as conn:
        persist(conn, "run-a", [expired(r, later) for r in rows], [], later)
    assert lifecycle(store, stopped) == ("suppressed", ["queued", "suppressed"])
    assert webhooks_of(store, stopped) == ["queued", "suppressed"]
    assert lifecycle(store, kept) == ("expired", ["queued", "expired"])
    assert webhooks_of(store, kept) == ["queued", "expired"]


def test_an_answer_recorded_by_a_dispatcher_whose_lease_another_took_adds_no_event(setup):
    """Dispatcher A's lease ran out and B claimed the message: A's late answer changes nothing
    (its UPDATE is guarded by the lease owner) and must add no event; B's answer is recorded."""
    providers, store = setup
    message_id = queue_sms(providers, store, OTHER)
    now = utcnow()
    with store.write() as conn:
        (row_a,) = claim(conn, "sms", "run-a", 10, now, 60)
    later = now + dt.timedelta(seconds=61)
    with store.write() as conn:
        (row_b,) = claim(conn, "sms", "run-b", 10, later, 60)
    retry = providers.config().retry
    with store.write() as conn:
        persist(conn, "run-a", [transition(row_a, SendResult(message_id, ACKNOWLEDGED, "pm-a"), "sb", retry, later)], [], later)
    assert lifecycle(store, message_id) == ("queued", ["queued"])
    with store.write() as conn:
        persist(conn, "run-b", [transition(row_b, SendResult(message_id, ACKNOWLEDGED, "pm-b"), "sb", retry, later)], [], later)
    assert lifecycle(store, message_id) == ("sent", ["queued", "sent"])
    assert webhooks_of(store, message_id) == ["queued", "sent"]
