"""The Schedules and Routing pages as operators and admins meet them in chromium: a cron changed
with its live preview and saved through the same `set_schedule` as the CLI (the CLI lists it,
the history names the operator); France SMS weights added and edited by an admin with a reason
that the history keeps; a viewer who sees no controls and whose forged POSTs get the 403 page;
bad input refused beside its field with a 422. Every page opened is timed (< 300 ms).

The domain functions under the pages (the edit history of schedules, rules added at run time,
the weight history) are pinned on an isolated store first."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from click.testing import CliRunner
from playwright.sync_api import Page, expect

from halo_platform.cli import cli
from halo_platform.core.errors import HaloError
from halo_platform.core.settings import get_settings
from halo_platform.core.store import StoreResource
from halo_platform.definitions import defs
from halo_platform.delivery.config import parse_config
from halo_platform.delivery.state import (
    add_rule,
    load_router,
    seed_states,
    seed_weights,
    set_weights,
    weight_history,
    weights_table,
)
from halo_platform.delivery.tables import ProviderState
from halo_platform.reports.schedules import cron_in_words, list_schedules, next_runs, schedule_edits, set_schedule
from halo_platform.ui.schedules import describe
from halo_platform_tests.fixtures.browser import screenshot
from halo_platform_tests.ui.conftest import ControlCenter, open_fast, sign_in

SCHEDULE = "payment_reconciliation_weekly"
FR_RULE = "sms/FR/*"
CONFIG = parse_config({
    "providers": {
        "sms_a": {"kind": "sandbox", "channel": "sms", "countries": ["*"], "capabilities": ["*"]},
        "sms_b": {"kind": "sandbox", "channel": "sms", "countries": ["*"], "capabilities": ["TEXT"]},
        "sms_de": {"kind": "sandbox", "channel": "sms", "countries": ["DE"], "capabilities": ["*"]},
        "mail": {"kind": "sandbox", "channel": "email", "countries": ["*"], "capabilities": ["*"]},
    },
    "routing": [{"channel": "sms", "country": "*", "capability": "TEXT", "weights": {"sms_a": 70, "sms_b": 30}}],
})


@pytest.fixture
def store(halo_env: dict) -> Iterator[StoreResource]:
    made = StoreResource(db_url=halo_env["HALO_DB_URL"])
    yield made
    made.dispose()


# --- the domain under the pages ---------------------------------------------------------------

@pytest.mark.parametrize(("cron", "timezone", "words"), [
    ("0 6 * * 1", "Asia/Jakarta", "every Monday at 06:00, Asia/Jakarta"),
    ("0 7 * * *", "Europe/Paris", "every day at 07:00, Europe/Paris"),
    ("30 5 * * 1-5", "UTC", "every Monday through Friday at 05:30, UTC"),
    ("*/15 * * * *", "Asia/Jakarta", "Every 15 minutes, Asia/Jakarta"),
])
def test_a_cron_is_said_in_words_with_its_timezone(cron: str, timezone: str, words: str) -> None:
    assert cron_in_words(cron, timezone) == words


def test_the_next_runs_are_the_cron_times_in_the_schedules_timezone_across_a_dst_change() -> None:
    """07:00 Paris stays 07:00 local across the end of summer time (the UTC hour moves)."""
    after = dt.datetime(2026, 10, 23, 12, tzinfo=dt.UTC)
    runs = next_runs("0 7 * * *", "Europe/Paris", 5, after)
    assert [(r.day, r.hour, r.minute) for r in runs] == [(24, 7, 0), (25, 7, 0), (26, 7, 0), (27, 7, 0), (28, 7, 0)]
    assert [r.astimezone(dt.UTC).hour for r in runs] == [5, 6, 6, 6, 6]
    assert all(r.tzinfo == ZoneInfo("Europe/Paris") for r in runs)


@pytest.mark.parametrize(("cron", "timezone", "message"), [
    ("61 * * * *", "UTC", "invalid cron expression"), ("0 7 * *", "UTC", "invalid cron expression"),
    ("0 7 * * 1", "Mars/Olympus", "unknown timezone"),
    ("0 6 30 2 *", "UTC", "never fires"), ("0 7 * * 1", "a" * 300, "unknown timezone"),  # were 500s on the pages
])
def test_next_runs_refuse_a_bad_cron_or_timezone_with_the_message_the_form_shows(cron: str, timezone: str, message: str) -> None:
    with pytest.raises(HaloError, match=message):
        next_runs(cron, timezone)
    shown = describe(cron, timezone)  # what the schedules list, the edit page and the live preview show
    assert message in shown["error"] and shown["field"] == ("timezone" if "timezone" in message else "cron")


def test_every_schedule_change_is_recorded_with_who_before_and_after_and_a_no_op_is_not(halo_env: dict, store: StoreResource) -> None:
    set_schedule(store, "weekly", task="payment_reconciliation", cron="0 6 * * 1", sinks=["outbox"], updated_by="seed")
    set_schedule(store, "weekly", cron="0 7 * * 1", updated_by="ops")
    set_schedule(store, "weekly", cron="0 7 * * 1", updated_by="ops")  # nothing changes: nothing recorded
    with pytest.raises(HaloError):
        set_schedule(store, "weekly", cron="bad", updated_by="ops")  # refused: nothing recorded
    set_schedule(store, "weekly", enabled=False, payload={"format": "xlsx"}, updated_by="cli:ana")
    edits = schedule_edits(store, "weekly")
    assert [(e["changed_by"], e["changed"]) for e in edits] == [
        ("cli:ana", ["payload", "enabled"]), ("ops", ["cron"]),
        ("seed", ["task", "cron", "timezone", "payload", "sinks", "enabled", "catch_up"]),
    ]
    assert (edits[1]["before"]["cron"], edits[1]["after"]["cron"]) == ("0 6 * * 1", "0 7 * * 1")
    assert edits[2]["before"] is None
    assert list_schedules(store)[0]["cron"] == "0 7 * * 1"


def test_the_launchpad_job_and_the_cli_leave_the_same_history_as_the_page(halo_env: dict, store: StoreResource) -> None:
    set_schedule(store, "daily", task="campaign_alerts", cron="0 7 * * *", sinks=["outbox"], updated_by="seed")
    job = defs.resolve_job_def("manage_task_schedule")
    edit = {"schedule_id": "daily", "payload_json": json.dumps({"expiring_within_days": 5}), "updated_by": "launchpad:ana"}
    assert job.execute_in_process(run_config={"ops": {"edit_task_schedule": {"config": edit}}},
                                  instance=dg.DagsterInstance.ephemeral()).success
    ran = CliRunner().invoke(cli, ["schedules", "set", "daily", "--cron", "0 8 * * *", "--by", "cli:bo"])
    assert ran.exit_code == 0, ran.output
    edits = schedule_edits(store, "daily")
    assert [(e["changed_by"], e["changed"]) for e in edits[:2]] == [("cli:bo", ["cron"]), ("launchpad:ana", ["payload"])]
    assert (edits[1]["before"]["payload"], edits[1]["after"]["payload"]) == ({}, {"expiring_within_days": 5})


def test_a_rule_added_at_run_time_routes_its_messages_and_its_weights_are_edited_like_a_files_rule(halo_env: dict, store: StoreResource) -> None:
    seed_weights(CONFIG, store)
    assert load_router(CONFIG, store).weights_for("sms", "FR", "TEXT")[0] == "sms/*/TEXT"
    add_rule(CONFIG, "sms", "fr", "*", {"sms_a": 50, "sms_b": 50}, "admin", store, "France launch")
    key, weights = load_router(CONFIG, store).weights_for("sms", "FR", "TEXT")
    assert (key, weights) == (FR_RULE, {"sms_a": 50.0, "sms_b": 50.0})
    assert load_router(CONFIG, store).weights_for("sms", "US", "TEXT")[0] == "sms/*/TEXT"
    set_weights(CONFIG, FR_RULE, {"sms_a": 60, "sms_b": 40}, "admin", store, "sms_b is dearer in France")
    shares = {r["provider"]: r["share"] for r in weights_table(CONFIG, store) if r["rule"] == FR_RULE}
    assert shares == pytest.approx({"sms_a": 0.6, "sms_b": 0.4})
    history = weight_history(store, FR_RULE)
    assert [(e["changed_by"], e["reason"], e["changes"]) for e in history] == [
        ("admin", "sms_b is dearer in France", {"sms_a": (50.0, 60.0), "sms_b": (50.0, 40.0)}),
        ("admin", "France launch", {"sms_a": (None, 50.0), "sms_b": (None, 50.0)}),
    ]


def test_effective_shares_are_the_weights_times_each_providers_autopilot_factor(halo_env: dict, store: StoreResource) -> None:
    """A provider ramping at 50 % keeps its configured weight but carries half of it: 70x0.5 : 30."""
    seed_weights(CONFIG, store)
    seed_states(CONFIG, store)
    with store.write() as conn:
        conn.execute(ProviderState.__table__.update().where(ProviderState.__table__.c.provider == "sms_a").values(factor=0.5))
    rows = {r["provider"]: r for r in weights_table(CONFIG, store) if r["rule"] == "sms/*/TEXT"}
    assert {p: (r["weight"], r["factor"], r["effective"]) for p, r in rows.items()} == {"sms_a": (70, 0.5, 35), "sms_b": (30, 1.0, 30)}
    assert rows["sms_a"]["share"] == pytest.approx(35 / 65)
    assert load_router(CONFIG, store).weights_for("sms", "FR", "TEXT")[1] == {"sms_a": 35, "sms_b": 30}


@pytest.mark.parametrize(("channel", "country", "capability", "weights", "message"), [
    ("sms", "*", "TEXT", {"sms_a": 1}, "exists already"),
    ("fax", "FR", "*", {"sms_a": 1}, "unknown channel"),
    ("sms", "FRA", "*", {"sms_a": 1}, "two-letter code"),
    ("sms", "FR", "HOLOGRAM", {"sms_a": 1}, "capability"),
    ("sms", "FR", "*", {"sms_de": 1}, "does not serve FR"),
    ("sms", "FR", "*", {"mail": 1}, "not sms"),
    ("sms", "FR", "*", {"sms_a": 0}, "more than 0"),
])
def test_adding_a_rule_refuses_what_could_not_route_and_stores_nothing(
        halo_env: dict, store: StoreResource, channel: str, country: str, capability: str, weights: dict, message: str) -> None:
    seed_weights(CONFIG, store)
    with pytest.raises(HaloError, match=message):
        add_rule(CONFIG, channel, country, capability, weights, "admin", store, "why")
    assert [r.key for r in load_router(CONFIG, store).config.rules] == ["sms/*/TEXT"]
    assert len(weight_history(store)) == 1


# --- the pages ------------------------------------------------------------------------------

def _read(center: ControlCenter, read: Callable[[StoreResource], Any]) -> Any:  # noqa: ANN401
    """`read` over the Control Center's store, through the domain (faster than a CLI process)."""
    store = StoreResource(db_url=get_settings(center.env).db_url)
    try:
        return read(store)
    finally:
        store.dispose()


