"""Delivery review 20b: a HIGH message every provider of its route passed over for its rate limit;
the OpenAPI document of GET /graphql."""

from __future__ import annotations

from halo_platform.delivery.resources import ProvidersResource
from halo_platform.delivery.throttle import Tokens
from halo_platform.http import create_app
from halo_platform_tests.delivery.test_review_deliv20 import NUMBER, PASSED_OVER, high_sms, sms_providers
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

