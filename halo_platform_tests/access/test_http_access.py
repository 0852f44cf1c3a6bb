"""Nothing answers without an identity: every operation of the app's own OpenAPI document is 401
without a key (but /health and the provider callbacks), 403 with a key lacking its scope, 401
with a revoked or expired key; a key past its rate is 429 and recovers; the caller is recorded."""

from __future__ import annotations

import datetime as dt
import logging
import time

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from halo_platform.access.keys import SCOPES, key_hash, keys_t
from halo_platform_tests.fixtures.access import authorized_client, bearer, make_key

OPEN = {("GET", "/health"), ("HEAD", "/health"), ("POST", "/v1/callbacks/{provider}"), ("GET", "/v1/callbacks/{provider}"),
        ("POST", "/v1/inbound/{provider}"), ("GET", "/v1/inbound/{provider}")}
# the scope each operation needs (admin implies all)
NEEDS = {
    ("GET", "/v1/tasks"): "tasks:read",
    ("POST", "/v1/tasks/{task}/requests"): "tasks:request",
    ("GET", "/v1/task-requests/{request_id}"): "tasks:read",
    ("GET", "/v1/availability"): "availability:read",
    ("GET", "/v1/availability/group"): "availability:read",
    ("GET", "/v1/slots"): "availability:read",
    ("GET", "/fhir/Slot"): "availability:read",
    ("POST", "/fhir/Slot/_search"): "availability:read",
    ("GET", "/graphql"): "availability:read",
    ("POST", "/graphql"): "availability:read",
    ("POST", "/v1/messages/sms"): "messages:send",
    ("POST", "/v1/messages/email"): "messages:send",
    ("POST", "/v1/messages/push"): "messages:send",
    ("GET", "/v1/messages/{message_id}"): "messages:read",
    ("POST", "/v1/suppressions"): "messages:send",
    ("POST", "/v1/suppressions/lift"): "admin",
}
SMS = {"to": "+6281234567890", "body": "Your appointment is at 10:00", "priority": "NORMAL"}


