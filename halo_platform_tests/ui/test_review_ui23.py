# ruff: noqa: F811 - the fixtures imported from test_page_edges are the tests' arguments
"""Control Center defects found in review ui23 (each test failed before its fix): Create key and
Rotate answered their POST with the page showing the new key, so a reload of that answer (or the
same form sent again: back and send, a double click, a client's retry) sent the form again: a
reload of Rotate's answer rotated the key again (the key just shown was replaced and stopped
working after the overlap), a re-sent Create made a second key once the first was revoked. The
Requests page's "Older requests" pages said neither where in the log they were nor how long it is.
The routing history of a rule that never existed said "No changes yet" instead of a 404 page."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from halo_platform.access.keys import create_key, list_keys, revoke_key
from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.delivery.state import weight_history
from halo_platform.delivery.tables import RoutingWeightAudit
from halo_platform.reports import audit
from halo_platform.reports.audit import list_requests, log_page
from halo_platform.reports.schedules import schedule_edits
from halo_platform.ui.requests import LIMIT
from halo_platform_tests.fixtures.browser import screenshot
from halo_platform_tests.ui.conftest import ControlCenter, open_page, sign_in
from halo_platform_tests.ui.test_form_refusals import _error, _html
from halo_platform_tests.ui.test_page_edges import _form, admin, app, store  # noqa: F401 - the same seeded store, app and clients
from halo_platform_tests.ui.test_review_ui22 import _log, _older, any_store  # noqa: F401 - the three stores

ROTATE = "/ui/access/keys/partner/rotate"


def _keys(store: StoreResource, name: str) -> list[dict]:
    return [k for k in list_keys(store) if k["name"] == name]


def test_a_rotate_form_sent_again_does_not_rotate_the_key_again(store: StoreResource, admin: TestClient) -> None:
    """The same Rotate form (its body as the page gave it) sent twice rotates once: the second
    answer says so beside the row's form, shows no key, and the key the first answer showed
    stays the name's active key."""
    create_key(store, "partner", ["tasks:read"])
    form = _form(_html(admin.get("/ui/access"), 200), ROTATE) | {"overlap_hours": ["0"]}
    first = _html(admin.post(ROTATE, data=form), 201)
    assert 'id="new-key"' in first
    again = admin.post(ROTATE, data=form)
    assert again.status_code == 409, again.status_code
    page = _html(again, 409)
    assert _error(page, "rotate.partner") == "This form was already sent; the key was not rotated again."
    assert 'id="new-key"' not in page
    keys = _keys(store, "partner")
    assert len(keys) == 2 and sum(k["active_name"] == "partner" for k in keys) == 1


def test_a_create_key_form_sent_again_makes_no_second_key(store: StoreResource, admin: TestClient) -> None:
    """Sent again after the key it made was revoked (a reload of the answer, back and send), the
    form made a second key under the name, shown on the page: now it is refused beside the form."""
    form = _form(_html(admin.get("/ui/access"), 200), "/ui/access/keys") | {"name": ["reports-bot"], "scope": ["tasks:read"]}
    assert 'id="new-key"' in _html(admin.post("/ui/access/keys", data=form), 201)
    again = admin.post("/ui/access/keys", data=form)  # the key still active: the name is taken
    assert _error(_html(again, 409), "key.form") == "This form was already sent; no second key was created."
    revoke_key(store, "reports-bot")
    again = admin.post("/ui/access/keys", data=form)
    assert again.status_code == 409, again.status_code
    page = _html(again, 409)
    assert _error(page, "key.form") == "This form was already sent; no second key was created."
    assert 'id="new-key"' not in page and len(_keys(store, "reports-bot")) == 1


def test_a_refused_create_key_form_corrected_and_sent_again_makes_the_key(store: StoreResource, admin: TestClient) -> None:
    """A form refused by the domain (the name taken) made nothing: the same token sent again, once
    the name is free, makes the key; so does a form without a token (a script's), as before."""
    create_key(store, "taken", ["tasks:read"])
    form = _form(_html(admin.get("/ui/access"), 200), "/ui/access/keys") | {"name": ["taken"], "scope": ["tasks:read"]}
    assert "exists" in _error(_html(admin.post("/ui/access/keys", data=form), 422), "key.name")
    revoke_key(store, "taken")
    assert 'id="new-key"' in _html(admin.post("/ui/access/keys", data=form), 201)
    bare = {"csrf_token": admin.csrf, "name": "scripted", "scope": "tasks:read"}
    assert 'id="new-key"' in _html(admin.post("/ui/access/keys", data=bare), 201)


