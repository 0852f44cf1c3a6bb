"""Routing, pure: eligibility, the most specific rule, effective weights, weighted draws
(observed shares converge to the weights), and validated, audited runtime weight edits."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from halo_platform.core.errors import HaloError
from halo_platform.delivery.config import ProviderEntry, Rule, parse_config
from halo_platform.delivery.routing import Router, draw, effective_weights, eligible, failover_order, most_specific_rule
from halo_platform.delivery.state import load_router, set_weights
from halo_platform.delivery.tables import RoutingWeightAudit

PROVIDERS = [
    ProviderEntry("tw_fr", "twilio", "sms", ("FR", "DE"), ("TEXT", "SECURE"), {}),
    ProviderEntry("vo", "vonage", "sms", ("FR",), ("TEXT",), {}),
    ProviderEntry("any_sms", "sandbox", "sms", ("*",), ("*",), {}),
    ProviderEntry("sg", "sendgrid", "email", ("*",), ("TRANSACTIONAL",), {}),
]
RULES = (
    Rule("sms", "*", "*", {"any_sms": 1}),
    Rule("sms", "FR", "*", {"tw_fr": 1, "vo": 1}),
    Rule("sms", "*", "TEXT", {"any_sms": 1, "tw_fr": 1}),
    Rule("sms", "FR", "TEXT", {"tw_fr": 70, "vo": 30}),
)


@pytest.mark.parametrize(
    ("channel", "country", "capability", "expected"),
    [
        ("sms", "FR", "TEXT", ["tw_fr", "vo", "any_sms"]),
        ("sms", "FR", "SECURE", ["tw_fr", "any_sms"]),
        ("sms", "DE", "TEXT", ["tw_fr", "any_sms"]),
        ("sms", "US", "VOICE", ["any_sms"]),
        ("sms", None, "TEXT", ["any_sms"]),
        ("email", "FR", "TRANSACTIONAL", ["sg"]),
        ("email", "FR", "MARKETING", []),
        ("push", "FR", "ALERT", []),
    ],
)
def test_eligible_providers_match_channel_country_and_capability(channel, country, capability, expected):
    assert eligible(PROVIDERS, channel, country, capability) == expected


@pytest.mark.parametrize(
    ("country", "capability", "rule"),
    [
        ("FR", "TEXT", "sms/FR/TEXT"),
        ("FR", "SECURE", "sms/FR/*"),
        ("DE", "TEXT", "sms/*/TEXT"),
        ("DE", "VOICE", "sms/*/*"),
        (None, "TEXT", "sms/*/TEXT"),
    ],
)
def test_the_most_specific_rule_wins_country_before_capability(country, capability, rule):
    assert most_specific_rule(RULES, "sms", country, capability).key == rule


def test_no_rule_for_a_channel_gives_none():
    assert most_specific_rule(RULES, "push", "FR", "ALERT") is None


def test_effective_weight_is_configured_weight_times_autopilot_factor():
    weights = effective_weights(["tw_fr", "vo", "any_sms"], {"tw_fr": 70, "vo": 30}, {"tw_fr": 0.1, "vo": 0.0})
    assert weights == {"tw_fr": pytest.approx(7.0), "vo": 0.0, "any_sms": 0.0}
    assert effective_weights(["a", "b"], None, {}) == {"a": 1.0, "b": 1.0}


def test_a_draw_avoids_an_excluded_provider_only_when_another_has_weight():
    rng = random.Random(1)
    assert {draw({"a": 1, "b": 1}, rng, exclude=["a"]) for _ in range(50)} == {"b"}
    assert draw({"a": 1, "b": 0}, rng, exclude=["a"]) == "a"
    assert draw({"a": 0, "b": 0}, rng) is None


def test_failover_order_lists_every_provider_with_weight_once():
    order = failover_order({"a": 5, "b": 1, "c": 0, "d": 2}, random.Random(3))
    assert sorted(order) == ["a", "b", "d"]


@settings(max_examples=40, deadline=None)
@given(
    weights=st.dictionaries(st.sampled_from(list("abcdef")), st.floats(min_value=0.5, max_value=100), min_size=1, max_size=6),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_observed_shares_converge_to_the_weights(weights, seed):
    rng = random.Random(seed)
    n = 20_000
    counts = dict.fromkeys(weights, 0)
    for _ in range(n):
        counts[draw(weights, rng)] += 1
    total = sum(weights.values())
    for name, weight in weights.items():
        p = weight / total
        tolerance = 5 * (p * (1 - p) / n) ** 0.5 + 1e-9  # five standard deviations
        assert abs(counts[name] / n - p) <= tolerance, (name, counts[name] / n, p)


CONFIG = {
    "providers": {
        "tw_fr": {"kind": "sandbox", "channel": "sms", "countries": ["FR"], "capabilities": ["TEXT"]},
        "vo": {"kind": "sandbox", "channel": "sms", "countries": ["FR", "DE"], "capabilities": ["TEXT"]},
        "de_only": {"kind": "sandbox", "channel": "sms", "countries": ["DE"], "capabilities": ["TEXT"]},
        "mail": {"kind": "sandbox", "channel": "email"},
    },
    "routing": [{"channel": "sms", "country": "FR", "capability": "TEXT", "weights": {"tw_fr": 70, "vo": 30}}],
}


@pytest.mark.parametrize(
    ("weights", "problem"),
    [
        ({"tw_fr": 50, "nope": 50}, "unknown provider"),
        ({"tw_fr": 50, "mail": 50}, "email provider"),
        ({"tw_fr": 50, "de_only": 50}, "does not serve FR"),
        ({"tw_fr": 0, "vo": 0}, "sum to more than 0"),
        ({"tw_fr": -1, "vo": 5}, "weight of tw_fr must be a number from 0 to 1,000,000, not -1"),
        ({"tw_fr": float("nan"), "vo": 5}, "not nan"),  # was a NOT NULL error at the insert
        ({"tw_fr": float("inf"), "vo": 5}, "not inf"),  # was stored, and took every message
        ({"tw_fr": 1e308, "vo": 1e308}, "not 1e\\+308"),  # summed to inf
    ],
)
def test_runtime_weight_edits_are_validated_and_nothing_is_stored_when_invalid(halo_store, weights, problem):
    config = parse_config(CONFIG)
    with pytest.raises(HaloError, match=problem):
        set_weights(config, "sms/FR/TEXT", weights, "ops", halo_store, "a test")
    assert load_router(config, halo_store).configured_weights(config.rules[0]) == {"tw_fr": 70, "vo": 30}


def test_runtime_weight_edits_are_stored_used_by_routing_and_audited(halo_store):
    config = parse_config(CONFIG)
    set_weights(config, "sms/FR/TEXT", {"tw_fr": 10, "vo": 90}, "ops@example.com", halo_store, "vonage is cheaper this month")
    router = load_router(config, halo_store)
    assert router.weights_for("sms", "FR", "TEXT") == ("sms/FR/TEXT", {"tw_fr": 10.0, "vo": 90.0})
    with halo_store.read() as conn:
        audit = conn.execute(sa.select(RoutingWeightAudit).order_by(RoutingWeightAudit.provider)).all()
    assert [(a.provider, a.old_weight, a.new_weight, a.changed_by) for a in audit] == [
        ("tw_fr", 70, 10, "ops@example.com"), ("vo", 30, 90, "ops@example.com")]
    assert audit[0].reason == "vonage is cheaper this month"
    with pytest.raises(HaloError, match="unknown routing rule"):
        set_weights(config, "sms/US/TEXT", {"vo": 1}, "ops", halo_store, "a test")



@pytest.mark.parametrize(
    ("stored", "configured"),
    [
        ({"gone": 5}, {"tw_fr": 70, "vo": 30}),  # only a provider no longer in the file: the file's weights
        ({"gone": 5, "vo": 2}, {"vo": 2}),  # the ones still in the file and eligible stand
        ({"gone": 5, "tw_fr": 0}, {"tw_fr": 70, "vo": 30}),  # what is left no longer sums to more than 0
        ({"mail": 5, "de_only": 5}, {"tw_fr": 70, "vo": 30}),  # in the file, but not eligible for the rule
        ({"mail": 5, "tw_fr": 1}, {"tw_fr": 1}),
        ({"tw_fr": 10, "vo": 90}, {"tw_fr": 10, "vo": 90}),
    ],
)
def test_stored_weights_of_providers_gone_from_the_file_or_not_eligible_are_ignored(stored, configured):
    """A runtime edit naming a provider since removed from the providers file gave the file's
    remaining provider weight 0: the rule's messages stayed queued forever. Stored weights count
    only for providers the file still has and that are eligible for the rule; when none of them
    is left with weight, the file's weights apply."""
    config = parse_config(CONFIG)
    router = Router(config, {"sms/FR/TEXT": stored}, {})
    assert router.configured_weights(config.rules[0]) == configured
    _, effective = router.weights_for("sms", "FR", "TEXT")
    assert {k: w for k, w in effective.items() if w > 0} == {k: w for k, w in configured.items() if w > 0}


