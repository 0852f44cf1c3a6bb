"""Control Center pages found wrong in review 5, driven in chromium against `halo serve` (each test
failed before its fix): the Availability page's quarantine table showed a feed's oldest 50 records
forever (today's never appeared, and nothing said more were kept); a request id that names no
request, 3,000 characters long, made its page 24,000 pixels wide; an API key's rate limit was
shown rounded to 6 digits (12345.67 requests/s as 12345.7)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from halo_platform.core.settings import get_settings
from halo_platform.core.store import StoreResource
from halo_platform.reports import audit
from halo_platform_tests.fixtures.browser import screenshot
from halo_platform_tests.ui.conftest import ControlCenter, sign_in

WIDTH = "() => [document.documentElement.scrollWidth, window.innerWidth]"


@pytest.fixture
def narrow(browser: Browser) -> Iterator[Page]:
    """A phone's browser (390 x 844)."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, service_workers="block")
    yield context.new_page()
    context.close()


def _bad_records(ids: list[str]) -> str:
    return "".join(json.dumps({"type": "appointment", "action": "upsert", "id": i, "provider": "AC001", "start": "not a time",
                               "duration_min": 30, "tz": "Europe/Paris", "status": "booked",
                               "updated_at": "2026-11-01T00:00:00Z"}) + "\n" for i in ids)


def _land(center: ControlCenter, name: str, text: str) -> None:
    path = center.home / name
    path.write_text(text)
    for args in (("emr", "ingest", "--feed", "acme", str(path)), ("emr", "process")):
        done = center.halo(*args)
        assert done.returncode == 0, done.stderr[-2000:]


def test_the_quarantine_table_shows_the_newest_records_and_says_when_older_ones_are_left_out(
        page: Page, control_center: ControlCenter) -> None:
    """A feed quarantined 60 records last month, then one today. The page listed the first 50 ever
    quarantined, in the order they came, and kept listing them: today's record (what a person
    opens the page for) was never shown, and nothing said records were left out. Now the newest
    come first, and the page says only the newest 50 are shown."""
    _land(control_center, "old-batch.jsonl", _bad_records([f"acme-old-{n:02d}" for n in range(60)]))
    _land(control_center, "new-batch.jsonl", _bad_records(["acme-newest"]))
    sign_in(page, control_center, "viewer")
    page.goto(f"{control_center.url}/ui/availability?feed=acme")
    rows = page.locator("#quarantine tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("new-batch.jsonl")
    expect(rows.first).to_contain_text("acme-newest")
    expect(rows.last).to_contain_text("acme-old-11")
    expect(page.locator("#quarantine-more")).to_contain_text("The newest 50 quarantined records are shown")
    screenshot(page, "review5-quarantine-newest-first")


def test_a_long_request_id_that_names_no_request_fits_a_phone(narrow: Page, control_center: ControlCenter) -> None:
    """A request id pasted with the rest of a log line (3,000 characters, no spaces), or an output
    number as long, made the 'not found' page 24,000 px wide on a phone: the message and the
    links under it off screen. Now the value is cut (its start is enough to recognise) and wraps."""
    store = StoreResource(db_url=get_settings(control_center.env).db_url)
    request_id = str(uuid.uuid4())
    try:
        audit.record_status(store, request_id, "QUEUED", task="campaign_alerts", payload={}, requested_by="operator")
    finally:
        store.dispose()
    sign_in(narrow, control_center, "viewer")
    for url, shown in ((f"/ui/requests/{'0' * 3000}", "0" * 100),
                       (f"/ui/requests/{request_id}/outputs/{'9' * 3000}", "9" * 100)):
        response = narrow.goto(control_center.url + url)
        assert response.status == 404
        alert = narrow.get_by_role("alert")
        expect(alert).to_contain_text(shown)
        assert len(alert.inner_text()) < 600
        width, viewport = narrow.evaluate(WIDTH)
        assert width <= viewport, f"{url[:40]}...: {width} px wide"
        expect(narrow.get_by_role("link", name="All requests")).to_be_in_viewport()
        screenshot(narrow, f"review5-long-request-value-390-{len(shown)}{shown[0]}")


def test_a_keys_rate_limit_is_shown_as_it_was_set(page: Page, control_center: ControlCenter) -> None:
    """The keys table showed each rate with "%g" (6 significant digits): a key limited to 12345.67
    requests/s read 12345.7, a limit it does not have. Now the rate reads back as it was set."""
    sign_in(page, control_center, "admin")
    page.goto(f"{control_center.url}/ui/access")
    page.get_by_text("Create a key").click()
    page.locator("#key-name").fill("review5-rate")
    page.locator("#key-rate").fill("12345.67")
    page.locator("#key-form input[value='tasks:read']").check()
    page.locator("#key-form button[type=submit]").click()
    expect(page.get_by_text("Key review5-rate created")).to_be_visible()
    row = page.locator("tr", has_text="review5-rate")
    expect(row).to_contain_text("12345.67")
    screenshot(page, "review5-key-rate")
