"""The Providers, Messages and Availability pages of the Control Center, read by a viewer in
chromium over a real `halo serve`; and the read functions behind them on a real store.

The pages must never show a full recipient (only `mask_recipient`'s form), must draw the
providers' chart with the vendored uPlot (no script error, nothing fetched off the machine),
and must render in under 300 ms with the demo data."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from halo_platform.availability import service as availability
from halo_platform.core.errors import HaloError, NotFoundError
from halo_platform.core.redact import mask_recipient
from halo_platform.core.store import StoreResource
from halo_platform.delivery.autopilot import attempts_t, changes_t, hourly_traffic, state_changes
from halo_platform.delivery.lifecycle import RANK
from halo_platform.delivery.queue import events_t
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.delivery.service import find_message, submit
from halo_platform_tests.fixtures.browser import screenshot
from halo_platform_tests.ui.conftest import ControlCenter, open_fast, sign_in

NUMBER = "+33612345678"
MASKED = mask_recipient(NUMBER)  # +336*****678


@pytest.fixture(scope="module")
def sent(control_center: ControlCenter) -> dict:
    """One HIGH SMS sent through the CLI (so it has attempts and a lifecycle), and the demo feeds
    processed with one more acme file holding a record that must be quarantined."""
    bad = control_center.home / "late-extra.jsonl"
    bad.write_text('{"type":"appointment","action":"upsert","id":"acme-bad","provider":"AC001","start":"not a time",'
                   '"duration_min":30,"tz":"Europe/Paris","status":"booked","updated_at":"2026-11-01T00:00:00Z"}\n')
    landed = control_center.halo("emr", "ingest", "--feed", "acme", str(bad))
    assert landed.returncode == 0, landed.stderr[-2000:]
    processed = control_center.halo("emr", "process")
    assert processed.returncode == 0, processed.stderr[-2000:]
    key = f"ui-test-{uuid.uuid4().hex[:8]}"
    done = control_center.halo("delivery", "send", "sms", "--to", NUMBER, "--body", "x", "--priority", "HIGH", "--idempotency-key", key)
    assert done.returncode == 0, done.stderr[-2000:]
    view = json.loads(done.stdout)
    assert view["status"] in {"sent", "delivered"}, view
    return {**view, "key": key}


def timed(page: Page, url: str) -> float:
    """`open_fast`'s time for `url`, served warm: the first request after `halo serve` starts
    pays one-off imports (feed adapters, span store) and template compilation, ~250 ms on a
    loaded machine, which says nothing about the page; that request is made first, untimed."""
    assert page.request.get(url).ok
    return open_fast(page, url)


def _clean(page: Page) -> None:
    assert page.external_requests == []
    assert page.script_errors == []


def test_a_viewer_looks_a_message_up_by_id_and_by_idempotency_key_and_sees_its_timeline_masked(page: Page, control_center, sent):
    sign_in(page, control_center, "viewer")
    timed(page, f"{control_center.url}/ui/messages")
    for reference in (sent["id"], sent["key"]):
        page.get_by_label("Message id or idempotency key").fill(reference)
        page.get_by_role("button", name="Look up").click()
        expect(page.locator("#message-recipient")).to_have_text(MASKED)
        expect(page.locator("#message-status")).to_have_text(sent["status"])
        timeline = page.get_by_role("list", name="Lifecycle events")
        expect(timeline.get_by_text("queued")).to_be_visible()
        expect(timeline.get_by_text("sent", exact=True)).to_be_visible()
        expect(page.get_by_text(sent["provider"]).first).to_be_visible()
        expect(page.get_by_text("cli:", exact=False).first).to_be_visible()  # created_by
        html = page.content()
        assert NUMBER not in html and NUMBER[1:] not in html
    timed(page, f"{control_center.url}/ui/messages?q={sent['key']}")
    screenshot(page, "messages")
    _clean(page)


def test_every_status_of_the_lifecycle_has_a_badge_colour_and_a_suppressed_message_shows_its_own(page: Page, control_center, sent):  # noqa: ARG001
    """messages.html coloured each status but `suppressed`, whose badge was the page's plain grey,
    the one a status with no colour of its own gets: a message ended by an opt-out looked like no state."""
    other = "+33612345699"
    assert control_center.halo("delivery", "suppress", "sms", other).returncode == 0
    done = control_center.halo("delivery", "send", "sms", "--to", other, "--body", "x", "--priority", "LOW")
    assert done.returncode == 0, done.stderr[-2000:]
    view = json.loads(done.stdout)
    assert view["status"] == "suppressed", view
    sign_in(page, control_center, "viewer")
    page.goto(f"{control_center.url}/ui/messages?q={view['id']}")
    expect(page.locator("#message-status")).to_have_text("suppressed")
    colours = page.evaluate("""statuses => Object.fromEntries(["", ...statuses].map(status => {
        const badge = document.createElement("span");
        badge.className = `badge ${status}`;
        document.body.append(badge);
        const colour = getComputedStyle(badge).backgroundColor;
        badge.remove();
        return [status, colour];
    }))""", list(RANK))
    plain = colours.pop("")
    assert [status for status, colour in colours.items() if colour == plain] == [], colours
    assert page.locator("#message-status").evaluate("badge => getComputedStyle(badge).backgroundColor") == colours["suppressed"]
    screenshot(page, "messages-suppressed")
    _clean(page)


def test_an_unknown_reference_is_answered_beside_the_field_with_a_404(page: Page, control_center, sent):  # noqa: ARG001
    sign_in(page, control_center, "viewer")
    response = page.goto(f"{control_center.url}/ui/messages?q=no-such-message")
    assert response.status == 404
    expect(page.locator("#q-error")).to_have_text("No message has this id or idempotency key.")
    expect(page.get_by_label("Message id or idempotency key")).to_have_value("no-such-message")
    _clean(page)


def test_the_providers_page_lists_states_and_draws_the_24_hour_chart(page: Page, control_center, sent):
    sign_in(page, control_center, "viewer")
    timed(page, f"{control_center.url}/ui/providers")
    table = page.locator("#provider-states")
    for name in ("sandbox_sms_a", "sandbox_sms_b", "sandbox_email_a", "sandbox_push"):
        expect(table.get_by_text(name)).to_be_visible()
    expect(table.locator(".badge.active").first).to_be_visible()
    expect(page.locator("#error-rate-chart canvas")).to_have_count(1)
    expect(page.locator("#share-chart canvas")).to_have_count(1)
    data = json.loads(page.locator("#traffic-data").text_content())
    assert len(data["x"]) == 24
    assert sum(sum(s["attempts"]) for s in data["series"] if s["name"] == sent["provider"]) >= 1
    assert not page.get_by_role("button", name=re.compile("deactivate|activate", re.I)).count()  # read-only
    screenshot(page, "providers")
    _clean(page)


def test_an_autopilot_decision_shows_with_its_reason_and_the_providers_new_state(page: Page, control_center, sent):  # noqa: ARG001
    """Failed attempts of sandbox_push (as a failing provider leaves them) and a real autopilot
    cycle (`halo delivery autopilot`): the page shows it deactivated, the decision's reason,
    and the error rate in the chart's data. The attempts are made within the last 0.3 s: the
    autopilot counts only those since the provider's state was last set (by `halo demo`, which
    on a quiet machine is less than the 30 s back that one attempt a second would reach)."""
    store = StoreResource(db_url=f"sqlite:///{control_center.env['HALO_HOME']}/halo.db")
    now = dt.datetime.now(dt.UTC)
    with store.write() as conn:
        conn.execute(attempts_t.insert(), [{"message_id": str(uuid.uuid4()), "provider": "sandbox_push", "outcome": "retryable",
                                            "http_status": 503, "at": now - dt.timedelta(milliseconds=10 * i)} for i in range(30)])
    store.dispose()
    cycle = control_center.halo("delivery", "autopilot")
    assert cycle.returncode == 0 and "changed: sandbox_push" in cycle.stdout, cycle.stdout + cycle.stderr[-2000:]
    sign_in(page, control_center, "viewer")
    timed(page, f"{control_center.url}/ui/providers")
    push = page.locator("#provider-states").get_by_role("row").filter(has_text="sandbox_push")
    expect(push.locator(".badge")).to_have_text("deactivated")
    decisions = page.locator("#decisions")
    expect(decisions.get_by_role("row").filter(has_text="sandbox_push")).to_contain_text("error rate 100% over 30 attempts")
    data = json.loads(page.locator("#traffic-data").text_content())
    push_series = next(s for s in data["series"] if s["name"] == "sandbox_push")
    assert push_series["error_rate"][-1] == 1.0 or push_series["error_rate"][-2] == 1.0  # the hour may have just turned
    screenshot(page, "providers-decision")
    _clean(page)


def test_the_availability_calendar_shows_a_demo_providers_week_and_moves_between_weeks(page: Page, control_center, sent):  # noqa: ARG001
    sign_in(page, control_center, "viewer")
    timed(page, f"{control_center.url}/ui/availability")
    feed, provider = page.get_by_label("Feed", exact=True), page.get_by_label("Provider", exact=True)
    feed.select_option("hl7")  # picking a feed reloads the page with that feed's providers
    expect(provider.locator("option[value=DR001]")).to_have_count(1)
    expect(provider.locator("option[value=AC001]")).to_have_count(0)
    feed.select_option("acme")
    expect(provider.locator("option[value=AC001]")).to_have_count(1)
    provider.select_option("AC001")
    next_week = (dt.date.today() + dt.timedelta(days=7)).isoformat()
    page.get_by_label("Week of", exact=True).fill(next_week)
    page.get_by_role("button", name="Show").click()
    expect(page.locator(".week section")).to_have_count(7)
    # acme's demo hours: Monday 09:00-17:00 Paris with a lunch break, spans never past 17:00
    monday = page.locator(".week section").first
    expect(monday.locator("li.span").first).to_be_visible()
    assert re.fullmatch(r"\d\d:\d\d–\d\d:\d\d CES?T \(UTC\+0[12]:00\)", monday.locator("li.span").first.inner_text())
    expect(page.get_by_text("Europe/Paris local times")).to_be_visible()
    shown = page.locator("#calendar-title").inner_text()
    page.get_by_role("link", name="Previous week").click()
    expect(page.locator("#calendar-title")).not_to_have_text(shown)
    page.get_by_role("link", name="Next week").click()
    expect(page.locator("#calendar-title")).to_have_text(shown)
    expect(page.locator("#freshness")).to_contain_text("acme/")
    quarantine = page.locator("#quarantine tbody tr")
    expect(quarantine).to_have_count(1)
    expect(quarantine).to_contain_text("late-extra.jsonl")
    expect(quarantine).to_contain_text("acme-bad")
    timed(page, f"{control_center.url}/ui/availability?feed=acme&provider=AC001&week={next_week}")
    screenshot(page, "availability")
    _clean(page)


def test_availability_answers_bad_picks_beside_their_fields(page: Page, control_center, sent):  # noqa: ARG001
    sign_in(page, control_center, "viewer")
    response = page.goto(f"{control_center.url}/ui/availability?feed=acme&provider=NOPE&week=soon")
    assert response.status == 422
    expect(page.locator("#provider-error")).to_contain_text("no spans for provider NOPE")
    expect(page.locator("#week-error")).to_have_text("Expected a date YYYY-MM-DD.")
    response = page.goto(f"{control_center.url}/ui/availability?feed=nope")
    assert response.status == 422
    expect(page.locator("#feed-error")).to_contain_text("Unknown feed")
    _clean(page)


# --- the read functions, on an isolated store -------------------------------------------------


@pytest.fixture
def store(halo_env) -> StoreResource:  # noqa: ANN001
    made = StoreResource(db_url=halo_env["HALO_DB_URL"])
    yield made
    made.dispose()


@pytest.fixture
def providers(halo_env) -> ProvidersResource:  # noqa: ANN001, ARG001
    made = ProvidersResource()
    yield made
    made.close()


def test_find_message_takes_an_id_or_an_idempotency_key_and_masks_the_recipient(store, providers):
    view, _ = submit("sms", {"to": NUMBER, "body": "hi", "priority": "NORMAL", "idempotency_key": "order-42"}, store=store, providers=providers)
    by_id, by_key = find_message(view["id"], store), find_message(" order-42 ", store)
    assert by_id == by_key
    assert by_id["recipient"] == MASKED and by_id["idempotency_key"] == "order-42"
    assert [e["event"] for e in by_id["events"]] == ["queued"]
    with store.write() as conn:  # a provider's error text quoting the number
        conn.execute(events_t.insert().values(message_id=view["id"], event="provider_error", provider="sandbox_sms_a",
                                              at=dt.datetime.now(dt.UTC), detail=f"invalid destination {NUMBER}"))
    detail = find_message(view["id"], store)["events"][-1]["detail"]
    assert detail == f"invalid destination {MASKED}"
    assert NUMBER not in json.dumps(find_message("order-42", store))
    for missing in ("order-43", "", "   "):
        with pytest.raises(NotFoundError):
            find_message(missing, store)


def test_hourly_traffic_buckets_attempts_by_clock_hour_with_error_rates_and_shares_within_the_channel(store, providers):
    now = dt.datetime(2026, 12, 1, 10, 30, tzinfo=dt.UTC)
    rows = [("sandbox_sms_a", "acknowledged", now - dt.timedelta(minutes=5)),  # this hour (10:00)
            ("sandbox_sms_a", "retryable", now - dt.timedelta(minutes=20)),
            ("sandbox_sms_b", "acknowledged", now - dt.timedelta(minutes=25)),
            ("sandbox_sms_b", "permanent", now - dt.timedelta(hours=3)),  # 07:00
            ("sandbox_email_a", "acknowledged", now - dt.timedelta(minutes=1)),
            ("sandbox_sms_a", "acknowledged", now - dt.timedelta(hours=30))]  # outside the day
    with store.write() as conn:
        conn.execute(attempts_t.insert(), [{"message_id": str(uuid.uuid4()), "provider": p, "outcome": o, "at": at} for p, o, at in rows])
    traffic = hourly_traffic(providers.config(), store, now=now)
    assert len(traffic["hours"]) == 24
    assert traffic["hours"][-1] == dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
    a, b, email = (traffic["providers"][n] for n in ("sandbox_sms_a", "sandbox_sms_b", "sandbox_email_a"))
    assert a["attempts"][-1] == 2 and a["error_rate"][-1] == 0.5 and a["share"][-1] == pytest.approx(2 / 3, abs=1e-4)
    assert b["attempts"][-1] == 1 and b["share"][-1] == pytest.approx(1 / 3, abs=1e-4)
    assert b["attempts"][-4] == 1 and b["error_rate"][-4] == 1.0 and b["share"][-4] == 1.0
    assert email["share"][-1] == 1.0  # the email channel is its own whole
    assert sum(a["attempts"]) == 2 and a["error_rate"][0] is None and a["share"][0] is None


def test_state_changes_come_newest_first_with_their_reasons(store):
    at = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    with store.write() as conn:
        conn.execute(changes_t.insert(), [
            {"provider": "sandbox_sms_b", "active": False, "factor": 0.0, "reason": "error rate 40% over 30 attempts >= 25%: deactivated",
             "error_rate": 0.4, "attempts": 30, "at": at},
            {"provider": "sandbox_sms_b", "active": True, "factor": 0.1, "reason": "answers its health call again: ramp to 10%",
             "error_rate": 0.0, "attempts": 0, "at": at + dt.timedelta(minutes=10)}])
    changes = state_changes(store)
    assert [c["factor"] for c in changes] == [0.1, 0.0]
    assert changes[1]["reason"].endswith("deactivated")
    assert len(state_changes(store, limit=1)) == 1


def test_freshness_and_providers_of_an_unprocessed_feed_are_empty_and_an_unknown_feed_is_refused(store):
    fresh = availability.freshness(store, "acme")
    assert fresh["files"] == 0 and fresh["last_file"] is None and fresh["spans_computed_at"] is None
    assert availability.providers_of(store, "acme") == []
    assert availability.provider_timezone(store, "acme", "AC001") is None
    with pytest.raises(HaloError):
        availability.freshness(store, "nope")
    assert "acme" in availability.feed_names()


def test_an_admin_switches_a_provider_off_by_hand_and_hands_it_back_a_viewer_cannot(page: Page, control_center, sent):  # noqa: ARG001
    """The reason is required (the error beside the field, nothing stored); the provider shows
    off with who and why, the autopilot leaves it so (`halo delivery autopilot`), and handing it
    back makes it deactivated, for the autopilot to ping and ramp. A viewer's forged POST gets
    the 403 page."""
    sign_in(page, control_center, "admin")
    page.goto(f"{control_center.url}/ui/providers")
    row = page.locator("#provider-states").get_by_role("row").filter(has_text="sandbox_sms_b")
    row.get_by_role("button", name="Switch off").click()
    expect(page.locator("#provider-states").get_by_role("row").filter(has_text="sandbox_sms_b")
           .locator(".field-error, .error")).to_contain_text("say why")
    screenshot(page, "providers-switch-error")
    row = page.locator("#provider-states").get_by_role("row").filter(has_text="sandbox_sms_b")
    row.get_by_label("Reason").fill("carrier maintenance tonight")
    row.get_by_role("button", name="Switch off").click()
    row = page.locator("#provider-states").get_by_role("row").filter(has_text="sandbox_sms_b")
    expect(row.locator(".badge").first).to_have_text("off")
    name = control_center.logins["admin"][0]
    expect(row).to_contain_text(f"switched off by {name}: carrier maintenance tonight")
    expect(page.locator("#decisions").get_by_role("row").nth(1)).to_contain_text(name)
    screenshot(page, "providers-switched-off")
    cycle = control_center.halo("delivery", "autopilot")
    assert cycle.returncode == 0 and "changed: sandbox_sms_b" not in cycle.stdout, cycle.stdout
    assert re.search(r"^sandbox_sms_b +factor=0 .* switched off by ", cycle.stdout, re.M), cycle.stdout
    page.reload()
    row = page.locator("#provider-states").get_by_role("row").filter(has_text="sandbox_sms_b")
    expect(row.locator(".badge").first).to_have_text("off")

    sign_in(page, control_center, "viewer")
    page.goto(f"{control_center.url}/ui/providers")
    expect(page.get_by_role("button", name="Hand back to the autopilot")).to_have_count(0)
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    forged = page.request.post(f"{control_center.url}/ui/providers/switch", form={
        "csrf_token": token, "provider": "sandbox_sms_b", "state": "auto", "reason": "forged"})
    assert forged.status == 403 and "Not allowed" in forged.text()

    sign_in(page, control_center, "admin")
    page.goto(f"{control_center.url}/ui/providers")
    row = page.locator("#provider-states").get_by_role("row").filter(has_text="sandbox_sms_b")
    row.get_by_label("Reason").fill("maintenance over")
    row.get_by_role("button", name="Hand back to the autopilot").click()
    row = page.locator("#provider-states").get_by_role("row").filter(has_text="sandbox_sms_b")
    expect(row.locator(".badge").first).to_have_text("deactivated")
    expect(row.get_by_role("button", name="Switch off")).to_be_visible()
    _clean(page)
