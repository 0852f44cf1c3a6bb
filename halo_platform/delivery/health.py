"""What the `provider_health` checks test, pure over the store: error rates and traffic shares."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.delivery.autopilot import route_attempts, window_stats
from halo_platform.delivery.config import DeliveryConfig
from halo_platform.delivery.routing import most_specific_rule


def error_rate_problems(config: DeliveryConfig, store: StoreResource, now: dt.datetime | None = None) -> list[str]:
    now = now or utcnow()
    cfg = config.autopilot
    with store.read() as conn:
        stats = window_stats(conn, now - dt.timedelta(minutes=cfg.window_minutes), now)
    return [
        f"{name} {errors / attempts:.0%} of {attempts}"
        for name, (attempts, errors) in sorted(stats.items())
        if attempts >= cfg.min_attempts and errors / attempts >= cfg.error_rate_threshold
    ]


def share_gaps(configured: dict[str, float], attempts: dict[str, int], tolerance: float, min_attempts: int) -> list[str]:
    """Providers whose share of the rule's attempts is further than `tolerance` from their configured share."""
    total_weight = sum(configured.values())
    total = sum(attempts.get(p, 0) for p in configured)
    if total_weight <= 0 or total < min_attempts:
        return []
    out = []
    for name, weight in sorted(configured.items()):
        want, got = weight / total_weight, attempts.get(name, 0) / total
        if abs(got - want) > tolerance:
            out.append(f"{name} {got:.0%} instead of {want:.0%}")
    return out


def share_problems(config: DeliveryConfig, store: StoreResource, now: dt.datetime | None = None) -> list[str]:
    """Per rule, the providers whose share of the attempts of the messages it routes (those it is
    the most specific rule of) is off their configured share. A provider in several rules sends
    the traffic of each: all of it counted against every rule made a provider sending just what
    it should look off its share."""
    from halo_platform.delivery.state import load_router

    now = now or utcnow()
    cfg = config.autopilot
    with store.read() as conn:
        routes = route_attempts(conn, now - dt.timedelta(minutes=cfg.window_minutes), now)
    router = load_router(config, store)
    per_rule: dict[str, Counter] = {}
    for (channel, country, capability), by_provider in routes.items():
        if (rule := most_specific_rule(router.config.rules, channel, country, capability)) is not None:
            per_rule.setdefault(rule.key, Counter()).update(by_provider)
    problems = []
    for rule in router.config.rules:  # the file's rules and those added at run time
        gaps = share_gaps(router.configured_weights(rule), dict(per_rule.get(rule.key, {})), cfg.share_tolerance, cfg.min_attempts)
        problems += [f"{rule.key}: {g}" for g in gaps]
    return problems
