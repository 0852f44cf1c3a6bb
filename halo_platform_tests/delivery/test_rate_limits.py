"""Per-provider rate limits against the real HTTP fakes: a provider's 429 with `Retry-After`
pauses it for every dispatcher (the messages go out afterwards, none lost or sent twice, the
autopilot's error rate untouched), a `rate_per_second` bucket shared by two dispatchers holds,
and a HIGH message passes a throttled provider over for the next."""

from __future__ import annotations

import collections
import datetime as dt
import email.message
import email.utils
import random
import threading
import time

import pytest
import sqlalchemy as sa

from halo_platform.core.models import utcnow
from halo_platform.core.write_lock import writing
from halo_platform.delivery.autopilot import window_stats
from halo_platform.delivery.dispatch import Dispatcher, call_provider
from halo_platform.delivery.providers.base import THROTTLED, asked_pause
from halo_platform.delivery.providers.wire import Reply
from halo_platform.delivery.service import enqueue_many, submit
from halo_platform.delivery.tables import DeliveryAttempt, Message, MessageEvent, ProviderState
from halo_platform.delivery.throttle import BURST_SECONDS, Tokens
from halo_platform.lab.fakehttp import FakeHTTPServer
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.conftest import outgoing


def reply(status: int, retry_after: str | None = None) -> Reply:
    headers = email.message.Message()
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return Reply(status, headers, b"{}")


@pytest.mark.parametrize(("status", "header", "pause"), [
    (429, "2", 2.0), (429, "2.5", 2.5), (429, "0", 1.0), (429, None, 1.0), (429, "soon", 1.0), (429, "86400", 3600.0), (429, "-5", 1.0),
    (503, "3", 3.0), (503, None, None), (500, "3", 3.0), (502, None, None), (200, "3", None),
    (429, "Wed, 21 Oct 2015 07:28:00 GMT", 1.0), (503, "Fri, 31 Dec 9999 23:59:59 GMT", 3600.0),
    (429, "nan", 1.0), (503, "nan", None), (429, "inf", 1.0),  # a pause of nan seconds was taken
])
def test_the_pause_an_answer_asks_for(status, header, pause):  # noqa: ANN001
    assert asked_pause(reply(status, header)) == pause


def test_a_retry_after_date_is_the_time_left_until_it():
    soon = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30), usegmt=True)
    assert 25 <= asked_pause(reply(429, soon)) <= 30


def test_sendgrids_x_ratelimit_reset_is_the_time_left_until_it(make_provider) -> None:
    """SendGrid says when its limit resets (a Unix time), not Retry-After: the provider was paused 1 s."""
    server = FakeHTTPServer()
    reset = int(time.time()) + 120

    @server.route("POST", r"/v3/mail/send")
    def limited(request) -> tuple:  # noqa: ANN001, ARG001
        return 429, {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}, {"errors": [{"message": "too many requests"}]}

    server.start()
    try:
        [result] = call_provider(make_provider("sendgrid", server), [outgoing("email")])
    finally:
        server.close()
    assert result.outcome == THROTTLED and 110 <= result.retry_after <= 120


def push_config(providers_file, fakes, weights=None, retry=None, **onesignal):  # noqa: ANN001, ANN003, ANN201
    providers = {
        "os": {"kind": "onesignal", "channel": "push", "base_url": fakes["onesignal"].url, **SECRETS["onesignal"], "timeout_seconds": 2, **onesignal},
        "fcm": {"kind": "fcm", "channel": "push", "base_url": fakes["fcm"].url, **SECRETS["fcm"], "timeout_seconds": 2},
    }
    routing = [{"channel": "push", "country": "*", "capability": "*", "weights": weights or {"os": 1}}]
    return providers_file(providers, routing, **({"retry": retry} if retry else {}))


def pushes(n: int, priority: str = "LOW") -> list[dict]:
    return [{"to": f"device_user_{i:04d}", "title": "Reminder", "body": f"see you at {i}", "priority": priority} for i in range(n)]


