"""Review of the autopilot and the providers' state (auto8): a provider whose `${ENV}` secret is
not set, as routing, the providers listing and the Control Center see it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.delivery.config import parse_config
from halo_platform.lab.provider_fakes import SECRETS

TOKEN = "HALO_AUTO8_UNSET_TOKEN"
SID = "HALO_AUTO8_SID"


def test_halo_delivery_providers_shows_a_provider_without_its_secret_as_unusable_naming_the_variable(fakes, providers_file, monkeypatch):
    """Twilio's auth token is `${...}` of a variable not set: routing gave it weight 0, yet the
    listing (and the Control Center's Providers page, fed by the same table) said `active`, factor
    1.00, reason `` : the operator saw nothing wrong while it carried no message. Its set secret
    (the account SID here) is never shown."""
    monkeypatch.delenv(TOKEN, raising=False)
    monkeypatch.setenv(SID, SECRETS["twilio"]["account_sid"])
    providers_file({
        "tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, "account_sid": "${" + SID + "}",
               "auth_token": "${" + TOKEN + "}", "sender": "+33700000000"},
        "vo": {"kind": "vonage", "channel": "sms", "base_url": fakes["vonage"].url, **SECRETS["vonage"]},
    }, [{"channel": "sms", "country": "*", "capability": "*", "weights": {"tw": 50, "vo": 50}}])
    listing = CliRunner().invoke(cli, ["delivery", "providers"])
    assert listing.exit_code == 0, listing.output
    rows = {line.split()[0]: line for line in listing.output.splitlines()[1:]}
    assert rows["tw"].split()[3:5] == ["unusable", "0.00"]
    assert f"environment variable {TOKEN} is not set" in rows["tw"]
    assert rows["vo"].split()[3:5] == ["active", "1.00"]
    assert SECRETS["twilio"]["account_sid"] not in listing.output
    monkeypatch.setenv(TOKEN, SECRETS["twilio"]["auth_token"])  # set: usable again, as routing takes it again
    listing = CliRunner().invoke(cli, ["delivery", "providers"])
    assert next(line for line in listing.output.splitlines() if line.startswith("tw ")).split()[3:5] == ["active", "1.00"]
    assert SECRETS["twilio"]["auth_token"] not in listing.output


def test_a_provider_switched_off_by_hand_stays_off_in_the_listing_without_its_secret(providers_file, halo_store, monkeypatch):
    """The page's switch offers `Hand back to the autopilot` by the `off` state: it stays `off`."""
    from halo_platform.delivery.autopilot import provider_table, set_manual

    monkeypatch.delenv(TOKEN, raising=False)
    providers = providers_file({"tw": {"kind": "twilio", "channel": "sms", "base_url": "http://127.0.0.1:9", "account_sid": "AC" + "1" * 32,
                                       "auth_token": "${" + TOKEN + "}", "sender": "+33700000000"}})
    set_manual(providers.config(), "tw", True, "alice", "contract ends", halo_store)
    (row,) = provider_table(providers.config(), halo_store)
    assert (row["state"], row["factor"], row["reason"]) == ("off", 0.0, "switched off by alice: contract ends")


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


def test_the_autopilot_reports_a_provider_without_its_secret_as_carrying_nothing_and_does_not_ping_it(fakes, providers_file, halo_store,
                                                                                                        monkeypatch, caplog):
    """The `provider_health` asset's table (the cycle's report) said factor 1, healthy, for a
    provider routing weighs 0; deactivated, it was pinged every cycle and its client's HaloError
    logged as a failed health call."""
    from halo_platform.delivery.autopilot import run_cycle, set_manual

    monkeypatch.delenv(TOKEN, raising=False)
    providers = providers_file({
        "tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, "account_sid": SECRETS["twilio"]["account_sid"],
               "auth_token": "${" + TOKEN + "}", "sender": "+33700000000"},
        "vo": {"kind": "vonage", "channel": "sms", "base_url": fakes["vonage"].url, **SECRETS["vonage"]},
    }, [{"channel": "sms", "country": "*", "capability": "*", "weights": {"tw": 50, "vo": 50}}])
    report = run_cycle(halo_store, providers, alert=[].append)
    assert (report.providers["tw"]["factor"], report.providers["tw"]["ping_ok"]) == (0.0, None)
    assert f"environment variable {TOKEN} is not set" in report.providers["tw"]["reason"]
    assert report.providers["vo"]["factor"] == 1.0
    set_manual(providers.config(), "tw", True, "alice", "maintenance", halo_store)
    set_manual(providers.config(), "tw", False, "alice", "back", halo_store)  # handed back: deactivated, to be pinged
    with caplog.at_level("WARNING", logger="halo.delivery"):
        report = run_cycle(halo_store, providers, alert=[].append)
    assert "health call of tw" not in caplog.text
    assert report.providers["tw"]["factor"] == 0.0
