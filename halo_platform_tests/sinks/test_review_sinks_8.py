"""Sinks review 8: what a destination may already hold is not sent to it again, unless it can
tell the two apart (a webhook's delivery_id)."""

from __future__ import annotations

import threading
import time

import pytest

from halo_platform.lab.fakehttp import FakeHTTPServer
from halo_platform.sinks import Delivery
from halo_platform.sinks.base import TransientSinkError, deliver_with_retries
from halo_platform.sinks.slack import SlackSink
from halo_platform_tests.fixtures.halo_serve import free_port


def _answers_late_once(http_fake: FakeHTTPServer, path: str = "/slack") -> None:
    """The first post is taken but answered after the sender's read timeout; later ones at once."""
    seen = []
    lock = threading.Lock()

    def hook(request):  # noqa: ANN001, ANN202
        with lock:
            seen.append(request)
            first = len(seen) == 1
        if first:
            time.sleep(1.0)
        return 200, "ok"

    http_fake.add_route("POST", path, hook)


def test_a_slack_post_answered_too_late_is_not_posted_again(http_fake: FakeHTTPServer):
    """Slack's incoming webhooks keep no delivery key: a post the channel took but whose answer came
    after the timeout, sent again, showed the alert twice. Such a post fails once, permanently,
    saying the channel may have it; a post that never reached Slack is still retried."""
    _answers_late_once(http_fake)
    sink = SlackSink(webhook_url=f"{http_fake.url}/slack", timeout=0.3)
    outcome = deliver_with_retries("ops_slack", sink, Delivery("[halo ERROR] run failed", "boom"), attempts=3,
                                   backoff_seconds=(0.0,))
    time.sleep(1.0)  # the late answer is over: a second post would be in the log by now
    assert len(http_fake.requests) == 1, "the channel got the alert twice"
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 1, True)
    assert "may have it" in outcome.detail and "/slack" not in outcome.detail

    with pytest.raises(TransientSinkError, match="unreachable"):  # nothing listens: nothing was sent
        SlackSink(webhook_url=f"http://127.0.0.1:{free_port()}/slack", timeout=2).deliver(Delivery("r", "t"))
