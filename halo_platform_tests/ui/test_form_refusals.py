# ruff: noqa: F811 - the fixtures imported from test_page_edges are the tests' arguments
"""Control Center forms refusing bad input, without a browser (each test failed before its fix):
a form without its session's CSRF token gets a page a person can read (not a JSON body) and
saves nothing; a country code is two ASCII letters; a task request with every sink unticked is
refused beside the sinks; the key and user forms show every bad field at once; an error that
repeats a 20,000-character value is shown short."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from halo_platform.access import users
from halo_platform.access.keys import list_keys
from halo_platform.core.store import StoreResource
from halo_platform.delivery.state import weight_history
from halo_platform.reports.schedules import list_schedules
from halo_platform_tests.ui.test_page_edges import PASSWORD, admin, app, store  # noqa: F401 - the same seeded store, app and clients

SHORT = 400  # characters: an error message a person can read beside its field

SCHEDULE = {"cron": "0 7 * * 1", "timezone": "UTC", "sinks": "outbox", "catch_up": "latest", "enabled": "on"}


def _html(answer, status: int) -> str:  # noqa: ANN001 - httpx's Response
    assert (answer.status_code, answer.headers.get("content-type", "")[:9]) == (status, "text/html"), \
        (answer.status_code, answer.headers.get("content-type"), answer.text[:300])
    return answer.text


def _error(page: str, field: str) -> str:
    """The text of the error shown beside `field` (its `<field>-error` element), unescaped."""
    found = re.search(rf'id="{re.escape(field)}-error"[^>]*>(.*?)</', page, re.S)
    assert found, f"no error beside {field}"
    return html.unescape(found.group(1))


def _requests(store: StoreResource) -> int:
    with store.read() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM task_requests")).scalar_one()


def _rules(store: StoreResource) -> set[str]:
    with store.read() as conn:
        return set(conn.execute(sa.text("SELECT rule FROM routing_rules")).scalars())


FORMS = [  # every form of the Control Center an admin may send, filled in as the page would
    ("/ui/tasks/payment_reconciliation", {"tolerance": "0.01", "sinks": "outbox"}),
    ("/ui/schedules/weekly", SCHEDULE),
    ("/ui/routing/edit", {"rule": "sms/*/TEXT", "weight.sandbox_sms_a": "1", "reason": "forged"}),
    ("/ui/routing/new", {"channel": "sms", "country": "DE", "capability": "*", "weight.sandbox_sms_a": "1", "reason": "forged"}),
    ("/ui/providers/switch", {"provider": "sandbox_sms_b", "state": "off", "reason": "forged"}),
    ("/ui/access/keys", {"name": "forged", "scope": "admin"}),
    ("/ui/access/users", {"name": "forged", "role": "admin", "password": PASSWORD, "password_again": PASSWORD}),
    ("/ui/access/users/otto/password", {"password": PASSWORD + "!", "password_again": PASSWORD + "!"}),
    ("/ui/access/users/otto/disable", {}),
]


@pytest.mark.parametrize("token", [None, "a token of another session"])
def test_a_form_without_its_sessions_csrf_token_gets_a_page_saying_nothing_was_saved(admin, store, token) -> None:  # noqa: ANN001
    """A page older than the session (signed out and in again in another tab) or a forged post: a
    403 page a person can read, naming the way out, where a raw JSON body was shown before."""
    schedules, history = list_schedules(store), weight_history(store)
    for path, form in FORMS:
        sent = form if token is None else {**form, "csrf_token": token}
        page = _html(admin.post(path, data=sent), 403)
        assert "nothing was saved" in page and "reload the page" in page, path
        assert 'name="csrf_token"' in page  # the page's own sign-out form still works
    assert list_schedules(store) == schedules and weight_history(store) == history
    assert not any("/DE/" in r for r in _rules(store))
    assert [k["name"] for k in list_keys(store)] == []
    assert {u["name"]: u["disabled_at"] for u in users.list_users(store)} == {"ada": None, "otto": None}
    assert _requests(store) == 0


@pytest.mark.parametrize("country", ["ÄÖ", "ΔΔ", "Ｆｒ"])
def test_a_new_rules_country_is_two_ascii_letters(admin, store, country: str) -> None:  # noqa: ANN001
    """str.isalpha() takes any script's letters: "ÄÖ" made a rule sms/ÄÖ/* no message could match."""
    before = _rules(store)
    page = _html(admin.post("/ui/routing/new", data={"csrf_token": admin.csrf, "channel": "sms", "country": country,
                                                     "capability": "*", "weight.sandbox_sms_a": "1", "reason": "r"}), 422)
    assert "two-letter code" in _error(page, "country")
    assert f'value="{country}"' in page  # what was typed stays in the field
    assert _rules(store) == before


