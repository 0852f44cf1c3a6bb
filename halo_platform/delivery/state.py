"""Stored routing state: runtime weight edits and added rules (validated, audited) and autopilot
factors. The rules in force are the providers file's plus those added at run time
(`with_added_rules`); a rule of the file wins over an added one of the same key."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from halo_platform.core.engine import again_on_conflict, listed_after, unchanged_since
from halo_platform.core.errors import HaloError
from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.core.text import check_name, echo, required_reason
from halo_platform.core.write_lock import ensure_row
from halo_platform.delivery.config import CHANNELS, DeliveryConfig, Rule, country_code, validate_weights
from halo_platform.delivery.routing import Router
from halo_platform.delivery.tables import (
    ProviderState,
    RoutingRuleAdded,
    RoutingRuleLock,
    RoutingWeight,
    RoutingWeightAudit,
)

weights_t = RoutingWeight.__table__
audit_t = RoutingWeightAudit.__table__
state_t = ProviderState.__table__
rules_t = RoutingRuleAdded.__table__
locks_t = RoutingRuleLock.__table__


# built once: a claim and a HIGH send read the routing state each time
_WEIGHTS = sa.select(weights_t.c.rule, weights_t.c.provider, weights_t.c.weight)


def _none(column: sa.Column) -> sa.ColumnElement:
    return sa.cast(sa.null(), column.type)


# The weights, the providers' states and the added rules in one statement, told apart by `what`
# (three statements were three of the nine round trips of a HIGH send on PostgreSQL). A compound
# SELECT's columns take the first SELECT's types, hence its NULLs cast to the columns' types
# (PostgreSQL: an untyped NULL column meeting a timestamp one is an error).
_ROUTING = sa.union_all(
    sa.select(sa.literal("weight").label("what"), weights_t.c.rule.label("name"), weights_t.c.provider.label("provider"),
              _none(rules_t.c.channel).label("channel"), _none(rules_t.c.country).label("country"),
              _none(rules_t.c.capability).label("capability"), weights_t.c.weight.label("value"),
              _none(state_t.c.paused_until).label("paused_until"), _none(rules_t.c.created_at).label("created_at")),
    sa.select(sa.literal("state"), state_t.c.provider, sa.null(), sa.null(), sa.null(), sa.null(), state_t.c.factor,
              state_t.c.paused_until, sa.null()),
    sa.select(sa.literal("rule"), rules_t.c.rule, sa.null(), rules_t.c.channel, rules_t.c.country, rules_t.c.capability,
              sa.null(), sa.null(), rules_t.c.created_at),
).order_by(sa.column("created_at"))


def stored_weights(conn: Connection) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for rule, provider, weight in conn.execute(_WEIGHTS):
        out.setdefault(rule, {})[provider] = weight
    return out


def _with_rules(config: DeliveryConfig, added: list[tuple[str, str, str, str]], weights: Mapping[str, Mapping[str, float]]) -> DeliveryConfig:
    """`config` with the `added` rules (rule, channel, country, capability; oldest first)
    appended, their stored `weights` as weights; a rule of the file wins over an added one."""
    known = {rule.key for rule in config.rules}
    rules = tuple(Rule(channel, country, capability, dict(weights.get(rule, {}))) for rule, channel, country, capability in added if rule not in known)
    return dataclasses.replace(config, rules=config.rules + rules) if rules else config


def with_added_rules(config: DeliveryConfig, conn: Connection) -> DeliveryConfig:
    """`config` with the rules added at run time appended (their stored weights as weights)."""
    weights, _, added = _stored_routing(conn)
    return _with_rules(config, added, weights)


def _stored_routing(conn: Connection) -> tuple[dict[str, dict[str, float]], list[tuple], list[tuple[str, str, str, str]]]:
    """The stored weights (rule -> provider -> weight), the providers' states (provider, factor,
    paused_until) and the added rules (rule, channel, country, capability; oldest first), in one
    statement (`_ROUTING`)."""
    weights: dict[str, dict[str, float]] = {}
    states, added = [], []
    for what, name, provider, channel, country, capability, value, paused_until, _ in conn.execute(_ROUTING):
        if what == "weight":
            weights.setdefault(name, {})[provider] = value
        elif what == "state":
            states.append((name, value, paused_until))
        else:
            added.append((name, channel, country, capability))
    return weights, states, added


def _routing(config: DeliveryConfig, conn: Connection) -> tuple[Router, list]:
    """The router, and the providers' stored states (provider, factor, paused_until) it was made
    from. A provider whose `${ENV}` secret is not set weighs 0 (as one that is down): drawn, its
    client could not be built, and the HaloError failed the whole dispatch run of its channel (every
    message stayed queued, also those of the providers that could send them) and HIGH sends drawn
    to it; the autopilot reports its rules down when it was their only provider."""
    weights, states, added = _stored_routing(conn)
    factors = {provider: factor for provider, factor, _ in states} | dict.fromkeys(config.unusable(), 0.0)
    return Router(_with_rules(config, added, weights), weights, factors), states


def load_router(config: DeliveryConfig, store: StoreResource) -> Router:
    with store.read() as conn:
        return _routing(config, conn)[0]


def routing_at(config: DeliveryConfig, conn: Connection, now: dt.datetime) -> tuple[Router, dict[str, dt.datetime]]:
    """The router and the providers paused at `now` (those whose `paused_until` is later), in
    one statement: what a send is routed by."""
    router, states = _routing(config, conn)
    return router, {provider: until for provider, _, until in states if until is not None and until > now}


def routing_now(config: DeliveryConfig, store: StoreResource, now: dt.datetime) -> tuple[Router, dict[str, dt.datetime]]:
    """`routing_at` in a read of its own."""
    with store.read() as conn:
        return routing_at(config, conn, now)


#: a routing change says why: the reason is kept in the history (CLI, launchpad, Control Center alike)


def set_weights(
    config: DeliveryConfig,
    rule_key: str,
    weights: Mapping[str, float],
    changed_by: str,
    store: StoreResource,
    reason: str,
    seen_change: int | None = None,
) -> dict[str, float]:
    """Replace the weights of one rule (of the file or added) after validation; every changed
    provider is audited with `reason` (required: refused when blank) and `changed_by` (one line
    that fits its columns: SQLite kept a longer one that PostgreSQL and MariaDB refused). A page's
    edit gives `seen_change`, the highest id of the rule's changes it showed (`weight_history`): a
    change made since is a ConflictError (`unchanged_since`), nothing saved."""
    reason = required_reason(reason)
    check_name(changed_by, "changed_by")
    with store.read() as conn:
        rule = with_added_rules(config, conn).rule(rule_key)
    weights = {k: float(v) for k, v in weights.items()}
    problem = validate_weights(rule, weights, config.providers)
    if problem:
        raise HaloError(f"weights for {rule_key}: {problem}")
    now = utcnow()
    ensure_row(store, locks_t, {"rule": rule_key})

    def write() -> None:
        with store.write() as conn:
            # edits of one rule take turns, also before it has stored weights (no row of them to
            # lock): the one that waited replaces what the other wrote, and audits from it
            conn.execute(sa.select(locks_t.c.rule).where(locks_t.c.rule == rule_key).with_for_update())
            unchanged_since(conn, audit_t, audit_t.c.rule == rule_key, seen_change, f"weights for {rule_key}")
            current = stored_weights(conn).get(rule_key) or dict(rule.weights)
            conn.execute(weights_t.delete().where(weights_t.c.rule == rule_key))
            conn.execute(
                weights_t.insert(),
                [{"rule": rule_key, "provider": p, "weight": w, "updated_by": changed_by, "updated_at": now} for p, w in weights.items()],
            )
            audits = [
                {"rule": rule_key, "provider": p, "old_weight": current.get(p), "new_weight": weights.get(p, 0.0),
                 "changed_by": changed_by, "reason": reason, "at": now}
                for p in sorted(set(current) | set(weights))
                if current.get(p) != weights.get(p, 0.0 if p in current else None)
            ]
            if audits:
                conn.execute(audit_t.insert(), audits)

    again_on_conflict(write)  # the file's weights seeded meanwhile (`seed_weights` takes no turn): replaced now
    return weights


def rule_country(country: str) -> str:
    """The country a rule names: an ISO 3166-1 code (any letter case), upper-cased, as the
    providers file's rules take it (`country_code`), or `*` (also for a blank) for every country.
    Refused otherwise: "ÄÖ", "ＦＲ", "UK" (GB is the code) or "ß" (upper-cased, SS: South Sudan)
    name no message's country."""
    code = country.strip() or "*"
    if code == "*":
        return code
    try:
        return country_code(code)
    except HaloError:
        raise HaloError(f"country {echo(country)}: not an ISO 3166-1 country: a two-letter code such as FR, or * for every country") from None


