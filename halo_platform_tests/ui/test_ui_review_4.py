"""Control Center forms found wrong in review 4, driven in chromium against `halo serve` (each test
failed before its fix): two people (or two tabs) editing the same schedule, or the same rule's
weights, no longer write one page's older values back over the other's saved change; a new routing
rule names an ISO country, as the providers file's rules do; a user's 100-character name fits the
screen."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from halo_platform.core.settings import get_settings
from halo_platform.core.store import StoreResource
from halo_platform.delivery.state import stored_weights, weight_history
from halo_platform.reports.schedules import list_schedules, schedule_edits
from halo_platform_tests.fixtures.browser import screenshot
from halo_platform_tests.ui.conftest import ControlCenter, sign_in

SCHEDULE = "campaign_alerts_daily"
RULE = "sms/*/TEXT"


@pytest.fixture
def store(control_center: ControlCenter) -> Iterator[StoreResource]:
    made = StoreResource(db_url=get_settings(control_center.env).db_url)
    yield made
    made.dispose()


@pytest.fixture
def second(browser: Browser) -> Iterator[Page]:
    """Another person's browser (its own cookies) beside the `page` fixture's."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def test_a_schedule_form_opened_before_anothers_save_does_not_undo_it(
        page: Page, second: Page, control_center: ControlCenter, store: StoreResource) -> None:
    """The operator and the admin open the same schedule; the operator moves it to 09:00 and saves;
    the admin, whose page still says 07:00, changes the timezone and saves. The admin's save wrote
    07:00 back (the operator's change gone without a word, the history saying the admin undid it).
    Now it is refused above the form, naming who changed it; the admin's values stay in the form,
    nothing is saved; sent again, knowingly, it is saved."""
    url = f"{control_center.url}/ui/schedules/{SCHEDULE}"
    sign_in(page, control_center, "operator")
    sign_in(second, control_center, "admin")
    page.goto(url)
    second.goto(url)
    page.get_by_label("Cron (minute hour day month weekday)").fill("0 9 * * *")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.locator("#saved")).to_be_visible()
    edits = len(schedule_edits(store, SCHEDULE))

    second.get_by_label("Timezone (IANA name)").fill("Europe/Paris")
    second.get_by_role("button", name="Save schedule").click()
    expect(second.get_by_role("alert").first).to_contain_text(f"schedule {SCHEDULE}: changed by operator at ")
    expect(second.get_by_role("alert").first).to_contain_text("nothing was saved")
    expect(second.get_by_label("Timezone (IANA name)")).to_have_value("Europe/Paris")
    screenshot(second, "review4-schedule-changed-since-opened")
    saved = next(s for s in list_schedules(store) if s["schedule_id"] == SCHEDULE)
    assert (saved["cron"], saved["timezone"]) == ("0 9 * * *", "Asia/Jakarta")
    assert len(schedule_edits(store, SCHEDULE)) == edits

    second.get_by_label("Cron (minute hour day month weekday)").fill("0 9 * * *")
    second.get_by_role("button", name="Save schedule").click()
    expect(second.locator("#saved")).to_be_visible()
    saved = next(s for s in list_schedules(store) if s["schedule_id"] == SCHEDULE)
    assert (saved["cron"], saved["timezone"], saved["updated_by"]) == ("0 9 * * *", "Europe/Paris", "admin")
    assert page.script_errors == [] and second.url == url


def _weights(store: StoreResource) -> dict[str, float]:
    with store.read() as conn:
        return stored_weights(conn)[RULE]


