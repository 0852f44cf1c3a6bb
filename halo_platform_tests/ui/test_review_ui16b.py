# ruff: noqa: F811 - the fixtures imported from test_page_edges are the tests' arguments
"""Control Center delivery pages, defects found in review ui16b (each test failed before its fix):
the Providers chart's error rate left out the failures providers report by callback; the Messages
page showed neither an SMS's segments nor its channel fallback; the Routing page left out a rule
none of whose providers the file lets carry it any more; a broken providers file answered the
API's JSON in the browser."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid

from halo_platform.core.models import utcnow
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.delivery.service import submit
from halo_platform.delivery.tables import DeliveryAttempt, MessageEvent
from halo_platform.http import create_app
from halo_platform.sinks import SinksResource
from halo_platform_tests.fixtures.access import signed_in_client
from halo_platform_tests.fixtures.halo_serve import ROOT
from halo_platform_tests.ui.test_form_refusals import _html
from halo_platform_tests.ui.test_page_edges import PASSWORD, admin, app, store  # noqa: F401 - the same seeded store, app and clients


def _provider_row(page: str, provider: str) -> list[str]:
    """The cells of `provider`'s row in the Providers table, as text."""
    row = re.search(rf"<tr><th scope=\"row\">{provider} .*?</tr>", page, re.S).group(0)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_the_hourly_error_rate_counts_the_failures_providers_report_by_callback(admin, store) -> None:  # noqa: ANN001
    """sandbox_sms_b acknowledged 20 sends this hour, then reported 10 of them failed by callback
    (`provider_error` events a callback applied). The table and the autopilot counted 50 % errors
    (and the autopilot switches a provider off for that) while the 24-hour chart drew 0 % for the
    same hour: the chart counted only the requests that were not acknowledged. Now the chart's
    hour says 50 %, as the table does."""
    now = utcnow() - dt.timedelta(minutes=1)
    if now.minute == 59:  # the events and the attempts in the same clock hour
        now -= dt.timedelta(minutes=1)
    ids = [str(uuid.uuid4()) for _ in range(20)]
    with store.write() as conn:
        conn.execute(DeliveryAttempt.__table__.insert(), [
            {"message_id": i, "provider": "sandbox_sms_b", "outcome": "acknowledged", "at": now} for i in ids])
        conn.execute(MessageEvent.__table__.insert(), [
            {"message_id": i, "event": "provider_error", "provider": "sandbox_sms_b", "at": now, "detail": "undeliverable",
             "dedupe_key": f"sandbox_sms_b:{i}:failed"} for i in ids[:10]])
    page = _html(admin.get("/ui/providers"), 200)
    assert _provider_row(page, "sandbox_sms_b")[4] == "50.0%"  # the table's error rate over the window
    chart = json.loads(re.search(r'<script type="application/json" id="traffic-data">(.*?)</script>', page, re.S).group(1))
    series = next(s for s in chart["series"] if s["name"] == "sandbox_sms_b")
    assert series["attempts"][-1] == 20
    assert series["error_rate"][-1] == 0.5


def test_a_message_page_shows_its_segments_and_links_its_channel_fallback_both_ways(admin, store) -> None:  # noqa: ANN001
    """An SMS of 200 GSM-7 characters (2 segments) that ended lost, and the email sent in its place
    (`fallback_of`). `halo delivery status` shows `segments=2 fallback=<email id>` and the email's
    `fallback_of=<sms id>`; the Messages page showed neither: a person who looked the SMS up saw
    `lost` and no sign of the email the patient was sent instead, nor the other way round. Now the
    page shows the segment count and links each message to the other."""
    providers = ProvidersResource()
    try:
        sms, _ = submit("sms", {"to": "+33612345678", "body": "x" * 200, "country": "FR", "priority": "NORMAL"},
                        store=store, providers=providers)
        email, _ = submit("email", {"to": "jane.doe@example.com", "subject": "Your appointment", "body": "x" * 200, "priority": "NORMAL"},
                          store=store, providers=providers, fallback_of=sms["id"])
    finally:
        providers.close()
    page = _html(admin.get("/ui/messages", params={"q": sms["id"]}), 200)
    assert re.search(r'<dd id="message-segments">2</dd>', page)
    assert f'href="/ui/messages?q={email["id"]}"' in page
    page = _html(admin.get("/ui/messages", params={"q": email["id"]}), 200)
    assert f'href="/ui/messages?q={sms["id"]}"' in page
    assert 'id="message-segments"' not in page  # an email has no segments


