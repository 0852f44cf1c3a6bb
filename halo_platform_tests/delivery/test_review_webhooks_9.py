"""Status webhooks against slow receivers and beside each other: a receiver that trickles its
answer's headers is given up at the request's deadline (not after the last header), a webhook
round ends near its `max_seconds`, and two deliverers at once (`halo delivery webhooks --deliver`
beside the Dagster job) POST each event once. Real sockets on 127.0.0.1; SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.delivery.tables import WebhookAttempt, WebhookClaim
from halo_platform.delivery.webhooks import backlog, deliver
from halo_platform.http import create_app
from halo_platform_tests.delivery.helpers import webhook_receiver
from halo_platform_tests.fixtures.access import bearer, make_key
from halo_platform_tests.servers.slow import SlowServer


def api_client(providers_file, store: StoreResource, monkeypatch) -> TestClient:  # noqa: ANN001
    """An API client on `store` whose key may send messages with a `callback_url`."""
    monkeypatch.setenv("HALO_WEBHOOKS_ALLOW_PRIVATE", "1")  # the receivers listen on 127.0.0.1
    providers = providers_file({"sb": {"kind": "sandbox", "channel": "sms"}})
    client = TestClient(create_app({"store": store, "providers": providers}))
    client.headers.update(bearer(make_key(client.app, "messages:send")))
    return client


@pytest.fixture
def sender(providers_file, halo_store, monkeypatch):  # noqa: ANN001, ANN201
    """(client, store) on the isolated platform's SQLite store."""
    return api_client(providers_file, halo_store, monkeypatch), halo_store


@pytest.fixture
def sender_on_every_store(providers_file, every_store, monkeypatch):  # noqa: ANN001, ANN201
    """(client, store) on SQLite, PostgreSQL, then MariaDB."""
    return api_client(providers_file, every_store, monkeypatch), every_store


def queue_messages(client: TestClient, url: str, count: int = 1) -> list[str]:
    """`count` messages asking for status webhooks at `url`: one `queued` event each."""
    return [client.post("/v1/messages/sms", json={"to": "+33612345678", "body": f"b {i}", "priority": "LOW", "callback_url": url}).json()["id"]
            for i in range(count)]


class TricklingReceiver(SlowServer):
    """A webhook receiver on a real socket that answers its first `slow` connections a header
    line every `every` seconds (each within a read timeout, `lines` of them), and later ones
    `204` at once."""

    def __init__(self, slow: int = 1, every: float = 0.5, lines: int = 40) -> None:
        super().__init__(slow, every, lines)
        self.url = f"http://127.0.0.1:{self.port}/hooks"

    def answer(self, conn: socket.socket, slow: bool) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)  # the request (head and body: small, sent at once)
                if not slow:
                    conn.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                    return
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                for i in range(self.lines):
                    if self.stopped.wait(self.every):
                        return
                    conn.sendall(f"X-Slow-{i}: still here\r\n".encode())
                conn.sendall(b"Content-Length: 0\r\n\r\n")
            except OSError:  # the deliverer hung up
                return


@pytest.fixture
def trickling() -> Iterator[TricklingReceiver]:
    receiver = TricklingReceiver()
    yield receiver
    receiver.close()


def attempts_of(store) -> list[tuple[bool, str | None]]:  # noqa: ANN001
    with store.read() as conn:
        return [tuple(row) for row in conn.execute(sa.select(WebhookAttempt.ok, WebhookAttempt.detail).order_by(WebhookAttempt.id))]


def test_a_receiver_trickling_its_headers_is_given_up_at_the_request_deadline_and_retried_later(sender, trickling):
    """Timeouts held for each read only: a header line every 0.5 s, within the 1 s read timeout,
    held the run for the 20 s the receiver took (and every other message's webhook with it). The
    request now has a deadline of its own: the attempt is a failure at 1 s, retried with backoff."""
    client, store = sender
    queue_messages(client, trickling.url)
    started = time.monotonic()
    assert deliver(store, timeout=1, max_seconds=10) == {"delivered": 0, "failed": 1, "messages": 1}
    assert time.monotonic() - started < 3
    assert attempts_of(store) == [(False, "no answer within 1 s")]
    later = utcnow() + dt.timedelta(seconds=11)  # the first retry is due after 10 s
    assert deliver(store, clock=lambda: later, timeout=1, max_seconds=10)["delivered"] == 1
    assert trickling.connections == 2 and backlog(store, later)["events"] == 0