@pytest.mark.parametrize(("path", "form"), [
    ("/ui/routing/edit", {"rule": "sms/*/TEXT", "weight.sandbox_sms_a": "1"}),
    ("/ui/routing/new", {"channel": "sms", "country": "DE", "capability": "*", "weight.sandbox_sms_a": "1"}),
])
def test_a_routing_reason_past_500_characters_is_refused_beside_the_reason(admin, store, path: str, form: dict) -> None:  # noqa: ANN001
    """A reason of 501 characters went into the routing history (the provider switch took 500 at most)."""
    before = (_rules(store), len(weight_history(store)))
    page = _html(admin.post(path, data={"csrf_token": admin.csrf, **form, "reason": "y" * 501}), 422)
    assert _error(page, "reason") == "the reason is 501 characters; at most 500"
    assert (_rules(store), len(weight_history(store))) == before


def test_a_task_request_with_every_sink_unticked_is_refused_beside_the_sinks_with_the_payloads_errors(admin, store) -> None:  # noqa: ANN001
    """Unticking every "Deliver to" box delivered to the task's default sinks all the same; now the
    form says so beside the sinks, with the payload's own errors in the same answer."""
    page = _html(admin.post("/ui/tasks/payment_reconciliation", data={"csrf_token": admin.csrf, "tolerance": "abc"}), 422)
    assert "pick at least one sink" in _error(page, "sinks")
    assert "decimal" in _error(page, "tolerance") and 'value="abc"' in page
    page = _html(admin.post("/ui/tasks/payment_reconciliation", data={"csrf_token": admin.csrf, "tolerance": "0.05"}), 422)
    assert "pick at least one sink" in _error(page, "sinks") and 'value="0.05"' in page
    assert _requests(store) == 0


def test_a_task_request_naming_a_sink_the_file_lacks_is_refused_beside_the_sinks(admin, store) -> None:  # noqa: ANN001
    """A sink gone from the file since the form was drawn (or a forged name): beside the sinks, by
    its error's type, not by whether its text says "sink"."""
    form = {"csrf_token": admin.csrf, "tolerance": "0.05", "sinks": "gone_since"}
    page = _html(admin.post("/ui/tasks/payment_reconciliation", data=form), 422)
    assert _error(page, "sinks").startswith("unknown sink(s): gone_since; known: ")
    assert _requests(store) == 0


def test_the_key_form_shows_each_bad_field_at_once(admin, store) -> None:  # noqa: ANN001
    """A bad name, no scope and a bad rate: three errors in one answer, not one per submit."""
    page = _html(admin.post("/ui/access/keys", data={"csrf_token": admin.csrf, "name": "<b>x</b>", "rate": "abc"}), 422)
    assert "letters, digits" in _error(page, "key.name")
    assert "give at least one of" in _error(page, "key.scope")
    assert _error(page, "key.rate") == "a number of requests per second"
    assert 'value="&lt;b&gt;x&lt;/b&gt;"' in page and "<b>x</b>" not in page
    assert list_keys(store) == []


def test_the_user_form_shows_each_bad_field_at_once(admin, store) -> None:  # noqa: ANN001
    page = _html(admin.post("/ui/access/users", data={"csrf_token": admin.csrf, "name": "no spaces", "role": "root",
                                                      "password": PASSWORD, "password_again": PASSWORD + "?"}), 422)
    assert "letters, digits" in _error(page, "user.name")
    assert _error(page, "user.role") == "one of viewer, operator, admin"
    assert _error(page, "user.password") == "the two passwords differ"
    assert 'value="no spaces"' in page
    assert {u["name"] for u in users.list_users(store)} == {"ada", "otto"}


def test_an_error_repeating_a_very_long_value_is_shown_short_and_the_value_is_kept(admin, store) -> None:  # noqa: ANN001
    """The cron check repeats the whole value: a 20,000-character cron made a 20,000-character error
    beside the field (and another in the preview)."""
    cron = "0 7 * * * " + "é" * 20_000
    page = _html(admin.post("/ui/schedules/weekly", data={"csrf_token": admin.csrf, **SCHEDULE, "cron": cron}), 422)
    shown = _error(page, "cron")
    assert shown.startswith("invalid cron expression") and "…" in shown and len(shown) <= SHORT
    preview = html.unescape(re.search(r'id="preview-error"[^>]*>(.*?)</p>', page, re.S).group(1))
    assert len(preview) <= SHORT
    assert f'value="{cron}"' in page  # the field keeps it all
    assert list_schedules(store)[0]["cron"] == "0 6 * * 1"


@pytest.mark.parametrize("path", ["/ui/nope", "/ui/requests/1/nope", "/ui/tasks/payment_reconciliation/extra"])
def test_a_control_center_address_that_names_no_page_answers_a_page(app, store, admin, path: str) -> None:  # noqa: ANN001
    """A mistyped or stale Control Center address answered the API's JSON 404 to a person. Signed
    in: a page saying so, with the navigation; not signed in: sign in first, like every page."""
    from fastapi.testclient import TestClient

    page = _html(admin.get(path), 404)
    assert "No such page" in page and 'href="/ui/tasks"' in page
    anonymous = TestClient(app, follow_redirects=False).get(path)
    assert (anonymous.status_code, anonymous.headers["location"]) == (303, f"/ui/login?next={path}")
    assert admin.get("/v1/nope").json()["error"] == "not found"  # the API's answer is the API's
