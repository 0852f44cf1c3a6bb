"""The HTTP service: /health, /openapi.json, JSON error bodies; `halo serve` really serves."""

import os

import httpx
import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient

from halo_platform.access.guard import Caller, requires
from halo_platform.core.errors import ConflictError
from halo_platform.core.http import ChecksFirstRoute, make_app
from halo_platform.http import create_app
from halo_platform_tests.fixtures.access import authorized_client
from halo_platform_tests.fixtures.halo_serve import halo_serve


def test_health_checks_the_operational_store(halo_env):
    client = TestClient(create_app())
    assert client.get("/health").json() == {"status": "ok"}


def test_openapi_is_published(halo_env):
    spec = authorized_client(create_app()).get("/openapi.json").json()
    assert spec["info"]["title"] == "halo_platform" and "/health" in spec["paths"]


def test_unknown_paths_and_halo_errors_answer_json_error_bodies(halo_env):
    app = create_app()

    @app.get("/boom")
    def boom():
        raise ConflictError("idempotency key reused with another payload")

    client = TestClient(app)
    missing = client.get("/nope")
    assert missing.status_code == 404 and missing.json()["error"] == "not found"
    conflict = client.get("/boom")
    assert conflict.status_code == 409
    assert conflict.json() == {"error": "idempotency key reused with another payload", "detail": None}


def test_halo_serve_answers_health_on_loopback(tmp_path):
    env = {**os.environ, "HALO_HOME": str(tmp_path), "HALO_DB_URL": f"sqlite:///{tmp_path / 'halo.db'}"}
    with halo_serve(tmp_path, env=env) as url:
        assert httpx.get(f"{url}/health", timeout=30).json() == {"status": "ok"}


def _guarded_router(**kwargs) -> APIRouter:  # noqa: ANN003 - APIRouter's
    router = APIRouter(**kwargs)

    @router.post("/v1/things")
    def post_thing(body: dict[str, int], caller: Caller = Depends(requires("admin"))) -> dict:  # noqa: ARG001
        return body

    return router


def test_an_app_refuses_a_guarded_route_that_would_parse_its_body_before_the_guard(halo_env):
    """A router that forgot `route_class=ChecksFirstRoute` would answer broken JSON 422 before the
    caller hears 401/403 (access.md); the app is not built with one."""
    with pytest.raises(TypeError, match=r"^/v1/things: a guarded route with a body needs APIRouter\(route_class=ChecksFirstRoute\)"):
        make_app([_guarded_router()], {}, requires(None))
    app = make_app([_guarded_router(route_class=ChecksFirstRoute)], {"store": None}, requires(None))
    answer = TestClient(app).post("/v1/things", content=b"{", headers={"content-type": "application/json"})
    assert answer.status_code == 401 and answer.json()["error"].startswith("authentication required")


def test_health_answers_503_in_json_while_the_store_does_not_answer(halo_env, monkeypatch, caplog):
    """With the operational store down, GET /health was a 500 'internal error' and a traceback in
    the server log; a probe now gets 503 and why, in JSON, and the log one line (no URL: it may
    hold the password)."""
    monkeypatch.setenv("HALO_DB_URL", "postgresql+psycopg://halo:pw-SECRET@127.0.0.1:1/halo")
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        answers = [client.get("/health"), client.head("/health")]
    assert [a.status_code for a in answers] == [503, 503]
    assert answers[0].json() == {"status": "unavailable", "error": "the operational store does not answer"}
    assert "Traceback" not in caplog.text and "pw-SECRET" not in caplog.text


def test_every_route_answers_503_while_the_store_does_not_answer(halo_env, monkeypatch, caplog):
    """With the operational store down (a restart, a failover), every authenticated route
    answered 500 'internal error', which says the service is broken and that sending again will
    not help. It is 503 with Retry-After now: JSON on the API, a page in the Control Center, and
    one log line without the URL (it may hold the password) or a traceback."""
    monkeypatch.setenv("HALO_DB_URL", "postgresql+psycopg://halo:pw-SECRET@127.0.0.1:1/halo")
    key = {"Authorization": "Bearer halo_0123456789ab_" + "x" * 43}
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        api = [client.get("/v1/messages/abc", headers=key), client.get("/openapi.json", headers=key),
               client.post("/v1/messages/sms", headers=key, json={"to": "+33612345678", "body": "Your code: 123456", "priority": "HIGH"})]
        client.cookies.set("halo_session", "a-session-token")
        page = client.get("/ui/messages")
        client.cookies.clear()
        client.get("/ui/login")
        sign_in = client.post("/ui/login", data={"name": "ada", "password": "pw", "csrf_token": client.cookies.get("halo_login_csrf"), "next": "/ui"})
    for answer in api:
        assert (answer.status_code, answer.json(), answer.headers.get("retry-after")) == (
            503, {"error": "the operational store does not answer; try again shortly", "detail": None}, "5")
    for answer in (page, sign_in):
        assert (answer.status_code, answer.headers["content-type"].split(";")[0], answer.headers.get("retry-after")) == (503, "text/html", "5")
        assert "The Control Center cannot reach its operational store" in answer.text and "Traceback" not in answer.text
    assert "Traceback" not in caplog.text and "pw-SECRET" not in caplog.text and "+33612345678" not in caplog.text
    assert "GET /v1/messages/abc: the operational store does not answer (OperationalError)" in caplog.text
