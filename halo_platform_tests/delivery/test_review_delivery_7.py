"""Delivery review 7: message delivery's outside edges against the real provider fakes.

Pinned here: a Twilio error answer whose body is JSON but not an object (`null`, a list, a
string, a bare number: what a gateway in front of the API may put in a 503) made the Twilio
client raise, and the message ended `provider_error` "not re-sent": a 503 that should have been
retried (failed over, for a HIGH message) lost it. Vonage's and Mailjet's 200 answers holding
something else than objects likewise raised instead of being the unknown outcome of a 2xx.

Inbound STOPs and STARTs of one sender arriving at once (and `POST /v1/suppressions` beside
them) were a 500 on PostgreSQL: a STOP whose insert of the suppression conflicted with another's
tried once more, found the row lifted meanwhile by a START, inserted again and conflicted with a
third STOP; that opt-out was lost (the provider is answered 500). On MariaDB the same race (with
the API) deadlocked now and then, a 500 too: neither write was tried again.

An email address whose local part is longer than the 64 characters RFC 5321 allows was queued
(email_validator checks that only when strict): relays refuse it, and the masks of logs and
event details, which read at most 64 characters before the @, left its first characters in clear."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa

from halo_platform.core.redact import mask_text
from halo_platform.delivery.dispatch import call_provider
from halo_platform.delivery.providers.base import PERMANENT, RETRYABLE, UNKNOWN, Outgoing
from halo_platform.delivery.providers.twilio import twilio_signature
from halo_platform.delivery.service import submit
from halo_platform.delivery.suppressions import recipient_hash
from halo_platform.delivery.tables import InboundMessage, Message, Suppression
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.conftest import outgoing, twilio_then_vonage
from halo_platform_tests.delivery.test_review_callbacks_wire import served  # noqa: F401

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
    providers = twilio_then_vonage(fakes, providers_file)
    answering(fakes["twilio"], 503, b"null")
    sent = []
    for i in range(3):  # tw is drawn first nearly always
        view, _ = submit("sms", {"to": "+33612345678", "body": f"code {i}", "priority": "HIGH"}, store=halo_store, providers=providers)
        sent.append((view["status"], view["provider"]))
    assert sent == [("sent", "vo")] * 3
    assert len(fakes["vonage"].accepted) == 3


@pytest.mark.parametrize(("kind", "message", "body"), [("vonage", SMS, b'{"message-count": "1", "messages": ["0"]}'),
                                                        ("mailjet", EMAIL, b'{"Messages": ["success"]}'),
                                                        ("fcm", outgoing("push"), b'{"name": 5}'),
                                                        ("fcm", outgoing("push"), b'{"name": null}')])
def test_a_200_whose_answers_are_no_objects_is_an_unknown_outcome(fakes, make_provider, kind, message, body):
    provider = make_provider(kind, fakes[kind])
    answering(fakes[kind], 200, body)
    result = call_provider(provider, [message])[0]
    assert (result.outcome, result.http_status) == (UNKNOWN, 200), result


def test_stops_and_starts_of_one_sender_at_once_are_each_applied_on_every_store(served):  # noqa: F811
    """Real threads against the real HTTP app: every request is answered 200 and recorded once."""
    n, rounds = 12, 6
    for r in range(rounds):
        sender, barrier = f"+3361234560{r}", threading.Barrier(n)

        def one(i: int, sender: str = sender, barrier: threading.Barrier = barrier, r: int = r) -> tuple[int, str]:
            with httpx.Client(base_url=served.url, timeout=30) as http:
                if i % 4 == 3:  # the API beside the provider's webhooks
                    barrier.wait()
                    answer = http.post("/v1/suppressions", json={"channel": "sms", "to": sender, "scope": "all"}, headers=served.key)
                    return answer.status_code, answer.text
                pairs = [("MessageSid", f"SM{r:016d}{i:016d}"), ("AccountSid", SECRETS["twilio"]["account_sid"]), ("From", sender),
                         ("Body", "START" if i % 4 == 0 else "Stop")]
                signature = twilio_signature(SECRETS["twilio"]["auth_token"], f"{served.url}/v1/inbound/tw", pairs)
                barrier.wait()
                answer = http.post("/v1/inbound/tw", content=urlencode(pairs),
                                   headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})
                return answer.status_code, answer.text

        with ThreadPoolExecutor(n) as pool:
            answers = list(pool.map(one, range(n)))
        assert [status for status, _ in answers] == [201 if i % 4 == 3 else 200 for i in range(n)], answers
        with served.store.read() as conn:
            kept = conn.execute(sa.select(sa.func.count()).select_from(InboundMessage).where(InboundMessage.dedupe_key.like(f"twilio:SM{r:016d}%"))).scalar_one()
            rows = conn.execute(sa.select(sa.func.count()).select_from(Suppression)
                                .where(Suppression.recipient_hash == recipient_hash("sms", sender))).scalar_one()
        assert kept == n - n // 4  # each STOP and START applied once
        assert rows <= 1


@pytest.mark.parametrize("local", ["jean.dupont." * 6, "a" * 65, "é" * 65])
def test_an_email_address_whose_local_part_passes_64_characters_is_refused_and_nothing_stored(served, local):  # noqa: F811
    address = f"{local}@example.com"
    assert local[:len(local) - 64] in mask_text(f"bounced: {address}")  # what the masks would have left in clear
    answer = served.http.post("/v1/messages/email", json={"to": address, "subject": "s", "body": "b"}, headers=served.key)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"].startswith("to: not a valid email address (The email address is too long before the @-sign")
    answer = served.http.post("/v1/suppressions", json={"channel": "email", "to": address}, headers=served.key)
    assert answer.status_code == 422, answer.text
    with served.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Message)).scalar_one() == 0
    longest = served.http.post("/v1/messages/email", json={"to": f"{'a' * 64}@example.com", "subject": "s", "body": "b"}, headers=served.key)
    assert longest.status_code == 202, longest.text


@pytest.mark.parametrize(("status", "body", "outcome"), [
    (200, b'{"Messages": [{"Status": "success", "To": "ada@example.com"}]}', "acknowledged"),
    (200, b'{"Messages": [{"Status": "success", "To": ["ada@example.com"]}]}', "acknowledged"),
    (400, b'{"Messages": [{"Status": "error", "Errors": [{"StatusCode": "abc", "ErrorMessage": "x"}]}]}', PERMANENT),
    (400, b'{"Messages": [{"Status": "error", "Errors": [{"StatusCode": "503"}]}]}', RETRYABLE),
    (400, b'{"Messages": [{"Status": "error", "Errors": "busy"}]}', PERMANENT),
])
def test_a_mailjet_answer_of_another_shape_is_read_not_raised(fakes, make_provider, status, body, outcome):
    """A Mailjet answer whose `To` is no list of objects, or whose error's StatusCode is no number,
    made the client raise: the message ended provider_error 'not re-sent' whatever the answer said."""
    provider = make_provider("mailjet", fakes["mailjet"])
    answering(fakes["mailjet"], status, body)
    result = call_provider(provider, [EMAIL])[0]
    assert (result.outcome, result.http_status) == (outcome, status), result
    assert "raised" not in (result.detail or "")