def operations(app) -> list[tuple[str, str]]:  # noqa: ANN001
    return [(method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item if method != "parameters"]


def call(client: TestClient, method: str, path: str, **kwargs):  # noqa: ANN003, ANN201
    url = path.replace("{task}", "payment_reconciliation").replace("{request_id}", "r1").replace("{message_id}", "m1").replace("{provider}", "twilio")
    if method == "POST":
        kwargs.setdefault("json", {"query": "{ __typename }"} if path == "/graphql" else {})
    return client.request(method, url, **kwargs)


def assert_refused(response, status: int) -> dict:  # noqa: ANN001
    assert response.status_code == status, (response.request.method, response.request.url, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "detail"} and body["error"], body
    return body


def test_the_document_names_every_operation_and_its_scope(app) -> None:  # noqa: ANN001
    assert set(operations(app)) == set(NEEDS) | OPEN


def test_every_operation_but_health_and_callbacks_is_401_without_a_key(app) -> None:  # noqa: ANN001
    client = TestClient(app)
    for method, path in operations(app):
        response = call(client, method, path)
        if (method, path) in OPEN:
            assert response.status_code != 401, (method, path)
            continue
        body = assert_refused(response, 401)
        assert response.headers["www-authenticate"] == "Bearer" and body["error"].startswith("authentication required")
    for path in ("/openapi.json", "/docs"):
        assert_refused(client.get(path), 401)


@pytest.mark.parametrize("presented", ["Bearer nonsense", "Bearer halo_0123456789ab_" + "A" * 43, "Basic YWRtaW46YWRtaW4=", "Bearer "])
def test_an_unknown_or_malformed_credential_is_401(app, presented: str) -> None:  # noqa: ANN001
    body = assert_refused(TestClient(app).get("/v1/tasks", headers={"Authorization": presented}), 401)
    assert "nonsense" not in str(body) and "AAAA" not in str(body)


@pytest.mark.parametrize("scope", [s for s in SCOPES if s != "admin"])
def test_a_key_with_one_scope_is_403_everywhere_else(app, scope: str) -> None:  # noqa: ANN001
    client = authorized_client(app, scope)
    for (method, path), needed in NEEDS.items():
        response = call(client, method, path)
        if needed == scope:
            assert response.status_code not in (401, 403), (method, path, response.text)
        else:
            body = assert_refused(response, 403)
            assert body == {"error": f"this needs the {needed!r} scope", "detail": {"required_scope": needed}}


def test_admin_reaches_every_operation(app) -> None:  # noqa: ANN001
    client = authorized_client(app, "admin")
    for method, path in NEEDS:
        assert call(client, method, path).status_code not in (401, 403), (method, path)
    assert client.get("/openapi.json").status_code == 200 and "swagger-ui" in client.get("/docs").text


def test_a_revoked_and_an_expired_key_are_401_and_nothing_is_sent(app, store) -> None:  # noqa: ANN001
    revoked, expired = make_key(app, "messages:send", name="gone"), make_key(app, "messages:send", name="old")
    client = TestClient(app)
    assert client.post("/v1/messages/sms", json=SMS, headers=bearer(revoked)).status_code == 202
    from halo_platform.access.keys import revoke_key

    revoke_key(store, "gone")
    with store.write() as conn:
        conn.execute(keys_t.update().where(keys_t.c.name == "old").values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    with store.read() as conn:
        before = conn.execute(sa.text("SELECT count(*) FROM messages")).scalar_one()
    assert assert_refused(client.post("/v1/messages/sms", json=SMS, headers=bearer(revoked)), 401)["error"] == "API key revoked"
    assert assert_refused(client.post("/v1/messages/sms", json=SMS, headers=bearer(expired)), 401)["error"] == "API key expired"
    with store.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM messages")).scalar_one() == before


def test_a_key_past_its_rate_gets_429_with_retry_after_and_recovers(app) -> None:  # noqa: ANN001
    client = authorized_client(app, "messages:read", rate=5)
    answers = [client.get("/v1/messages/unknown") for _ in range(12)]  # a cheap route: 12 answers well within a second
    codes = [a.status_code for a in answers]
    assert codes[:5] == [404] * 5 and 429 in codes, codes  # 404: the key passed, no such message
    limited = next(a for a in answers if a.status_code == 429)
    assert limited.headers["retry-after"] == "1" and assert_refused(limited, 429)["detail"] == {"limit_per_second": 5.0}
    time.sleep(1.1)
    assert client.get("/v1/messages/unknown").status_code == 404


def test_the_caller_is_recorded_never_the_body(app, store) -> None:  # noqa: ANN001
    key = make_key(app, "messages:send", "messages:read", "tasks:request", "tasks:read", name="crm-backend")
    client = TestClient(app, headers=bearer(key))
    sent = client.post("/v1/messages/sms", json=SMS)
    assert sent.status_code == 202, sent.text
    assert client.get(f"/v1/messages/{sent.json()['id']}").json()["created_by"] == "crm-backend"


def test_a_requested_by_field_is_accepted_and_its_value_ignored(app) -> None:  # noqa: ANN001
    """reports.md documents `requested_by` in the body; access.md makes the caller the requester.
    The field passes validation (a payload error is what is refused) and the document says its
    value is ignored; tests/reports pin that the caller's name is what is recorded."""
    client = authorized_client(app, "tasks:request")
    refused = client.post("/v1/tasks/payment_reconciliation/requests", json={"payload": {"tolerance": -1}, "requested_by": "someone-else"})
    assert assert_refused(refused, 422)["error"].startswith("payment_reconciliation: invalid payload: tolerance:")
    field = app.openapi()["components"]["schemas"]["TaskRequestIn"]["properties"]["requested_by"]
    assert field["description"].startswith("Accepted and ignored: the request records the caller")


def test_no_key_or_hash_reaches_a_log_or_an_error_body(app, store, caplog) -> None:  # noqa: ANN001
    caplog.set_level(logging.DEBUG)
    key = make_key(app, "tasks:read", name="secretive")
    wrong = key[:-4] + "AAAA"
    client = TestClient(app)
    bodies = [client.get("/v1/tasks", headers=bearer(k)).text for k in (key, wrong)]
    bodies.append(client.get("/v1/messages/m1", headers=bearer(key)).text)
    from halo_platform.access.keys import revoke_key

    revoke_key(store, "secretive")
    bodies.append(client.get("/v1/tasks", headers=bearer(key)).text)
    seen = caplog.text + "".join(bodies)
    for secret in (key, wrong, key.split("_", 2)[2], key_hash(key), key_hash(wrong)):
        assert secret not in seen


def test_feature_code_sends_in_process_without_a_key_and_names_itself(app, store) -> None:  # noqa: ANN001, ARG001
    from halo_platform.delivery import send_sms
    from halo_platform.delivery.service import message_view

    sent = send_sms("+6281234567890", "Your appointment is at 10:00", created_by="reminders-job")
    assert message_view(sent["id"], store)["created_by"] == "reminders-job"


def body_operations(app) -> list[tuple[str, str]]:  # noqa: ANN001
    """Every secured operation that takes a body, as the document declares it."""
    return [(method.upper(), path) for path, item in app.openapi()["paths"].items() for method, operation in item.items()
            if method != "parameters" and "requestBody" in operation and operation.get("security")]


def test_broken_json_is_refused_for_who_sends_it_before_it_is_parsed(app) -> None:  # noqa: ANN001
    """access.md: no key -> 401, a key without the scope -> 403, and nothing happens; the body is
    not even read, so a broken one cannot turn either answer into a 422."""
    walked = body_operations(app)
    assert {("POST", "/v1/tasks/{task}/requests"), ("POST", "/v1/suppressions"), ("POST", "/v1/messages/sms"),
            ("POST", "/graphql")} <= set(walked)
    broken = {"content": b"{", "json": None, "headers": {"content-type": "application/json"}}
    anonymous = TestClient(app)
    for method, path in walked:
        assert_refused(call(anonymous, method, path, **broken), 401)
        other = next(s for s in SCOPES if s not in ("admin", NEEDS[(method, path)]))
        body = assert_refused(call(authorized_client(app, other), method, path, **broken), 403)
        assert body["detail"] == {"required_scope": NEEDS[(method, path)]}, (method, path)
