"""Crash safety of delivery: a dispatcher killed with SIGKILL mid-run leaves only the requests
that were in flight uncertain (at most the provider's concurrency), never a whole batch; an
uncertain message ends `lost` or is sent once more by the channel's `on_unknown` setting, or is
re-sent under the provider's own idempotency key. A message whose send raises ends in a
definite recorded state instead of staying leased to be sent again."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest
import sqlalchemy as sa

from halo_platform.core.definitions import STORE
from halo_platform.core.errors import HaloError
from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.delivery.config import parse_config
from halo_platform.delivery.dispatch import Dispatcher
from halo_platform.delivery.lifecycle import uncertain_resolution
from halo_platform.delivery.queue import Claimed, claim, mark_in_flight
from halo_platform.delivery.service import enqueue_many, high_route, send_high
from halo_platform.delivery.tables import Message, MessageEvent
from halo_platform.lab.provider_fakes import SECRETS

CONCURRENCY = 3
LEASE = 30


def twilio_only(fakes, providers_file, on_unknown=None, concurrency=CONCURRENCY):  # noqa: ANN001, ANN201
    settings = {"lease_seconds": LEASE, "retry": {"max_retries": 2, "backoff_seconds": [30]}}
    if on_unknown is not None:
        settings["on_unknown"] = on_unknown
    return providers_file(
        {"tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000",
                "max_concurrency": concurrency, "timeout_seconds": 5}},
        [{"channel": "sms", "country": "*", "capability": "*", "weights": {"tw": 1}}],
        **settings,
    )


def later(seconds: float):  # noqa: ANN201
    """A clock `seconds` ahead of the wall clock (the leases of a killed run have ended)."""
    return lambda: utcnow() + dt.timedelta(seconds=seconds)


def statuses(db_url: str | None = None) -> Counter:
    with StoreResource(db_url=db_url).read() as conn:
        return Counter(dict(conn.execute(sa.select(Message.status, sa.func.count()).group_by(Message.status)).all()))


def crafted_row(message_id: str, channel: str, recipient: str, content: dict, priority: str = "LOW", **extra) -> dict:  # noqa: ANN003
    """A message row written straight into the store (what validation would refuse today)."""
    now = utcnow()
    return {"id": message_id, "channel": channel, "recipient": recipient, "country": "FR", "capability": "TEXT" if channel == "sms" else "TRANSACTIONAL",
            "priority": priority, "priority_rank": {"HIGH": 0, "NORMAL": 1, "LOW": 2}[priority], "content": content, "idempotency_key": None,
            "payload_hash": "x", "expires_at": None, "number_of_retries": 0, "status": "queued", "provider": None, "provider_message_id": None,
            "next_attempt_at": now, "lease_owner": None, "lease_until": None, "created_at": now, "updated_at": now, **extra}


# -- the kill -9 test ------------------------------------------------------------------------


def kill_drain_midway(fakes, db_url: str, count: int, kill_after: int) -> None:  # noqa: ANN001
    """Run `halo delivery drain` as a real process and SIGKILL it once the fake accepted `kill_after`."""
    env = {**os.environ, "HALO_DB_URL": db_url}
    drain = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "halo"), "delivery", "drain", "--channel", "sms"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while len(fakes["twilio"].accepted) < kill_after:
            assert drain.poll() is None, f"drain ended before the kill: {drain.communicate()}"
            assert time.monotonic() < deadline, "the drain does not progress"
            time.sleep(0.005)
        os.kill(drain.pid, signal.SIGKILL)
    finally:
        drain.wait(30)
    assert drain.returncode == -signal.SIGKILL
    assert kill_after <= len(fakes["twilio"].accepted) < count


@pytest.mark.parametrize("policy", ["resend", "lost"])
def test_a_drain_killed_mid_run_resends_at_most_the_requests_in_flight(fakes, providers_file, any_store, policy):
    """The acceptance test of issue 8: kill -9 of `halo delivery drain` after a part of the queue
    went out, then a drain after the leases ended. Before, every message of the batches whose
    acknowledgements were not yet written was sent again (1,702 of 1,705)."""
    store, db_url = any_store, any_store.url
    config = twilio_only(fakes, providers_file, on_unknown={"sms": {"LOW": policy}})
    count = 1500
    enqueue_many("sms", ({"to": "+33612345678", "body": f"crash {i}", "priority": "LOW"} for i in range(count)), store=store, providers=config)
    fakes["twilio"].set_switches(latency_seconds=0.002)
    kill_drain_midway(fakes, db_url, count, kill_after=400)
    fakes["twilio"].set_switches(latency_seconds=0)
    with StoreResource(db_url=db_url).read() as conn:
        in_flight = conn.execute(sa.select(sa.func.count()).select_from(Message).where(Message.in_flight_at.is_not(None))).scalar_one()
    assert in_flight <= CONCURRENCY

    dispatcher = Dispatcher(config, store, clock=later(LEASE + 1))
    dispatcher.drain(["sms"])
    dispatcher.close()

    accepted = [a["ref"] for a in fakes["twilio"].accepted]
    twice = [ref for ref, n in Counter(accepted).items() if n > 1]
    final = statuses(db_url)
    print(f"\n{sa.make_url(db_url).get_backend_name()}/{policy}: in flight at the kill {in_flight}, accepted {len(accepted)}, twice {len(twice)}, statuses {dict(final)}")
    assert len(twice) <= CONCURRENCY
    assert set(final) <= {"sent", "lost"} and sum(final.values()) == count
    with StoreResource(db_url=db_url).read() as conn:
        unknown = conn.execute(sa.select(sa.func.count()).select_from(MessageEvent).where(MessageEvent.event == "unknown")).scalar_one()
        left = conn.execute(sa.select(sa.func.count()).select_from(Message).where(Message.in_flight_at.is_not(None))).scalar_one()
    assert unknown == in_flight and left == 0
    if policy == "lost":
        assert twice == [] and final["lost"] == in_flight and len(set(accepted)) >= count - in_flight
    else:
        assert final == Counter({"sent": count}) and set(accepted) == {f"crash {i}" for i in range(count)}


# -- resolving one uncertain message ------------------------------------------------------------


def uncertain_message(config, db_url: str | None, channel: str, recipient: str, content: dict, priority: str, provider: str) -> str:  # noqa: ANN001
    """A message a killed run had marked in flight to `provider` (its lease then ended)."""
    mid = str(uuid.uuid4())
    with StoreResource(db_url=db_url).write() as conn:
        conn.execute(Message.__table__.insert(), [crafted_row(mid, channel, recipient, content, priority)])
        rows = claim(conn, channel, "run:dead", 10, utcnow(), 1)
        assert mark_in_flight(conn, "run:dead", [(r.id, provider, r.lease_until) for r in rows], utcnow()) == {mid}
    return mid


def events_of(message_id: str) -> list[str]:
    with STORE.read() as conn:
        return list(conn.execute(sa.select(MessageEvent.event).where(MessageEvent.message_id == message_id).order_by(MessageEvent.id)).scalars())


def test_an_uncertain_message_at_an_idempotent_provider_is_sent_again_under_the_same_key(fakes, providers_file, halo_store):
    config = providers_file(
        {"os": {"kind": "onesignal", "channel": "push", "base_url": fakes["onesignal"].url, **SECRETS["onesignal"]}},
        [{"channel": "push", "country": "*", "capability": "*", "weights": {"os": 1}}],
    )
    mid = uncertain_message(config, None, "push", "user-1", {"body": "hello", "title": "t"}, "NORMAL", "os")
    Dispatcher(config, halo_store, clock=later(5)).drain(["push"])
    Dispatcher(config, halo_store, clock=later(5)).run_once("push")  # nothing more is due
    assert [a["ref"] for a in fakes["onesignal"].accepted] == [mid]
    assert events_of(mid) == ["sent"]


def test_a_high_message_in_flight_when_its_api_process_died_ends_lost_and_is_never_sent_again(fakes, providers_file, halo_store):
    config = twilio_only(fakes, providers_file, on_unknown={"sms": "resend"})
    mid = uncertain_message(config, None, "sms", "+33612345678", {"body": "otp 1"}, "HIGH", "tw")
    Dispatcher(config, halo_store, clock=later(5)).drain(["sms"])
    assert fakes["twilio"].accepted.snapshot() == []
    assert events_of(mid) == ["unknown", "lost"]


def test_a_resend_after_an_unknown_outcome_happens_once(fakes, providers_file, halo_store):
    config = twilio_only(fakes, providers_file, on_unknown={"sms": {"LOW": "resend"}})
    mid = uncertain_message(config, None, "sms", "+33612345678", {"body": "low 1"}, "LOW", "tw")
    with STORE.write() as conn:  # the resend was in flight too when a second run died
        conn.execute(MessageEvent.__table__.insert(), [{"message_id": mid, "event": "unknown", "provider": "tw", "at": utcnow()}])
    Dispatcher(config, halo_store, clock=later(5)).drain(["sms"])
    assert fakes["twilio"].accepted.snapshot() == []
    assert events_of(mid) == ["unknown", "unknown", "lost"]


@pytest.mark.parametrize(
    ("priority", "policy", "idempotent", "unknowns", "expected"),
    [
        ("HIGH", "lost", False, 0, "lost"),
        ("HIGH", "lost", True, 0, "same_provider"),
        ("NORMAL", "lost", False, 0, "lost"),
        ("NORMAL", "resend", False, 0, "resend"),
        ("LOW", "resend", False, 0, "resend"),
        ("LOW", "resend", False, 1, "lost"),
        ("LOW", "lost", True, 3, "same_provider"),
    ],
)
def test_uncertain_resolution_rules(priority, policy, idempotent, unknowns, expected):
    assert uncertain_resolution(priority, policy, idempotent, unknowns) == expected


def test_on_unknown_defaults_to_lost_and_refuses_resend_for_high():
    config = parse_config({"on_unknown": {"email": "resend", "sms": {"LOW": "resend"}}})
    assert config.on_unknown_for("email", "NORMAL") == "resend"
    assert config.on_unknown_for("email", "HIGH") == "lost"
    assert config.on_unknown_for("sms", "LOW") == "resend"
    assert config.on_unknown_for("sms", "NORMAL") == "lost"
    assert config.on_unknown_for("push", "LOW") == "lost"
    with pytest.raises(HaloError, match="HIGH"):
        parse_config({"on_unknown": {"sms": {"HIGH": "resend"}}})
    with pytest.raises(HaloError, match="on_unknown"):
        parse_config({"on_unknown": {"sms": "maybe"}})


# -- a send that raises -----------------------------------------------------------------------


def test_a_message_whose_send_raises_ends_provider_error_and_the_rest_of_the_batch_is_sent(fakes, providers_file, halo_store):
    """A lone surrogate makes the Twilio form encoding raise; a row whose content is not a mapping
    makes building the request raise. Before, the first was retried until `lost` and the second
    stopped the drain with the whole batch leased (sent again after the lease)."""
    config = twilio_only(fakes, providers_file)
    enqueue_many("sms", ({"to": "+33612345678", "body": f"fine {i}", "priority": "LOW"} for i in range(5)), store=halo_store, providers=config)
    with STORE.write() as conn:
        conn.execute(Message.__table__.insert(), [crafted_row("bad-surrogate", "sms", "+33612345678", {"body": "code \ud800"}),
                                                  crafted_row("bad-content", "sms", "+33612345678", ["not", "a", "mapping"])])
    stats = Dispatcher(config, halo_store).drain(["sms"])
    assert stats.claimed == 7
    with STORE.read() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(Message).where(Message.id.in_(["bad-surrogate", "bad-content"])))}
    assert {k: (r.status, r.lease_owner) for k, r in rows.items()} == {"bad-surrogate": ("provider_error", None), "bad-content": ("provider_error", None)}
    assert statuses() == Counter({"sent": 5, "provider_error": 2})
    details = events_of_detail("bad-surrogate")
    assert details and all("+33612345678" not in d and "\ud800" not in d for d in details)
    assert Dispatcher(config, halo_store, clock=later(LEASE + 1)).run_once("sms").claimed == 0


def events_of_detail(message_id: str) -> list[str]:
    with STORE.read() as conn:
        return [d or "" for d in conn.execute(sa.select(MessageEvent.detail).where(MessageEvent.message_id == message_id, MessageEvent.event != "queued")).scalars()]


def test_a_high_message_whose_send_raises_is_recorded_provider_error_not_left_leased(fakes, providers_file, halo_store):
    config = twilio_only(fakes, providers_file)
    now = utcnow()
    with STORE.write() as conn:
        conn.execute(Message.__table__.insert(), [crafted_row("otp-bad", "sms", "+33612345678", {"body": "otp \udfff"}, "HIGH",
                                                              lease_owner="api:otp-bad", lease_until=now + dt.timedelta(seconds=60))])
    with STORE.read() as conn:
        stored = Claimed._make(conn.execute(sa.select(*(Message.__table__.c[name] for name in Claimed._fields)).where(Message.id == "otp-bad")).one())
        route = high_route("sms", "FR", "TEXT", config.config(), conn, config, random.Random(1))
    view = send_high(stored, route, halo_store, config)
    assert view is not None and (view["status"], view["provider"]) == ("provider_error", None)
    with STORE.read() as conn:
        row = conn.execute(sa.select(Message).where(Message.id == "otp-bad")).one()
    assert (row.status, row.lease_owner, row.in_flight_at) == ("provider_error", None, None)
    assert Dispatcher(config, halo_store, clock=later(LEASE + 120)).run_once("sms").claimed == 0
    assert fakes["twilio"].accepted.snapshot() == []


def test_a_message_is_sent_only_under_the_claim_that_holds_it_and_its_marker_renews_the_lease(fakes, providers_file, halo_store):
    """A batch slower than its lease: a message already in flight keeps its lease (a later
    claim does not take it for a dead sender's), and a message claimed again meanwhile is no
    longer marked (so sent) under the old claim."""
    config = twilio_only(fakes, providers_file)
    enqueue_many("sms", ({"to": "+33612345678", "body": f"slow {i}", "priority": "LOW"} for i in range(2)), store=halo_store, providers=config)
    t0 = utcnow()
    with STORE.write() as conn:
        first, second = claim(conn, "sms", "run:slow", 10, t0, 1)
        assert mark_in_flight(conn, "run:slow", [(first.id, "tw", first.lease_until)], t0, t0 + dt.timedelta(seconds=60)) == {first.id}
    with STORE.write() as conn:
        again = claim(conn, "sms", "run:slow", 10, t0 + dt.timedelta(seconds=2), 1)
        assert [r.id for r in again] == [second.id]
        assert mark_in_flight(conn, "run:slow", [(second.id, "tw", second.lease_until)], t0 + dt.timedelta(seconds=2)) == set()
        assert mark_in_flight(conn, "run:slow", [(second.id, "tw", again[0].lease_until)], t0 + dt.timedelta(seconds=2)) == {second.id}


# -- a lease that ends while its request is in flight -------------------------------------------


@pytest.mark.parametrize(("lease", "timeouts", "refused"), [
    (1, {"tw": 6}, True),  # the lease ended 2 s into a request answered after 3 s: a second dispatcher took the message
    (15, {"tw": 6}, True),  # not longer than the timeout plus the margin
    (16.5, {"tw": 6}, False),
    (20, {}, True),  # a provider's default timeout (10 s) counts
    (21, {}, False),
    (25, {"tw": 2, "vo": 15}, True),  # the largest timeout counts
    (120, {"tw": 2, "vo": 15}, False),
])
def test_a_lease_not_longer_than_the_largest_provider_timeout_plus_a_margin_is_refused(lease, timeouts, refused):
    """A lease shorter than a request's timeout lets a second dispatcher take a message whose
    request is still in flight: it ended `lost` although the provider accepted it (on_unknown
    lost), or the provider accepted it twice (resend). The providers file is refused with one
    error naming both settings."""
    providers = {name: {"kind": "sandbox", "channel": "sms", **({"timeout_seconds": timeouts[name]} if name in timeouts else {})}
                 for name in (timeouts or {"tw": None})}
    data = {"providers": providers, "lease_seconds": lease}
    if not refused:
        assert parse_config(data).lease_seconds == lease
        return
    with pytest.raises(HaloError, match=r"lease_seconds .* must be longer than .*timeout_seconds") as caught:
        parse_config(data)
    assert "\n" not in str(caught.value)


# -- an uncertain message pinned to its provider ---------------------------------------------------


@pytest.fixture
def second_onesignal(fakes):  # noqa: ANN001, ANN201
    """A second OneSignal app (its own fake), beside `fakes["onesignal"]`."""
    from halo_platform.lab.provider_fakes import onesignal_fake

    fake = onesignal_fake().start()
    yield fake
    fake.close()


def push_once(config, store, clock):  # noqa: ANN001, ANN201
    """One `run_once("push")` of a new dispatcher on `clock`; its stats."""
    dispatcher = Dispatcher(config, store, clock=clock)
    try:
        return dispatcher.run_once("push")
    finally:
        dispatcher.close()


def pin_of(store: StoreResource) -> tuple[str, str | None, bool]:
    """The one message's status, provider and whether it keeps its in-flight marker (its pin)."""
    with store.read() as conn:
        kept = conn.execute(sa.select(Message.status, Message.provider, Message.in_flight_at)).one()
    return kept.status, kept.provider, kept.in_flight_at is not None


def accepted_by_os1_then_its_sender_died(fakes, second_onesignal, providers_file, store, **settings):  # noqa: ANN001, ANN003, ANN201
    """Two OneSignal apps (os1, os2) routed half and half; one push queued, marked in flight to os1 by
    a dispatcher that dies after os1 accepted the request. Returns the providers resource."""
    from halo_platform.core.write_lock import writing
    from halo_platform.delivery.providers.base import Outgoing

    def onesignal(fake):  # noqa: ANN001, ANN202
        return {"kind": "onesignal", "channel": "push", "base_url": fake.url, **SECRETS["onesignal"], "max_concurrency": 1, "timeout_seconds": 2}

    config = providers_file({"os1": onesignal(fakes["onesignal"]), "os2": onesignal(second_onesignal)},
                            [{"channel": "push", "country": "*", "capability": "*", "weights": {"os1": 1, "os2": 1}}], lease_seconds=15, **settings)
    enqueue_many("push", [{"to": "device_token_123456", "title": "t", "body": "hello", "priority": "LOW"}], store=store, providers=config)
    now = utcnow()
    with writing(store) as conn:
        (row,) = claim(conn, "push", "run:dead", 10, now, 15)
        assert mark_in_flight(conn, "run:dead", [(row.id, "os1", row.lease_until)], now)
    assert config.build(config.config().providers["os1"]).send_batch([Outgoing.from_row(row)], 2)[0].outcome == "acknowledged"
    return config


def test_an_uncertain_message_pinned_to_a_paused_provider_keeps_its_pin_and_is_never_sent_by_another(fakes, second_onesignal, providers_file,
                                                                                                        halo_store):
    """A message a dead dispatcher left in flight to OneSignal (which dedupes by idempotency key)
    goes back to that provider. When that provider was paused (a 429), the requeue cleared the
    in-flight marker, the next claim routed the message freshly and a second OneSignal app sent
    it too. A pinned message that goes back to the queue keeps its marker and provider: it waits
    for its provider, which then drops the copy by its key."""
    from halo_platform.delivery.tables import ProviderState
    from halo_platform.delivery.throttle import pause

    os1, os2 = fakes["onesignal"], second_onesignal
    config = accepted_by_os1_then_its_sender_died(fakes, os2, providers_file, halo_store)
    pause(halo_store, "os1", 60)
    dispatcher = Dispatcher(config, halo_store, clock=later(20))
    try:
        for _ in range(3):  # reclaimed, pinned to the paused os1: back to the queue each time
            dispatcher.run_once("push")
        assert pin_of(halo_store) == ("queued", "os1", True)
        assert os2.request_count == 0
        with halo_store.write() as conn:  # the pause ends
            conn.execute(sa.update(ProviderState).where(ProviderState.provider == "os1").values(paused_until=None))
        dispatcher.run_once("push")
    finally:
        dispatcher.close()
    with halo_store.read() as conn:
        assert conn.execute(sa.select(Message.status, Message.provider)).one() == ("sent", "os1")
    assert (len(os1.accepted), len(os2.accepted), os2.request_count) == (1, 0, 0)


def test_an_uncertain_message_pinned_to_its_provider_keeps_its_pin_through_quiet_hours(fakes, providers_file, halo_store):
    """The quiet-hours requeue of a reclaimed pinned message cleared its marker too: after the
    quiet hours it was routed freshly. It keeps its marker and provider."""
    from halo_platform.core.write_lock import writing
    from halo_platform.delivery.quiet_hours import recipient_zones

    local = utcnow().astimezone(recipient_zones("push", "device_token_123456", "FR", None)[0])
    window = {"start": f"{local - dt.timedelta(hours=1):%H:%M}", "end": f"{local + dt.timedelta(hours=1):%H:%M}"}
    config = providers_file({"os1": {"kind": "onesignal", "channel": "push", "base_url": fakes["onesignal"].url, **SECRETS["onesignal"],
                                     "timeout_seconds": 2},
                             "fcm": {"kind": "fcm", "channel": "push", "base_url": fakes["fcm"].url, **SECRETS["fcm"], "timeout_seconds": 2}},
                            [{"channel": "push", "country": "*", "capability": "*", "weights": {"os1": 1, "fcm": 1}}], lease_seconds=15,
                            quiet_hours={"push": window})
    message_id = str(uuid.uuid4())
    with halo_store.write() as conn:
        conn.execute(sa.insert(Message), [crafted_row(message_id, "push", "device_token_123456", {"title": "t", "body": "hello"})])
    now = utcnow()
    with writing(halo_store) as conn:
        (row,) = claim(conn, "push", "run:dead", 10, now, 15)
        assert mark_in_flight(conn, "run:dead", [(row.id, "os1", row.lease_until)], now)
    assert push_once(config, halo_store, later(20)).by_status == {"held": 1}
    assert pin_of(halo_store) == ("queued", "os1", True)
    assert fakes["fcm"].request_count == 0 and fakes["onesignal"].request_count == 0


def test_an_uncertain_message_pinned_to_its_provider_keeps_its_pin_through_a_retryable_error(fakes, second_onesignal, providers_file, every_store):
    """A pinned message whose provider answered the re-send with a retryable error (a 503) became
    `retry_scheduled` without its marker, and the retry, which avoids the provider that just
    failed, went to the other OneSignal app: the recipient got the message twice (the first
    request had been accepted). It keeps its marker and provider until that provider answers."""
    os1, os2 = fakes["onesignal"], second_onesignal
    config = accepted_by_os1_then_its_sender_died(fakes, os2, providers_file, every_store, retry={"max_retries": 3, "backoff_seconds": [5]})
    os1.set_switches(failure_rate=1.0)  # os1 answers the re-send 503, without Retry-After
    assert push_once(config, every_store, later(20)).by_status == {"retry_scheduled": 1}
    assert pin_of(every_store) == ("retry_scheduled", "os1", True)
    os1.set_switches(failure_rate=0.0)
    for _ in range(5):  # whichever provider the draw would have picked
        push_once(config, every_store, later(60))
    assert pin_of(every_store) == ("sent", "os1", False)
    assert (len(os1.accepted), len(os2.accepted), os2.request_count) == (1, 0, 0)  # os1 dropped the copy by its key


def test_an_opt_out_ends_a_pinned_message_waiting_for_its_retry(fakes, second_onesignal, providers_file, halo_store):
    """A pinned message waiting for its retry keeps its in-flight marker (the test above), and an
    opt-out ended only messages without one: the retry then sent it to a recipient who had opted
    out. A marker without a lease is a message waiting in the queue, not one on the wire."""
    from halo_platform.delivery.suppressions import suppress

    os1 = fakes["onesignal"]
    config = accepted_by_os1_then_its_sender_died(fakes, second_onesignal, providers_file, halo_store, retry={"max_retries": 3, "backoff_seconds": [5]})
    os1.set_switches(failure_rate=1.0)
    assert push_once(config, halo_store, later(20)).by_status == {"retry_scheduled": 1}
    assert pin_of(halo_store) == ("retry_scheduled", "os1", True)
    assert suppress(halo_store, "push", "device_token_123456", reason="STOP")["ended"] == 1
    os1.set_switches(failure_rate=0.0)
    sent_before = os1.request_count
    push_once(config, halo_store, later(60))
    assert pin_of(halo_store)[0] == "suppressed" and os1.request_count == sent_before
