"""The OpenAPI document tells the truth: the bearer scheme, each operation's refusals with the
error body, the message bodies as the validation accepts them; and a person signed in to the
Control Center reads /docs and runs GraphQL in a real browser with the network cut off."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from halo_platform.access import users
from halo_platform.delivery.schemas import REQUESTS
from halo_platform.delivery.validation import FIELDS
from halo_platform_tests.core.test_http_hostile import serving
from halo_platform_tests.fixtures.access import authorized_client
from halo_platform_tests.fixtures.browser import screenshot

PASSWORD = "a long enough password"


def test_every_secured_operation_documents_its_refusals_with_the_error_body(app) -> None:  # noqa: ANN001
    spec = app.openapi()
    assert spec["components"]["securitySchemes"]["apiKey"] == {
        "type": "http", "scheme": "bearer", "description": "`Authorization: Bearer halo_<prefix>_<secret>` (`halo keys create`)"}
    error = {"$ref": "#/components/schemas/Error"}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            secured = operation.get("security") == [{"apiKey": []}, {"session": []}]
            assert secured != (path in ("/health", "/v1/callbacks/{provider}", "/v1/inbound/{provider}")), (method, path)
            codes = {c for c in operation["responses"] if c.startswith("4")}
            if secured:
                assert {"401", "403", "429"} <= codes, (method, path, codes)
            if "requestBody" in operation:
                assert {"400", "413", "422"} <= codes, (method, path)
            for code in codes:
                assert operation["responses"][code]["content"]["application/json"]["schema"] == error
    sms = spec["paths"]["/v1/messages/sms"]["post"]
    assert {"201", "202", "409"} <= set(sms["responses"])
    assert spec["paths"]["/v1/tasks/{task}/requests"]["post"]["responses"]["202"]


def test_every_operation_declares_the_body_it_reads_and_the_answers_it_gives(app) -> None:  # noqa: ANN001
    """access.md: for every route, its real request body and its responses. Every POST reads a
    body; the provider callbacks refuse a bad signature (401) and a malformed body (400); a task
    request answers 503 when Dagster does not take the run; lifting a suppression there is not is a
    404, though its path names nothing; a request's status has a typed body."""
    spec = app.openapi()
    error = {"$ref": "#/components/schemas/Error"}
    for path, item in spec["paths"].items():
        if "post" in item:
            assert item["post"].get("requestBody", {}).get("content"), path
    for path in ("/v1/callbacks/{provider}", "/v1/inbound/{provider}"):
        body = spec["paths"][path]["post"]["requestBody"]["content"]
        assert {"application/x-www-form-urlencoded", "application/json"} <= set(body), path
        for method in ("post", "get"):
            responses = spec["paths"][path][method]["responses"]
            assert {"200", "400", "401", "404"} <= set(responses), (method, path)
            assert responses["401"]["content"]["application/json"]["schema"] == error and "signature" in responses["401"]["description"]
    unavailable = spec["paths"]["/v1/tasks/{task}/requests"]["post"]["responses"]["503"]
    assert unavailable["content"]["application/json"]["schema"] == error and "Dagster" in unavailable["description"]
    lift = spec["paths"]["/v1/suppressions/lift"]["post"]["responses"]
    assert lift["404"]["content"]["application/json"]["schema"] == error and "suppression" in lift["404"]["description"]
    status = spec["paths"]["/v1/task-requests/{request_id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    model = spec["components"]["schemas"][status["$ref"].rsplit("/", 1)[1]]
    assert {"request_id", "task", "status", "requested_by", "outputs", "deliveries"} <= set(model["properties"])


@pytest.mark.parametrize("channel", ["sms", "email", "push"])
def test_the_documented_message_body_is_what_the_validation_takes(app, channel: str) -> None:  # noqa: ANN001
    schema = app.openapi()["paths"][f"/v1/messages/{channel}"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == FIELDS[channel] and schema["additionalProperties"] is False
    client = authorized_client(app, "messages:send")
    for example in schema["examples"]:
        answer = client.post(f"/v1/messages/{channel}", json=example)
        assert answer.status_code == (201 if example.get("priority") == "HIGH" else 202), answer.text
        model = REQUESTS[channel].model_fields
        assert set(answer.json()) <= {"id", "status", "provider"} and set(model) == FIELDS[channel]
    refused = client.post(f"/v1/messages/{channel}", json={**schema["examples"][0], "created_by": "someone"})
    assert refused.status_code == 422 and refused.json()["error"] == f"unknown field(s) for {channel}: created_by"


def test_a_signed_in_person_reads_the_docs_and_queries_graphql_offline(app, store, page) -> None:  # noqa: ANN001
    users.create_user(store, "vera", "viewer", PASSWORD)
    with serving(app) as (host, port):
        base = f"http://{host}:{port}"
        page.goto(f"{base}/docs")
        expect(page.get_by_text("authentication required")).to_be_visible()  # the JSON 401, no page
        page.goto(f"{base}/ui/login?next=/docs")
        page.fill("#name", "vera")
        page.fill("#password", "wrong password")
        page.click("button[type=submit]")
        expect(page.get_by_role("alert")).to_have_text("wrong name or password")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator(".opblock-summary-path", has_text="/v1/messages/{message_id}")).to_be_visible()
        screenshot(page, "access-docs-signed-in")
        page.goto(f"{base}/graphql")
        editor = page.locator(".graphiql-query-editor .CodeMirror")
        expect(editor).to_be_visible()
        editor.click()
        page.keyboard.press("ControlOrMeta+a")
        page.keyboard.type('{ availableSpans(feed: "acme", providerId: "NOBODY") { startAt } }')
        page.locator(".graphiql-execute-button").click()
        expect(page.locator(".graphiql-response")).to_contain_text('"availableSpans": []')
        screenshot(page, "access-graphiql-signed-in")
    assert page.external_requests == [] and page.script_errors == []
