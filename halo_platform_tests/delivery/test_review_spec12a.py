"""Spec review of the providers' wire formats (providers.md), against the real HTTP fakes on 127.0.0.1."""

from __future__ import annotations

from halo_platform.delivery.dispatch import call_provider
from halo_platform.delivery.providers.base import ACKNOWLEDGED, RETRYABLE, THROTTLED
from halo_platform_tests.delivery.conftest import outgoing


def test_an_fcm_internal_error_with_retry_after_pauses_the_provider_for_that_time(fakes, make_provider):
    """providers.md: FCM's `INTERNAL` 500 is retried honouring `Retry-After` (as `UNAVAILABLE` 503);
    delivery.md: a Retry-After pauses the provider without counting as a transmission error."""
    fake = fakes["fcm"]
    internal = {"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL", "details": [
        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "INTERNAL"}]}}
    fake.set_switches(failure_rate=1.0, failure_response=(500, {"Retry-After": "7"}, internal))
    [result] = call_provider(make_provider("fcm", fake), [outgoing("push")])
    assert (result.outcome, result.retry_after) == (THROTTLED, 7.0), result


def test_an_smtp_relay_answering_auth_with_a_4yz_is_retried_not_a_configuration_error(smtp_server, make_provider):
    """providers.md: an SMTP `4yz` is retried; only an authentication failure (535) is a
    configuration error. A relay whose authentication backend is down for a moment answers AUTH
    with RFC 4954's 454 (or 421 as it closes): the message was not taken and may go out later."""
    provider = make_provider("smtp", smtp_server, name="smtp_auth_454", host="127.0.0.1", port=smtp_server.port,
                             username=smtp_server.username, password=smtp_server.password)
    smtp_server.switches.auth_reply = "454 4.7.0 Temporary authentication failure"
    result = provider.send(outgoing("email"))
    assert result.outcome == RETRYABLE, result.detail
    smtp_server.switches.auth_reply = None
    assert provider.send(outgoing("email")).outcome == ACKNOWLEDGED
    assert len(smtp_server.messages) == 1
