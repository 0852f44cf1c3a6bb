"""Control Center defects found in review ui21 (each test failed before its fix): a double click on
a form's button sent it twice (the task form's button alone was disabled once clicked), and the
browser showed one answer of the two: after "Create the key", "an active key named ... exists",
the key, shown once, in the answer it dropped."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from halo_platform_tests.fixtures.browser import screenshot
from halo_platform_tests.ui.conftest import ControlCenter, sign_in

# two clicks as a person's double click lands them: the second while the first answer is on its way
DOUBLE_CLICK = "(selector) => { const button = document.querySelector(selector); button.click(); setTimeout(() => button.click(), 15); }"


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
