# ruff: noqa: F811 - the fixtures imported from test_page_edges and test_availability_weeks are the tests' arguments
"""Control Center behaviours found wrong in review ui-10, without a browser (each is decided by the
server; each test failed before its fix): routing weights typed as odd text, a stale providers page
switching a provider, a form sent after the session ended by a browser sending no Referer, the
Availability heading's plural."""

from __future__ import annotations

import html
import re

import pytest
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.errors import ConflictError, HaloError
from halo_platform.delivery.autopilot import set_manual, state_changes
from halo_platform.delivery.config import load_config
from halo_platform.delivery.state import set_weights, weight_history
from halo_platform_tests.fixtures.access import signed_in_client
from halo_platform_tests.ui.test_availability_weeks import client  # noqa: F401 - a viewer of one acme span
from halo_platform_tests.ui.test_page_edges import PASSWORD, _html, admin, app, store  # noqa: F401 - the seeded store, app and clients

RULE = "sms/*/TEXT"
ODD_WEIGHTS = ["1_000", "٣", "1e-320", "-0", "+5", " 1 e3", "0x10", "nan"]  # the first five were saved; the rest refused, saying less


def _error(page: str, field: str) -> str:
    found = re.search(rf'id="{re.escape(field)}-error"[^>]*>(.*?)</', page, re.S)
    assert found, f"no error beside {field}"
    return html.unescape(found.group(1))


@pytest.mark.parametrize("typed", ODD_WEIGHTS)
def test_a_weight_is_a_plain_decimal_number_on_the_routing_page(admin, store, typed: str) -> None:  # noqa: ANN001
    """`1_000` was saved as 1000, Arabic-Indic `٣` as 3, `1e-320` as a subnormal and `-0` shown "-0"."""
    before = weight_history(store)
    page = _html(admin.post("/ui/routing/edit", data={"csrf_token": admin.csrf, "rule": RULE, "weight.sandbox_sms_a": typed,
                                                      "weight.sandbox_sms_b": "30", "reason": "odd text"}), 422)
    assert "digits 0-9" in _error(page, "weight.sandbox_sms_a")
    assert f'value="{html.escape(typed)}"' in page  # what was typed stays in the field
    assert weight_history(store) == before


@pytest.mark.parametrize("typed", ODD_WEIGHTS)
def test_a_weight_is_a_plain_decimal_number_in_the_cli(store, halo_env, typed: str) -> None:  # noqa: ANN001, ARG001 - halo_env: the CLI's store
    before = weight_history(store)
    refused = CliRunner().invoke(cli, ["delivery", "weights", "set", RULE, f"sandbox_sms_a={typed}", "sandbox_sms_b=30", "--reason", "x"])
    assert refused.exit_code == 2, refused.output
    assert refused.output.startswith(f"error: weights for {RULE}: weight of sandbox_sms_a must be a number from 0 to 1,000,000")
    assert "digits 0-9" in refused.output and refused.output.count("\n") == 1
    assert weight_history(store) == before


def test_a_small_weight_is_shown_as_the_plain_decimal_it_was_typed_as_and_minus_zero_is_never_stored(admin, store) -> None:  # noqa: ANN001
    """The edit form shows a weight as it reads it back: 0.00001 was shown "1e-05", which the form refuses."""
    saved = admin.post("/ui/routing/edit", data={"csrf_token": admin.csrf, "rule": RULE, "weight.sandbox_sms_a": "0.00001",
                                                 "weight.sandbox_sms_b": "30", "reason": "tiny"})
    assert saved.status_code == 303, saved.text[:300]
    page = _html(admin.get("/ui/routing/edit", params={"rule": RULE}), 200)
    assert 'value="0.00001"' in page and "1e-05" not in page
    with pytest.raises(HaloError, match="not -0.0"):  # a weight not typed (a job's config): -0.0 is refused as well
        set_weights(load_config(), RULE, {"sandbox_sms_a": -0.0, "sandbox_sms_b": 30}, "ada", store, "minus zero")


def _switch_form(page: str, provider: str) -> dict[str, str]:
    """The hidden fields of `provider`'s switch form, as the browser sends them."""
    form = re.search(rf'<form method="post" action="/ui/providers/switch"(?:(?!</form>).)*?name="provider" value="{provider}".*?</form>', page, re.S)
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(0)))


def test_a_providers_page_opened_before_a_switch_by_someone_else_switches_nothing(admin, store) -> None:  # noqa: ANN001
    """A page showing sandbox_sms_b "off since yesterday" handed it back after someone else had handed
    it back and switched it off again (for another reason): the stale form undid their switch."""
    config = load_config()
    set_manual(config, "sandbox_sms_b", True, "ada", "carrier outage", store)
    stale = _switch_form(_html(admin.get("/ui/providers"), 200), "sandbox_sms_b")
    assert stale["state"] == "auto"
    set_manual(config, "sandbox_sms_b", False, "bob", "outage over", store)
    set_manual(config, "sandbox_sms_b", True, "bob", "carrier outage again", store)
    changes = state_changes(store)
    answer = _html(admin.post("/ui/providers/switch", data={**stale, "reason": "outage over"}), 422)
    assert "changed by bob" in _error(answer, "reason.sandbox_sms_b") and "nothing was saved" in _error(answer, "reason.sandbox_sms_b")
    assert 'value="outage over"' in answer  # the reason typed is kept
    assert state_changes(store) == changes
    with pytest.raises(ConflictError):  # the function of the page's switch
        set_manual(config, "sandbox_sms_b", False, "ada", "outage over", store, seen_change=int(stale["seen"]))
    handed_back = admin.post("/ui/providers/switch", data={**_switch_form(answer, "sandbox_sms_b"), "reason": "outage over"})
    assert handed_back.status_code == 303  # the page the refusal showed is up to date: its form is taken


@pytest.mark.parametrize(("address", "form", "page"), [
    ("/ui/access/keys", {"name": "k", "scope": "admin"}, "/ui/access"),
    ("/ui/access/users/otto/disable", {}, "/ui/access"),
    ("/ui/providers/switch", {"provider": "sandbox_sms_b", "state": "off", "reason": "r"}, "/ui/providers"),
    ("/ui/routing/edit", {"rule": RULE, "weight.sandbox_sms_a": "1", "reason": "r"}, "/ui/routing"),
])
def test_a_form_sent_after_the_session_ended_without_a_referer_signs_in_to_its_page(app, store, address: str, form: dict,  # noqa: ANN001
                                                                                     page: str) -> None:
    """Once signed in, the browser went to the form's POST address: a JSON 405, or a 404 page."""
    browser = signed_in_client(app, "ada", PASSWORD)
    browser.cookies.delete("halo_session")  # the session ended
    login = browser.post(address, data={"csrf_token": "any", **form})  # no Referer, as a browser with a strict referrer policy
    assert login.status_code == 401
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', login.text))
    assert fields["next"] == page
    signed_in = browser.post("/ui/login", data={**fields, "name": "ada", "password": PASSWORD})
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, page)
    _html(browser.get(page), 200)


def test_the_availability_heading_says_1_span(client) -> None:  # noqa: ANN001
    page = client.get("/ui/availability", params={"feed": "acme", "provider": "AC001", "week": "2026-01-05"}).text
    assert re.findall(r"local times, \d+ spans?\)", page) == ["local times, 1 span)"]
