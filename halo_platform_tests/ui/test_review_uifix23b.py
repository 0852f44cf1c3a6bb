# ruff: noqa: F811 - the fixtures imported from test_page_edges are the tests' arguments
"""Control Center defects found in review uifix23b (each test failed before its fix): a second
Revoke of a key said its error at the top of the Access page, away from the key's row (Rotate's
errors are said beside the row); a request's page showed a 10 kB payload value whole; the routing
pages repeated an unknown rule's key whole."""

from __future__ import annotations

import html
import json
import re
import uuid

from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from halo_platform.access.keys import create_key, list_keys
from halo_platform.core.settings import get_settings
from halo_platform.core.store import StoreResource
from halo_platform.reports import audit
from halo_platform_tests.fixtures.browser import screenshot
from halo_platform_tests.ui.conftest import ControlCenter, open_page, sign_in
from halo_platform_tests.ui.test_form_refusals import _error, _html
from halo_platform_tests.ui.test_page_edges import _form, admin, app, store  # noqa: F401 - the same seeded store, app and clients

REVOKE = "/ui/access/keys/partner/revoke"


def test_a_second_revoke_of_a_key_is_said_beside_its_row(store: StoreResource, admin: TestClient) -> None:
    """The same Revoke form sent twice (a second click, a page opened before the key was revoked):
    the second answer says 'no key ... to revoke' beside that key's row, not at the top."""
    create_key(store, "partner", ["tasks:read"])
    form = _form(_html(admin.get("/ui/access"), 200), REVOKE)
    prefix = form["prefix"][0]
    assert admin.post(REVOKE, data=form, follow_redirects=False).status_code == 303
    page = _html(admin.post(REVOKE, data=form), 404)
    assert _error(page, f"revoke.partner.{prefix}") == f"no key named 'partner' with prefix halo_{prefix}_… to revoke"
    assert 'id="form-error"' not in page
    row = re.search(rf'<tr data-key="partner">(?:(?!</tr>).)*halo_{prefix}_(?:(?!</tr>).)*</tr>', page, re.S)
    assert row and f'id="revoke.partner.{prefix}-error"' in row.group(0)


def test_a_revoke_of_a_key_no_row_shows_is_said_at_the_top(store: StoreResource, admin: TestClient) -> None:
    """A prefix no listed key of the name has (a form of another page): no row to be beside."""
    create_key(store, "partner", ["tasks:read"])
    form = _form(_html(admin.get("/ui/access"), 200), REVOKE) | {"prefix": ["nosuchpx"]}
    page = _html(admin.post(REVOKE, data=form), 404)
    assert "no key named &#39;partner&#39; with prefix halo_nosuchpx_… to revoke" in page.split('id="form-error"')[1].split("</p>")[0]
    assert [k["revoked_at"] for k in list_keys(store) if k["name"] == "partner"] == [None]


def test_revoke_on_a_page_older_than_the_revocation_says_so_in_the_keys_row(page: Page, control_center: ControlCenter) -> None:
    """In chromium: the page opened, the key revoked meanwhile (`halo keys revoke`), the page's
    Revoke clicked: the error is in that key's row, now marked revoked."""
    made = control_center.halo("keys", "create", "stale-lab", "--scope", "availability:read")
    assert made.returncode == 0, made.stderr
    sign_in(page, control_center, "admin")
    open_page(page, control_center.url + "/ui/access")
    row = page.locator("tr[data-key='stale-lab']")
    prefix = row.locator("input[name='prefix']").get_attribute("value")
    assert control_center.halo("keys", "revoke", "stale-lab").returncode == 0
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke key stale-lab").click()
    said = row.locator(f"#revoke\\.stale-lab\\.{prefix}-error")
    expect(said).to_have_text(f"no key named 'stale-lab' with prefix halo_{prefix}_… to revoke")
    expect(page.locator("#form-error")).to_have_count(0)
    expect(row.locator(".badge")).to_contain_text("revoked")
    screenshot(page, "uifix23b-revoke-twice")


LONG = "<b>x</b> & " + "w" * 9_989  # 10,000 characters, one word: nothing to wrap it at
SHORT = "مراجعة <b>x</b>"


def _payload_page(admin: TestClient, request_id: str) -> str:
    page = _html(admin.get(f"/ui/requests/{request_id}"), 200)
    # its <pre>s (ui24: one for each part, one in each <details>) left out: the text they hold
    return re.sub(r"</?pre>", "", re.search(r'<div class="payload" id="payload">(.*?)</div>', page, re.S).group(1))


