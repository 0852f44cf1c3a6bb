"""Review wire16 of the provider clients and callbacks against providers.md and delivery.md.

Pinned here: a SendGrid 400 naming a field of the whole request (`from.email`, `content`) was
bisected as if one personalization were bad: a batch of n messages became 2n - 1 requests, each
refused alike."""

from __future__ import annotations

from halo_platform.delivery.dispatch import call_provider
from halo_platform.delivery.providers.base import PERMANENT
from halo_platform_tests.delivery.conftest import outgoing


def test_a_sendgrid_400_on_a_field_of_the_whole_request_is_one_request_not_a_bisection(fakes, make_provider) -> None:
    """No sender address (the fake answers 400 on `from.email`, as SendGrid does): every message of
    the batch fails for good on the first answer, which a half of the batch would get again."""
    fake = fakes["sendgrid"]
    provider = make_provider("sendgrid", fake, sender="")
    messages = [outgoing("email", recipient=f"user{n}@example.com", body="same", subject="Same") for n in range(64)]
    results = call_provider(provider, messages)
    assert fake.request_count == 1  # was 127
    assert {(r.outcome, r.detail) for r in results} == {
        (PERMANENT, '400 {"errors": [{"message": "The from object must be provided for every email send.", "field": "from.email", "help": null}]}')}


def test_a_sendgrid_400_naming_one_personalization_still_isolates_it(fakes, make_provider) -> None:
    """The bisection stays for what it is for: one bad recipient among good ones."""
    fake = fakes["sendgrid"]
    provider = make_provider("sendgrid", fake)
    recipients = ["a@example.com", "b@example.com", "bounce@example.com", "c@example.com"]
    results = call_provider(provider, [outgoing("email", recipient=r, body="same", subject="Same") for r in recipients])
    assert [r.outcome for r in results] == ["acknowledged", "acknowledged", PERMANENT, "acknowledged"]
