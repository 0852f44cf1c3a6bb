"""Delivery review 20b: a HIGH message every provider of its route passed over for its rate limit;
the OpenAPI document of GET /graphql; a receipt from a provider that had the message before
another one took it."""

from __future__ import annotations

import datetime as dt
import time

from halo_platform.core.models import utcnow
from halo_platform.delivery.providers.vonage import vonage_signature
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.delivery.service import message_view, submit
from halo_platform.delivery.throttle import Tokens
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.helpers import drain
from halo_platform_tests.delivery.test_review_deliv20 import (
    NUMBER,
    PASSED_OVER,
    high_sms,
    sms_providers,
    status_and_events,
)
from halo_platform_tests.fixtures.access import authorized_client


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


def test_the_openapi_document_of_get_graphql_lists_every_parameter_the_route_takes(halo_store):
    """GET /graphql takes query, variables, operationName and extensions (any other is a 400 naming
    the known ones); its OpenAPI document listed three: a client built from it never sent
    `extensions`, and one checked against it (schemathesis) took a request sending it as invalid."""
    client = authorized_client(create_app({"store": halo_store, "providers": ProvidersResource()}))
    refused = client.get("/graphql", params={"query": "{ __typename }", "extension": "{}"})
    assert refused.status_code == 400, refused.text
    known = refused.json()["error"].rsplit("known: ", 1)[1].split(", ")
    assert "extensions" in known
    accepted = client.get("/graphql", params={"query": "{ __typename }", "extensions": '{"trace": true}'})
    assert accepted.status_code == 200 and accepted.json()["data"] == {"__typename": "Query"}, accepted.text
    documented = client.get("/openapi.json").json()["paths"]["/graphql"]["get"]["parameters"]
    assert [p["name"] for p in documented] == known, documented
    extensions = next(p for p in documented if p["name"] == "extensions")
    assert extensions["in"] == "query" and extensions["content"]["application/json"]["schema"] == {"type": "object"}, extensions


def vonage_then_twilio(fakes, providers_file):  # noqa: ANN001, ANN201
    """French SMS to Vonage first (its weight), whose answer does not come in time, then Twilio."""
    return providers_file({
        "vo": {"kind": "vonage", "channel": "sms", "countries": ["FR"], "base_url": fakes["vonage"].url, **SECRETS["vonage"],
               "signature_secret": "sigsecret", "signature_method": "md5hash", "timeout_seconds": 0.5},
        "tw": {"kind": "twilio", "channel": "sms", "countries": ["FR"], "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"},
    }, [{"channel": "sms", "country": "FR", "capability": "*", "weights": {"vo": 1_000_000, "tw": 1}}])


def test_a_receipt_from_the_provider_that_had_the_message_before_another_sent_it_is_kept_in_its_timeline(fakes, providers_file, every_store):
    """Vonage got our request for a queued SMS and answered too late (an unknown outcome: it may have
    taken it), the retry went to Twilio, which sent it. Vonage's signed receipt naming the message by
    our id (client-ref) was counted unmatched and kept nowhere: the timeline never showed that
    Vonage's copy reached the phone. It is that provider's event now, in the timeline; the status stays
    Twilio's (delivery.md: a callback never changes a message another provider sent). A provider
    never handed the message still changes nothing (test_callbacks_scoped). On the three stores."""
    providers = vonage_then_twilio(fakes, providers_file)
    fakes["vonage"].set_switches(latency_seconds=1.0)
    mid = submit("sms", {"to": NUMBER, "body": "hello", "priority": "NORMAL"}, store=every_store, providers=providers)[0]["id"]
    drain(providers, every_store)
    assert message_view(mid, every_store)["status"] == "retry_scheduled"
    fakes["vonage"].set_switches(latency_seconds=0.0)
    drain(providers, every_store, clock=lambda: utcnow() + dt.timedelta(minutes=5))
    view = message_view(mid, every_store)
    assert (view["status"], view["provider"]) == ("sent", "tw"), view
    assert fakes["vonage"].peak_in_progress == 1 and fakes["twilio"].request_count == 1  # Vonage got it, answered too late

    client = authorized_client(create_app({"store": every_store, "providers": providers}), raise_server_exceptions=False)
    params = {"messageId": "vonage-late-1", "status": "delivered", "client-ref": mid, "msisdn": NUMBER[1:],
              "timestamp": str(int(time.time())), "nonce": "n-1"}
    answer = client.get("/v1/callbacks/vo", params={**params, "sig": vonage_signature("sigsecret", params)})
    assert answer.status_code == 200 and answer.json() == {"applied": 1, "duplicates": 0, "unmatched": 0}, answer.text
    view = message_view(mid, every_store)
    assert (view["status"], view["provider"]) == ("sent", "tw"), view
    assert [(e["event"], e["provider"]) for e in view["events"]][-2:] == [("sent", "tw"), ("received", "vo")], view["events"]
    assert status_and_events(every_store, mid)[1][-1] == ("received", True)  # history, not the status
    again = client.get("/v1/callbacks/vo", params={**params, "sig": vonage_signature("sigsecret", params)})
    assert again.json() == {"applied": 0, "duplicates": 1, "unmatched": 0}, again.text
    stranger = {**params, "client-ref": submit("sms", {"to": NUMBER, "body": "b", "priority": "NORMAL"}, store=every_store, providers=providers)[0]["id"]}
    refused = client.get("/v1/callbacks/vo", params={**stranger, "sig": vonage_signature("sigsecret", stranger)})
    assert refused.json() == {"applied": 0, "duplicates": 0, "unmatched": 1}, refused.text  # a message Vonage never had