def _schedules(center: ControlCenter) -> list[dict]:
    return _read(center, list_schedules)


def _rules_changed(center: ControlCenter) -> set[str]:
    return {e["rule"] for e in _read(center, weight_history)}



def test_an_operator_changes_a_cron_with_a_live_preview_and_the_cli_and_the_history_see_it(
        page: Page, control_center: ControlCenter) -> None:
    center = control_center
    sign_in(page, center, "operator")
    open_fast(page, f"{center.url}/ui/schedules")
    row = page.locator(f"#schedule-{SCHEDULE}")
    expect(row).to_contain_text("every Monday at 06:00, Asia/Jakarta")
    expect(row.locator(".runs li")).to_have_count(5)
    expect(row.locator(".runs li").first).to_contain_text(re.compile(r"Mon \d{4}-\d\d-\d\d 06:00 WIB"))
    screenshot(page, "schedules")

    row.get_by_role("button", name="Edit").click()  # click 1
    expect(page).to_have_url(f"{center.url}/ui/schedules/{SCHEDULE}")
    open_fast(page, f"{center.url}/ui/schedules/{SCHEDULE}")
    cron = page.get_by_label("Cron (minute hour day month weekday)")
    cron.fill("61 * * * *")
    expect(page.locator("#preview-error")).to_contain_text("invalid cron expression")
    cron.fill("0 7 * * 1")
    expect(page.locator("#preview-words")).to_have_text("every Monday at 07:00, Asia/Jakarta")
    expect(page.locator("#preview-runs li")).to_have_count(5)
    for run in page.locator("#preview-runs li").all_inner_texts():
        assert re.fullmatch(r"Mon \d{4}-\d\d-\d\d 07:00 WIB \(UTC\+07:00\)", run), run
    page.get_by_label("Timezone (IANA name)").fill("Europe/Paris")
    expect(page.locator("#preview-words")).to_have_text("every Monday at 07:00, Europe/Paris")
    page.get_by_label("Timezone (IANA name)").fill("Asia/Jakarta")
    expect(page.locator("#preview-words")).to_have_text("every Monday at 07:00, Asia/Jakarta")
    expect(page.get_by_label("Missed ticks")).to_have_value("latest")  # the default
    page.get_by_label("Missed ticks").select_option("all")
    screenshot(page, "schedule-edit")
    page.get_by_role("button", name="Save schedule").click()  # click 2
    expect(page.locator("#saved")).to_be_visible()

    listed = center.halo("schedules", "list")
    assert listed.returncode == 0, listed.stderr
    assert re.search(rf"^{SCHEDULE}\tpayment_reconciliation\t0 7 \* \* 1\tAsia/Jakarta\tenabled.*\tcatch_up=all\t",
                     listed.stdout, re.M), listed.stdout
    latest = page.locator("table.history tbody tr").first
    expect(latest).to_contain_text("operator")
    expect(latest).to_contain_text("cron: 0 6 * * 1 → 0 7 * * 1")
    expect(latest).to_contain_text("catch_up: latest → all")
    open_fast(page, f"{center.url}/ui/schedules")
    expect(page.locator(f"#schedule-{SCHEDULE}")).to_contain_text("every Monday at 07:00, Asia/Jakarta")
    expect(page.locator("table.history tbody tr").first).to_contain_text("cron: 0 6 * * 1 → 0 7 * * 1")
    assert page.external_requests == [] and page.script_errors == []


