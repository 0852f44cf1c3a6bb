"""Spec review of the message API with unusual but valid inputs (delivery.md, Messages and
Interfaces): what a sender may give is taken, as the spec says, through the HTTP API."""

from __future__ import annotations

import pytest

from halo_platform.http import create_app
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