def statuses(store) -> dict[str, int]:  # noqa: ANN001
    with store.read() as conn:
        return dict(conn.execute(sa.select(Message.status, sa.func.count()).group_by(Message.status)).all())


def drain_until_sent(config, store, n: int, timeout: float) -> None:  # noqa: ANN001
    """Drain again while messages wait out a pause (a drain returns when nothing is due)."""
    deadline = time.monotonic() + timeout
    dispatcher = Dispatcher(config, store, batch_size=50)
    try:
        while statuses(store).get("sent", 0) < n and time.monotonic() < deadline:
            dispatcher.drain(["push"], timeout=timeout)
            time.sleep(0.1)
    finally:
        dispatcher.close()


def test_a_429_with_retry_after_pauses_the_provider_and_the_messages_go_out_afterwards(fakes, providers_file, halo_store):
    fake = fakes["onesignal"]
    config = push_config(providers_file, fakes, retry={"backoff_seconds": [1]}, max_concurrency=2)
    enqueue_many("push", pushes(20), store=halo_store, providers=config)
    started = utcnow()
    fake.throttle(2)
    drain_until_sent(config, halo_store, 20, timeout=15)

    assert statuses(halo_store) == {"sent": 20}
    with halo_store.read() as conn:  # a refused one was retried (a retry counted) after the pause and its backoff
        retried = conn.execute(sa.select(sa.func.count()).where(Message.number_of_retries == 1)).scalar_one()
    assert retried == fake.status_counts[429]
    assert len(fake.accepted) == 20 and fake.duplicates() == []
    # only the requests already on their way when the first 429 came back were refused
    assert 1 <= fake.status_counts[429] <= 2
    with halo_store.read() as conn:
        attempts = conn.execute(sa.select(DeliveryAttempt.outcome, DeliveryAttempt.at).order_by(DeliveryAttempt.at)).all()
        paused_until = conn.execute(sa.select(ProviderState.paused_until).where(ProviderState.provider == "os")).scalar_one()
        stats = window_stats(conn, started - dt.timedelta(seconds=1), utcnow())
    throttled = [at for outcome, at in attempts if outcome == "throttled"]
    sent = [at for outcome, at in attempts if outcome == "acknowledged"]
    assert len(throttled) == fake.status_counts[429] and len(sent) == 20
    assert 1.9 <= (paused_until - throttled[0]).total_seconds() <= 2.5
    assert (min(sent) - throttled[0]).total_seconds() >= 1.9
    # the autopilot sees 20 attempts and no error: a throttle is not a transmission error
    assert stats["os"] == (20, 0)


def test_a_high_message_passes_a_throttled_provider_over_for_the_next(fakes, providers_file, halo_store):
    fakes["onesignal"].throttle(5)
    config = push_config(providers_file, fakes, weights={"os": 1000, "fcm": 1})
    view, _ = submit("push", {**pushes(1, "HIGH")[0]}, store=halo_store, providers=config, rng=random.Random(1))
    assert view["status"] == "sent" and view["provider"] == "fcm"
    assert fakes["onesignal"].status_counts[429] == 1 and len(fakes["fcm"].accepted) == 1
    with halo_store.read() as conn:
        assert conn.execute(sa.select(ProviderState.paused_until).where(ProviderState.provider == "os")).scalar_one() > utcnow()
    # the next HIGH does not ask the paused provider at all
    view, _ = submit("push", {**pushes(1, "HIGH")[0], "body": "again"}, store=halo_store, providers=config, rng=random.Random(1))
    assert view["provider"] == "fcm" and fakes["onesignal"].status_counts[429] == 1


def test_a_high_message_that_finds_no_token_goes_to_the_next_provider(fakes, providers_file, halo_store):
    config = push_config(providers_file, fakes, weights={"os": 1000, "fcm": 1}, rate_per_second=0.2)
    first, _ = submit("push", pushes(1, "HIGH")[0], store=halo_store, providers=config, rng=random.Random(1))
    second, _ = submit("push", {**pushes(1, "HIGH")[0], "body": "again"}, store=halo_store, providers=config, rng=random.Random(1))
    assert (first["status"], first["provider"]) == ("sent", "os")
    assert (second["status"], second["provider"]) == ("sent", "fcm")
    assert len(fakes["onesignal"].accepted) == 1 and len(fakes["fcm"].accepted) == 1


