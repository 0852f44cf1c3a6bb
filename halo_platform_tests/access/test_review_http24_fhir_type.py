"""Review http24: the FHIR search answers the JSON type its client's Accept (or `_format`)
negotiated, not always FHIR's."""

from __future__ import annotations

import pytest

from halo_platform_tests.fixtures.access import authorized_client

FHIR_JSON, JSON = "application/fhir+json", "application/json"


@pytest.mark.parametrize(("params", "accept", "served"), [
    ({}, None, FHIR_JSON),
    ({}, "application/fhir+json;q=0, application/json", JSON),
    ({}, "application/json", JSON),
    ({}, "application/fhir+json;q=0.5, application/json;q=0.9", JSON),
    ({}, "application/json;q=0.5, application/fhir+json;q=0.9", FHIR_JSON),
    ({}, "application/json;q=0, */*", FHIR_JSON),
    ({}, "application/json, text/plain, */*", JSON),  # named beats a wildcard of the same q (axios's default)
    ({}, "application/fhir+json, application/json", FHIR_JSON),  # a tie: FHIR's
    ({}, "*/*", FHIR_JSON),
    ({}, "application/*", FHIR_JSON),
    ({}, "application/*;q=0.2, application/json;q=0.1", FHIR_JSON),  # FHIR's by application/*, at 0.2
    ({}, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", FHIR_JSON),  # a browser
    ({"_format": "json"}, "application/json", FHIR_JSON),  # FHIR's `json` is its own type, and overrides Accept
    ({"_format": "application/json"}, None, JSON),
    ({"_format": "application/json"}, "application/fhir+json", JSON),
    ({"_format": "application/fhir+json; fhirVersion=4.0"}, JSON, FHIR_JSON),
    ({"_format": "application/xml, application/json"}, None, JSON),
])
def test_a_fhir_answer_is_typed_as_negotiated(app, params, accept, served):  # noqa: ANN001
    """`Accept: application/fhir+json;q=0, application/json` refuses FHIR's type and takes plain
    JSON: it was answered `Content-Type: application/fhir+json`, the type the client said it does
    not accept. The type is the one with the highest q (RFC 9110 12.5.1), a type named outranking a
    wildcard of the same q; `_format` overrides Accept, as FHIR says. Both are JSON, the same Bundle;
    the answer varies with Accept, and says so to caches."""
    headers = {"Accept": accept} if accept else {}
    answer = authorized_client(app).get("/fhir/Slot", params={"schedule": "Schedule/S1", **params}, headers=headers)
    assert answer.status_code == 200 and answer.json()["resourceType"] == "Bundle", answer.text
    # FHIR (http.html, "Content Types and encodings"): an answer SHALL name its charset, UTF-8
    assert answer.headers["content-type"] == f"{served}; charset=utf-8" and "accept" in answer.headers.get("vary", "").lower(), answer.headers