@pytest.mark.parametrize(("setting", "message"), [
    ({"routing": [{"channel": "sms", "weights": {"a": "ten"}}]}, "routing[0].weights.a: expected a number, got 'ten'"),
    ({"retry": {"max_retries": "many"}}, "retry.max_retries: expected a number"),
    ({"retry": {"backoff_seconds": 5}}, "retry.backoff_seconds: expected a list of numbers"),
    ({"autopilot": {"ramp_percent": [10, "half"]}}, "autopilot.ramp_percent: expected a number"),
    ({"autopilot": {"min_attempts": 2.5}}, "autopilot.min_attempts: expected a whole number"),
    ({"high_deadline_seconds": [5]}, "high_deadline_seconds: expected a number"),
])
def test_a_setting_that_is_not_a_number_is_one_line_naming_it(tmp_path, monkeypatch, setting, message):
    """`float("ten")` in the providers file was a traceback from every command that read it."""
    import yaml
    from click.testing import CliRunner

    from halo_platform.cli import cli

    providers = {"providers": {"a": {"kind": "sandbox", "channel": "sms"}}, **setting}
    (tmp_path / "providers.yaml").write_text(yaml.safe_dump(providers))
    monkeypatch.setenv("HALO_PROVIDERS_FILE", str(tmp_path / "providers.yaml"))
    monkeypatch.setenv("HALO_HOME", str(tmp_path))
    result = CliRunner().invoke(cli, ["delivery", "weights", "show"])
    assert result.exit_code == 2 and result.output.startswith("error: ") and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(("names", "message"), [
    (["Twilio", "twilio"], "provider names 'Twilio' and 'twilio' differ only in letter case"),
    (["t" * 65], "must be 1-64 letters, digits"),
    (["tw/eu"], "provider name 'tw/eu' must be"),
    (["tw eu"], "provider name 'tw eu' must be"),
    ([7], "provider name 7 must be"),
])
def test_a_provider_name_the_store_or_a_callback_url_cannot_hold_apart_is_refused(names, message):
    """Accepted before: two names differing only in case share their routing weights, pause and
    autopilot state on MariaDB (its collation ignores case); a name longer than the store's
    provider columns (128 characters) cannot be written on PostgreSQL; a '/' makes its callback
    URL another route."""
    from halo_platform.core.errors import HaloError

    with pytest.raises(HaloError, match=message) as refused:
        parse_config({"providers": {name: {"kind": "sandbox", "channel": "sms"} for name in names}})
    assert "\n" not in str(refused.value)
    assert parse_config({"providers": {"tw-eu_2.b": {"kind": "sandbox", "channel": "sms"}}}).providers["tw-eu_2.b"].kind == "sandbox"


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_routing_change_without_a_reason_is_refused_and_nothing_is_stored(halo_store, reason):
    """The Control Center asked for a reason; `halo delivery weights set` and the launchpad did
    not, so their changes went into the history unexplained. The functions they share refuse it."""
    from halo_platform.delivery.state import add_rule

    config = parse_config(CONFIG)
    with pytest.raises(HaloError, match="^say why: the reason is kept in the history$"):
        set_weights(config, "sms/FR/TEXT", {"tw_fr": 10, "vo": 90}, "ops", halo_store, reason)
    with pytest.raises(HaloError, match="^say why"):
        add_rule(config, "sms", "DE", "*", {"vo": 1}, "ops", halo_store, reason)
    assert load_router(config, halo_store).weights_for("sms", "FR", "TEXT") == ("sms/FR/TEXT", {"tw_fr": 70.0, "vo": 30.0})
    assert load_router(config, halo_store).weights_for("sms", "DE", "TEXT")[0] != "sms/DE/*"
    with halo_store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(RoutingWeightAudit)).scalar_one() == 0