def test_an_edit_from_the_cli_appears_in_the_pages_history_under_its_name(page: Page, control_center: ControlCenter) -> None:
    center = control_center
    made = center.halo("schedules", "disable", "campaign_alerts_daily", "--by", "cli:ana")
    assert made.returncode == 0, made.stderr
    sign_in(page, center, "viewer")
    open_fast(page, f"{center.url}/ui/schedules/campaign_alerts_daily")
    latest = page.locator("table.history tbody tr").first
    expect(latest).to_contain_text("cli:ana")
    expect(latest).to_contain_text("enabled: enabled → disabled")
    assert center.halo("schedules", "enable", "campaign_alerts_daily", "--by", "cli:ana").returncode == 0


@pytest.mark.parametrize(("field", "value", "error"), [
    ("Cron (minute hour day month weekday)", "0 7 * *", "invalid cron expression"),
    ("Timezone (IANA name)", "Asia/Atlantis", "unknown timezone"),
    ("tolerance", "-5", "greater than or equal to 0"),
    # valid alone, but the run would refuse it: the default period_end (the previous ISO week's) is before it
    ("period_start", "2190-01-06", "must be after period_start (2190-01-06)"),
])
def test_a_bad_schedule_edit_is_refused_beside_its_field_keeping_what_was_typed(
        page: Page, control_center: ControlCenter, field: str, value: str, error: str) -> None:
    center = control_center
    sign_in(page, center, "operator")
    before = _schedules(center)
    open_fast(page, f"{center.url}/ui/schedules/{SCHEDULE}")
    page.get_by_label(field, exact=True).fill(value)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Save schedule").click()
    assert answer.value.status == 422
    box = page.get_by_label(field, exact=True)
    expect(box).to_have_value(value)
    expect(box).to_have_attribute("aria-invalid", "true")
    error_id = box.get_attribute("aria-describedby").split()[-1]
    expect(page.locator(f"[id='{error_id}']")).to_contain_text(error)
    assert _schedules(center) == before


