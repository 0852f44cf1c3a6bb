"""The Control Center's frame, without a browser: who may open a page, where a person without a
session goes (a whole-page redirect even from a live fragment), what a too-low role sees."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from halo_platform.access import users
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.http import create_app

PASSWORD = "a long enough password"


@pytest.fixture
def client(halo_env):  # noqa: ANN001, ANN201
    from halo_platform.core.store import StoreResource

    store = StoreResource(db_url=halo_env["HALO_DB_URL"])
    users.create_user(store, "vera", "viewer", PASSWORD)
    client = TestClient(create_app({"store": store, "providers": ProvidersResource()}), follow_redirects=False)
    client.cookies.set("halo_session", users.login(store, "vera", PASSWORD, "test"))
    client.store = store
    yield client
    store.dispose()


def test_without_a_session_a_page_redirects_to_sign_in_and_comes_back(client) -> None:  # noqa: ANN001
    client.cookies.clear()
    answer = client.get("/ui/requests?status=FAILED")
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/login?next=/ui/requests%3Fstatus%3DFAILED"


def test_a_live_fragment_whose_session_ended_sends_the_whole_page_to_sign_in(client) -> None:  # noqa: ANN001
    users.logout(client.store, client.cookies["halo_session"])
    answer = client.get("/ui/requests/some-id/live", headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/ui/requests/some-id"})
    assert answer.status_code == 401 and answer.headers["hx-redirect"] == "/ui/login?next=/ui/requests/some-id"
    assert answer.text == ""


def test_a_role_too_low_gets_the_403_page_not_json(client) -> None:  # noqa: ANN001
    token = users.session(client.store, client.cookies["halo_session"]).csrf_token
    answer = client.post("/ui/routing/edit", data={"csrf_token": token, "rule": "sms/*/TEXT", "reason": "x"})
    assert answer.status_code == 403 and answer.headers["content-type"].startswith("text/html")
    assert "needs the <strong>admin</strong> role" in answer.text and "vera" in answer.text


def _ui_routes(app) -> list[tuple[str, str]]:  # noqa: ANN001
    """(method, path) of every Control Center page and form (FastAPI keeps an included router as one entry)."""
    found = []

    def walk(routes) -> None:  # noqa: ANN001
        for route in routes:
            if hasattr(route, "original_router"):
                walk(route.original_router.routes)
            elif getattr(route, "path", "").startswith("/ui") and hasattr(route, "methods"):
                found.extend((m, route.path) for m in route.methods if m != "HEAD")

    walk(app.routes)
    return found


def test_no_page_or_form_of_the_control_center_answers_without_a_session(client) -> None:  # noqa: ANN001
    client.cookies.clear()
    routes = [(m, p) for m, p in _ui_routes(client.app) if p not in ("/ui/login", "/ui/logout")]
    assert len(routes) >= 15, routes
    for method, path in routes:
        url = path.replace("{request_id}", "r1").replace("{index}", "0").replace("{name}", "payment_reconciliation") \
                  .replace("{schedule_id}", "weekly")
        answer = client.request(method, url)
        if method == "GET":
            assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/login?next="), (method, url, answer.status_code)
        else:  # a form: the sign-in page at once, saying nothing was saved, going back to the form's navigation page
            assert answer.status_code == 401 and "nothing was saved" in answer.text, (method, url, answer.status_code)  # (no Referer)
            assert f'name="next" value="/ui/{url.split("/")[2]}"' in answer.text and 'name="csrf_token"' in answer.text
