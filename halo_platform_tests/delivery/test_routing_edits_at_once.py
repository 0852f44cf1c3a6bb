"""Routing edits that meet another edit of the same rule, not yet committed when they look: the
later one is refused as the rule exists (a rule added) or replaces the earlier weights with its
own, audited from them (weights edited); on PostgreSQL and MariaDB each failed on the unique key
with the driver's error (a 500 from the Routing page)."""

from __future__ import annotations

import sqlalchemy as sa

from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.delivery.config import parse_config
from halo_platform.delivery.state import add_rule, load_router, set_weights, weight_history
from halo_platform.delivery.tables import RoutingRuleAdded, RoutingRuleLock, RoutingWeight
from halo_platform_tests.fixtures.databases import while_uncommitted

CONFIG = parse_config({
    "providers": {name: {"kind": "sandbox", "channel": "sms", "countries": ["*"], "capabilities": ["*"]} for name in ("a", "b", "c")},
    "routing": [{"channel": "sms", "country": "*", "capability": "TEXT", "weights": {"a": 70, "b": 30}}],
})


def serving(store: StoreResource, country: str) -> tuple[str, dict[str, float]]:
    """The rule a TEXT SMS to `country` takes and its providers of a weight above 0."""
    rule, weights = load_router(CONFIG, store).weights_for("sms", country, "TEXT")
    return rule, {p: w for p, w in weights.items() if w}


def test_a_rule_added_while_another_adds_it_is_refused_as_existing(every_store):
    now = utcnow()
    theirs = [(RoutingRuleAdded.__table__, [{"rule": "sms/FR/*", "channel": "sms", "country": "FR", "capability": "*",
                                             "created_by": "ana", "reason": "launch", "created_at": now}]),
              (RoutingWeight.__table__, [{"rule": "sms/FR/*", "provider": "a", "weight": 1.0, "updated_by": "ana", "updated_at": now}])]
    outcome = while_uncommitted(every_store, theirs, lambda: add_rule(CONFIG, "sms", "FR", "*", {"b": 1}, "bob", every_store, "launch"))
    assert outcome == "routing rule sms/FR/* exists already: edit its weights"
    assert serving(every_store, "FR") == ("sms/FR/*", {"a": 1.0})


def test_weights_edited_while_another_edit_writes_them_replace_them_audited_from_them(every_store):
    now = utcnow()
    theirs = [(RoutingRuleLock.__table__, [{"rule": "sms/*/TEXT"}]),  # the first edit of the rule: it makes the lock row
              (RoutingWeight.__table__, [{"rule": "sms/*/TEXT", "provider": p, "weight": w, "updated_by": "ana", "updated_at": now}
                                         for p, w in (("a", 50.0), ("b", 50.0))])]
    outcome = while_uncommitted(every_store, theirs, lambda: set_weights(CONFIG, "sms/*/TEXT", {"b": 20, "c": 80}, "bob", every_store, "c is cheaper"))
    assert outcome == "done"
    assert serving(every_store, "DE") == ("sms/*/TEXT", {"b": 20.0, "c": 80.0})
    (edit,) = [e for e in weight_history(every_store, "sms/*/TEXT") if e["changed_by"] == "bob"]
    assert edit["changes"] == {"a": (50.0, 0.0), "b": (50.0, 20.0), "c": (None, 80.0)}  # from the weights it replaced


COUNTRIES = ("FR", "DE", "ES", "IT", "NL", "BE", "PT", "AT", "PL", "SE")
FIRST_EDITS = parse_config({
    "providers": {name: {"kind": "sandbox", "channel": "sms", "countries": ["*"], "capabilities": ["*"]} for name in ("a", "b")},
    "routing": [{"channel": "sms", "country": c, "capability": "TEXT", "weights": {"a": 50, "b": 50}} for c in COUNTRIES],
})


def test_two_first_edits_of_a_rule_s_weights_at_once_leave_one_of_them(every_store):
    """Nothing stored for the rule yet, so no row to lock: on PostgreSQL both edits wrote their
    providers (disjoint, so no key met) and the rule kept both sets, a mix neither asked for."""
    from halo_platform_tests.reports.conftest import at_once

    for country in COUNTRIES:
        rule = f"sms/{country}/TEXT"
        assert at_once([lambda: set_weights(FIRST_EDITS, rule, {"a": 100}, "ana", every_store, "a only"),  # noqa: B023
                        lambda: set_weights(FIRST_EDITS, rule, {"b": 100}, "bob", every_store, "b only")]) == []  # noqa: B023
        with every_store.read() as conn:
            stored = conn.execute(sa.select(RoutingWeight.provider).where(RoutingWeight.rule == rule)).scalars().all()
        assert stored in (["a"], ["b"]), (rule, stored)
