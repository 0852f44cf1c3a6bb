"""`halo bench access` measures the key check against the same app without it: its baseline must
answer without a key, and the app measured with the key must still refuse a caller without one."""

from __future__ import annotations

from fastapi.testclient import TestClient

from halo_platform.delivery.resources import ProvidersResource
from halo_platform.http import create_app
from halo_platform.lab.bench.access import _without_authentication


def test_the_baseline_without_authentication_answers_and_the_guarded_app_still_refuses(store):  # noqa: ANN001
    """The baseline looked for a guard attribute the guard no longer has and overrode nothing, and a
    guard's check before the body ran whatever the overrides: every baseline request was a 401 and
    the bench stopped at its first probe (AssertionError), printing no figure."""
    providers = ProvidersResource()
    try:
        open_door = create_app({"store": store, "providers": providers})
        _without_authentication(open_door)
        assert TestClient(open_door).get("/v1/messages/unknown").status_code == 404
        assert TestClient(open_door).post("/v1/messages/sms", json={}).status_code == 422  # a body route: its check skipped too
        guarded = create_app({"store": store, "providers": providers})
        assert TestClient(guarded).get("/v1/messages/unknown").status_code == 401
        assert TestClient(guarded).post("/v1/messages/sms", json={}).status_code == 401
    finally:
        providers.close()
