"""Spec review of the message API with unusual but valid inputs (delivery.md, Messages and
Interfaces): what a sender may give is taken, as the spec says, through the HTTP API."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from halo_platform.delivery.service import message_view, submit
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.helpers import drain
from halo_platform_tests.fixtures.access import authorized_client


@pytest.fixture
def north_america(providers_file, halo_store):  # noqa: ANN001, ANN201
    """The HTTP app with one SMS provider for the United States and one for Canada: both +1 numbers."""
    providers = providers_file({"us": {"kind": "sandbox", "channel": "sms", "countries": ["US"]},
                                "ca": {"kind": "sandbox", "channel": "sms", "countries": ["CA"]}},
                               routing=[{"channel": "sms", "country": "US", "weights": {"us": 1}},
                                        {"channel": "sms", "country": "CA", "weights": {"ca": 1}}])
    return authorized_client(create_app({"store": halo_store, "providers": providers}))


@pytest.mark.parametrize(("to", "country"), [("+18005550199", "CA"), ("1-888-555-0199", "CA"), ("+18005550199", "US")])
def test_a_toll_free_number_shared_by_north_american_countries_is_taken_for_each_of_them(north_america, to, country):
    """A NANP toll-free number (800, 888...) is valid in Canada as in the United States: a
    Canadian sender texting a Canadian toll-free line with `country: CA` got 422 'the number
    belongs to US, not CA', since phonenumbers names the shared number's region after the
    calling code's main country. The message goes as the country said (routed by it)."""
    answer = north_america.post("/v1/messages/sms", json={"to": to, "body": "hi", "country": country, "priority": "HIGH"})
    assert answer.status_code == 201, answer.text
    assert (answer.json()["status"], answer.json()["provider"]) == ("sent", country.lower())


def test_a_number_that_does_not_tell_its_zone_keeps_the_quiet_hours_of_its_own_country(fakes, providers_file, halo_store):
    """A Russian mobile number (+7 9xx) names no region of Russia: phonenumbers gives it every
    zone of +7, Kazakhstan's included, and the first of them (Asia/Almaty, UTC+5) was taken as
    the recipient's. At 07:30 in Moscow, inside the quiet hours 21:00-08:00, a LOW message went
    out at once (09:30 in Almaty). A number of several zones tells none: the country's is used."""
    providers = providers_file(
        {"tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"}},
        quiet_hours={"sms": {"start": "21:00", "end": "08:00"}},
    )
    morning_in_moscow = dt.datetime(2026, 12, 2, 4, 30, tzinfo=dt.UTC)  # 07:30 in Moscow, 09:30 in Almaty
    low = submit("sms", {"to": "+79161234567", "body": "your parcel arrives today", "priority": "LOW"}, store=halo_store,
                 providers=providers, clock=lambda: morning_in_moscow)[0]
    drain(providers, halo_store, clock=lambda: morning_in_moscow)
    assert list(fakes["twilio"].accepted) == []
    view = message_view(low["id"], halo_store)
    assert (view["status"], view["events"][0]["detail"].split(";")[0]) == ("queued", "LOW")
    assert "quiet hours until" in view["events"][0]["detail"]


def test_the_email_fallback_of_an_otp_is_never_sent_after_the_otps_expires_at(fakes, providers_file, halo_store):
    """An OTP SMS with `expires_at` ended provider_error; its fallback email, made by the next
    fallback run after `expires_at`, went out with the expired code: the fallback carries the
    SMS's body and was submitted without its `expires_at` ("in the past: never sent"). It is
    made as before (linked, once) and ends `expired`, unsent."""
    from halo_platform.delivery.fallback import send_fallbacks

    providers = providers_file({
        "tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"},
        "sg": {"kind": "sendgrid", "channel": "email", "base_url": fakes["sendgrid"].url, **SECRETS["sendgrid"], "sender": "noreply@example.com"},
    })
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    sms, _ = submit("sms", {"to": "+33612340000", "body": "code 123456", "priority": "HIGH", "expires_at": expires.isoformat(),  # refused: 21211
                            "fallback": {"channel": "email", "to": "ada@example.com", "subject": "Your code"}},
                    store=halo_store, providers=providers)
    assert sms["status"] == "provider_error"
    while dt.datetime.now(dt.UTC) <= expires:
        time.sleep(0.1)
    made = send_fallbacks(halo_store, providers)["made"]
    assert list(fakes["sendgrid"].accepted) == []
    email = message_view(made[0], halo_store)
    assert (email["fallback_of"], email["status"], [e["event"] for e in email["events"]]) == (sms["id"], "expired", ["queued", "expired"])
