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
    assert answer.status_code == 400 and answer.json() == {"error": "Unable to parse request body as JSON", "detail": None}, answer.text


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