@pytest.mark.parametrize("token", ["1-abc", "9999999999-" + "0" * 32, "x" * 5000, "1700000000-" + "0" * 32])
def test_a_form_token_the_page_did_not_give_is_refused_beside_the_form(admin: TestClient, token: str) -> None:
    """A token of another shape, from the future, or older than a page lives, is refused beside the
    form (no key made), never a 500."""
    form = {"csrf_token": admin.csrf, "form_token": token, "name": "odd", "scope": "tasks:read"}
    page = _html(admin.post("/ui/access/keys", data=form), 422)
    assert "reload the page" in _error(page, "key.form")


def test_reloading_the_answer_of_rotate_in_the_browser_rotates_nothing_again(page: Page, control_center: ControlCenter) -> None:
    """The browser's reload of Rotate's answer (the form re-sent) leaves the key it showed working:
    the second answer says the form was already sent, beside the row."""
    made = control_center.halo("keys", "create", "reload-lab", "--scope", "availability:read")
    assert made.returncode == 0, made.stderr
    sign_in(page, control_center, "admin")
    open_page(page, control_center.url + "/ui/access")
    row = page.locator("tr[data-key='reload-lab']")
    row.get_by_label("Hours the replaced key reload-lab keeps working").fill("0")
    with page.expect_response(lambda r: r.url.endswith("/rotate")) as answer:
        row.get_by_role("button", name="Rotate key reload-lab").click()
    assert answer.value.status == 201
    shown = page.locator("#new-key").inner_text().strip()
    with page.expect_response(lambda r: r.url.endswith("/rotate")) as answer:
        page.reload()
    assert answer.value.request.method == "POST" and answer.value.status == 409
    expect(page.locator("#rotate\\.reload-lab-error")).to_have_text("This form was already sent; the key was not rotated again.")
    expect(page.locator("#new-key")).to_have_count(0)
    screenshot(page, "ui23-rotate-reloaded")
    listed = control_center.halo("keys", "list")
    assert listed.stdout.count("reload-lab") == 2, listed.stdout
    assert shown.split("_")[1] in listed.stdout



def test_the_other_forms_sent_again_change_nothing_twice(store: StoreResource, admin: TestClient) -> None:
    """The forms that answer with a redirect (a reload re-reads the page) were checked for a body
    sent again: a routing edit and a schedule edit are refused as changed since their page (one
    change recorded each), a user made twice is refused (the name is taken)."""
    rule = re.search(r'href="/ui/routing/edit\?rule=([^"&]+)"', _html(admin.get("/ui/routing"), 200)).group(1)
    edit = _form(_html(admin.get(f"/ui/routing/edit?rule={rule}"), 200), "/ui/routing/edit")
    names = [field for field in edit if field.startswith("weight.")]
    edit |= {names[0]: ["7"], "reason": ["ticket 42"]}
    before = len(weight_history(store, unquote(rule)))
    assert admin.post("/ui/routing/edit", data=edit, follow_redirects=False).status_code == 303
    assert admin.post("/ui/routing/edit", data=edit, follow_redirects=False).status_code == 422
    assert len(weight_history(store, unquote(rule))) == before + 1

    schedule = _form(_html(admin.get("/ui/schedules/weekly"), 200), "/ui/schedules/weekly") | {"cron": ["0 7 * * 2"]}
    assert admin.post("/ui/schedules/weekly", data=schedule, follow_redirects=False).status_code == 303
    assert admin.post("/ui/schedules/weekly", data=schedule, follow_redirects=False).status_code == 422
    assert len(schedule_edits(store, "weekly")) == 2  # its creation and this edit

    user = _form(_html(admin.get("/ui/access"), 200), "/ui/access/users") | {
        "name": ["vera"], "role": ["viewer"], "password": ["a long enough password"], "password_again": ["a long enough password"]}
    assert admin.post("/ui/access/users", data=user, follow_redirects=False).status_code == 303
    assert admin.post("/ui/access/users", data=user, follow_redirects=False).status_code == 422


@pytest.mark.parametrize("who", ["", "ada"])
def test_each_page_of_the_requests_log_says_which_requests_it_shows_of_how_many(admin: TestClient, store: StoreResource,
                                                                                  who: str) -> None:
    """The first page and each "Older requests" page say "requests A-B of N" (the filters' N, the
    position through the keyset pages), the last one ending at N."""
    total = 2 * LIMIT + 10
    _log(store, (2 if who else 1) * total, 7)
    url: str | None = "/ui/requests" + (f"?who={who}" if who else "")
    said = []
    while url:
        page = _html(admin.get(url), 200)
        found = re.search(r'id="requests-shown"[^>]*>([^<]*)<', page)
        assert found, page[-2000:]
        said.append(" ".join(found.group(1).split()))
        url = _older(page)
    assert said == [f"requests 1–{LIMIT} of {total}", f"requests {LIMIT + 1}–{2 * LIMIT} of {total}",
                    f"requests {2 * LIMIT + 1}–{total} of {total}"]


