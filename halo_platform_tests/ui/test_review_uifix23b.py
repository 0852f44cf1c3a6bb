# ruff: noqa: F811 - the fixtures imported from test_page_edges are the tests' arguments
"""Control Center defects found in review uifix23b (each test failed before its fix): a second
Revoke of a key said its error at the top of the Access page, away from the key's row (Rotate's
errors are said beside the row); a request's page showed a 10 kB payload value whole; the routing
pages repeated an unknown rule's key whole."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from halo_platform.access.keys import create_key, list_keys
from halo_platform.core.store import StoreResource
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