def test_a_rule_whose_providers_left_the_file_stays_on_the_routing_page_as_down(store, tmp_path) -> None:  # noqa: ANN001
    """An admin added sms/FR/TEXT weighing sandbox_sms_b only; then the providers file stopped
    offering TEXT on sandbox_sms_b. The rule is still in force (French TEXT messages take it and
    stay queued: no provider of it can carry them; the autopilot alerts "every provider is down for
    sms/FR/TEXT"), but the Routing page listed only the rules with a weighed provider left: the rule
    the alert names was on no page, nor its Edit link. Now it is listed, marked that no provider
    can carry it, with its links."""
    source = (ROOT / "config" / "providers.yaml").read_text()
    path = tmp_path / "providers.yaml"
    path.write_text(source)
    providers = ProvidersResource(providers_file=str(path))
    app = create_app({"store": store, "providers": providers, "sinks": SinksResource()})
    try:
        admin = signed_in_client(app, "ada", PASSWORD)
        added = admin.post("/ui/routing/new", data={"csrf_token": admin.csrf, "channel": "sms", "country": "FR", "capability": "TEXT",
                                                    "weight.sandbox_sms_b": "1", "reason": "a French partner"})
        assert added.status_code == 303
        offered = "sandbox_sms_b:   {kind: sandbox, channel: sms,   countries: [\"*\"], capabilities: [TEXT]"
        weighed = "weights: {sandbox_sms_a: 70, sandbox_sms_b: 30}"  # the file's own sms/*/TEXT rule
        assert offered in source and weighed in source
        path.write_text(source.replace(offered, offered.replace("[TEXT]", "[VOICE]")).replace(weighed, "weights: {sandbox_sms_a: 1}"))
        page = _html(admin.get("/ui/routing"), 200)
    finally:
        providers.close()
    cell = re.search(r'<th scope="rowgroup"[^>]*><code>sms/FR/TEXT</code>(.*?)</th>', page, re.S)
    assert cell, "sms/FR/TEXT is not on the Routing page"
    assert "no provider can carry it" in cell.group(1)
    assert 'href="/ui/routing/edit?rule=sms/FR/TEXT"' in page


def test_a_broken_providers_file_is_said_on_a_page_not_in_the_apis_json(store, tmp_path) -> None:  # noqa: ANN001
    """Someone edited the providers file and a rule now weighs a provider the file does not have.
    The Routing and Providers pages (and the rule's edit page) answered the API's bare JSON,
    `{"error": "...providers.yaml: routing rule ...", "detail": null}`, in the person's browser: no
    page, no navigation. Now a Control Center page says what is wrong with the file, with the
    same status; the API keeps its JSON."""
    source = (ROOT / "config" / "providers.yaml").read_text()
    path = tmp_path / "providers.yaml"
    weighed = "weights: {sandbox_sms_a: 70, sandbox_sms_b: 30}"
    assert weighed in source
    path.write_text(source.replace(weighed, "weights: {sandbox_sms_a: 70, sandbox_sms_c: 30}"))
    providers = ProvidersResource(providers_file=str(path))
    app = create_app({"store": store, "providers": providers, "sinks": SinksResource()})
    try:
        admin = signed_in_client(app, "ada", PASSWORD)
        for address in ("/ui/routing", "/ui/providers", "/ui/routing/edit?rule=sms/*/TEXT", "/ui/routing/new"):
            page = _html(admin.get(address), 422)
            said = re.search(r'<p role="alert" id="page-error">(.*?)</p>', page, re.S)
            assert said, address
            assert "sandbox_sms_c" in said.group(1) and "providers.yaml" in said.group(1)
            assert 'href="/ui/routing"' in page  # the navigation: a page of the Control Center
        api = admin.get("/v1/messages/nope")
        assert api.headers["content-type"].startswith("application/json")
    finally:
        providers.close()
