"""Review of the autopilot and the providers' state (auto8): a provider whose `${ENV}` secret is
not set, as routing, the providers listing and the Control Center see it."""

from __future__ import annotations

import pytest

from halo_platform.delivery.config import parse_config


@pytest.mark.parametrize(("settings", "unset"), [
    ({"api_key": "${A8_KEY}"}, ("A8_KEY",)),
    ({"api_key": "${A8_KEY}", "api_secret": "pre-${A8_SECRET}-${A8_KEY}"}, ("A8_KEY", "A8_SECRET")),  # each variable once
    ({"api_key": "${A8_SET}", "headers": {"x": ["${A8_DEEP}"]}}, ("A8_DEEP",)),  # nested, as expand_env reads them
    ({"api_key": "${A8_SET}", "base_url": "${HALO_HOME}/x"}, ()),  # HALO_HOME falls back to the home folder
    ({"api_key": "$A8_KEY {A8_KEY}"}, ()),  # no reference
])
def test_unset_secrets_names_each_unset_variable_a_provider_references(settings, unset, monkeypatch):
    """Routing weighs such a provider 0 on every send and dispatch round: the references are found
    once per reading of the file (walking every provider's settings took ~19 us a routing for 5
    providers), the environment is read each time (set since, the provider serves again)."""
    for name in ("A8_KEY", "A8_SECRET", "A8_DEEP", "HALO_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("A8_SET", "value")
    config = parse_config({"providers": {"p": {"kind": "sandbox", "channel": "sms", **settings}}})
    assert config.unset_secrets() == ({"p": unset} if unset else {})
    assert config.secret_references is config.secret_references  # found once, not on each routing
    for name in unset:
        monkeypatch.setenv(name, "now set")
    assert config.unset_secrets() == {}
