"""The Access page as an admin meets it in chromium: a key created from the form is shown once and
works with exactly its scopes, then stops working when revoked; a user created there signs in and
loses their session when disabled; each change shows who made it and when; every mistake is
shown beside its field; a viewer reads the keys and users without the page's forms."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from halo_platform_tests.fixtures.browser import screenshot
from halo_platform_tests.ui.conftest import ControlCenter, open_page, sign_in


def _call(center: ControlCenter, key: str, path: str) -> int:
    return httpx.get(center.url + path, headers={"Authorization": f"Bearer {key}"}, timeout=30).status_code


def test_a_key_made_on_the_page_is_shown_once_works_with_its_scopes_and_stops_when_revoked(page: Page, control_center: ControlCenter) -> None:
    sign_in(page, control_center, "admin")
    open_page(page, control_center.url + "/ui/access")
    page.get_by_text("Create a key").click()
    page.get_by_label("Key name").fill("partner-lab")
    page.get_by_label("availability:read").check()
    page.get_by_label("Expires (optional)").fill("2099-01-31")
    with page.expect_response(lambda r: r.url.endswith("/ui/access/keys")) as answer:
        page.get_by_role("button", name="Create the key").click()
    assert answer.value.status == 201 and answer.value.headers["cache-control"] == "no-store"
    key = page.locator("#new-key").inner_text().strip()
    screenshot(page, "access-key-created")
    assert key.startswith("halo_")
    assert _call(control_center, key, "/v1/availability?feed=acme&provider_id=AC001") == 200
    assert _call(control_center, key, "/v1/messages/some-id") == 403  # not its scope

    page.goto(control_center.url + "/ui/access")  # shown once: never again
    assert key not in page.content() and key.split("_", 2)[2] not in page.content()  # the secret may hold "_"
    row = page.locator("tr[data-key='partner-lab']")
    expect(row).to_contain_text("availability:read")
    expect(row).to_contain_text("by admin")
    expect(row).to_contain_text("2099-01-31 00:00 UTC")  # the instant it is refused from, not a day that reads as its last
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke key partner-lab").click()
    expect(page.locator("#done")).to_contain_text("key partner-lab revoked")
    expect(row.locator(".badge")).to_have_text(re.compile(r"^revoked \S+ \S+( UTC)? by admin$"))  # who revoked it, and when
    assert _call(control_center, key, "/v1/availability?feed=acme&provider_id=AC001") == 401
    assert re.search(r"partner-lab .* revoked=\S+Z by admin$", control_center.halo("keys", "list").stdout, re.M)
    assert page.external_requests == [] and page.script_errors == []


def test_each_mistake_on_the_forms_is_shown_beside_its_field(page: Page, control_center: ControlCenter) -> None:
    sign_in(page, control_center, "admin")
    open_page(page, control_center.url + "/ui/access")
    page.get_by_text("Create a key").click()
    page.get_by_label("Key name").fill("has space")
    page.get_by_label("messages:send").check()
    page.get_by_role("button", name="Create the key").click()
    expect(page.locator("#key\\.name-error")).to_contain_text("letters, digits")
    page.get_by_label("Key name").fill("no-scope")
    page.get_by_label("messages:send").uncheck()
    page.get_by_role("button", name="Create the key").click()
    expect(page.locator("#key\\.scope-error")).to_contain_text("give at least one")
    expect(page.get_by_label("Key name")).to_have_value("no-scope")  # what was typed is kept
    page.get_by_label("messages:send").check()
    page.get_by_label("Requests per second (empty: the service's default)").fill("fast")
    page.get_by_role("button", name="Create the key").click()
    expect(page.locator("#key\\.rate-error")).to_contain_text("a number")
    page.get_by_label("Requests per second (empty: the service's default)").fill("")
    page.get_by_label("Expires (optional)").fill("2020-01-01")
    page.get_by_role("button", name="Create the key").click()
    expect(page.locator("#key\\.expires-error")).to_contain_text("not in the future")

    page.get_by_text("Create a user").click()
    page.locator("#user-name").fill("viewer")
    page.locator("#user-password").fill("a long enough password")
    page.locator("#user-password-again").fill("a long enough passwort")
    page.get_by_role("button", name="Create the user").click()
    expect(page.locator("#user\\.password-error")).to_have_text("the two passwords differ")
    page.locator("#user-password").fill("short")
    page.locator("#user-password-again").fill("short")
    page.get_by_role("button", name="Create the user").click()
    expect(page.locator("#user\\.password-error")).to_contain_text("at least 12")
    page.locator("#user-password").fill("a long enough password")
    page.locator("#user-password-again").fill("a long enough password")
    page.get_by_role("button", name="Create the user").click()
    expect(page.locator("#user\\.name-error")).to_contain_text("exists")
    screenshot(page, "access-form-errors")
    assert "no-scope" not in control_center.halo("keys", "list").stdout
    assert page.external_requests == [] and page.script_errors == []


def test_a_user_made_on_the_page_signs_in_and_is_shut_out_when_disabled(page: Page, control_center: ControlCenter) -> None:
    sign_in(page, control_center, "admin")
    open_page(page, control_center.url + "/ui/access")
    expect(page.locator("tr[data-user='admin']").get_by_role("button", name="Disable user admin")).to_have_count(0)
    page.get_by_text("Create a user").click()
    page.locator("#user-name").fill("olga")
    page.locator("#user-role").select_option("operator")
    page.locator("#user-password").fill("olga's long password")
    page.locator("#user-password-again").fill("olga's long password")
    page.get_by_role("button", name="Create the user").click()
    expect(page.locator("#done")).to_contain_text("user olga created")
    expect(page.locator("tr[data-user='olga'] td").nth(2)).to_contain_text("by admin")

    control_center.logins["olga"] = ("olga", "olga's long password")
    olga = page.context.browser.new_context()
    olga_page = olga.new_page()
    olga_page.goto(control_center.url + "/ui/login")
    olga_page.get_by_label("Name").fill("olga")
    olga_page.get_by_label("Password").fill("olga's long password")
    olga_page.get_by_role("button", name="Sign in").click()
    expect(olga_page.get_by_text("olga (operator)")).to_be_visible()
    olga_page.goto(control_center.url + "/ui/tasks/payment_reconciliation")  # a form open as her session ends

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("tr[data-user='olga']").get_by_role("button", name="Disable user olga").click()
    expect(page.locator("#done")).to_contain_text("user olga disabled")
    expect(page.locator("tr[data-user='olga'] .badge")).to_have_text(re.compile(r"^disabled \S+ \S+( UTC)? by admin$"))
    olga_page.get_by_role("button", name="Request payment_reconciliation").click()
    expect(olga_page.locator("#notice")).to_contain_text("nothing was saved")  # the form she sent, not a bare sign-in page
    screenshot(olga_page, "access-form-after-session-ended")
    olga_page.goto(control_center.url + "/ui/tasks")
    expect(olga_page).to_have_url(f"{control_center.url}/ui/login?next=/ui/tasks")  # the session ended
    olga.close()
    screenshot(page, "access-users")


def test_a_viewer_reads_the_access_page_without_its_forms(page: Page, control_center: ControlCenter) -> None:
    """access.md: a viewer reads everything; only an admin edits keys and users (the page was a 403)."""
    sign_in(page, control_center, "viewer")
    page.get_by_role("link", name="Access").click()
    expect(page).to_have_url(control_center.url + "/ui/access")
    expect(page.locator("tr[data-user='admin']")).to_contain_text("admin")
    expect(page.get_by_text("Changing keys and users needs the admin role.")).to_be_visible()
    expect(page.locator("main form")).to_have_count(0)
    expect(page.get_by_role("button")).to_have_count(1)  # Sign out alone


def test_a_key_rotated_on_the_page_is_shown_once_and_the_replaced_key_works_for_the_overlap(page: Page, control_center: ControlCenter) -> None:
    """`halo keys rotate` on the page: the new key shown once, the replaced one working until the
    overlap ends, and no Rotate button on it (the name's active key is the new one)."""
    made = control_center.halo("keys", "create", "rotating-lab", "--scope", "availability:read")
    assert made.returncode == 0, made.stderr
    old = made.stdout.strip()
    sign_in(page, control_center, "admin")
    open_page(page, control_center.url + "/ui/access")
    row = page.locator("tr[data-key='rotating-lab']")
    row.get_by_label("Hours the replaced key rotating-lab keeps working").fill("many")
    row.get_by_role("button", name="Rotate key rotating-lab").click()
    expect(page.locator("#rotate\\.rotating-lab-error")).to_contain_text("overlap: a number of hours from 0 to 720")

    row.get_by_label("Hours the replaced key rotating-lab keeps working").fill("1")
    with page.expect_response(lambda r: r.url.endswith("/rotate")) as answer:
        row.get_by_role("button", name="Rotate key rotating-lab").click()
    assert answer.value.status == 201 and answer.value.headers["cache-control"] == "no-store"
    expect(page.locator("#created-key-title")).to_have_text("Key rotating-lab rotated")
    expect(page.locator("#replaced-until")).to_contain_text("The replaced key works until")
    new = page.locator("#new-key").inner_text().strip()
    screenshot(page, "access-key-rotated")
    assert new.startswith("halo_") and new != old
    for key in (old, new):
        assert _call(control_center, key, "/v1/availability?feed=acme&provider_id=AC001") == 200

    page.goto(control_center.url + "/ui/access")
    rows = page.locator("tr[data-key='rotating-lab']")
    expect(rows).to_have_count(2)
    expect(page.get_by_role("button", name="Rotate key rotating-lab")).to_have_count(1)  # the new key's row alone
    expect(rows.filter(has_text=old.split("_")[1]).get_by_role("button", name="Rotate key rotating-lab")).to_have_count(0)
    assert page.external_requests == [] and page.script_errors == []