def add_rule(
    config: DeliveryConfig,
    channel: str,
    country: str,
    capability: str,
    weights: Mapping[str, float],
    changed_by: str,
    store: StoreResource,
    reason: str,
) -> Rule:
    """Add a routing rule at run time with its weights; the rule, its weights and their audit
    rows are written in one transaction. Refused: a blank `reason`, an unknown channel or
    capability, a country that is not two letters or `*`, a rule that exists, weights
    `validate_weights` refuses, a `changed_by` `check_name` refuses."""
    reason = required_reason(reason)
    check_name(changed_by, "changed_by")
    country, capability = rule_country(country), capability.strip().upper() or "*"
    if channel not in CHANNELS:
        raise HaloError(f"unknown channel {echo(channel)} (one of {', '.join(CHANNELS)})")
    if capability != "*" and capability not in config.capabilities.get(channel, ()):
        raise HaloError(f"capability {echo(capability)}: one of {', '.join(config.capabilities.get(channel, ()))} or *")
    rule = Rule(channel, country, capability, {k: float(v) for k, v in weights.items()})
    problem = validate_weights(rule, rule.weights, config.providers)
    if problem:
        raise HaloError(f"weights for {rule.key}: {problem}")
    now = utcnow()
    exists = HaloError(f"routing rule {rule.key} exists already: edit its weights")
    try:
        with store.write() as conn:
            if any(r.key == rule.key for r in with_added_rules(config, conn).rules):
                raise exists
            conn.execute(rules_t.insert().values(rule=rule.key, channel=channel, country=country, capability=capability,
                                                 created_by=changed_by, reason=reason, created_at=now))
            conn.execute(weights_t.delete().where(weights_t.c.rule == rule.key))
            conn.execute(weights_t.insert(), [{"rule": rule.key, "provider": p, "weight": w, "updated_by": changed_by, "updated_at": now}
                                              for p, w in rule.weights.items()])
            conn.execute(audit_t.insert(), [{"rule": rule.key, "provider": p, "old_weight": None, "new_weight": w,
                                             "changed_by": changed_by, "reason": reason, "at": now} for p, w in rule.weights.items()])
    except sa.exc.IntegrityError:  # added meanwhile by another request, not committed when this one looked
        raise exists from None
    return rule


