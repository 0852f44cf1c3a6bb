"""Stored routing state: runtime weight edits (validated, audited) and autopilot factors."""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from halo_platform.core.errors import HaloError
from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.delivery.config import DeliveryConfig, validate_weights
from halo_platform.delivery.routing import Router
from halo_platform.delivery.tables import ProviderState, RoutingWeight, RoutingWeightAudit

weights_t = RoutingWeight.__table__
audit_t = RoutingWeightAudit.__table__
state_t = ProviderState.__table__


def stored_weights(conn: Connection) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for row in conn.execute(sa.select(weights_t.c.rule, weights_t.c.provider, weights_t.c.weight)):
        out.setdefault(row.rule, {})[row.provider] = row.weight
    return out


def factors(conn: Connection) -> dict[str, float]:
    return {row.provider: row.factor for row in conn.execute(sa.select(state_t.c.provider, state_t.c.factor))}


def load_router(config: DeliveryConfig, store: StoreResource) -> Router:
    with store.read() as conn:
        return Router(config, stored_weights(conn), factors(conn))


def set_weights(
    config: DeliveryConfig,
    rule_key: str,
    weights: Mapping[str, float],
    changed_by: str,
    store: StoreResource,
    reason: str | None = None,
) -> dict[str, float]:
    """Replace the weights of one rule after validation; every changed provider is audited."""
    rule = config.rule(rule_key)
    weights = {k: float(v) for k, v in weights.items()}
    problem = validate_weights(rule, weights, config.providers)
    if problem:
        raise HaloError(f"weights for {rule_key}: {problem}")
    now = utcnow()
    with store.write() as conn:
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
    return weights


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
    """Per rule and provider: configured weight, autopilot factor, effective weight."""
    router = load_router(config, store)
    rows = []
    for rule in config.rules:
        configured = router.configured_weights(rule)
        for provider, weight in configured.items():
            factor = router.factors.get(provider, 1.0)
            rows.append({"rule": rule.key, "provider": provider, "weight": weight, "factor": factor, "effective": weight * factor})
    return rows