def test_an_admin_adds_france_sms_weights_edits_them_with_a_reason_and_the_history_keeps_both(
        page: Page, control_center: ControlCenter) -> None:
    center = control_center
    sign_in(page, center, "admin")
    open_fast(page, f"{center.url}/ui/routing")
    if page.locator(f"tr[data-rule='{FR_RULE}']").count() == 0:
        page.get_by_role("button", name="Add a rule").click()  # click 1
        open_fast(page, f"{center.url}/ui/routing/new")
        page.get_by_label("Channel").select_option("sms")
        page.get_by_label("Country (two letters, or * for any)").fill("FR")
        page.get_by_label("sandbox_sms_a").fill("50")
        page.get_by_label("sandbox_sms_b").fill("50")
        page.get_by_label("Reason (required: kept in the history)").fill("France launch")
        page.get_by_role("button", name="Add the rule").click()
        expect(page.locator("#saved")).to_contain_text(FR_RULE)
    page.get_by_role("link", name=f"Edit weights of {FR_RULE}").click()  # click 1 of a weight change
    open_fast(page, f"{center.url}/ui/routing/edit?rule=sms%2FFR%2F%2A")
    page.get_by_label("sandbox_sms_a").fill("60")
    page.get_by_label("sandbox_sms_b").fill("40")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Save weights").click()
    assert answer.value.status == 422
    expect(page.locator("[id='reason-error']")).to_contain_text("say why")
    expect(page.get_by_label("sandbox_sms_a")).to_have_value("60")
    screenshot(page, "routing-edit-refused")
    page.get_by_label("Reason (required: kept in the history)").fill("sandbox_sms_b is dearer in France")
    page.get_by_role("button", name="Save weights").click()  # click 2
    expect(page.locator("#saved")).to_contain_text(FR_RULE)
    expect(page.locator(f"tr[data-rule='{FR_RULE}'][data-provider='sandbox_sms_a'] .share-cell")).to_contain_text("60")
    expect(page.locator(f"tr[data-rule='{FR_RULE}'][data-provider='sandbox_sms_b'] .share-cell")).to_contain_text("40")
    screenshot(page, "routing")

    shown = center.halo("delivery", "weights", "show")
    assert re.search(r"^sms/FR/\*\s+sandbox_sms_a\s+60\s", shown.stdout, re.M), shown.stdout
    open_fast(page, f"{center.url}/ui/routing/history")
    latest = page.locator("table.history tbody tr").first
    for text in ("admin", FR_RULE, "sandbox_sms_a: 50 → 60", "sandbox_sms_b: 50 → 40", "sandbox_sms_b is dearer in France"):
        expect(latest).to_contain_text(text)
    expect(page.locator("table.history tbody tr").nth(1)).to_contain_text("France launch")
    screenshot(page, "routing-history")
    assert page.external_requests == [] and page.script_errors == []


