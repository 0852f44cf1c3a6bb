"""Accessibility basics on every page an admin can open: each visible input, select and textarea
has a label (or an aria-label), each button says what it does, each page has one h1; and a
person can sign in and request a task with the keyboard alone."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from halo_platform_tests.fixtures.browser import screenshot
from halo_platform_tests.ui.conftest import open_page, sign_in

UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
    .map(e => e.outerHTML.slice(0, 120))"""
SILENT_BUTTONS = """() => [...document.querySelectorAll('button, input[type=submit]')]
    .filter(b => !(b.innerText || b.textContent || b.value || b.getAttribute('aria-label') || '').trim()).map(b => b.outerHTML.slice(0, 120))"""


def _pages(center) -> list[str]:  # noqa: ANN001
    schedule = center.halo("schedules", "list").stdout.split()[0]
    return ["/ui/tasks", "/ui/tasks/payment_reconciliation", "/ui/requests", "/ui/schedules", f"/ui/schedules/{schedule}",
            "/ui/routing", "/ui/routing/new", f"/ui/routing/edit?rule={quote('sms/*/TEXT')}", "/ui/routing/history",
            "/ui/providers", "/ui/messages", "/ui/availability", "/ui/availability?feed=acme&provider=AC001", "/ui/access"]


def test_every_field_of_every_page_has_a_label_and_every_button_a_name(control_center, page) -> None:  # noqa: ANN001
    sign_in(page, control_center, "admin")
    for path in _pages(control_center):
        open_page(page, control_center.url + path)
        assert page.title().endswith("halo Control Center"), path
        assert page.locator("h1").count() == 1, path
        assert page.evaluate(UNLABELLED) == [], path
        assert page.evaluate(SILENT_BUTTONS) == [], path
    assert page.external_requests == [] and page.script_errors == []


@pytest.mark.timeout(300)
def test_a_person_signs_in_and_opens_a_task_form_with_the_keyboard_alone(control_center, page) -> None:  # noqa: ANN001
    name, password = control_center.logins["operator"]
    page.goto(f"{control_center.url}/ui/login")
    expect(page.get_by_label("Name")).to_be_focused()  # autofocus: the keyboard starts there
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    expect(page.get_by_text(f"{name} (operator)")).to_be_visible()
    page.goto(f"{control_center.url}/ui/tasks/payment_reconciliation")
    for _ in range(60):  # Tab until the submit button has the focus: every control on the way is reachable
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.type") == "submit" and "Request" in page.evaluate("() => document.activeElement.innerText"):
            break
    else:
        pytest.fail("the request button cannot be reached with Tab")
    screenshot(page, "task-form-keyboard")
