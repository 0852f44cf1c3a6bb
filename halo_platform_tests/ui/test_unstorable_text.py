"""Text no store can hold, typed into the Control Center, without a browser: access.md "it validates
before saving and shows the error beside the field; it never shows a stack trace".

PostgreSQL refuses a NUL character in text where SQLite keeps it, so a NUL in a form field or a
query value reached PostgreSQL and the person got the API's bare JSON 422 ("a value cannot be
stored") where SQLite re-rendered the page, or stored the NUL (a provider's reason). Every page now
refuses such text (NUL, a lone surrogate: core.text) before any query, on every store: "not a
valid ..." beside the field, the generic failed sign-in, the page's not-found answer for an id in
the path. Nothing is stored."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from halo_platform.access import users
from halo_platform.access.keys import list_keys
from halo_platform.core.store import StoreResource
from halo_platform.delivery.autopilot import state_changes
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.delivery.state import weight_history
from halo_platform.http import create_app
from halo_platform.reports.audit import list_requests
from halo_platform.reports.schedules import schedule_edits, set_schedule
from halo_platform_tests.fixtures.access import control_center

PASSWORD = "a long enough password"
NUL = "\x00"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, halo_env) -> Iterator[StoreResource]:  # noqa: ANN001
    """The isolated platform's SQLite store, then a PostgreSQL database of its own."""
    url = halo_env["HALO_DB_URL"] if request.param == "sqlite" else request.getfixturevalue("migrated_pg_url")
    made = StoreResource(db_url=url)
    users.create_user(made, "ada", "admin", PASSWORD)
    set_schedule(made, "weekly", task="payment_reconciliation", cron="0 6 * * 1", sinks=["outbox"], updated_by="seed")
    yield made
    made.dispose()


@pytest.fixture
def client(store: StoreResource) -> Iterator[TestClient]:
    """An admin's client (a session and its CSRF token); a 500 is an answer, not an exception."""
    with control_center(store, "ada", PASSWORD) as client:
        yield client


def _page(answer, status: int) -> str:  # noqa: ANN001 - httpx's Response
    assert (answer.status_code, answer.headers.get("content-type", "")[:9]) == (status, "text/html"), \
        (answer.status_code, answer.text[:300])
    return answer.text


def _beside(page: str, field: str) -> str:
    """The error shown beside `field` (macros.field_error)."""
    found = re.search(rf'<small id="{re.escape(field)}-error" class="error" role="alert">([^<]*)</small>', page)
    assert found, f"no error beside {field}"
    return found.group(1)


@pytest.mark.parametrize(("url", "field"), [
    ("/ui/messages?q=abc%00def", "q"),
    ("/ui/requests?who=ada%00", "who"),
    ("/ui/requests?task=payment_reconciliation%00", "task"),
    ("/ui/availability?feed=acme&provider=AC%0001", "provider"),
    ("/ui/availability?feed=acme&week=2026-01-05%00", "week"),
])
def test_a_nul_in_a_query_value_is_refused_beside_its_field(client: TestClient, url: str, field: str) -> None:
    page = _page(client.get(url), 422)
    assert _beside(page, field).startswith("not a valid ")


@pytest.mark.parametrize(("method", "url", "shown"), [
    ("GET", "/ui/requests/r1%00x", "There is no task request"),
    ("GET", "/ui/requests/r1%00x/live", "There is no task request"),
    ("GET", "/ui/requests/r1%00x/outputs/0", "There is no task request"),
    ("GET", "/ui/routing/history?rule=sms/*/TEXT%00", "Rule not found"),
    ("GET", "/ui/routing/edit?rule=sms/*/TEXT%00", "Rule not found"),
    ("GET", "/ui/schedules/weekly%00", "weekly"),
    ("GET", "/ui/tasks/payment_reconciliation%00", "payment_reconciliation"),
    ("POST", "/ui/access/keys/a%00b/revoke", "no active key named"),
    ("POST", "/ui/access/users/a%00b/disable", "no user named"),
    ("POST", "/ui/access/users/a%00b/password", "no user named"),
])
def test_a_nul_in_the_name_of_what_a_page_shows_is_its_not_found_page(client: TestClient, method: str, url: str,
                                                                       shown: str) -> None:
    data = {"csrf_token": client.csrf, "password": PASSWORD, "password_again": PASSWORD} if method == "POST" else None
    assert shown in _page(client.request(method, url, data=data), 404)


def test_a_providers_reason_with_a_nul_is_refused_beside_it_and_the_provider_stays_as_it_was(
        client: TestClient, store: StoreResource) -> None:
    answer = client.post("/ui/providers/switch", data={"csrf_token": client.csrf, "provider": "sandbox_sms_b", "state": "off",
                                                       "reason": f"flaky{NUL}"})
    page = _page(answer, 422)
    assert _beside(page, "reason.sandbox_sms_b") == "not a valid reason: it holds a NUL character, which cannot be stored"
    assert state_changes(store) == []