@pytest.fixture
def slow_receiver() -> Iterator:
    """A receiver that answers 204 to every POST after 0.4 s (within any timeout here)."""
    with webhook_receiver() as server:
        server.latency_seconds = 0.4
        yield server


def test_a_webhook_round_ends_near_its_max_seconds_and_leaves_the_rest_for_the_next_run(sender, slow_receiver):
    """`max_seconds` was looked at between rounds only, and a round POSTs every due message: 30
    messages to a receiver answering in 0.4 s, 2 at a time, took 6 s with `max_seconds=1` (a real
    backlog, hours). No request starts after `max_seconds`; those started end within their timeout,
    and the events not tried wait for the next run, no attempt recorded for them."""
    client, store = sender
    queue_messages(client, f"{slow_receiver.url}/hooks", 30)
    started = time.monotonic()
    done = deliver(store, workers=2, max_seconds=1, timeout=2)
    assert time.monotonic() - started < 3.5
    assert 2 <= done["delivered"] <= 8 and done["failed"] == 0 and done["messages"] == done["delivered"]
    assert len(slow_receiver.got) == len(attempts_of(store)) == done["delivered"]
    waiting = backlog(store)
    assert waiting["events"] == waiting["due_messages"] == 30 - done["delivered"]


def test_two_deliverers_at_once_post_each_event_once(sender_on_every_store, slow_receiver):
    """`halo delivery webhooks --deliver` beside the Dagster job's run: both read the same events
    as pending and POSTed each of them, so the receiver got every event twice (24 POSTs for 12).
    A deliverer now claims a message before it POSTs its events, and reads them again under the
    claim: each event reaches the receiver once, whichever deliverer sends it."""
    client, store = sender_on_every_store
    queue_messages(client, f"{slow_receiver.url}/hooks", 12)
    other = StoreResource(db_url=store.url)  # as another process would have: an engine of its own
    start, results = threading.Barrier(2), []

    def run(on: StoreResource) -> None:
        start.wait()
        results.append(deliver(on, workers=4, max_seconds=20, timeout=5))

    threads = [threading.Thread(target=run, args=(on,)) for on in (store, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    other.dispose()
    posts = Counter(json.loads(body)["event_id"] for _signature, body in slow_receiver.got)
    assert len(posts) == 12 and set(posts.values()) == {1}, posts
    assert sum(r["delivered"] for r in results) == 12 and len(attempts_of(store)) == 12
    assert backlog(store)["events"] == 0


def test_a_message_claimed_by_a_deliverer_that_died_is_delivered_once_its_claim_has_ended(sender, slow_receiver):
    """A deliverer that dies leaves its claim: the message waits until the claim's lease ends
    (the other deliverer's run ends at once, it does not wait for it), then is taken over."""
    client, store = sender
    [message_id] = queue_messages(client, f"{slow_receiver.url}/hooks")
    now = utcnow()
    with store.write() as conn:
        conn.execute(WebhookClaim.__table__.insert().values(message_id=message_id, lease_owner="dead", lease_until=now + dt.timedelta(minutes=1)))
    started = time.monotonic()
    assert deliver(store, clock=lambda: now, max_seconds=5) == {"delivered": 0, "failed": 0, "messages": 0}
    assert time.monotonic() - started < 2 and slow_receiver.got == []
    later = now + dt.timedelta(minutes=1, seconds=1)
    assert deliver(store, clock=lambda: later, max_seconds=5) == {"delivered": 1, "failed": 0, "messages": 1}
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(WebhookClaim)).scalar_one() == 0  # released
