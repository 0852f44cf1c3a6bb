# ruff: noqa: F811 - the fixtures imported from test_page_edges are the tests' arguments
"""Control Center display defects found in review ui17 (each test failed before its fix): the
Routing page wrote effective weights with "%g" (1e+06, 1234.57); the Providers page gave a switch by
hand an error rate of 0.0%; its charts told the time on a 12-hour clock (2pm); the Availability
page wrote a feed's lag limit of 90.5 min as 90."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from playwright.sync_api import Page, expect

from halo_platform.delivery.autopilot import state_t
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.delivery.state import set_weights
from halo_platform_tests.availability.helpers import land, process, read_later
from halo_platform_tests.core.test_http_hostile import serving
from halo_platform_tests.fixtures.browser import screenshot
from halo_platform_tests.ui.test_page_edges import admin, app, store  # noqa: F401 - the same seeded store, app and clients


def _cells(page: str, rule: str, provider: str) -> list[str]:
    """The text of the number cells of `provider`'s row of `rule` on the Routing page."""
    row = re.search(rf'<tr [^>]*data-rule="{re.escape(html.escape(rule))}" data-provider="{provider}">(.*?)</tr>', page, re.S)
    assert row, f"no row of {provider} in {rule}"
    return [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r'<td class="num">(.*?)</td>', row.group(1), re.S)]


def test_the_routing_page_writes_effective_weights_in_full_digits(admin, store) -> None:  # noqa: ANN001
    """Weights of 1,000,000 (the largest a weight may be) and 1234.5678: the Weight column read
    1000000 and 1234.5678, the Effective column "1e+06" and "1234.57" ("%g", 6 significant digits),
    and with an autopilot factor of 0.1, 123.45678 would be float noise (123.45678000000001) in
    full. Now the effective weight is written in digits, as the weight is."""
    set_weights(ProvidersResource().config(), "sms/*/TEXT", {"sandbox_sms_a": 1_000_000, "sandbox_sms_b": 1234.5678}, "ada", store, "big numbers")
    page = admin.get("/ui/routing")
    assert page.status_code == 200, page.text
    assert _cells(page.text, "sms/*/TEXT", "sandbox_sms_a") == ["1000000", "1", "1000000"]
    assert _cells(page.text, "sms/*/TEXT", "sandbox_sms_b") == ["1234.5678", "1", "1234.5678"]

    with store.write() as conn:  # the autopilot ramps sandbox_sms_b back up: its first step is 10 %
        conn.execute(state_t.insert().values(provider="sandbox_sms_b", active=True, factor=0.1, ramp_step=0, reason="ramp to 10%"))
    assert _cells(admin.get("/ui/routing").text, "sms/*/TEXT", "sandbox_sms_b") == ["1234.5678", "0.1", "123.45678"]


def _decision_cells(page: str, provider: str) -> list[str]:
    """The cells' text of the first row of `provider` in the Providers page's state changes."""
    table = re.search(r'<table id="decisions">(.*?)</table>', page, re.S)
    assert table, "no state changes on the page"
    rows = [r for r in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S) if f"<td>{provider}</td>" in r]
    assert rows, f"no state change of {provider}"
    return [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", rows[0], re.S)]


def test_a_switch_by_hand_has_no_error_rate_in_the_providers_state_changes(admin) -> None:  # noqa: ANN001
    """An admin switched sandbox_push off by hand: its row in the state changes read Attempts "–"
    but Error rate "0.0%", an error rate nobody measured (a switch by hand counts no attempts),
    beside the autopilot's rows where 0.0% is one it measured. Now "–", as Attempts."""
    form = {"csrf_token": admin.csrf, "provider": "sandbox_push", "state": "off", "reason": "maintenance window", "seen": "0"}
    assert admin.post("/ui/providers/switch", data=form).status_code == 303
    page = admin.get("/ui/providers")
    assert page.status_code == 200, page.text
    when, provider, now, factor, error_rate, attempts, reason, by = _decision_cells(page.text, "sandbox_push")
    assert (provider, now, factor, by) == ("sandbox_push", "deactivated", "0.00", "ada")
    assert (error_rate, attempts) == ("–", "–")
    assert reason == "switched off by ada: maintenance window"


# every text a canvas is drawn with, kept in `window.drawnTexts`: uPlot writes its axes' labels on the canvas
RECORD_CANVAS_TEXT = """
window.drawnTexts = [];
const fillText = CanvasRenderingContext2D.prototype.fillText;
CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
  window.drawnTexts.push(String(text));
  return fillText.call(this, text, ...rest);
};
"""


def test_the_providers_charts_tell_the_time_on_the_24_hour_clock_like_every_page(page: Page, app, admin) -> None:  # noqa: ANN001
    """The page says its hours are UTC clock hours, and every page writes times as 14:00 UTC; the
    charts' time axis read "2pm", "4pm" (uPlot's default, 12-hour) and the legend's time under the
    cursor "2026-12-06 2:00pm". Now the axis reads 14:00 (with the date where the day changes) and
    the legend 2026-12-06 14:00 UTC."""
    page.add_init_script(RECORD_CANVAS_TEXT)
    with serving(app) as (host, port):
        page.context.add_cookies([{"name": "halo_session", "value": admin.cookies["halo_session"], "url": f"http://{host}:{port}"}])
        page.goto(f"http://{host}:{port}/ui/providers")
        expect(page.locator("#error-rate-chart canvas")).to_have_count(1)
        expect(page.locator("#share-chart canvas")).to_have_count(1)
        labels = [line for text in page.evaluate("window.drawnTexts") for line in text.split("\n")]
        page.locator("#error-rate-chart .u-over").hover()
        legend_time = page.locator("#error-rate-chart .u-legend .u-series").first.locator(".u-value").text_content()
        screenshot(page, "ui17-providers-chart")
    assert not [label for label in labels if re.search(r"[ap]m$", label, re.I)], labels
    hours = [label for label in labels if re.fullmatch(r"\d\d:00", label)]
    assert len(hours) >= 4, labels
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:00 UTC", legend_time), legend_time
    assert page.script_errors == [] and page.external_requests == []


@pytest.mark.parametrize("limit", ["90.5", "0.5"])
def test_the_availability_page_writes_a_feeds_lag_limit_as_the_feeds_file_sets_it(tmp_path, monkeypatch, admin, store, limit) -> None:  # noqa: ANN001
    """A feed whose `max_lag_minutes` is 90.5, its newest file landed 2 hours ago: the page read
    "limit 90 min" (the template's `int` dropped the half minute the check holds it to), and for a
    limit of 0.5 min, "limit 0 min". Now the limit as the feeds file sets it."""
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  acme: {{format: acme, max_lag_minutes: {limit}}}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    land("acme", "hours.jsonl", '{"type":"hours","provider":"P1","tz":"UTC","week":{"mon":[["09:00","17:00"]]},'
                                '"updated_at":"2026-11-01T00:00:00Z"}\n')
    process(store, "2027-01-04", 2)
    read_later(monkeypatch, dt.timedelta(hours=2))
    page = admin.get("/ui/availability", params={"feed": "acme"})
    assert page.status_code == 200, page.text
    said = " ".join(page.text.split())  # as a browser lays the lines out
    assert f"120 min ago (limit {limit} min: <strong>stale</strong>)" in said, re.search(r"\d+ min ago \(limit [^)]*\)", said)