def test_a_viewer_sees_no_edit_controls_and_forged_posts_get_the_403_page(page: Page, control_center: ControlCenter) -> None:
    center = control_center
    before = _schedules(center)
    sign_in(page, center, "viewer")
    open_fast(page, f"{center.url}/ui/routing")
    expect(page.get_by_role("button", name="Add a rule")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("^Edit weights"))).to_have_count(0)
    open_fast(page, f"{center.url}/ui/routing/edit?rule=sms%2F%2A%2FTEXT")
    expect(page.get_by_label("sandbox_sms_a")).to_be_disabled()
    expect(page.get_by_role("button", name="Save weights")).to_have_count(0)
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    forged = page.request.post(f"{center.url}/ui/routing/edit", form={
        "csrf_token": token, "rule": "sms/*/TEXT", "weight.sandbox_sms_a": "1", "reason": "forged"})
    assert forged.status == 403 and "Not allowed" in forged.text()
    open_fast(page, f"{center.url}/ui/schedules/{SCHEDULE}")
    expect(page.get_by_label("Cron (minute hour day month weekday)")).to_be_disabled()
    expect(page.get_by_role("button", name="Save schedule")).to_have_count(0)
    forged = page.request.post(f"{center.url}/ui/schedules/{SCHEDULE}", form={
        "csrf_token": token, "cron": "* * * * *", "timezone": "UTC", "sinks": "outbox"})
    assert forged.status == 403 and "Not allowed" in forged.text()
    assert _schedules(center) == before
    assert "forged" not in {e["reason"] for e in _read(center, weight_history)}


def test_an_operator_may_edit_schedules_but_not_routing(page: Page, control_center: ControlCenter) -> None:
    center = control_center
    sign_in(page, center, "operator")
    open_fast(page, f"{center.url}/ui/routing/new")
    expect(page.get_by_role("button", name="Add the rule")).to_have_count(0)
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    forged = page.request.post(f"{center.url}/ui/routing/new", form={
        "csrf_token": token, "channel": "sms", "country": "DE", "capability": "*", "weight.sandbox_sms_a": "1", "reason": "x"})
    assert forged.status == 403
    assert "sms/DE/*" not in _rules_changed(center)


def test_a_live_preview_after_the_session_ended_is_refused_and_the_page_goes_to_sign_in(page: Page, control_center: ControlCenter) -> None:
    """The fragment a page polls or previews is an identity-less request once the session ends:
    it is a 401 (it was a 204, a success without an identity), whose HX-Redirect htmx follows
    all the same: the whole page goes to sign-in and comes back to the form."""
    center = control_center
    sign_in(page, center, "operator")
    open_fast(page, f"{center.url}/ui/schedules/{SCHEDULE}")
    page.context.clear_cookies()
    with page.expect_response(lambda r: "/preview" in r.url) as previewed:
        page.get_by_label("Cron (minute hour day month weekday)").fill("0 8 * * 1")
    assert previewed.value.status == 401
    expect(page).to_have_url(f"{center.url}/ui/login?next=/ui/schedules/{SCHEDULE}")
