"""Delivery review 20b: a HIGH message every provider of its route passed over for its rate limit;
a receipt from a provider that had the message before another one took it; the Messages page's
status badges; the OpenAPI document of GET /graphql."""

from __future__ import annotations

from halo_platform.delivery.throttle import Tokens
from halo_platform_tests.delivery.test_review_deliv20 import NUMBER, PASSED_OVER, high_sms, sms_providers


def test_a_high_message_every_provider_passed_over_for_its_rate_limit_ends_with_the_reason(fakes, providers_file, halo_store):
    """delivery.md: a retryable failure (a 429 among them) re-queues the message with
    number_of_retries + 1 and the next backoff; a HIGH message whose providers all asked us to wait
    ends `retry_scheduled` saying so. One whose providers were all passed over for their own rate
    limit (no token left: the provider's limit, kept on our side) was left `queued` with 'no provider
    available', no retry counted, as if its route had no provider at all: the API answered 201
    `queued` with no provider and nothing said why. It ends as a 429 from each would have left it."""
    providers = sms_providers(fakes, providers_file, rate_per_second=0.2)
    for name in ("tw", "vo"):
        assert Tokens(halo_store).take(name, 0.2, 1, batch=False) == 1  # both buckets are spent
    view, events = high_sms(providers, halo_store)
    assert (view["status"], view["provider"], view["number_of_retries"]) == ("retry_scheduled", "vo", 1), view
    assert [(e["event"], e["provider"], e["detail"]) for e in events] == [
        ("queued", None, "HIGH"), ("retry_scheduled", "tw", PASSED_OVER),
        ("retry_scheduled", "vo", f"every provider failed within the deadline; {PASSED_OVER}")], events
    assert fakes["twilio"].request_count == 0 and fakes["vonage"].request_count == 0
    assert NUMBER not in str(events)
