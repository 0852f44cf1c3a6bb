"""Review of the HTTP API as a hostile client meets it (session api15): every route over the real
app, each refusal a 4xx in the service's JSON error body, never a 500, nothing half-written."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from halo_platform.core.store import StoreResource
from halo_platform.delivery.tables import Message
from halo_platform_tests.fixtures.access import authorized_client

messages_t = Message.__table__
# a JSON integer longer than Python reads (4,300 digits) is still valid JSON
LONG_INTEGER = "9" * 5000


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_graphql_request_with_an_integer_python_will_not_read_is_a_400_not_a_500(app, method):  # noqa: ANN001
    """Python's JSON reader refuses an integer of more than 4,300 digits with a ValueError that is
    no JSONDecodeError, the only one strawberry answers: such a body (POST) or `variables` (GET)
    was a 500 "internal error" and a traceback in the log. It is a body that cannot be read, a
    400 with the reason, as bad JSON is on this route."""
    client = authorized_client(app, "availability:read", raise_server_exceptions=False)
    variables = f'{{"n": {LONG_INTEGER}}}'
    if method == "POST":
        answer = client.post("/graphql", content=f'{{"query": "{{ __typename }}", "variables": {variables}}}',
                             headers={"content-type": "application/json"})
    else:
        answer = client.get("/graphql", params={"query": "{ __typename }", "variables": variables})
    message = "Unable to parse request body as JSON" if method == "POST" else "the query parameter variables is not JSON"
    assert answer.status_code == 400 and answer.json() == {"error": message, "detail": None}, answer.text


def _messages(store: StoreResource) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(messages_t)).scalar()


def test_an_sms_sent_again_with_the_same_idempotency_key_header_is_sent_once(app, store: StoreResource):  # noqa: ANN001
    """The task API takes its idempotency key as the `Idempotency-Key` header, the header the
    service refuses twice on every route; the message routes read only the body's
    `idempotency_key` and dropped the header unread, so a partner retrying a timed-out send with
    the header (delivery.md: never twice) queued the SMS a second time, each a patient's text at
    our expense. The header is the message's idempotency key; one that contradicts the body's
    is a 422, nothing stored."""
    client = authorized_client(app, "messages:send")
    sms = {"to": "+33612345678", "body": "Your appointment is at 10:00"}
    first = client.post("/v1/messages/sms", json=sms, headers={"Idempotency-Key": "retry-1"})
    again = client.post("/v1/messages/sms", json=sms, headers={"Idempotency-Key": "retry-1"})
    assert first.status_code == again.status_code == 202 and again.json()["id"] == first.json()["id"], (first.text, again.text)
    assert _messages(store) == 1
    both = client.post("/v1/messages/sms", json={**sms, "idempotency_key": "retry-2"}, headers={"Idempotency-Key": "retry-3"})
    assert both.status_code == 422 and both.json() == {
        "error": "Idempotency-Key: the header and the body's idempotency_key differ; send one", "detail": None}, both.text
    assert _messages(store) == 1


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_json_body_sent_as_another_media_type_is_refused_saying_to_send_json(app, store: StoreResource, content_type):  # noqa: ANN001
    """`curl -d '{...}'` without `-H 'Content-Type: application/json'` sends a form's media type,
    and FastAPI then reads no JSON: a suppression or a task request so sent was refused 422 "body:
    Input should be a valid dictionary or object to extract fields from", pydantic's words, which
    say nothing of the header the caller has to fix. The refusal names it; nothing is stored."""
    client = authorized_client(app, "admin")
    headers = {"content-type": content_type} if content_type else {}
    for path, body in (("/v1/suppressions", '{"channel": "sms", "to": "+33612345678"}'),
                       ("/v1/tasks/campaign_alerts/requests", '{"payload": {}}')):
        answer = client.post(path, content=body, headers=headers)
        assert answer.status_code == 422 and answer.json() == {
            "error": f"body: send JSON with the header Content-Type: application/json (got {content_type or 'none'})",
            "detail": None}, (path, answer.text)
    with store.read() as conn:
        assert conn.execute(sa.text("SELECT (SELECT count(*) FROM suppressions) + (SELECT count(*) FROM task_requests)")).scalar() == 0


@pytest.mark.parametrize(("path", "query", "unknown", "known"), [
    ("/v1/availability", "feed=acme&provider_id=AC001&form=2027-01-04", "form", "feed, provider_id, from, to"),
    ("/v1/slots", "feed=acme&provider_id=AC001&from=2027-01-04&duration=60", "duration", "feed, provider_id, type, from, to"),
    ("/v1/availability/group", "feed=acme&provider_ids=AC001,AC002&mode=all&providers=AC003", "providers",
     "feed, provider_ids, provider_id, mode, from, to"),
    ("/v1/tasks", "owner=team:marketing", "owner", "none"),
])
def test_a_query_parameter_the_route_does_not_take_is_refused_naming_it(app, path, query, unknown, known):  # noqa: ANN001
    """A misspelt or made-up query parameter was dropped unread: `form=2027-01-04` (for `from`)
    answered 200 with the spans of the default week, `duration=60` the slots of the feed's own
    duration, a partner reading another week's or another length's availability as the one asked
    for. A JSON body's unknown field is refused; so is such a parameter, a 422 naming it and the
    route's own (FHIR's search ignores unknown parameters, as FHIR says, and is not one of these)."""
    client = authorized_client(app, "admin")
    answer = client.get(f"{path}?{query}")
    assert answer.status_code == 422 and answer.json() == {
        "error": f"unknown query parameter(s) {unknown!r}; known: {known}", "detail": None}, answer.text
    fhir = client.get("/fhir/Slot?schedule=Schedule/acme.AC001&bogus=1")
    assert fhir.status_code == 200, fhir.text
