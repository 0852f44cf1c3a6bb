"""Review of the queue and the dispatcher (dispatch7): retries that lose nothing and send nothing
twice, on real stores with the provider fakes (real HTTP servers on 127.0.0.1)."""

from __future__ import annotations

import datetime as dt
import time

import sqlalchemy as sa

from halo_platform.core.models import utcnow
from halo_platform.delivery.dispatch import Dispatcher
from halo_platform.delivery.service import enqueue_many, message_view, submit
from halo_platform.delivery.tables import Message
from halo_platform.lab.provider_fakes import SECRETS

LEASE = 30


def later(seconds: float):  # noqa: ANN201
    return lambda: utcnow() + dt.timedelta(seconds=seconds)


def two_sms_providers(fakes, providers_file, timeout: float = 1.0):  # noqa: ANN001, ANN201
    return providers_file(
        {"tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000",
                "timeout_seconds": timeout},
         "vo": {"kind": "vonage", "channel": "sms", "base_url": fakes["vonage"].url, **SECRETS["vonage"], "sender": "Halo",
                "timeout_seconds": timeout}},
        [{"channel": "sms", "country": "*", "capability": "*", "weights": {"tw": 1, "vo": 1}}],
        lease_seconds=LEASE, retry={"max_retries": 3, "backoff_seconds": [1]},
    )


def test_a_high_message_retried_by_a_dispatcher_is_not_sent_again_after_an_unknown_outcome(fakes, providers_file, halo_store):
    """HIGH (an OTP) is never re-sent after an unknown outcome (delivery.md). A HIGH send whose
    providers all answered 503 within the API call is queued for a retry; the dispatch run that
    retries it got no answer in time (the provider took it late): the message went back to the
    queue and the next run sent it through the other provider, the OTP twice."""
    config = two_sms_providers(fakes, providers_file)
    for fake in (fakes["twilio"], fakes["vonage"]):
        fake.set_switches(failure_rate=1.0)
    view, _ = submit("sms", {"to": "+33612345678", "body": "code 123456", "country": "FR", "capability": "TEXT", "priority": "HIGH"},
                     store=halo_store, providers=config)
    assert view["status"] == "retry_scheduled"
    for fake in (fakes["twilio"], fakes["vonage"]):
        fake.set_switches(failure_rate=0.0, latency_seconds=1.5)  # taken, answered after the client gave up
    for minutes in (1, 2, 3):
        dispatcher = Dispatcher(config, halo_store, clock=later(60 * minutes))
        dispatcher.drain(["sms"])
        dispatcher.close()
    time.sleep(2)  # the last request's answer, after the client gave up
    accepted = [a["ref"] for fake in (fakes["twilio"], fakes["vonage"]) for a in fake.accepted]
    final = message_view(view["id"], halo_store)
    assert len(accepted) == 1, accepted
    assert final["status"] == "lost" and final["number_of_retries"] == 1
    assert "outcome unknown, not re-sent" in final["events"][-1]["detail"]


def test_a_drain_naming_a_channel_twice_leaves_nothing_due_unsent(fakes, providers_file, halo_store):
    """`halo delivery drain --channel sms --channel sms` (or a dispatch run's `channels: [sms, sms]`)
    started two claimers for the channel sharing one queue of batches: the first to find nothing
    due ended the channel, and the batch the other claimed last was never sent, its messages
    leased (not due) for the lease's length: 50-150 of 450 messages left queued by a drain that
    runs 'until nothing is due'."""
    config = two_sms_providers(fakes, providers_file)
    fakes["twilio"].set_switches(latency_seconds=0.001)
    fakes["vonage"].set_switches(latency_seconds=0.001)
    for trial in range(4):
        enqueue_many("sms", ({"to": "+33612345678", "body": f"t{trial} {i}", "priority": "LOW"} for i in range(450)), store=halo_store,
                     providers=config)
        dispatcher = Dispatcher(config, halo_store, batch_size=100)
        stats = dispatcher.drain(["sms", "sms"])
        dispatcher.close()
        with halo_store.read() as conn:
            left = dict(conn.execute(sa.select(Message.status, sa.func.count()).where(Message.status != "sent").group_by(Message.status)).all())
        assert left == {} and stats.by_status == {"sent": 450}, (trial, left, dict(stats.by_status))
