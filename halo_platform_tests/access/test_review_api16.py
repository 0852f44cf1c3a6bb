"""Review of the HTTP service (session api16): HEAD where GET works, the message routes refusing
what the other JSON routes refuse, group availability naming a provider twice, an empty sink name."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from halo_platform_tests.core.test_input_strictness import two_providers  # noqa: F401 - D1 and D2 on one day, processed
from halo_platform_tests.fixtures.access import authorized_client, bearer, make_key


@pytest.mark.parametrize("path", ["/v1/tasks", "/v1/availability?feed=acme&provider_id=AC001", "/openapi.json", "/ui/tasks"])
def test_head_answers_wherever_get_does_with_the_same_status_and_headers_and_no_body(app, path):  # noqa: ANN001
    """RFC 9110 has a general-purpose server answer HEAD wherever it answers GET; every route
    but `/health` answered HEAD with a 405, so a monitor, proxy or link checker probing
    `HEAD /v1/tasks` with a valid key was told the resource did not allow it. HEAD gets the
    GET's status and headers, without the body."""
    client = authorized_client(app, "admin")
    got, head = client.get(path), client.head(path)
    assert got.status_code == head.status_code == 200, (got.text, head.text)
    assert head.content == b"" and head.headers["content-type"] == got.headers["content-type"]


def test_head_is_authenticated_and_authorized_exactly_like_get(app):  # noqa: ANN001
    """HEAD goes through the GET route's guard: 401 without a key or with a wrong one, 403 with a
    key lacking the scope, 404 for what does not exist, never the resource's headers for free."""
    anonymous = TestClient(app)
    assert anonymous.head("/v1/tasks").status_code == 401
    assert anonymous.head("/v1/tasks").headers["www-authenticate"] == "Bearer"
    assert anonymous.head("/v1/tasks", headers=bearer("halo_nope_nope")).status_code == 401
    reader = make_key(app, "messages:read")
    assert anonymous.head("/v1/tasks", headers=bearer(reader)).status_code == 403
    assert anonymous.head("/v1/messages/no-such-message", headers=bearer(reader)).status_code == 404
    assert anonymous.head("/health").status_code == 200


def test_head_on_a_post_only_route_is_still_a_405_and_a_405_lists_head_beside_get(app):  # noqa: ANN001
    """HEAD is not a way into a POST route; the 405 of a resource read with GET lists HEAD too."""
    client = authorized_client(app, "admin")
    assert client.get("/v1/suppressions").status_code == client.head("/v1/suppressions").status_code == 405
    refused = client.delete("/v1/tasks")
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize("path", ["/v1/callbacks/vonage", "/v1/inbound/vonage"])
def test_head_is_no_way_into_a_provider_callback_whose_get_changes_state(app, path):  # noqa: ANN001
    """A provider's GET callback applies a receipt or an inbound message (STOP opts a number out):
    HEAD, which RFC 9110 makes safe, must not run it. It stays a 405 there, whose Allow has no HEAD."""
    refused = TestClient(app).head(f"{path}?msisdn=447700900000&text=STOP&messageId=x")
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, POST"


def _messages(store) -> int:  # noqa: ANN001
    with store.read() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM messages")).scalar()


@pytest.mark.parametrize("channel, body", [
    ("sms", '{"to": "+33612345678", "body": "Your appointment is at 10:00"}'),
    ("email", '{"to": "patient@example.com", "subject": "Results", "body": "Your results are ready"}'),
])
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_message_sent_as_another_media_type_than_json_is_refused_as_on_every_json_route(app, store, channel, body, content_type):  # noqa: ANN001
    """The README and every other JSON route (`/v1/suppressions`, task requests) refuse a JSON body
    sent with another Content-Type, saying to send application/json; the message routes read
    their body themselves and sent it whatever the media type (`curl -d` without `-H`), so the
    same mistake queued a patient's SMS on one route and was refused on its neighbour."""
    client = authorized_client(app, "messages:send")
    headers = {"content-type": content_type} if content_type else {}
    answer = client.post(f"/v1/messages/{channel}", content=body, headers=headers)
    assert answer.status_code == 422 and answer.json() == {
        "error": f"body: send JSON with the header Content-Type: application/json (got {content_type or 'none'})",
        "detail": None}, answer.text
    assert _messages(store) == 0


