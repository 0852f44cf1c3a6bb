"""Control Center behaviours found wrong in review ui-8, driven in chromium against `halo serve`
(each test failed before its fix): `/ui/logout` typed in the address bar answered a JSON 405;
an admin who gave themselves a new password was signed out without a word; a change's required
reason of zero-width characters only was taken."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from halo_platform_tests.fixtures.browser import screenshot
from halo_platform_tests.ui.conftest import ControlCenter, sign_in


def test_opening_the_sign_out_address_shows_a_page_that_signs_out_with_a_button(page: Page, control_center: ControlCenter) -> None:
    """`GET /ui/logout` (typed, bookmarked, a link) answered 405 `{"detail":"Method Not Allowed"}`.
    Signed in, it now asks, with a button whose form carries the session's CSRF token (signing
    out stays a POST: a link on another site signs nobody out); signed out, on to the sign-in page."""
    sign_in(page, control_center, "viewer")
    asked = page.goto(f"{control_center.url}/ui/logout")
    assert asked.status == 200 and asked.headers["content-type"].startswith("text/html")
    expect(page.get_by_role("heading", name="Sign out")).to_be_visible()
    expect(page.get_by_text("signed in as viewer")).to_be_visible()
    screenshot(page, "ui8-logout-asks")
    assert [c["name"] for c in page.context.cookies()].count("halo_session") == 1  # opening it signed nobody out
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{control_center.url}/ui/login")
    assert page.goto(f"{control_center.url}/ui/requests").url.startswith(f"{control_center.url}/ui/login")  # the session ended
    again = page.goto(f"{control_center.url}/ui/logout")
    assert again.status == 200 and page.url == f"{control_center.url}/ui/login"
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot(page, "ui8-logout-signed-out")


def test_an_admin_giving_themselves_a_new_password_is_told_to_sign_in_again(page: Page, control_center: ControlCenter) -> None:
    """A new password ends every session of its user (`users.set_password`), the admin's own when
    they set their own: the next click landed on the sign-in page with nothing saying why. Now the
    answer is the sign-in page saying the password was changed and the sessions ended, the name
    filled in, going back to the Access page; the new password signs in."""
    made = control_center.halo("users", "create", "ada", "--role", "admin", stdin="ada's first password\n")
    assert made.returncode == 0, made.stderr
    page.goto(f"{control_center.url}/ui/login?next=/ui/access")
    page.get_by_label("Name").fill("ada")
    page.get_by_label("Password").fill("ada's first password")
    page.get_by_role("button", name="Sign in").click()
    row = page.locator('#users tr[data-user="ada"]')
    row.get_by_text("New password").click()
    row.get_by_label("New password for ada", exact=True).fill("ada's second password")
    row.get_by_label("New password for ada, again").fill("ada's second password")
    row.get_by_role("button", name="Set the new password of ada").click()
    expect(page.locator("#notice")).to_contain_text("Your password was changed")
    expect(page.get_by_label("Name")).to_have_value("ada")
    screenshot(page, "ui8-own-password-changed")
    page.get_by_label("Password").fill("ada's second password")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{control_center.url}/ui/access")
    expect(page.get_by_text("ada (admin)")).to_be_visible()


INVISIBLE = "\u200b\u2060 \ufeff"  # zero-width space, word joiner, a space, zero-width no-break space: pasted, it looks empty


def test_a_reason_of_invisible_characters_only_is_no_reason(page: Page, control_center: ControlCenter) -> None:
    """A change's reason is required, and one of spaces only was refused; one of zero-width
    characters only (pasted from a chat or a document) was taken: the provider switched off, the
    weights saved, and the history showed an empty reason. Now it is refused as blank, beside the
    field, the form as it was and nothing changed."""
    sign_in(page, control_center, "admin")
    page.goto(f"{control_center.url}/ui/providers")
    rows = page.locator("#provider-states").get_by_role("row")
    rows.filter(has_text="sandbox_push").get_by_label("Reason").fill(INVISIBLE)
    rows.filter(has_text="sandbox_push").get_by_role("button", name="Switch off").click()
    expect(rows.filter(has_text="sandbox_push").locator(".error")).to_contain_text("say why")
    expect(rows.filter(has_text="sandbox_push").locator(".badge").first).not_to_have_text("off")
    screenshot(page, "ui8-invisible-reason-providers")

    edit = f"{control_center.url}/ui/routing/edit?rule=email%2F%2A%2F%2A"
    page.goto(edit)
    for provider, weight in (("sandbox_email_a", "70"), ("sandbox_email_b", "30")):
        page.get_by_label(provider).fill(weight)
    page.get_by_label("Reason (required: kept in the history)").fill(INVISIBLE)
    page.get_by_role("button", name="Save weights").click()
    expect(page.locator("[id='reason-error']")).to_contain_text("say why")
    expect(page.get_by_label("sandbox_email_b")).to_have_value("30")  # what was typed, kept
    screenshot(page, "ui8-invisible-reason-routing")
    page.goto(edit)
    expect(page.get_by_label("sandbox_email_a")).to_have_value("60")  # the demo's weights, as they were
