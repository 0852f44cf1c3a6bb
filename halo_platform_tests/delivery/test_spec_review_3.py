"""Spec review (delivery.md): what a provider of the providers file offers can be asked for."""

from __future__ import annotations

from halo_platform.http import create_app
from halo_platform_tests.delivery.helpers import drain
from halo_platform_tests.fixtures.access import authorized_client

NUMBER = "+33612345678"


def test_a_capability_that_only_a_provider_of_the_file_lists_is_sent_through_it(providers_file, halo_store):
    """delivery.md: 422 for an "unknown capability for the channel". A capability the channel's
    own provider lists (MMS, outside the built-in TEXT/SECURE/VOICE) is known for it: it was a
    422, so the provider's capability could never be used without an undocumented section."""
    providers = providers_file({
        "mms": {"kind": "sandbox", "channel": "sms", "countries": ["FR"], "capabilities": ["TEXT", "MMS"]},
    }, routing=[{"channel": "sms", "country": "FR", "capability": "MMS", "weights": {"mms": 1}}])
    client = authorized_client(create_app({"store": halo_store, "providers": providers}))
    response = client.post("/v1/messages/sms", json={"to": NUMBER, "body": "a picture", "capability": "MMS"})
    assert response.status_code == 202, response.text
    drain(providers, halo_store)
    view = client.get(f"/v1/messages/{response.json()['id']}").json()
    assert (view["status"], view["provider"]) == ("sent", "mms")
    refused = client.post("/v1/messages/sms", json={"to": NUMBER, "body": "x", "capability": "FAX"})
    assert refused.status_code == 422 and "not known for sms" in refused.json()["error"]
    assert client.post("/v1/messages/email", json={"to": "a@example.com", "subject": "s", "body": "b", "capability": "MMS"}).status_code == 422
