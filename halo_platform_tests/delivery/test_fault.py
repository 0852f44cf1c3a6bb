"""The fault test: LOW SMS over three providers where one answers 5xx to 40% of requests and
one is hard down for the first half of the run. Dispatch and autopilot cycles run in-process
on an injected clock (15 s per dispatch round, a cycle every minute). Asserted from the stored
events, attempts and state changes and from what the fakes recorded."""

from __future__ import annotations

import datetime as dt
import os
import random
from collections import Counter

import sqlalchemy as sa

from halo_platform.core.definitions import STORE
from halo_platform.core.models import utcnow
from halo_platform.delivery.autopilot import run_cycle
from halo_platform.delivery.dispatch import Dispatcher
from halo_platform.delivery.service import enqueue_many
from halo_platform.delivery.tables import DeliveryAttempt, Message, MessageEvent, ProviderStateChange
from halo_platform.lab.provider_fakes import SECRETS, twilio_fake

MESSAGES = int(os.environ.get("HALO_FAULT_MESSAGES", "20000"))
MAX_RETRIES = 5


def test_faulty_providers_lose_nothing_send_nothing_twice_and_autopilot_shifts_traffic(fakes, providers_file, halo_store):
    healthy, flaky = fakes["twilio"], fakes["vonage"]
    dead = twilio_fake(seed=7).start()
    try:
        run_fault_scenario(providers_file, halo_store, healthy, flaky, dead)
    finally:
        dead.close()


def run_fault_scenario(providers_file, halo_store, healthy, flaky, dead) -> None:  # noqa: ANN001, PLR0915
    config = providers_file(
        {
            "healthy": {"kind": "twilio", "channel": "sms", "base_url": healthy.url, **SECRETS["twilio"], "sender": "+33700000000", "max_concurrency": 4},
            "flaky": {"kind": "vonage", "channel": "sms", "base_url": flaky.url, **SECRETS["vonage"], "max_concurrency": 4},
            "dead": {"kind": "twilio", "channel": "sms", "base_url": dead.url, **SECRETS["twilio"], "sender": "+33700000001", "max_concurrency": 4},
        },
        [{"channel": "sms", "country": "*", "capability": "*", "weights": {"healthy": 40, "flaky": 30, "dead": 30}}],
        retry={"max_retries": MAX_RETRIES, "backoff_seconds": [15, 30, 60, 120, 240]},
        autopilot={"window_minutes": 10, "min_attempts": 20, "error_rate_threshold": 0.25, "ramp_percent": [10, 25, 50, 100]},
    )
    flaky.set_switches(failure_rate=0.4)
    dead.set_switches(hard_down=True)
    enqueue_many("sms", ({"to": "+33612345678", "body": f"fault {i}", "priority": "LOW"} for i in range(MESSAGES)), store=halo_store, providers=config)

    clock_now = [utcnow()]
    dispatcher = Dispatcher(config, halo_store, clock=lambda: clock_now[0], rng=random.Random(11), batch_size=250)
    alerts: list = []
    cycle_at: list[dt.datetime] = []
    recovered_at_cycle = None
    rounds = 0
    while True:
        stats = dispatcher.run_once("sms")
        rounds += 1
        clock_now[0] += dt.timedelta(seconds=15)
        if rounds % 4 == 0:
            cycle_at.append(clock_now[0])
            run_cycle(halo_store, config, now=clock_now[0], alert=alerts.append)
        with STORE.read() as conn:
            sent = conn.execute(sa.select(sa.func.count()).select_from(Message).where(Message.status == "sent")).scalar_one()
            open_ = conn.execute(sa.select(sa.func.count()).select_from(Message).where(Message.status.in_(["queued", "retry_scheduled"]))).scalar_one()
        if recovered_at_cycle is None and sent >= MESSAGES // 2:
            dead.set_switches(hard_down=False)
            recovered_at_cycle = len(cycle_at)
        if open_ == 0 and stats.claimed == 0:
            break
        assert rounds < 2000, "the queue does not drain"
    for _ in range(6):  # let the ramp finish if the queue emptied first
        clock_now[0] += dt.timedelta(minutes=1)
        cycle_at.append(clock_now[0])
        run_cycle(halo_store, config, now=clock_now[0], alert=alerts.append)
    dispatcher.close()

    with STORE.read() as conn:
        statuses = Counter(dict(conn.execute(sa.select(Message.status, sa.func.count()).group_by(Message.status)).all()))
        lost_retries = set(conn.execute(sa.select(Message.number_of_retries).where(Message.status == "lost")).scalars())
        sent_events = Counter(conn.execute(sa.select(MessageEvent.message_id).where(MessageEvent.event == "sent")).scalars())
        event_counts = Counter(dict(conn.execute(sa.select(MessageEvent.event, sa.func.count()).group_by(MessageEvent.event)).all()))
        attempts = Counter(dict(conn.execute(sa.select(DeliveryAttempt.provider, sa.func.count()).group_by(DeliveryAttempt.provider)).all()))
        changes = conn.execute(sa.select(ProviderStateChange).order_by(ProviderStateChange.id)).all()

    # every message ended sent, or lost by the rules (after max_retries); nothing left queued
    assert set(statuses) <= {"sent", "lost"}, statuses
    assert sum(statuses.values()) == MESSAGES
    assert lost_retries <= {MAX_RETRIES}
    assert statuses["sent"] >= MESSAGES * 0.999
    assert event_counts["queued"] == MESSAGES and event_counts["sent"] == statuses["sent"]
    assert all(n == 1 for n in sent_events.values())

    # no message was accepted twice, and every acceptance is a stored `sent`
    accepted = [a["ref"] for fake in (healthy, flaky, dead) for a in fake.accepted]
    assert len(accepted) == len(set(accepted)) == statuses["sent"]
    # every request the fakes saw is a stored attempt (health calls aside)
    sends = {"healthy": healthy, "flaky": flaky, "dead": dead}
    for name, fake in sends.items():
        assert attempts[name] == sum(1 for r in fake.requests if r.method == "POST"), name

    # autopilot: both failing providers deactivated within two cycles of the start
    def first_cycle(provider: str, factor: float) -> int:
        at = next(c.at for c in changes if c.provider == provider and c.factor == factor)
        return cycle_at.index(at) + 1

    assert first_cycle("flaky", 0.0) <= 2
    assert first_cycle("dead", 0.0) <= 2
    assert not any(c.provider == "healthy" for c in changes)
    # the dead one was pinged with its real health call while down, then ramped back after it recovered
    health = f"/2010-04-01/Accounts/{SECRETS['twilio']['account_sid']}.json"
    pings = [r.status for r in dead.requests if r.path == health]
    assert 0 in pings and 200 in pings
    dead_factors = [c.factor for c in changes if c.provider == "dead"]
    assert dead_factors[-5:] == [0.0, 0.10, 0.25, 0.50, 1.0] or dead_factors[-4:] == [0.10, 0.25, 0.50, 1.0]
    assert first_cycle("dead", 0.10) > recovered_at_cycle
    assert len(dead.accepted) > 0
    assert any(a.severity == "ERROR" and "dead" in a.title for a in alerts)
    print(f"\nfault test: {MESSAGES} messages, {rounds} rounds, {len(cycle_at)} cycles, statuses {dict(statuses)}, "
          f"attempts {dict(attempts)}, events {dict(event_counts)}, flaky factors {[c.factor for c in changes if c.provider == 'flaky']}")