def test_a_weights_form_opened_before_anothers_save_does_not_undo_it(
        page: Page, second: Page, control_center: ControlCenter, store: StoreResource) -> None:
    """Two admins open the weights of sms/*/TEXT; one drains sandbox_sms_b (0: it is failing) and
    saves; the other, whose page still shows 30 for it, gives sandbox_sms_a 80 and saves. That save
    put sandbox_sms_b back to 30, sending traffic to the failing provider again, and the history
    said the second admin did it on purpose. Now it is refused, naming who changed the weights; nothing
    is saved, the typed values and reason stay; sent again, knowingly, it is saved."""
    url = f"{control_center.url}/ui/routing/edit?rule=sms%2F%2A%2FTEXT"
    sign_in(page, control_center, "admin")
    sign_in(second, control_center, "admin")
    page.goto(url)
    second.goto(url)
    assert _weights(store) == {"sandbox_sms_a": 70.0, "sandbox_sms_b": 30.0}
    page.get_by_label("sandbox_sms_b").fill("0")
    page.get_by_label("Reason (required: kept in the history)").fill("sandbox_sms_b is failing")
    page.get_by_role("button", name="Save weights").click()
    expect(page).to_have_url(f"{control_center.url}/ui/routing")
    changes = len(weight_history(store, RULE))

    second.get_by_label("sandbox_sms_a").fill("80")
    second.get_by_label("Reason (required: kept in the history)").fill("more to a")
    second.get_by_role("button", name="Save weights").click()
    expect(second.locator("#weights-error")).to_contain_text(f"weights for {RULE}: changed by admin at ")
    expect(second.locator("#weights-error")).to_contain_text("nothing was saved")
    expect(second.get_by_label("sandbox_sms_a")).to_have_value("80")
    expect(second.get_by_label("Reason (required: kept in the history)")).to_have_value("more to a")
    screenshot(second, "review4-weights-changed-since-opened")
    assert _weights(store) == {"sandbox_sms_a": 70.0, "sandbox_sms_b": 0.0}
    assert len(weight_history(store, RULE)) == changes

    second.get_by_label("sandbox_sms_b").fill("0")
    second.get_by_role("button", name="Save weights").click()
    expect(second).to_have_url(f"{control_center.url}/ui/routing")
    assert _weights(store) == {"sandbox_sms_a": 80.0, "sandbox_sms_b": 0.0}
    assert page.script_errors == []


@pytest.mark.parametrize(("typed", "made"), [("UK", "sms/UK/*"), ("ß", "sms/SS/*"), ("zz", "sms/ZZ/*")])
def test_a_new_rule_for_no_iso_country_is_refused_beside_the_country(
        page: Page, control_center: ControlCenter, store: StoreResource, typed: str, made: str) -> None:
    """The providers file refuses a rule for UK (GB is the code: no message's country is UK); Add a
    rule took UK, ZZ, and ß, which upper-cased is SS (South Sudan): a rule no message matched, or
    one for a country nobody typed, each in the history as a change of routing."""
    sign_in(page, control_center, "admin")
    page.goto(f"{control_center.url}/ui/routing/new")
    page.get_by_label("Country (two letters, or * for any)").fill(typed)
    page.get_by_label("sandbox_sms_a").fill("10")
    page.get_by_label("Reason (required: kept in the history)").fill("new market")
    page.get_by_role("button", name="Add the rule").click()
    expect(page.locator("#country-error")).to_have_text(
        f"country {typed!r}: not an ISO 3166-1 country: a two-letter code such as FR, or * for every country")
    expect(page.get_by_label("Country (two letters, or * for any)")).to_have_value(typed)
    with store.read() as conn:
        assert made not in stored_weights(conn)
    assert made not in {e["rule"] for e in weight_history(store)}



LONG_NAME = "W" * 100  # the longest name `halo users create` takes, one word


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}])
def test_a_user_with_a_100_character_name_gets_pages_that_fit_the_screen(
        page: Page, control_center: ControlCenter, viewport: dict[str, int]) -> None:
    """Names are up to 100 letters, digits, '.', '_' or '-' with nothing to break a line at: signed
    in as such a user, every page scrolled sideways as a whole (252 px on a laptop, 1,141 px on a
    phone: the top bar's name did not wrap), and on the Access page the name stretched the users
    table so that every row's New password and Disable were out of the table's view."""
    if not any(u.startswith(LONG_NAME) for u in control_center.halo("users", "list").stdout.splitlines()):
        made = control_center.halo("users", "create", LONG_NAME, "--role", "operator", stdin="long name password 1\n")
        assert made.returncode == 0, made.stderr
    page.set_viewport_size(viewport)
    page.goto(f"{control_center.url}/ui/login")
    page.get_by_label("Name").fill(LONG_NAME)
    page.get_by_label("Password").fill("long name password 1")
    page.get_by_role("button", name="Sign in").click()
    for path in ("/ui/tasks", "/ui/schedules/payment_reconciliation_weekly"):
        page.goto(control_center.url + path)
        expect(page.get_by_text("(operator)")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") == 0, path
        assert page.get_by_role("button", name="Sign out").bounding_box()["x"] + 10 < viewport["width"]
    screenshot(page, f"review4-long-name-{viewport['width']}")
    if viewport["width"] < 768:  # on a phone the users table scrolls in its box, as every wide table does
        return
    sign_in(page, control_center, "admin")
    page.goto(f"{control_center.url}/ui/access")
    box = page.locator("#users").locator("xpath=..")
    assert box.evaluate("e => e.scrollWidth - e.clientWidth") == 0
    disable = page.get_by_role("button", name=f"Disable user {LONG_NAME}")
    assert disable.bounding_box()["x"] + disable.bounding_box()["width"] <= viewport["width"]
    screenshot(page, "review4-long-name-access")