@pytest.mark.parametrize(("url", "form", "field"), [
    ("/ui/access/keys", {"name": f"svc{NUL}", "scope": "admin"}, "key.name"),
    ("/ui/access/keys", {"name": "svc", "scope": f"admin{NUL}"}, "key.scope"),
    ("/ui/access/users", {"name": f"bo{NUL}", "role": "viewer", "password": PASSWORD, "password_again": PASSWORD}, "user.name"),
    ("/ui/access/users", {"name": "bo", "role": "viewer", "password": PASSWORD + NUL, "password_again": PASSWORD + NUL},
     "user.password"),
    ("/ui/access/users/ada/password", {"password": PASSWORD + NUL, "password_again": PASSWORD + NUL}, "password.ada"),
    ("/ui/routing/edit", {"rule": "sms/*/TEXT", "weight.sandbox_sms_a": "50", "weight.sandbox_sms_b": "50",
                          "reason": f"rebalance{NUL}"}, "reason"),
    ("/ui/routing/new", {"channel": "sms", "country": "FR", "capability": "*", "weight.sandbox_sms_a": "1",
                         "reason": f"France{NUL}"}, "reason"),
    ("/ui/schedules/weekly", {"cron": "0 7 * * 1", "timezone": "UTC", "sinks": "outbox", "catch_up": "latest",
                              "payload.format": f"xlsx{NUL}"}, "payload.format"),
    ("/ui/schedules/weekly", {"cron": f"0 7 * * 1{NUL}", "timezone": "UTC", "sinks": "outbox", "catch_up": "latest"}, "cron"),
    ("/ui/tasks/payment_reconciliation", {"format": f"csv{NUL}", "sinks": "outbox"}, "format"),
    ("/ui/tasks/payment_reconciliation", {"format": "csv", "sinks": f"outbox{NUL}"}, "sinks"),
])
def test_a_nul_in_a_form_field_is_refused_beside_it_and_nothing_is_stored(client: TestClient, store: StoreResource, url: str,
                                                                          form: dict[str, str], field: str) -> None:
    before = (list_keys(store), users.list_users(store), weight_history(store), schedule_edits(store), list_requests(store))
    page = _page(client.post(url, data={"csrf_token": client.csrf, **form}), 422)
    assert _beside(page, field).startswith("not a valid ")
    assert (list_keys(store), users.list_users(store), weight_history(store), schedule_edits(store), list_requests(store)) == before


def test_a_weight_given_twice_in_the_routing_form_is_refused_beside_it(client: TestClient, store: StoreResource) -> None:
    """A form carrying two values for one provider kept the first silently (the CLI kept the last)."""
    before = weight_history(store)
    form = {"csrf_token": client.csrf, "rule": "sms/*/TEXT", "weight.sandbox_sms_a": ["60", "40"], "weight.sandbox_sms_b": "50",
            "reason": "rebalance"}
    assert _beside(_page(client.post("/ui/routing/edit", data=form), 422), "weight.sandbox_sms_a") == "given more than once"
    assert weight_history(store) == before


@pytest.mark.parametrize("store", ["sqlite", "postgresql"], indirect=True)
def test_signing_in_with_a_nul_in_the_name_is_the_generic_failed_sign_in(store: StoreResource) -> None:
    client = TestClient(create_app({"store": store, "providers": ProvidersResource()}), raise_server_exceptions=False)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text).group(1)
    answer = client.post("/ui/login", data={"name": f"ada{NUL}", "password": PASSWORD, "csrf_token": token})
    assert users.WRONG_LOGIN in _page(answer, 401)


@pytest.mark.parametrize(("text", "why"), [
    ("plain", None), ("", None), ("naïve – ok ✓", None), ("a\x00b", "a NUL character"), ("\x00", "a NUL character"),
    ("a\ud800b", "a lone surrogate"), ("\udfff", "a lone surrogate"), ("😀", None),
])
def test_unstorable_names_what_no_store_can_hold(text: str, why: str | None) -> None:
    from halo_platform.core.text import unstorable

    assert unstorable(text) == why


def test_text_errors_covers_every_value_of_a_field_and_names_it_for_the_page() -> None:
    from halo_platform.ui.app import text_errors

    form = [("name", "ok"), ("scope", "read"), ("scope", "wr\x00ite"), ("rate", "\ud800"), ("upload", object())]
    assert text_errors(form, prefix="key.", what={"scope": "scope name"}) == {
        "key.scope": "not a valid scope name: it holds a NUL character, which cannot be stored",
        "key.rate": "not a valid rate: it holds a lone surrogate, which cannot be stored",
    }
    assert text_errors({"payload.period_start": "2026\x00"}) == {
        "payload.period_start": "not a valid period start: it holds a NUL character, which cannot be stored"}
    assert text_errors({"who": "ada", "status": ["OK", "FAILED"]}) == {}
