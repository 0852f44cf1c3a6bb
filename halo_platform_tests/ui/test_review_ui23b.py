"""Review ui23: the Control Center's pages at a phone's 390 px and a laptop's 1280 px with hostile
values, in the rows they list (a request's requester and payload, a routing change's reason) and
in their addresses (a 10 kB rule key, requester filter, message lookup, feed): no page scrolls
sideways, nothing a value holds runs as a script, each value is shown as typed. Screenshots of
each under $HALO_SCREENSHOTS (ui23-<width>-<page>.png)."""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from halo_platform.core.settings import get_settings
from halo_platform.core.store import StoreResource
from halo_platform.reports import audit
from halo_platform_tests.fixtures.browser import screenshot
from halo_platform_tests.ui.conftest import ControlCenter, sign_in

SCRIPT = "<script>window.__pwned = 1</script><img src=x onerror='window.__pwned = 2'>"
RTL = "مراجعة الجدول שלום"
EMOJI = "👩🏽‍⚕️🧪🇮🇩" * 5
REASON = f"{SCRIPT} {RTL} {EMOJI} " + "w" * 200  # one 200-character word: nothing to wrap it at
HOSTILE = REASON + " \u202eevil\u202c"  # a bidi override, which a reason may not hold
HUGE = "r" * 10_000
VIEWPORTS = {390: {"width": 390, "height": 844}, 1280: {"width": 1280, "height": 800}}


@pytest.fixture(scope="module")
def hostile_request(control_center: ControlCenter) -> str:
    """A request whose requester and payload hold the hostile text; a routing change giving it as its reason."""
    store = StoreResource(db_url=get_settings(control_center.env).db_url)
    request_id = f"ui23-{uuid.uuid4()}"
    try:
        audit.record_status(store, request_id, "FAILED", task="campaign_alerts", payload={"note": HOSTILE, "long": HUGE},
                            requested_by=HOSTILE[:255])
    finally:
        store.dispose()
    done = control_center.halo("delivery", "weights", "set", "sms/*/TEXT", "sandbox_sms_a=55", "sandbox_sms_b=45",
                               "--reason", REASON)
    assert done.returncode == 0, done.stderr
    return request_id


def _pages(request_id: str) -> dict[str, str]:
    return {"requests": "/ui/requests", "requests-who": f"/ui/requests?who={quote(HOSTILE)}",
            "request": f"/ui/requests/{request_id}", "routing-history": "/ui/routing/history",
            "routing-history-unknown-rule": f"/ui/routing/history?rule={quote(HOSTILE + HUGE)}",
            "routing-edit-unknown-rule": f"/ui/routing/edit?rule={quote(HOSTILE + HUGE)}",
            "messages": f"/ui/messages?q={quote(HOSTILE + HUGE)}",
            "availability": f"/ui/availability?feed={quote(HOSTILE)}&provider={quote(HUGE)}",
            "schedule-unknown": f"/ui/schedules/{quote(HOSTILE + HUGE, safe='')}", "task-unknown": f"/ui/tasks/{quote(HOSTILE + HUGE, safe='')}",
            "schedule-history-unknown": f"/ui/schedules/{quote(HOSTILE + HUGE, safe='')}/history",
            "request-unknown": f"/ui/requests/{quote(HOSTILE + HUGE, safe='')}"}


@pytest.mark.parametrize("width", VIEWPORTS)
def test_no_page_scrolls_sideways_or_runs_a_value_with_hostile_values(page: Page, control_center: ControlCenter,
                                                                     hostile_request: str, width: int) -> None:
    page.set_viewport_size(VIEWPORTS[width])
    sign_in(page, control_center, "admin")
    wide, ran, long = {}, {}, {}
    for name, path in _pages(hostile_request).items():
        page.goto(control_center.url + path)
        expect(page.locator("main h1")).to_be_visible()
        sideways = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if sideways > 0:
            wide[name] = sideways
        if page.evaluate("window.__pwned") is not None:
            ran[name] = page.evaluate("window.__pwned")
        said = page.locator("main [role=alert]")
        if said.count() and len(said.first.inner_text()) > 600:  # a 10 kB value said back whole: pages of it
            long[name] = len(said.first.inner_text())
        screenshot(page, f"ui23-{width}-{name}")
    assert wide == {}, f"pages wider than {width} px: {wide}"
    assert long == {}, f"errors repeating a value whole: {long}"
    assert ran == {} and page.script_errors == []
    page.goto(control_center.url + "/ui/routing/history")
    expect(page.locator("table.history").get_by_text(re.compile(re.escape(RTL)))).to_have_count(1)
