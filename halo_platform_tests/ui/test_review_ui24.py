# ruff: noqa: F811 - the fixtures imported from test_page_edges are the tests' arguments
"""Control Center defects found in review ui24 (each test failed before its fix): a request's page
put the <details> of a long payload value inside its <pre> (not valid HTML: a <pre> holds phrasing
content only) and showed a long payload key, or a long list, number or object value, whole."""

from __future__ import annotations

import json
import uuid
from html.parser import HTMLParser

from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from halo_platform.core.settings import get_settings
from halo_platform.core.store import StoreResource
from halo_platform.reports import audit
from halo_platform_tests.fixtures.browser import screenshot
from halo_platform_tests.ui.conftest import ControlCenter, open_page, sign_in
from halo_platform_tests.ui.test_form_refusals import _html
from halo_platform_tests.ui.test_page_edges import admin, app, store  # noqa: F401 - the same seeded store, app and clients

LONG_TEXT = "<b>x</b> & " + "w" * 9_989  # 10,000 characters, one word
LONG_KEY = "k" * 1_000
NUMBERS = list(range(2_000))  # 10,890 characters of JSON
OBJECT = {f"field_{i:04d}": i for i in range(600)}
BIG = int("7" * 4_000)  # the longest a JSON payload reads back as (Python refuses past 4,300 digits)
# the elements a <pre> may hold (phrasing content) that the payload's markup could use
PHRASING = {"a", "b", "code", "em", "i", "small", "span", "strong"}


class _Payload(HTMLParser):
    """The payload's part of a request's page (#payload): each element opened inside a <pre>
    (`in_pre`), each <details> with its summary and its text, and the text outside any <details>."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []  # the open elements from #payload down
        self.in_pre: list[str] = []
        self.details: list[tuple[str, str]] = []  # (summary, text)
        self.outside = ""
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.stack and ("id", "payload") not in attrs:
            return
        if "pre" in self.stack:
            self.in_pre.append(tag)
        if tag == "details":
            self.details.append(("", ""))
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not self.stack:
            return
        if "details" not in self.stack:
            self.outside += data
        elif "summary" in self.stack:
            self.details[-1] = (self.details[-1][0] + data, self.details[-1][1])
        else:
            self.details[-1] = (self.details[-1][0], self.details[-1][1] + data)


def _shown(store: StoreResource, admin: TestClient, payload: object) -> _Payload:
    request_id = f"ui24-{uuid.uuid4()}"
    audit.record_status(store, request_id, "QUEUED", task="campaign_alerts", payload=payload, requested_by="ada")
    return _Payload(_html(admin.get(f"/ui/requests/{request_id}"), 200))


def test_a_long_payload_values_details_is_not_inside_a_pre(store: StoreResource, admin: TestClient) -> None:
    """The <details> holding a long value sat inside the payload's <pre>: a <pre> holds phrasing
    content only, a <details> is flow content (the HTML standard; a validator refuses it)."""
    shown = _shown(store, admin, {"long": LONG_TEXT, "note": "short"})
    assert [tag for tag in shown.in_pre if tag not in PHRASING] == []
    assert shown.details == [("the whole value", json.dumps(LONG_TEXT))]
    assert '"long": ' + json.dumps(LONG_TEXT[:300])[:-1] + '…" (10,000 characters),' in shown.outside
    assert '"note": "short"' in shown.outside


def test_a_long_payload_key_is_shown_cut_with_the_whole_key_behind_details(store: StoreResource, admin: TestClient) -> None:
    """A 1,000-character key was shown whole: now its first 300 characters, '…" (1,000 characters)',
    its value on the same line, and the whole key in a <details> after that line."""
    shown = _shown(store, admin, {LONG_KEY: "v", "a": 1})
    assert LONG_KEY[:301] not in shown.outside
    assert f'"{LONG_KEY[:300]}…" (1,000 characters): "v"' in shown.outside
    assert shown.details == [("the whole key", json.dumps(LONG_KEY))]
    assert shown.outside.index('"a": 1') < shown.outside.index(LONG_KEY[:300])  # in the keys' order, as before


def test_a_long_key_with_a_long_value_has_both_whole_behind_details(store: StoreResource, admin: TestClient) -> None:
    shown = _shown(store, admin, {LONG_KEY: LONG_TEXT})
    assert f'"{LONG_KEY[:300]}…" (1,000 characters): {json.dumps(LONG_TEXT[:300])[:-1]}…" (10,000 characters)' in shown.outside
    assert shown.details == [("the whole key", json.dumps(LONG_KEY)), ("the whole value", json.dumps(LONG_TEXT))]


def test_a_long_list_number_or_object_value_is_shown_cut_with_the_whole_value_behind_details(
        store: StoreResource, admin: TestClient) -> None:
    """A 2,000-number list (10,890 characters of JSON) filled 2,000 lines, a 600-field object 600
    and a 4,000-digit number one of 4,000 characters: each now shows the first 300 characters of its
    JSON, '… (N characters)', and the whole value's JSON in a <details>."""
    payload = {"ids": NUMBERS, "big": BIG, "fields": OBJECT, "few": [1, 2, {"a": "b"}]}
    shown = _shown(store, admin, payload)
    numbers, big, fields = json.dumps(NUMBERS), str(BIG), json.dumps(OBJECT, sort_keys=True)
    assert f'"ids": {numbers[:300]}… ({len(numbers):,} characters)' in shown.outside
    assert f'"big": {big[:300]}… (4,000 characters),' in shown.outside
    assert f'"fields": {fields[:300]}… ({len(fields):,} characters),' in shown.outside
    assert len(shown.outside) < 1_500, len(shown.outside)
    assert [(what, json.loads(whole)) for what, whole in shown.details] == [
        ("the whole value", BIG), ("the whole value", OBJECT), ("the whole value", NUMBERS)]
    assert shown.details[1][1] == fields
    assert '"few": [\n    1,\n    2,\n    {\n      "a": "b"\n    }\n  ]' in shown.outside  # short: as before