@pytest.fixture
def north_america(providers_file):  # noqa: ANN001, ANN201
    """One SMS provider for the United States, one for Canada: both +1 numbers."""
    return providers_file({"us": {"kind": "sandbox", "channel": "sms", "countries": ["US"]},
                           "ca": {"kind": "sandbox", "channel": "sms", "countries": ["CA"]}},
                          routing=[{"channel": "sms", "country": "US", "weights": {"us": 1}},
                                   {"channel": "sms", "country": "CA", "weights": {"ca": 1}}])


@pytest.mark.parametrize(("to", "country", "routed"), [
    ("+14169671111", None, "ca"), ("+14169671111", "CA", "ca"), ("416 967 1111", "ca", "ca"),
    ("+12127365000", None, "us"), ("+12127365000", "US", "us"), ("212 736 5000", "US", "us"),
])
def test_an_sms_goes_by_the_country_of_its_number(halo_store, north_america, to, country, routed):
    from halo_platform.delivery.service import submit

    view, _ = submit("sms", {"to": to, "body": "b", "country": country, "priority": "HIGH"}, store=halo_store, providers=north_america)
    assert (view["status"], view["provider"]) == ("sent", routed)


@pytest.mark.parametrize(("to", "country", "region"), [
    ("+14169671111", "US", "CA"), ("416 967 1111", "US", "CA"), ("+12127365000", "CA", "US"),
    ("+447797123456", "GB", "JE"), ("+77012345678", "RU", "KZ"), ("+33612345678", "DE", "FR"),
])
def test_a_country_other_than_the_numbers_is_refused_also_where_they_share_a_calling_code(halo_store, north_america, to, country, region):
    """The message's `country` is the recipient's (the spec: routing, quiet hours): a Toronto
    number said to be in the US went out as a US message through the US provider, because +1 is
    the United States' calling code too. Any country other than the number's is a 422, as FR/DE was."""
    from halo_platform.delivery.queue import messages_t
    from halo_platform.delivery.service import submit

    with pytest.raises(HaloError, match=f"belongs to {region}, not {country}"):
        submit("sms", {"to": to, "body": "b", "country": country, "priority": "HIGH"}, store=halo_store, providers=north_america)
    with halo_store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(messages_t)).scalar() == 0