def test_log_page_says_where_each_keyset_page_starts_on_every_store(any_store: StoreResource) -> None:
    """One query gives the filters' total and how many requests come up to a page's cursor, through
    requests of one instant across a page's end, on SQLite, PostgreSQL and MariaDB (ui24: with the
    page, in the same statement; `list_requests`' page)."""
    _log(any_store, 23, 4)
    older_than, listed = None, 0
    while (found := log_page(any_store, 5, older_than=older_than))[0]:
        page, counted = found
        assert page == list_requests(any_store, limit=5, older_than=older_than)
        assert counted == (23, listed)
        listed += len(page)
        older_than = (dt.datetime.fromisoformat(page[-1]["created_at"]), page[-1]["request_id"])
    assert listed == 23 and found == ([], None)
    assert log_page(any_store, 50, requested_by="ada")[1] == (12, 0)
    assert log_page(any_store, 50, requested_by="ada\x00") == ([], None)


def test_the_history_of_a_rule_that_never_existed_is_a_404_page(admin: TestClient) -> None:
    """`/ui/routing/history?rule=` a key no rule has, nor any change: "Rule not found" (404), as the
    edit page of that rule says, not an empty history saying "No changes yet"."""
    page = _html(admin.get("/ui/routing/history", params={"rule": "sms:ZZ:no-such-thing"}), 404)
    assert "Rule not found" in page and "unknown routing rule &#39;sms:ZZ:no-such-thing&#39;" in page
    assert "No changes yet" not in page


def test_the_history_of_a_rule_in_force_without_changes_says_no_changes_yet(admin: TestClient) -> None:
    """Every rule in force has a history page, changed or not, and every rule has one page."""
    rules = sorted(set(re.findall(r'href="/ui/routing/edit\?rule=([^"&]+)"', _html(admin.get("/ui/routing"), 200))))
    assert rules
    for rule in rules:
        page = _html(admin.get(f"/ui/routing/history?rule={rule}"), 200)
        assert "History of routing changes" in page
    assert "No changes yet" in _html(admin.get(f"/ui/routing/history?rule={rules[0]}"), 200)


def test_the_history_of_a_rule_gone_from_the_file_is_still_shown(store: StoreResource, admin: TestClient) -> None:
    """A rule no longer in force keeps the history of its changes, on every page of it (past its
    oldest change too: an empty page, not a 404)."""
    with store.write() as conn:
        conn.execute(RoutingWeightAudit.__table__.insert().values(rule="sms/ZZ/GONE", provider="old_sms", old_weight=None, new_weight=100,
                                                                   changed_by="config", reason="seeded", at=utcnow()))
    page = _html(admin.get("/ui/routing/history", params={"rule": "sms/ZZ/GONE"}), 200)
    assert "old_sms" in page and "seeded" in page
    oldest = weight_history(store, "sms/ZZ/GONE")[-1]["last"]
    assert "No changes yet" in _html(admin.get("/ui/routing/history", params={"rule": "sms/ZZ/GONE", "before": str(oldest)}), 200)


def test_a_requests_payload_is_shown_as_typed_in_any_script(store: StoreResource, admin: TestClient) -> None:
    """The payload was shown through Jinja's tojson, which writes every character past ASCII as an
    escape: a note in Arabic read "\\u0645\\u0631...", an emoji "\\ud83d\\udc69". Now as typed, HTML-escaped."""
    note = "مراجعة <b>x</b> & 👩🏽‍⚕️ Jalan Cikini"
    audit.record_status(store, "ui23-payload", "QUEUED", task="campaign_alerts", payload={"note": note}, requested_by="ada")
    page = _html(admin.get("/ui/requests/ui23-payload"), 200)
    shown = html.unescape(re.search(r'<div class="payload" id="payload"><pre>(.*?)</pre>', page, re.S).group(1))
    assert json.loads(shown) == {"note": note} and note in shown
    assert "<b>" not in page.split('id="payload"')[1].split("</pre>")[0]


@pytest.mark.parametrize(("overlap", "said"), [(["many"], "overlap: a number of hours from 0 to 720"),
                                               (["1", "2"], "overlap_hours: given more than once")])
def test_a_rotations_refused_overlap_is_said_beside_the_rows_field(store: StoreResource, admin: TestClient,
                                                                   overlap: list[str], said: str) -> None:
    """The overlap's error was at the top of the page, away from the row whose field it is about."""
    create_key(store, "partner", ["tasks:read"])
    form = _form(_html(admin.get("/ui/access"), 200), ROTATE) | {"overlap_hours": overlap}
    page = _html(admin.post(ROTATE, data=form), 422)
    assert _error(page, "rotate.partner").startswith(said)
    assert 'id="form-error"' not in page and 'name="overlap_hours" aria-invalid="true"' in page
