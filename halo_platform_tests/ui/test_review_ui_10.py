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
from halo_platform.core.errors import HaloError
from halo_platform.delivery.config import load_config
from halo_platform.delivery.state import set_weights, weight_history
from halo_platform_tests.ui.test_page_edges import _html, admin, app, store  # noqa: F401 - the seeded store, app and clients

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