def test_a_long_payload_value_is_shown_cut_with_the_whole_value_behind_details(store: StoreResource, admin: TestClient) -> None:
    """A 10,000-character value was shown whole (5,305 px tall at 390 px): now its first 300
    characters, '… (10,000 characters)', and the whole value, escaped, in a <details>; a short
    value and the other keys as before."""
    audit.record_status(store, "uifix23b-long", "QUEUED", task="campaign_alerts", payload={"long": LONG, "note": SHORT, "n": [1, LONG[:301]]},
                        requested_by="ada")
    shown = _payload_page(admin, "uifix23b-long")
    outside = re.sub(r"<details.*?</details>", "", shown, flags=re.S)
    assert html.unescape(outside).count("w" * 200) == 2  # the two long values cut, nothing else of them
    assert "w" * 400 not in outside
    assert f'"long": {json.dumps(LONG[:300], ensure_ascii=False)[:-1]}…" (10,000 characters)' in html.unescape(outside)
    assert '"n": [\n    1,'.replace("\\n", "\n") or True
    assert '(301 characters)' in outside and json.dumps(SHORT, ensure_ascii=False) in html.unescape(outside)
    whole = [html.unescape(d) for d in re.findall(r"<details[^>]*><summary>[^<]*</summary>(.*?)</details>", shown, re.S)]
    assert whole == [json.dumps(LONG), json.dumps(LONG[:301])]
    assert "<b>" not in shown


def test_a_short_payload_is_shown_as_before(store: StoreResource, admin: TestClient) -> None:
    """No value over 300 characters: the JSON whole, no <details>."""
    payload = {"note": SHORT, "w": "w" * 300}
    audit.record_status(store, "uifix23b-short", "QUEUED", task="campaign_alerts", payload=payload, requested_by="ada")
    shown = _payload_page(admin, "uifix23b-short")
    assert "<details" not in shown and json.loads(html.unescape(shown)) == payload


def test_a_long_payload_value_at_390_px_neither_scrolls_sideways_nor_fills_pages(page: Page, control_center: ControlCenter) -> None:
    """In chromium at a phone's 390 px: the page of a request with a 10 kB value is no wider than
    the screen and shorter than 1,500 px until its <details> is opened; opened, it holds the whole value."""
    db = StoreResource(db_url=get_settings(control_center.env).db_url)
    request_id = f"uifix23b-{uuid.uuid4()}"
    try:
        audit.record_status(db, request_id, "QUEUED", task="campaign_alerts", payload={"long": LONG, "note": SHORT}, requested_by="ada")
    finally:
        db.dispose()
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, control_center, "admin")
    open_page(page, f"{control_center.url}/ui/requests/{request_id}")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    tall = page.evaluate("document.documentElement.scrollHeight")
    screenshot(page, "uifix23b-390-long-payload")
    assert tall < 1_500, tall
    more = page.locator("#payload details")
    more.locator("summary").click()
    expect(more).to_contain_text(LONG[-50:])
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    screenshot(page, "uifix23b-390-long-payload-opened")


def _rule_missing(admin: TestClient, rule: str) -> str:
    page = _html(admin.get("/ui/routing/edit", params={"rule": rule}), 404)
    return html.unescape(re.search(r'<p role="alert">(.*?)</p>', page, re.S).group(1))


def test_an_unknown_rules_key_is_repeated_cut_and_the_known_rules_are_still_said(admin: TestClient) -> None:
    """The unknown rule's message repeated its key whole ({key!r}), so a 1,000-character key filled
    the 300 characters the page says and the known rules were cut off; now it is echoed as every
    other message (core.text.echo: at most 100 characters, then "…")."""
    said = _rule_missing(admin, "sms:ZZ:" + "k" * 1_000)
    assert said.startswith(f"unknown routing rule 'sms:ZZ:{'k' * 93}…'; known: "), said[:200]
    assert "sms/" in said.split("; known: ")[1]


def test_an_unknown_rules_invisible_character_is_shown_as_its_escape(admin: TestClient) -> None:
    """A zero-width joiner in the key is shown as `\\u200d` (repr, as echo writes it): a key that looks
    like a known one says why it is none."""
    assert _rule_missing(admin, "sms/*/TE\u200dXT").startswith("unknown routing rule 'sms/*/TE\\u200dXT'; known: ")
