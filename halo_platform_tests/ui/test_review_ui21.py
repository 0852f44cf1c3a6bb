# ruff: noqa: F811 - the fixtures imported from test_page_edges are the tests' arguments
"""Control Center defects found in review ui21 (each test failed before its fix): a double click on
a form's button sent it twice (the task form's button alone was disabled once clicked), and the
browser showed one answer of the two: after "Create the key", "an active key named ... exists",
the key, shown once, in the answer it dropped; a schedule's breadcrumb did not wrap, so its
history page scrolled sideways on a phone and a 128-character schedule id made its pages 1,300 px
wide; the Routing page wrote an effective weight under 0.0000005 as 0 beside its share; the
Requests page said older requests existed when it showed exactly its 200 rows."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import Page, expect

from halo_platform.core.models import utcnow
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.delivery.state import set_weights
from halo_platform.reports.audit import requests_t
from halo_platform.ui.requests import LIMIT
from halo_platform_tests.fixtures.browser import screenshot
from halo_platform_tests.test_review_ui17 import _cells
from halo_platform_tests.ui.conftest import ControlCenter, sign_in
from halo_platform_tests.ui.test_layout_and_navigation import VIEWPORTS, _shot_name, _sideways
from halo_platform_tests.ui.test_page_edges import admin, app, store  # noqa: F401 - the same seeded store, app and clients

# two clicks as a person's double click lands them: the second while the first answer is on its way
DOUBLE_CLICK = "(selector) => { const button = document.querySelector(selector); button.click(); setTimeout(() => button.click(), 15); }"
LONG_ID = "s" + "x" * 127  # as long as a schedule id may be, one word


def test_a_double_click_on_create_the_key_sends_the_form_once_and_shows_the_key(page: Page, control_center: ControlCenter) -> None:
    """The second click of a double click lands while the first answer is on its way: the browser
    drops that answer for the second's. Now the first click disables the button, on every form."""
    sign_in(page, control_center, "admin")
    page.goto(f"{control_center.url}/ui/access")
    page.get_by_text("Create a key").click()
    page.get_by_label("Key name").fill("double-clicked")
    page.locator("#key-form input[name=scope][value=admin]").check()
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if request.method == "POST" else None)
    page.evaluate(DOUBLE_CLICK, "#key-form button[type=submit]")
    expect(page).to_have_url(f"{control_center.url}/ui/access/keys")
    expect(page.locator("#new-key, [role=alert]").first).to_be_visible()  # the answer the browser shows
    screenshot(page, "ui21-key-double-click")
    assert page.locator("[role=alert]").all_inner_texts() == []
    expect(page.locator("#new-key")).to_have_text(re.compile(r"^halo_[0-9a-f]+_\S+$"))
    assert sent == [f"{control_center.url}/ui/access/keys"]
    assert page.script_errors == []


@pytest.fixture(scope="module")
def long_schedule(control_center: ControlCenter) -> str:
    made = control_center.halo("schedules", "set", LONG_ID, "--task", "campaign_alerts", "--cron", "0 7 * * *")
    assert made.returncode == 0, made.stderr
    return LONG_ID


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_schedules_breadcrumb_wraps_rather_than_making_its_pages_scroll_sideways(
        page: Page, control_center: ControlCenter, long_schedule: str, viewport: str) -> None:
    """Schedules > payment_reconciliation_weekly > History was 453 px wide on a 390 px phone, and a
    schedule id of 128 characters stretched its edit and history pages to about 1,300 px."""
    page.set_viewport_size(VIEWPORTS[viewport])
    sign_in(page, control_center, "admin")
    wide = {}
    for path in ("/ui/schedules/payment_reconciliation_weekly/history", f"/ui/schedules/{long_schedule}",
                 f"/ui/schedules/{long_schedule}/history"):
        page.goto(control_center.url + path)
        expect(page.locator("nav[aria-label=breadcrumb]")).to_contain_text("Schedules")
        if _sideways(page) > 0:
            wide[path] = _sideways(page)
        screenshot(page, _shot_name(viewport, path.replace(long_schedule, "long-id")))
    assert wide == {}, f"pages wider than the {viewport}'s {VIEWPORTS[viewport]['width']} px: {wide}"


def test_the_routing_page_writes_a_tiny_effective_weight_in_its_digits(admin, store) -> None:  # noqa: ANN001
    """Weights of 0.0000001 and 0.0000003 (a weight may be any number from 0 to 1,000,000): the
    Effective column read 0 (rounded to 6 decimals) beside shares of 25 and 75 %."""
    set_weights(ProvidersResource().config(), "sms/*/TEXT", {"sandbox_sms_a": 0.0000001, "sandbox_sms_b": 0.0000003}, "ada", store, "tiny")
    page = admin.get("/ui/routing")
    assert page.status_code == 200, page.text
    assert _cells(page.text, "sms/*/TEXT", "sandbox_sms_a") == ["0.0000001", "1", "0.0000001"]
    assert _cells(page.text, "sms/*/TEXT", "sandbox_sms_b") == ["0.0000003", "1", "0.0000003"]


@pytest.mark.parametrize("count", [LIMIT, LIMIT + 1])
def test_the_requests_page_says_older_requests_exist_only_when_they_do(admin, store, count: int) -> None:  # noqa: ANN001
    """With exactly LIMIT requests in the log the page said "The newest 200 shown: narrow the
    filters to see older ones", of older ones there were none (it counted the rows it showed)."""
    now = utcnow().replace(microsecond=0)
    with store.write() as conn:
        conn.execute(requests_t.insert(), [{"request_id": f"r-{i:04d}", "root_request_id": f"r-{i:04d}", "task": "campaign_alerts",
                                            "payload": {}, "trigger": "api", "requested_by": "ada", "status": "SUCCEEDED",
                                            "outputs": [], "stats": {}, "created_at": now - dt.timedelta(seconds=i)}
                                           for i in range(count)])
    page = admin.get("/ui/requests")
    assert page.status_code == 200, page.text
    assert page.text.count('href="/ui/requests/r-') == LIMIT
    assert ('id="older-requests"' in page.text) == (count > LIMIT)
