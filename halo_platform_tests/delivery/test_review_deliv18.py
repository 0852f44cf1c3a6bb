"""Review 18 of delivery and of the refusals of `halo tasks run`: an SMTP relay refusing our login
(535, aiosmtpd) is that provider failing, and the message goes to the route's next provider, once."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.delivery.service import message_view, submit
from halo_platform.delivery.tables import DeliveryAttempt
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.helpers import drain

EMAIL = {"to": "ada@example.com", "subject": "Your results", "body": "They are ready"}


def attempts_of(message_id: str, store: StoreResource) -> list[tuple[str, str]]:
    """(provider, outcome) of each request for the message, in order: what the autopilot counts."""
    with store.read() as conn:
        return [tuple(row) for row in conn.execute(sa.select(DeliveryAttempt.provider, DeliveryAttempt.outcome)
                                                   .where(DeliveryAttempt.message_id == message_id).order_by(DeliveryAttempt.id))]


@pytest.fixture
def wrong_login_route(smtp_server, fakes, providers_file):  # noqa: ANN001, ANN201
    """A route whose relay (almost all of its weight) is given a password the relay refuses, and SendGrid."""
    relay = {"kind": "smtp", "channel": "email", "host": "127.0.0.1", "port": smtp_server.port, "username": smtp_server.username,
             "password": "not-the-password", "sender": "noreply@example.com"}
    sendgrid = {"kind": "sendgrid", "channel": "email", "base_url": fakes["sendgrid"].url, **SECRETS["sendgrid"], "sender": "noreply@example.com"}
    return providers_file({"relay": relay, "sg": sendgrid},
                          [{"channel": "email", "country": "*", "capability": "*", "weights": {"relay": 1_000_000, "sg": 1}}])


def test_a_high_email_whose_relay_refuses_our_login_goes_to_the_next_provider_at_once(wrong_login_route, smtp_server, fakes, halo_store):
    """providers.md: a 535 at login is a configuration error, the relay's (its credentials), not
    the message's. It ended the message `provider_error` at the first provider, as an invalid
    address would, while a relay down or a 5xx from an HTTP provider fails over: an OTP was not
    sent though SendGrid was there to take it. The relay's refusal is now an attempt that failed
    (counted by the autopilot), and the next provider sends the message, once."""
    view, _ = submit("email", {**EMAIL, "priority": "HIGH"}, store=halo_store, providers=wrong_login_route)
    assert (view["status"], view["provider"]) == ("sent", "sg"), view
    assert [a["to"] for a in fakes["sendgrid"].accepted] == ["ada@example.com"]
    assert smtp_server.messages.snapshot() == []
    assert {ok for _, ok in smtp_server.auth_attempts.snapshot()} == {False}  # a real 535 from the relay (to each mechanism)
    assert attempts_of(view["id"], halo_store) == [("relay", "retryable"), ("sg", "acknowledged")]


def test_a_queued_email_whose_relay_refuses_our_login_is_retried_and_another_provider_sends_it(wrong_login_route, smtp_server, fakes,
                                                                                                 halo_store):
    """The same for a NORMAL email: a retry, not `provider_error`; at its retry the router avoids the
    provider that failed it, and SendGrid sends it once."""
    view, _ = submit("email", EMAIL, store=halo_store, providers=wrong_login_route)
    drain(wrong_login_route, halo_store, "email")
    first = message_view(view["id"], halo_store)
    assert (first["status"], first["provider"]) == ("retry_scheduled", "relay"), first
    assert first["events"][-1]["detail"] == "configuration error: SMTP login refused (535)"
    drain(wrong_login_route, halo_store, "email", clock=lambda: utcnow() + dt.timedelta(hours=1))  # past the backoff
    assert message_view(view["id"], halo_store)["status"] == "sent"
    assert [a["to"] for a in fakes["sendgrid"].accepted] == ["ada@example.com"]
    assert smtp_server.messages.snapshot() == []
