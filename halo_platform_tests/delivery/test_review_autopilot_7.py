"""Review of routing, the autopilot and quiet hours (auto7): autopilot settings that could not
decide, and quiet hours for a recipient whose number or country spans several time zones."""

from __future__ import annotations

import datetime as dt

import pytest

from halo_platform.core.errors import HaloError
from halo_platform.delivery.config import parse_config

UTC = dt.UTC
SANDBOX = {"sb": {"kind": "sandbox", "channel": "sms", "countries": ["*"], "capabilities": ["*"]}}


@pytest.mark.parametrize(("setting", "value"), [
    ("ramp_percent", []),  # IndexError in every cycle once a deactivated provider answered: never brought back
    ("ramp_percent", [50, 25, 100]),  # falling steps
    ("ramp_percent", [0, 100]),  # "ramping" at 0 %
    ("ramp_percent", [10, 150]),
    ("window_minutes", "nan"),  # ValueError in every cycle
    ("window_minutes", 0),
    ("window_minutes", -5),
    ("window_minutes", 1e12),  # OverflowError in every cycle
    ("error_rate_threshold", 0),  # every provider deactivated without one error
    ("error_rate_threshold", -0.5),
    ("error_rate_threshold", 1.5),
    ("error_rate_threshold", "nan"),
    ("min_attempts", 0),
    ("min_attempts", -1),
    ("share_tolerance", -0.1),
    ("share_tolerance", "nan"),
])
def test_autopilot_settings_that_cannot_decide_are_refused_with_their_name(setting, value):
    with pytest.raises(HaloError, match=f"autopilot.{setting}"):
        parse_config({"providers": SANDBOX, "autopilot": {setting: value}}, "providers.yaml")


def test_sensible_autopilot_settings_are_kept():
    cfg = parse_config({"providers": SANDBOX, "autopilot": {"window_minutes": 0.5, "min_attempts": 1, "error_rate_threshold": 1,
                                                             "ramp_percent": [50], "share_tolerance": 0}}).autopilot
    assert (cfg.window_minutes, cfg.min_attempts, cfg.error_rate_threshold, cfg.ramp_percent, cfg.share_tolerance) == (0.5, 1, 1.0, (50.0,), 0.0)
    assert parse_config({"providers": SANDBOX}).autopilot.ramp_percent == (10, 25, 50, 100)


# -- a routing rule's capability as written -----------------------------------------------------

TWO_SMS = {"a": {"kind": "sandbox", "channel": "sms"}, "b": {"kind": "sandbox", "channel": "sms", "capabilities": [" secure ", "text"]}}


@pytest.mark.parametrize("capability", ["TXT", None, "", "  ", 5])
def test_a_rule_whose_capability_no_message_can_have_is_refused(capability):
    rule = {"channel": "sms", "country": "FR", "capability": capability, "weights": {"a": 1}}
    with pytest.raises(HaloError, match=r"routing\[1\]\.capability"):
        parse_config({"providers": TWO_SMS, "routing": [{"channel": "sms", "weights": {"a": 1}}, rule]}, "providers.yaml")


def test_a_rule_and_a_provider_capability_with_blanks_or_lower_case_route_the_messages_they_name():
    """` text` made the rule `sms/FR/ TEXT`: FR TEXT messages took the `*` rule's weights (all to a)."""
    from halo_platform.delivery.routing import Router

    config = parse_config({"providers": TWO_SMS, "routing": [
        {"channel": "sms", "weights": {"a": 1, "b": 0}},
        {"channel": "sms", "country": "FR", "capability": " text", "weights": {"a": 0, "b": 1}},
        {"channel": "sms", "country": "FR", "capability": "Secure ", "weights": {"a": 0, "b": 1}},
    ]})
    assert [r.key for r in config.rules] == ["sms/*/*", "sms/FR/TEXT", "sms/FR/SECURE"]
    router = Router(config, {}, {})
    assert router.weights_for("sms", "FR", "TEXT") == ("sms/FR/TEXT", {"a": 0.0, "b": 1.0})
    assert router.weights_for("sms", "FR", "SECURE") == ("sms/FR/SECURE", {"a": 0.0, "b": 1.0})
    assert config.providers["b"].capabilities == ("SECURE", "TEXT")


# -- a provider whose ${ENV} secret is not set --------------------------------------------------


def test_a_provider_without_its_secret_fails_alone_and_the_others_keep_serving(fakes, providers_file, halo_store, monkeypatch):
    """Twilio's auth token is `${...}` of a variable not set: the drain failed with its HaloError
    and left all 10 messages queued (Vonage sent none); HIGH sends drawn to Twilio raised it."""
    from halo_platform.delivery.autopilot import run_cycle
    from halo_platform.delivery.service import message_view, submit
    from halo_platform.lab.provider_fakes import SECRETS
    from halo_platform_tests.delivery.helpers import drain

    monkeypatch.delenv("HALO_REVIEW_UNSET_TOKEN", raising=False)
    tw = {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, "account_sid": SECRETS["twilio"]["account_sid"],
          "auth_token": "${HALO_REVIEW_UNSET_TOKEN}", "sender": "+33700000000"}
    providers = providers_file({"tw": tw, "vo": {"kind": "vonage", "channel": "sms", "base_url": fakes["vonage"].url, **SECRETS["vonage"]}},
                               [{"channel": "sms", "country": "*", "capability": "*", "weights": {"tw": 50, "vo": 50}}])
    ids = [submit("sms", {"to": "+33612345678", "body": f"m{i}", "priority": "NORMAL"}, store=halo_store, providers=providers)[0]["id"]
           for i in range(10)]
    drain(providers, halo_store)
    assert [message_view(i, halo_store)["status"] for i in ids] == ["sent"] * 10
    assert len(fakes["vonage"].accepted) == 10
    for i in range(6):
        high = submit("sms", {"to": "+33612345678", "body": f"otp {i}", "priority": "HIGH"}, store=halo_store, providers=providers)[0]
        assert (high["status"], high["provider"]) == ("sent", "vo")
    assert list(fakes["twilio"].accepted) == []
    # its only provider without its secret: the rule is down (ERROR alert), its messages stay queued
    providers = providers_file({"tw": tw}, [{"channel": "sms", "country": "*", "capability": "*", "weights": {"tw": 1}}])
    alerts = []
    assert run_cycle(halo_store, providers, alert=alerts.append).rules_down == ["sms/*/*"]
    monkeypatch.setenv("HALO_REVIEW_UNSET_TOKEN", SECRETS["twilio"]["auth_token"])  # set: it serves again
    assert run_cycle(halo_store, providers, alert=alerts.append).rules_down == []
    late = submit("sms", {"to": "+33612345678", "body": "late", "priority": "NORMAL"}, store=halo_store, providers=providers)[0]
    drain(providers, halo_store)
    assert message_view(late["id"], halo_store)["status"] == "sent"
