"""Provider selection, pure: eligibility, the most specific rule, and weighted draws.

Effective weight = configured weight (stored runtime edit, else YAML) x autopilot factor.
A message whose rule has no provider with effective weight > 0 gets no provider: it
stays queued (nothing is lost) and autopilot raises an ERROR alert for the rule. It raises
one for the route of a queued message that no provider serves, or whose eligible providers
all weigh 0 while its rule's others do not (`unserved_route`), with a rule or without one.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence

from halo_platform.delivery.config import DeliveryConfig, ProviderEntry, Rule


def eligible(providers: Iterable[ProviderEntry], channel: str, country: str | None, capability: str) -> list[str]:
    """Names of the providers of `channel` whose countries and capabilities cover the message."""
    return [p.name for p in providers if p.channel == channel and p.covers(country, capability)]


def rule_matches(rule: Rule, channel: str, country: str | None, capability: str) -> bool:
    return (
        rule.channel == channel
        and (rule.country == "*" or rule.country == country)
        and (rule.capability == "*" or rule.capability == capability)
    )


def most_specific_rule(rules: Sequence[Rule], channel: str, country: str | None, capability: str) -> Rule | None:
    """The matching rule with the highest specificity (country beats capability beats `*`);
    the first one written wins a tie."""
    best: Rule | None = None
    for rule in rules:
        if rule_matches(rule, channel, country, capability) and (best is None or rule.specificity > best.specificity):
            best = rule
    return best


def default_rule_key(channel: str) -> str:
    """The pseudo-rule of messages no rule covers: eligible providers share equally."""
    return f"{channel}/*/*#default"


def effective_weights(
    candidates: Sequence[str],
    configured: Mapping[str, float] | None,
    factors: Mapping[str, float],
) -> dict[str, float]:
    """Weight x autopilot factor for each eligible provider. Without a rule every eligible
    provider weighs 1; providers missing from `factors` count as fully active."""
    weights = {}
    for name in candidates:
        base = 1.0 if configured is None else float(configured.get(name, 0.0))
        weights[name] = max(base, 0.0) * max(factors.get(name, 1.0), 0.0)
    return weights


def draw(weights: Mapping[str, float], rng: random.Random, exclude: Iterable[str] = ()) -> str | None:
    """One provider drawn with probability proportional to its weight; `exclude` is avoided
    when another provider has weight (a retry goes elsewhere where possible)."""
    excluded = set(exclude)
    pool = {k: w for k, w in weights.items() if w > 0 and k not in excluded} or {k: w for k, w in weights.items() if w > 0}
    if not pool:
        return None
    names = sorted(pool)
    total = sum(pool[n] for n in names)
    point = rng.random() * total
    acc = 0.0
    for name in names:
        acc += pool[name]
        if point < acc:
            return name
    return names[-1]


def failover_order(weights: Mapping[str, float], rng: random.Random) -> list[str]:
    """Every provider with weight > 0, in a weighted random order (draws without replacement):
    HIGH messages try them in turn."""
    remaining = {k: w for k, w in weights.items() if w > 0}
    order = []
    while remaining:
        name = draw(remaining, rng)
        assert name is not None
        order.append(name)
        remaining.pop(name)
    return order


class Router:
    """Routing for one dispatch pass: configuration + stored weights + autopilot factors."""

    def __init__(self, config: DeliveryConfig, stored_weights: Mapping[str, Mapping[str, float]], factors: Mapping[str, float]):
        self.config = config
        self.stored = stored_weights
        self.factors = factors
        self._cache: dict[tuple, tuple[str, dict[str, float]]] = {}

    def configured_weights(self, rule: Rule) -> dict[str, float]:
        """The rule's stored weights (a runtime edit) of the providers the file still has and
        that are eligible for the rule; the file's weights when none of those is left with a
        weight: an edit naming a provider since removed from the file left the file's remaining
        provider at 0, and the rule's messages queued for good."""
        serving = {name for name, entry in self.config.providers.items() if not entry.refuses(rule)}
        stored = {p: w for p, w in (self.stored.get(rule.key) or {}).items() if p in serving}
        if sum(stored.values()) > 0:
            return stored
        return {p: w for p, w in rule.weights.items() if p in serving}

    def rule_weights(self, rule: Rule) -> dict[str, float]:
        """Effective weights (configured x autopilot factor) of the providers `rule` weighs: all
        zero when nothing of the rule can flow (the autopilot's down check)."""
        configured = self.configured_weights(rule)
        return effective_weights(list(configured), configured, self.factors)

    def weights_for(self, channel: str, country: str | None, capability: str) -> tuple[str, dict[str, float]]:
        """(rule key, effective weights of the eligible providers) for a message."""
        key = (channel, country, capability)
        cached = self._cache.get(key)
        if cached is None:
            candidates = eligible(self.config.providers.values(), channel, country, capability)
            rule = most_specific_rule(self.config.rules, channel, country, capability)
            configured = self.configured_weights(rule) if rule else None
            cached = (rule.key if rule else default_rule_key(channel), effective_weights(candidates, configured, self.factors))
            self._cache[key] = cached
        return cached


def unserved_route(router: Router, channel: str, country: str | None, capability: str) -> tuple[str, str] | None:
    """(rule key, why) when no provider can take a message of this route: none serves its
    country and capability, or every one that does weighs 0 (down, switched off, or left out
    of its rule's weights); None when one can."""
    rule_key, weights = router.weights_for(channel, country, capability)
    if any(w > 0 for w in weights.values()):
        return None
    if not weights:
        return rule_key, "no provider serves it"
    return rule_key, f"every provider that serves it is down or weighs 0 ({', '.join(sorted(weights))})"


def route_name(channel: str, country: str | None, capability: str) -> str:
    """A route as an alert names it: `sms to DE (TEXT)`."""
    return f"{channel} to {country or 'no country'} ({capability})"