def test_a_short_payload_is_one_block_of_its_json(store: StoreResource, admin: TestClient) -> None:
    """No key nor value over 300 characters: the JSON whole, as before, no <details>."""
    payload = {"note": "مراجعة <b>x</b>", "w": "w" * 300, "n": list(range(50))}
    shown = _shown(store, admin, payload)
    assert shown.details == [] and json.loads(shown.outside) == payload


def test_a_payload_with_long_parts_at_390_px(page: Page, control_center: ControlCenter) -> None:
    """In chromium at a phone's 390 px: no <details> in a <pre>; shorter than 2,000 px closed, no
    sideways scroll opened or closed; opened, each <details> holds its whole key or value."""
    db = StoreResource(db_url=get_settings(control_center.env).db_url)
    request_id = f"ui24-{uuid.uuid4()}"
    try:
        audit.record_status(db, request_id, "QUEUED", task="campaign_alerts",
                            payload={"long": LONG_TEXT, LONG_KEY: 1, "ids": NUMBERS, "note": "short"}, requested_by="ada")
    finally:
        db.dispose()
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, control_center, "admin")
    open_page(page, f"{control_center.url}/ui/requests/{request_id}")
    assert page.locator("pre details, pre div, pre pre").count() == 0
    more = page.locator("#payload details")
    expect(more).to_have_count(3)
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    tall = page.evaluate("document.documentElement.scrollHeight")
    screenshot(page, "ui24-390-long-payload")
    assert tall < 2_000, tall  # three long parts, each a few lines; the 2,000 numbers alone were 2,000 lines
    for i in range(3):
        more.nth(i).locator("summary").click()
    expect(more.nth(0)).to_contain_text("1999")
    expect(more.nth(1)).to_contain_text(LONG_KEY)
    expect(more.nth(2)).to_contain_text(LONG_TEXT[-50:])
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    screenshot(page, "ui24-390-long-payload-opened")
