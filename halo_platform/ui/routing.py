"""The Control Center's Routing page: every routing rule with its configured weights, each
provider's autopilot factor and the effective shares; adding a rule and editing weights (admin,
with a required reason) through `delivery.state`, the functions of `halo delivery weights set`;
the history of changes.

The page checks the form first only to put each error beside its field; the domain functions
validate again and write the weights and their audit rows in one transaction."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from halo_platform.access.guard import Caller
from halo_platform.core.errors import ConflictError, HaloError
from halo_platform.core.http import repeated_error, repeated_fields, resource
from halo_platform.core.store import StoreResource
from halo_platform.core.text import required_reason
from halo_platform.delivery.config import CHANNELS, WEIGHT_WANTED, DeliveryConfig, Rule, typed_weight, validate_weights
from halo_platform.delivery.state import (
    add_rule,
    load_router,
    rule_country,
    set_weights,
    weight_history,
    weights_table,
)
from halo_platform.ui.app import done_redirect, render, row_id, seen_change, signed_in, text_error, text_errors

router = APIRouter(include_in_schema=False)
HISTORY_ROWS = 200  # changes on a page of the history; older ones a link away


def _rules(config: DeliveryConfig, store: StoreResource) -> list[dict[str, Any]]:
    """Each rule in force with its providers' weight, factor, effective weight and share; also a
    rule none of whose weighed providers the file still lets carry it (removed, or no longer
    offering its country or capability): its messages stay queued, the autopilot's alert names it,
    and it was on no page."""
    from_file = {rule.key for rule in config.rules}
    rules: dict[str, dict[str, Any]] = {rule.key: {"key": rule.key, "added": rule.key not in from_file, "providers": []}
                                        for rule in load_router(config, store).config.rules}
    for row in weights_table(config, store):
        rule = rules.setdefault(row["rule"], {"key": row["rule"], "added": row["rule"] not in from_file, "providers": []})
        rule["providers"].append(row)
    for rule in rules.values():
        rule["down"] = all(p["effective"] <= 0 for p in rule["providers"])
    return list(rules.values())


def _serving(config: DeliveryConfig, rule: Rule) -> list[str]:
    """The providers that may carry `rule`'s messages (the ones a weight may name)."""
    return [name for name in config.providers if not validate_weights(rule, {name: 1.0}, config.providers)]


def _weights(data: Any, names: list[str], keep_zero: set[str], errors: dict[str, str]) -> dict[str, float]:  # noqa: ANN401 - a form
    """The weights typed in `weight.<provider>` fields: empty ones skipped, zeros kept only for
    providers the rule had (so the history does not list providers that never had a weight)."""
    weights: dict[str, float] = {}
    twice = repeated_fields(data, [f"weight.{name}" for name in names])  # as `halo delivery weights set a=60 a=40`
    errors.update(twice)
    for name in names:
        text = str(data.get(f"weight.{name}", "")).strip()
        if f"weight.{name}" in twice or not text:
            continue
        value = typed_weight(text)
        if value is None:
            errors[f"weight.{name}"] = WEIGHT_WANTED
        elif value > 0 or name in keep_zero:
            weights[name] = value
    if not errors and sum(weights.values()) <= 0:
        errors["weights"] = "give at least one provider a weight above 0"
    return weights


@router.get("/ui/routing", response_class=HTMLResponse)
def routing_page(request: Request, caller: Caller = Depends(signed_in("viewer")),
                 store: StoreResource = Depends(resource("store")), providers: Any = Depends(resource("providers"))) -> HTMLResponse:  # noqa: ANN401
    return render(request, "routing.html", caller, rules=_rules(providers.config(), store),
                  recent=weight_history(store, limit=5))


@router.get("/ui/routing/history", response_class=HTMLResponse)
def history_page(request: Request, rule: str = "", before: str = "", caller: Caller = Depends(signed_in("viewer")),
                 store: StoreResource = Depends(resource("store")), providers: Any = Depends(resource("providers"))) -> HTMLResponse:  # noqa: ANN401
    """HISTORY_ROWS changes (of `rule`, or all) a page, newest first: those listed after the row `before`, else the newest.
    A rule neither in force nor ever changed has no history: a 404 page, as its edit page (a rule
    gone from the file keeps the history of its changes)."""
    if message := text_error(rule, "routing rule"):  # no rule has such a key: nothing to look up
        return render(request, "routing_missing.html", caller, status=404, message=message)
    after = row_id(before)
    edits = weight_history(store, rule or None, limit=HISTORY_ROWS + 1, before=after)
    if rule and not edits and not (after is not None and weight_history(store, rule, limit=1)):
        try:
            load_router(providers.config(), store).config.rule(rule)
        except HaloError as exc:
            return render(request, "routing_missing.html", caller, status=404, message=str(exc))
    return render(request, "routing_history.html", caller, rule=rule, edits=edits[:HISTORY_ROWS], before=after,
                  older=edits[HISTORY_ROWS - 1]["last"] if len(edits) > HISTORY_ROWS else None)


def _edit_page(request: Request, caller: Caller, config: DeliveryConfig, store: StoreResource, rule_key: str,
               form: dict[str, Any], errors: dict[str, str], status: int = 200, seen: int | None = None) -> HTMLResponse:
    """The form; `seen` the newest change the weights in it were based on (default: the newest there is)."""
    router_ = load_router(config, store)
    try:
        rule = router_.config.rule(rule_key)
    except HaloError as exc:
        return render(request, "routing_missing.html", caller, status=404, message=str(exc))
    configured = router_.configured_weights(rule)
    names = _serving(config, rule)
    rows = [{"name": n, "weight": configured.get(n), "factor": router_.factors.get(n, 1.0)} for n in names]
    edits = weight_history(store, rule.key, limit=20)
    return render(request, "routing_edit.html", caller, status=status, rule=rule, rows=rows, form=form, errors=errors,
                  edits=edits, seen=max((e["id"] for e in edits), default=0) if seen is None else seen)


