"""Reports review 18: the "Beyond the first version" behaviours against inputs and servers the
other tests do not try. Real sockets on 127.0.0.1."""

from __future__ import annotations

import json
import time

import pytest

from halo_platform.reports.task import get_task
from halo_platform.sinks import Delivery
from halo_platform.sinks.base import deliver_with_retries
from halo_platform.sinks.slack import SlackSink
from halo_platform.sinks.webhook import WebhookSink
from halo_platform_tests.delivery.test_review_webhooks_9 import TricklingReceiver


@pytest.mark.parametrize("kind", ["webhook", "slack"])
def test_a_receiver_trickling_its_headers_is_given_up_at_the_sinks_timeout(kind):
    """httpx's timeout holds for each read: a receiver sending its answer's head a line every
    0.5 s held a webhook or Slack sink with a 1 s timeout for the 20 s it took (for good, had it
    gone on), and the report's run and the sinks after it with it. As delivery's status webhooks,
    the request now has a deadline of its own: no answer within 1 s. The webhook (deduplicated by
    its delivery_id) is retried and the receiver's next answer delivers it; the Slack post, which
    the channel may have shown, fails once."""
    receiver = TricklingReceiver(slow=1, every=0.5, lines=40)
    try:
        sink = (WebhookSink(url=receiver.url, secret="s" * 32, timeout=1) if kind == "webhook"
                else SlackSink(webhook_url=receiver.url, timeout=1))
        started = time.monotonic()
        outcome = deliver_with_retries("ops", sink, Delivery("[halo] report", "ready"), attempts=2, backoff_seconds=(0.0,))
        took = time.monotonic() - started
    finally:
        receiver.close()
    assert took < 4, f"held {took:.1f} s"
    first_error = outcome.tries[0]["error"]
    assert "no answer within 1 s" in first_error, first_error
    if kind == "webhook":
        assert (outcome.status, outcome.attempts, receiver.connections) == ("DELIVERED", 2, 2), outcome.detail
    else:
        assert (outcome.status, outcome.attempts, outcome.maybe_delivered, receiver.connections) == ("FAILED", 1, True, 1)


@pytest.mark.parametrize("zero", ["-0", -0.0, "-0.0", "-0e5", "0"])
def test_a_number_of_minus_zero_is_carried_as_zero(zero):
    """A money amount of `-0` is carried as "0.00" (test_request_edges); a number's was not:
    `{"rearm_hours": "-0"}` passed `ge=0` and was carried as -0.0, which the audit row, the run's
    payload and `halo tasks log` showed as `"rearm_hours": -0.0`."""
    wire = get_task("campaign_alerts").wire_payload({"rearm_hours": zero})
    assert json.dumps(wire) == '{"rearm_hours": 0.0}'