@pytest.mark.parametrize("country", ["ÄÖ", "ΔΔ", "Ｆｒ", "F1", "FRA"])
def test_a_rule_for_a_country_no_number_can_have_is_refused_by_every_caller(halo_store, country):
    """The Control Center refused a rule for "ÄÖ" (str.isalpha takes any script); add_rule, which
    it shares with every other caller, took it: a rule no message could ever match, in the
    history as a change of routing. Refused in one place now, nothing stored."""
    from halo_platform.delivery.state import add_rule

    with pytest.raises(HaloError, match="^country .*: a two-letter code such as FR, or \\* for every country$"):
        add_rule(parse_config(CONFIG), "sms", country, "*", {"vo": 1}, "ops", halo_store, "new market")
    with halo_store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(RoutingWeightAudit)).scalar_one() == 0


def test_a_routing_reason_past_500_characters_is_refused_like_a_providers_and_nothing_is_stored(halo_store):
    """A provider switched by hand took a reason of at most 500 characters; a weight change or a
    new rule took any length (a pasted 1 MB log went into the history and onto every page that
    shows it). One rule for every reason the history keeps: 500 characters after trimming."""
    from halo_platform.delivery.state import add_rule

    config = parse_config(CONFIG)
    long = "x" * 501
    with pytest.raises(HaloError, match="^the reason is 501 characters; at most 500$"):
        set_weights(config, "sms/FR/TEXT", {"tw_fr": 10, "vo": 90}, "ops", halo_store, long)
    with pytest.raises(HaloError, match="^the reason is 501 characters; at most 500$"):
        add_rule(config, "sms", "DE", "*", {"vo": 1}, "ops", halo_store, long)
    with halo_store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(RoutingWeightAudit)).scalar_one() == 0
    set_weights(config, "sms/FR/TEXT", {"tw_fr": 10, "vo": 90}, "ops", halo_store, f"  {long[:500]}  ")
    assert load_router(config, halo_store).weights_for("sms", "FR", "TEXT") == ("sms/FR/TEXT", {"tw_fr": 10.0, "vo": 90.0})