def test_a_rate_limit_holds_within_5_percent_with_two_dispatchers(fakes, providers_file, any_store):
    """The limit holds (at most 5% over) over 10 s with two dispatchers (50/s: 500 sends), measured from
    0.5 s after the first send. A window of 4 s was too short: the bucket's burst (0.5 s of the
    rate, dispatchers catching up after a stall) is up to 6% of it."""
    fake = fakes["onesignal"]
    rate, window = 50, 10.0
    config = push_config(providers_file, fakes, rate_per_second=rate, max_concurrency=4)
    enqueue_many("push", pushes(int(rate * (window + 1.5))), store=any_store, providers=config)
    total = int(rate * (window + 1.5))
    runs = [Dispatcher(config, any_store, batch_size=50, owner=f"run-{i}") for i in range(2)]
    threads = [threading.Thread(target=d.drain, args=(["push"],), kwargs={"timeout": 40}) for d in runs]
    for t in threads:
        t.start()
    fake.accepted.wait_for(1, timeout=5)
    time.sleep(0.5)
    first, t0 = len(fake.accepted), time.monotonic()
    time.sleep(window)
    last, t1 = len(fake.accepted), time.monotonic()
    for t in threads:
        t.join(60)
    for d in runs:
        d.close()
    measured = (last - first) / (t1 - t0)
    print(f"rate limit {rate}/s, two dispatchers on {sa.make_url(any_store.url).get_backend_name()}: {measured:.2f}/s over {t1 - t0:.2f} s")
    # never past the limit by more than 5%; below it, what a busy machine leaves the dispatchers
    # (CI, beside other tests: under 47.5/s once on PostgreSQL, 40.2/s on SQLite at load 8 beside
    # make run and the browser tests): at least 70% of it still comes, a limiter holding back a third fails
    assert 0.70 * rate <= measured <= 1.05 * rate
    assert len(fake.accepted) == total and fake.duplicates() == []
    assert statuses(any_store) == {"sent": total}


def drained(store, rate: float) -> Tokens:  # noqa: ANN001
    tokens = Tokens(store)
    while tokens.take("os", rate, 1000, batch=False):
        pass
    return tokens


def test_dispatchers_held_up_longer_than_a_batch_catch_up_on_the_tokens_they_missed(any_store):
    """A bucket that held only one batch (0.1 s) lost the rest of any longer pause between takes,
    which a busy machine makes (the rate test on PostgreSQL measured 45/50 per second)."""
    rate, started = 50.0, time.time()
    tokens = drained(any_store, rate)
    time.sleep(0.3)
    got = tokens.take("os", rate, 1000, batch=False)
    assert 14 <= got <= rate * (time.time() - started) + 1
    time.sleep(1.0)  # an idle spell: no more than BURST_SECONDS of the rate at once
    assert tokens.take("os", rate, 1000, batch=False) == int(rate * BURST_SECONDS)


def test_time_another_dispatcher_counted_while_a_take_waited_for_the_row_is_not_counted_again(any_store):
    rate = 50.0
    tokens = drained(any_store, rate)
    locked, done, counted_to = threading.Event(), threading.Event(), []

    def other_dispatcher() -> None:  # holds the row 0.3 s, then leaves 3 tokens counted at its end
        with writing(any_store) as conn:
            conn.execute(sa.select(ProviderState.bucket_at).where(ProviderState.provider == "os").with_for_update()).first()
            locked.set()
            time.sleep(0.3)
            counted_to.append(time.time())
            conn.execute(sa.update(ProviderState).where(ProviderState.provider == "os").values(bucket_tokens=3.0, bucket_at=counted_to[0]))
        done.set()

    thread = threading.Thread(target=other_dispatcher)
    thread.start()
    locked.wait(5)
    got = tokens.take("os", rate, 1000, batch=False)
    # waited for the row, took what the other left and what came since (not its 0.3 s, 15 tokens, again);
    # bounded by the time measured, not by 20 ms: a loaded machine took longer to get the row
    assert 3 <= got <= 3 + rate * (time.time() - counted_to[0]) + 1, got
    thread.join(5)
    assert done.is_set()
    assert tokens.take("os", rate, 1000, batch=False) <= 3  # the 0.3 s the other counted are not counted again