@router.get("/ui/routing/edit", response_class=HTMLResponse)
def edit_page(request: Request, rule: str = "", caller: Caller = Depends(signed_in("viewer")),
              store: StoreResource = Depends(resource("store")), providers: Any = Depends(resource("providers"))) -> HTMLResponse:  # noqa: ANN401
    return _edit_page(request, caller, providers.config(), store, rule, {"weights": None, "reason": ""}, {})


@router.post("/ui/routing/edit", response_class=HTMLResponse)
async def save_weights(request: Request, caller: Caller = Depends(signed_in("admin")),
                       store: StoreResource = Depends(resource("store")), providers: Any = Depends(resource("providers"))) -> HTMLResponse:  # noqa: ANN401
    data = await request.form()
    config: DeliveryConfig = await run_in_threadpool(providers.config)
    rule_key, reason = str(data.get("rule", "")), str(data.get("reason", "")).strip()
    errors = text_errors({"reason": reason}) | repeated_fields(data, ("reason",))
    try:
        router_ = await run_in_threadpool(load_router, config, store)
        rule = router_.config.rule(rule_key)
    except HaloError as exc:
        return render(request, "routing_missing.html", caller, status=404, message=str(exc))
    names = _serving(config, rule)
    weights = _weights(data, names, set(router_.configured_weights(rule)), errors)
    _reason_error(reason, errors)
    if twice := repeated_error(data, ("rule",)):  # the hidden field named two rules: the last one was edited
        errors["rule"] = twice
    seen = seen_change(data)
    if not errors:
        try:
            await run_in_threadpool(set_weights, config, rule_key, weights, caller.name, store, reason, seen)
        except ConflictError as exc:  # changed since this form's page was opened: sent again, it replaces that change
            errors["weights"], seen = str(exc), None
        except HaloError as exc:
            errors["weights"] = str(exc)
    if errors:
        form = {"weights": {n: str(data.get(f"weight.{n}", "")) for n in names}, "reason": reason}
        return await run_in_threadpool(_edit_page, request, caller, config, store, rule_key, form, errors, 422, seen)
    return done_redirect(request, "/ui/routing", rule_key)


def _refusals(config: DeliveryConfig, rule: Rule, errors: dict[str, str]) -> None:
    """Beside each weighted provider that may not carry `rule` (another channel, a country or
    capability it does not serve), why; `add_rule` said only the first, above the form."""
    for name in rule.weights:
        if why := config.providers[name].refuses(rule):
            errors.setdefault(f"weight.{name}", why)


def _reason_error(reason: str, errors: dict[str, str]) -> None:
    """Why `reason` is refused, beside its field (unless the field has an error already)."""
    try:
        required_reason(reason)
    except HaloError as exc:
        errors.setdefault("reason", str(exc))


def _new_page(request: Request, caller: Caller, config: DeliveryConfig, form: dict[str, Any], errors: dict[str, str],
              status: int = 200) -> HTMLResponse:
    return render(request, "routing_new.html", caller, status=status, form=form, errors=errors, channels=CHANNELS,
                  capabilities=config.capabilities, providers=list(config.providers.values()))


@router.get("/ui/routing/new", response_class=HTMLResponse)
def new_page(request: Request, caller: Caller = Depends(signed_in("viewer")),
             providers: Any = Depends(resource("providers"))) -> HTMLResponse:  # noqa: ANN401
    form = {"channel": "sms", "country": "", "capability": "*", "weights": {}, "reason": ""}
    return _new_page(request, caller, providers.config(), form, {})


@router.post("/ui/routing/new", response_class=HTMLResponse)
async def create_rule(request: Request, caller: Caller = Depends(signed_in("admin")),
                      store: StoreResource = Depends(resource("store")), providers: Any = Depends(resource("providers"))) -> HTMLResponse:  # noqa: ANN401
    data = await request.form()
    config: DeliveryConfig = await run_in_threadpool(providers.config)
    form = {k: str(data.get(k, "")).strip() for k in ("channel", "country", "capability", "reason")}
    form["weights"] = {n: str(data.get(f"weight.{n}", "")) for n in config.providers}
    errors = text_errors(form) | repeated_fields(data, ("channel", "country", "capability", "reason"))
    if form["channel"] not in CHANNELS:
        errors["channel"] = f"one of {', '.join(CHANNELS)}"
    capability = form["capability"].upper() or "*"
    try:
        country = rule_country(form["country"])
    except HaloError as exc:
        errors["country"] = str(exc)
    if capability != "*" and capability not in config.capabilities.get(form["channel"], ()):
        errors["capability"] = f"one of {', '.join(config.capabilities.get(form['channel'], ()))} or *"
    weights = _weights(data, list(config.providers), set(), errors)
    if not errors.keys() & {"channel", "country", "capability"}:
        _refusals(config, Rule(form["channel"], country, capability, weights), errors)
    _reason_error(form["reason"], errors)
    if not errors:
        try:
            rule = await run_in_threadpool(add_rule, config, form["channel"], country, capability, weights, caller.name, store,
                                           form["reason"])
        except HaloError as exc:
            errors["weights" if str(exc).startswith("weights for") else "rule"] = str(exc)
    if errors:
        return _new_page(request, caller, config, form, errors, 422)
    return done_redirect(request, "/ui/routing", rule.key)