def test_a_message_with_a_query_parameter_is_refused_naming_it_and_nothing_is_sent(app, store):  # noqa: ANN001
    """A query parameter a route does not take is a 422 naming it on every other route; the
    message routes dropped it unread (`?priority=HIGH` or `?dry_run=1` sent a NORMAL message,
    for real). Nothing is stored; the same body without it is sent."""
    client = authorized_client(app, "messages:send")
    sms = {"to": "+33612345678", "body": "Your appointment is at 10:00"}
    answer = client.post("/v1/messages/sms?dry_run=1", json=sms)
    assert answer.status_code == 422 and answer.json() == {
        "error": "unknown query parameter(s) 'dry_run'; known: none", "detail": None}, answer.text
    assert _messages(store) == 0
    assert client.post("/v1/messages/sms", json=sms).status_code == 202 and _messages(store) == 1


def test_a_message_refusal_for_its_media_type_comes_after_the_key_check(app):  # noqa: ANN001
    """An unauthenticated caller learns nothing of the route's rules: 401 first."""
    answer = TestClient(app).post("/v1/messages/sms?x=1", content="{}", headers={"content-type": "text/plain"})
    assert answer.status_code == 401


@pytest.mark.parametrize("sinks", [[""], ["outbox", ""], ["  "]])
def test_a_task_request_naming_an_empty_sink_is_refused_saying_so(app, store, sinks):  # noqa: ANN001
    """A sink list with an empty name (a form's blank row, `"sinks": [""]`) was refused as
    'unknown sink(s): ; known: alerts, outbox', a refusal naming nothing the caller could fix.
    It says a name is empty; nothing is queued."""
    client = authorized_client(app, "tasks:request")
    answer = client.post("/v1/tasks/campaign_alerts/requests", json={"payload": {}, "sinks": sinks})
    reason = "a sink name is empty (name sinks, or leave them out for the default ones); known: alerts, outbox"
    assert answer.status_code == 422 and answer.json()["error"] == reason, answer.text
    with store.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM task_requests")).scalar() == 0


def test_the_sink_names_rule_every_caller_shares_refuses_an_empty_name_saying_so(store):  # noqa: ANN001
    """Schedules and requests, from the CLI, the API or the Control Center, are checked by this one rule."""
    from halo_platform.sinks import SinksResource, UnknownSink

    with pytest.raises(UnknownSink, match=r"^a sink name is empty \(name sinks"):
        SinksResource().validate_names(["outbox", ""])


@pytest.mark.parametrize("mode", ["all", "any"])
def test_a_group_naming_a_provider_twice_answers_for_each_provider_once(app, two_providers, mode):  # noqa: ANN001, F811
    """`provider_ids=D1,D2,D1` was answered with `provider_ids: [D1, D2, D1]` beside spans
    computed for D1 and D2 once each: the echo said three providers were asked about where the
    answer held two (a caller counting the group from it, for `all`, was wrong). A provider named
    twice is one provider: the answer equals that of `D1,D2`."""
    client = authorized_client(app, "availability:read")
    day = two_providers
    params = {"feed": "acme", "from": day, "to": day, "mode": mode}
    once = client.get("/v1/availability/group", params={**params, "provider_ids": "D1,D2"})
    twice = client.get("/v1/availability/group", params={**params, "provider_ids": "D1,D2, D1"})
    assert once.status_code == twice.status_code == 200, twice.text
    assert twice.json()["provider_ids"] == ["D1", "D2"]
    timeless = [{**answer.json(), "freshness": None} for answer in (once, twice)]  # its lag ages between the two requests
    assert timeless[1] == timeless[0] and once.json()["spans"], once.text