def test_a_message_that_expires_while_waiting_for_its_providers_rate_ends_expired_unsent(fakes, providers_file, halo_store):
    """Expiry was checked only when a batch was claimed: rows then waited in the provider's lane
    for rate tokens and were sent up to 3.4 s after their `expires_at`. A row is checked again
    just before it is admitted: past its time it ends `expired` and never reaches the provider."""
    config = providers_file({"tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"],
                                    "sender": "+33700000000", "max_concurrency": 1, "timeout_seconds": 2, "rate_per_second": 1}},
                            [{"channel": "sms", "country": "*", "capability": "*", "weights": {"tw": 1}}])
    dispatcher = Dispatcher(config, halo_store)  # built first: its start is no part of the messages' 2 s (CI, loaded: all 5 expired)
    expires = utcnow() + dt.timedelta(seconds=2)
    stamp = expires.isoformat().replace("+00:00", "Z")
    enqueue_many("sms", [{"to": "+33612345678", "body": f"m{i}", "priority": "LOW", "expires_at": stamp} for i in range(5)],
                 store=halo_store, providers=config)
    try:
        dispatcher.drain(["sms"], timeout=20)
    finally:
        dispatcher.close()

    with halo_store.read() as conn:
        final = dict(conn.execute(sa.select(Message.id, Message.status)).all())
        sent_at = conn.execute(sa.select(MessageEvent.at).where(MessageEvent.event == "sent")).scalars().all()
    counts = collections.Counter(final.values())
    # at 1/s, two or three leave before their expiry; the others expire in the lane
    assert set(counts) == {"sent", "expired"} and 1 <= counts["sent"] <= 3, counts
    assert len(fakes["twilio"].accepted) == counts["sent"]
    # a sent event is written when the answer comes: a loopback answer takes milliseconds
    assert all(at <= expires + dt.timedelta(seconds=0.25) for at in sent_at), [at - expires for at in sent_at]


def test_a_429_counts_a_retry_and_past_max_retries_the_message_is_lost(fakes, providers_file, halo_store):
    """delivery.md: a retryable failure (timeout, 429, 5xx) re-queues the message with
    `number_of_retries + 1` and the next backoff, and past `max_retries` it is `lost`. A 429
    re-queued it with no retry counted: a provider that kept answering 429 held it queued for good,
    retried after every pause, never `lost`."""
    fake = fakes["onesignal"]
    config = push_config(providers_file, fakes, retry={"max_retries": 1, "backoff_seconds": [1]})
    enqueue_many("push", pushes(1), store=halo_store, providers=config)
    fake.throttle(60)
    dispatcher = Dispatcher(config, halo_store, batch_size=10)
    try:
        dispatcher.drain(["push"], timeout=10)
        with halo_store.read() as conn:
            first = conn.execute(sa.select(Message.status, Message.number_of_retries)).one()
        with writing(halo_store) as conn:  # the pause and the backoff over: due again now
            conn.execute(sa.update(ProviderState).values(paused_until=None))
            conn.execute(sa.update(Message).values(next_attempt_at=utcnow()))
        dispatcher.drain(["push"], timeout=10)
    finally:
        dispatcher.close()
    with halo_store.read() as conn:
        second = conn.execute(sa.select(Message.status, Message.number_of_retries)).one()
    assert tuple(first) == ("retry_scheduled", 1)
    assert tuple(second) == ("lost", 1) and fake.status_counts[429] == 2
