"""A webhook post whose answer came too late is retried, and the receiver may then hold it twice:
every attempt of one delivery carries the same `delivery_id` (body) and `Idempotency-Key`
(header), so the receiver keeps one; a report's delivery to a sink keeps its id when a re-execution
of the request sends it again."""

from __future__ import annotations

import threading
import time

from halo_platform.core.webhook_signature import sign
from halo_platform.lab.fakehttp import FakeHTTPServer
from halo_platform.sinks import Delivery
from halo_platform.sinks.base import deliver_with_retries
from halo_platform.sinks.webhook import WebhookSink

SECRET = "whsec-test"


def _late_then_quick(http_fake: FakeHTTPServer, late: int = 1) -> None:
    seen = []
    lock = threading.Lock()

    def hook(request):  # noqa: ANN001, ANN202
        with lock:
            seen.append(request)
            first = len(seen) <= late
        if first:
            time.sleep(1.0)  # taken, but answered after the sender's read timed out
        return 200, {"ok": True}

    http_fake.add_route("POST", "/hook", hook)


def test_every_attempt_of_one_webhook_delivery_carries_the_same_delivery_id(http_fake: FakeHTTPServer):
    _late_then_quick(http_fake)
    sink = WebhookSink(url=f"{http_fake.url}/hook", secret=SECRET, timeout=0.3)
    outcome = deliver_with_retries("hook", sink, Delivery("budget alert", "over budget"), attempts=3, backoff_seconds=(0.0,))
    assert (outcome.status, outcome.attempts) == ("DELIVERED", 2), outcome.detail
    posts = http_fake.requests.wait_for(2, timeout=5)
    ids = {post.json()["delivery_id"] for post in posts}
    assert len(ids) == 1 and {post.headers["Idempotency-Key"] for post in posts} == ids
    assert all(post.headers["X-Halo-Signature"] == sign(SECRET, post.body) for post in posts)  # the id is signed with the rest

    deliver_with_retries("hook", sink, Delivery("budget alert", "over budget"), attempts=1)
    (again,) = http_fake.requests.wait_for(3, timeout=5)[2:]
    assert again.json()["delivery_id"] not in ids  # another delivery, another id


def test_a_report_delivery_sent_again_to_a_sink_by_a_reexecution_keeps_its_id(http_fake: FakeHTTPServer, tmp_path):
    from halo_platform.reports.assets import delivery_for

    http_fake.add_route("POST", "/hook", lambda request: (200, {"ok": True}))
    sink = WebhookSink(url=f"{http_fake.url}/hook", secret=SECRET)
    first, retried, other_sink, other_request = (delivery_for(Delivery("r", "t"), root, name) for root, name in
                                                 (("req-1", "hook"), ("req-1", "hook"), ("req-1", "hook2"), ("req-2", "hook")))
    for delivery in (first, retried, other_sink, other_request):
        assert deliver_with_retries("hook", sink, delivery, attempts=1).status == "DELIVERED"
    ids = [post.json()["delivery_id"] for post in http_fake.requests.wait_for(4, timeout=5)]
    assert ids[0] == ids[1] and len(set(ids)) == 3
