# ruff: noqa: F811 - the fixtures imported from test_page_edges are the tests' arguments
"""Control Center forms and pages found wrong in review (each test failed before its fix): a
schedule named `preview` has a page of its own; the weights form saves the weights it was not
asked to change as they were; a new rule's weight for a provider that cannot carry it is refused
beside that provider's field; only the whole name and the whole password sign in."""

from __future__ import annotations

import html
import re

import sqlalchemy as sa
from fastapi.testclient import TestClient

from halo_platform.access import users
from halo_platform.core.store import StoreResource
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.delivery.state import load_router, set_weights, weight_history
from halo_platform.reports.schedules import list_schedules, set_schedule
from halo_platform_tests.ui.test_page_edges import _form, _html, admin, app, operator, store  # noqa: F401 - the same seeded store, app and clients


def test_a_schedule_named_preview_has_its_page_and_is_saved_from_it(store: StoreResource, operator: TestClient) -> None:
    """`preview` is a valid schedule id; its list link and the answer to its save showed the live
    preview's bare fragment (no page, no form), as the fragment's route took the address."""
    set_schedule(store, "preview", task="payment_reconciliation", cron="0 6 * * 1", sinks=["outbox"], updated_by="seed")
    assert 'href="/ui/schedules/preview"' in _html(operator.get("/ui/schedules"), 200)
    page = _html(operator.get("/ui/schedules/preview"), 200)
    assert "<h1>preview</h1>" in page
    form = _form(page, "/ui/schedules/preview")
    form["cron"] = ["0 7 * * 1"]
    saved = operator.post("/ui/schedules/preview", data=form)
    assert (saved.status_code, saved.headers["location"]) == (303, "/ui/schedules/preview")
    assert 'id="saved"' in _html(operator.get("/ui/schedules/preview"), 200)
    assert next(s for s in list_schedules(store) if s["schedule_id"] == "preview")["cron"] == "0 7 * * 1"
    # the edit form's live preview still answers, under the schedule's address
    fragment = _html(operator.get("/ui/schedules/preview/preview", params={"cron": "0 7 * * 1", "timezone": "UTC"}), 200)
    assert 'id="preview-words">every Monday at 07:00, UTC<' in fragment
    assert 'hx-get="/ui/schedules/preview/preview"' in page


def test_saving_one_providers_weight_keeps_the_others_exact(store: StoreResource, admin: TestClient) -> None:
    """The form was filled with "%g" (6 significant digits): changing sandbox_sms_b alone also
    saved sandbox_sms_a's 1234.5678 as 1234.57, and the history said "1234.57 -> 1234.57"."""
    providers = ProvidersResource()
    config = providers.config()
    providers.close()
    set_weights(config, "sms/*/TEXT", {"sandbox_sms_a": 1234.5678, "sandbox_sms_b": 30.0}, "cli:ops", store, "seed")
    page = _html(admin.get("/ui/routing/edit", params={"rule": "sms/*/TEXT"}), 200)
    form = _form(page, "/ui/routing/edit")
    assert (form["weight.sandbox_sms_a"], form["weight.sandbox_sms_b"]) == (["1234.5678"], ["30"])
    saved = admin.post("/ui/routing/edit", data={**form, "weight.sandbox_sms_b": "40", "reason": "more to b"})
    assert saved.status_code == 303
    router = load_router(config, store)
    assert router.configured_weights(router.config.rule("sms/*/TEXT")) == {"sandbox_sms_a": 1234.5678, "sandbox_sms_b": 40.0}
    assert weight_history(store, "sms/*/TEXT", limit=1)[0]["changes"] == {"sandbox_sms_b": (30.0, 40.0)}
    assert "<td class=\"num\">1234.5678</td>" in _html(admin.get("/ui/routing"), 200)


def _errors(page: str) -> dict[str, str]:
    """Every error beside a field: {field: message}."""
    return {field: html.unescape(text) for field, text in re.findall(r'<small id="([^"]+)-error" class="error"[^>]*>(.*?)</', page, re.S)}


def test_a_new_rules_weight_for_a_provider_that_cannot_carry_it_is_refused_beside_that_provider(
        store: StoreResource, admin: TestClient) -> None:
    """The Add a rule form lists every provider; a weight for one of another channel, or without
    the rule's capability, was refused above the form, naming only the first of them."""
    form = {"csrf_token": admin.csrf, "channel": "sms", "country": "FR", "capability": "VOICE", "weight.sandbox_sms_a": "1",
            "weight.sandbox_sms_b": "2", "weight.sandbox_email_a": "3", "reason": "France voice"}
    page = _html(admin.post("/ui/routing/new", data=form), 422)
    assert _errors(page) == {"weight.sandbox_sms_b": "sandbox_sms_b does not offer VOICE",
                             "weight.sandbox_email_a": "sandbox_email_a is a email provider, not sms"}
    assert 'id="weights-error"' not in page
    assert 'name="weight.sandbox_email_a" inputmode="decimal" value="3"' in page and ">France voice</textarea>" in page
    with store.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM routing_rules")).scalar_one() == 0


def _sign_in(app, name: str, password: str):  # noqa: ANN001, ANN202 - the app, httpx's Response
    """The sign-in form sent as a browser sends it (its CSRF token and cookie)."""
    client = TestClient(app, follow_redirects=False)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text).group(1)
    return client.post("/ui/login", data={"name": name, "password": password, "csrf_token": token, "next": "/ui/tasks"})


def test_only_the_whole_name_and_the_whole_password_sign_in(app, store: StoreResource) -> None:  # noqa: ANN001
    """Names match byte for byte (README): the login cut the name at 100 characters and the
    password at 1024, so "a" * 100 + "X" signed in as the user "a" * 100, and a password with
    anything after its 1024 characters was taken."""
    name, password = "a" * 100, "p" * 1024
    users.create_user(store, name, "admin", password)
    for typed in ((name + "X", password), (name, password + "X")):
        refused = _sign_in(app, *typed)
        assert refused.status_code == 401 and "wrong name or password" in refused.text
        assert "halo_session" not in refused.cookies
    signed_in = _sign_in(app, name, password)
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/ui/tasks")


def test_a_message_is_found_by_its_idempotency_key_as_the_sender_gave_it(store: StoreResource, admin: TestClient) -> None:
    """A key given with spaces around it (" k1 ") is stored as given; the Messages page stripped
    what was typed and answered 404 for it. The key as typed finds it; typed with spaces, a key
    stored without them is found as before."""
    from halo_platform.delivery.service import submit

    submit("sms", {"to": "+33612345678", "body": "b", "priority": "LOW", "idempotency_key": " k1 "}, store=store,
           providers=ProvidersResource())
    submit("sms", {"to": "+33612345678", "body": "b", "priority": "LOW", "idempotency_key": "k2"}, store=store,
           providers=ProvidersResource())
    for typed in (" k1 ", " k2 ", "k2"):
        page = admin.get("/ui/messages", params={"q": typed})
        assert page.status_code == 200 and "+336" in page.text, typed
    assert admin.get("/ui/messages", params={"q": "k1"}).status_code == 404  # another key than " k1 "
    assert admin.get("/ui/messages", params={"q": "   "}).status_code == 200  # nothing asked: the empty form
