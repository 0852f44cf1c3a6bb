"""Delivery review 7: message delivery's outside edges against the real provider fakes.

Pinned here: a Twilio error answer whose body is JSON but not an object (`null`, a list, a
string, a bare number: what a gateway in front of the API may put in a 503) made the Twilio
client raise, and the message ended `provider_error` "not re-sent": a 503 that should have been
retried (failed over, for a HIGH message) lost it. Vonage's and Mailjet's 200 answers holding
something else than objects likewise raised instead of being the unknown outcome of a 2xx."""

from __future__ import annotations

import pytest

from halo_platform.delivery.dispatch import call_provider
from halo_platform.delivery.providers.base import PERMANENT, RETRYABLE, UNKNOWN, Outgoing
from halo_platform.delivery.service import submit
from halo_platform.lab.provider_fakes import SECRETS

SMS = Outgoing(id="m1", channel="sms", recipient="+33612345678", body="code 123456")
EMAIL = Outgoing(id="m2", channel="email", recipient="ada@example.com", body="b", subject="s")
NOT_OBJECTS = [b"null", b"[]", b'"service unavailable"', b"503", b'["busy"]']


def answering(fake, status: int, body: bytes) -> None:  # noqa: ANN001
    fake.set_switches(failure_rate=1.0, failure_response=(status, {"Content-Type": "application/json"}, body))


@pytest.mark.parametrize("body", NOT_OBJECTS)
def test_a_twilio_5xx_whose_json_body_is_no_object_is_retryable_and_a_4xx_permanent(fakes, make_provider, body):
    provider = make_provider("twilio", fakes["twilio"])
    answering(fakes["twilio"], 503, body)
    result = call_provider(provider, [SMS])[0]
    assert (result.outcome, result.http_status) == (RETRYABLE, 503), result
    answering(fakes["twilio"], 400, body)
    result = call_provider(provider, [SMS])[0]
    assert (result.outcome, result.http_status) == (PERMANENT, 400), result
    assert "raised" not in result.detail


def test_a_high_sms_fails_over_when_twilio_answers_503_with_a_json_null(fakes, providers_file, halo_store):
    providers = providers_file({
        "tw": {"kind": "twilio", "channel": "sms", "countries": ["FR"], "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"},
        "vo": {"kind": "vonage", "channel": "sms", "countries": ["FR"], "base_url": fakes["vonage"].url, **SECRETS["vonage"]},
    }, [{"channel": "sms", "country": "FR", "capability": "*", "weights": {"tw": 1_000_000, "vo": 1}}])
    answering(fakes["twilio"], 503, b"null")
    sent = []
    for i in range(3):  # tw is drawn first nearly always
        view, _ = submit("sms", {"to": "+33612345678", "body": f"code {i}", "priority": "HIGH"}, store=halo_store, providers=providers)
        sent.append((view["status"], view["provider"]))
    assert sent == [("sent", "vo")] * 3
    assert len(fakes["vonage"].accepted) == 3


@pytest.mark.parametrize(("kind", "message", "body"), [("vonage", SMS, b'{"message-count": "1", "messages": ["0"]}'),
                                                        ("mailjet", EMAIL, b'{"Messages": ["success"]}')])
def test_a_200_whose_answers_are_no_objects_is_an_unknown_outcome(fakes, make_provider, kind, message, body):
    provider = make_provider(kind, fakes[kind])
    answering(fakes[kind], 200, body)
    result = call_provider(provider, [message])[0]
    assert (result.outcome, result.http_status) == (UNKNOWN, 200), result