def weight_history(store: StoreResource, rule_key: str | None = None, limit: int = 50, before: int | None = None) -> list[dict]:
    """Weight changes (of one rule, or all), newest first, one entry per edit: who, when, why, and
    each changed provider's weight before -> after (None before: the rule was new); its `id` is
    the highest of its rows' (an edit form's `seen_change` is the highest of these), its `last` the
    id of its row listed last: `before` it, the edits listed after it (the next page)."""
    query = sa.select(audit_t).order_by(audit_t.c.at.desc(), audit_t.c.id.desc())
    if rule_key is not None:
        query = query.where(audit_t.c.rule == rule_key)
    if before is not None:
        query = query.where(listed_after(audit_t, before))
    edits: list[dict] = []
    with store.read() as conn:
        for r in conn.execute(query.limit(limit * 8)):
            last = edits[-1] if edits else None
            if last is None or (last["rule"], last["at"], last["changed_by"]) != (r.rule, r.at, r.changed_by):
                if len(edits) == limit:
                    break
                last = {"id": r.id, "rule": r.rule, "at": r.at, "changed_by": r.changed_by, "reason": r.reason, "changes": {}}
                edits.append(last)
            last["changes"][r.provider] = (r.old_weight, r.new_weight)
            last["last"] = r.id
    return edits


def seed_weights(config: DeliveryConfig, store: StoreResource) -> int:
    """Store the YAML weights of rules that have none stored yet (idempotent); returns rules seeded."""
    seeded = 0
    with store.write() as conn:
        stored = stored_weights(conn)
        for rule in config.rules:
            if rule.key in stored:
                continue
            now = utcnow()
            conn.execute(weights_t.insert(), [{"rule": rule.key, "provider": p, "weight": w, "updated_by": "config", "updated_at": now} for p, w in rule.weights.items()])
            conn.execute(audit_t.insert(), [{"rule": rule.key, "provider": p, "old_weight": None, "new_weight": w, "changed_by": "config", "reason": "seeded from the providers file", "at": now} for p, w in rule.weights.items()])
            seeded += 1
    return seeded


def seed_states(config: DeliveryConfig, store: StoreResource) -> int:
    """A fully active autopilot state for every provider that has none (idempotent); returns how many."""
    with store.write() as conn:
        known = set(conn.execute(sa.select(state_t.c.provider)).scalars())
        new = [{"provider": p, "active": True, "factor": 1.0, "ramp_step": None, "reason": "seeded: active", "updated_at": utcnow()}
               for p in config.providers if p not in known]
        if new:
            conn.execute(state_t.insert(), new)
    return len(new)


def weights_table(config: DeliveryConfig, store: StoreResource) -> list[dict]:
    """Per rule (of the file, then added) and provider: configured weight, autopilot factor,
    effective weight, and the effective share of the rule's traffic (0 when nothing can flow)."""
    router = load_router(config, store)
    rows = []
    for rule in router.config.rules:
        configured = router.configured_weights(rule)
        effective = {p: w * router.factors.get(p, 1.0) for p, w in configured.items()}
        total = sum(effective.values())
        for provider, weight in configured.items():
            rows.append({"rule": rule.key, "provider": provider, "weight": weight, "factor": router.factors.get(provider, 1.0),
                         "effective": effective[provider], "share": effective[provider] / total if total > 0 else 0.0})
    return rows
