"""`halo delivery ...` and `halo bench delivery`."""

from __future__ import annotations

import json

import click

from halo_platform.access.cli import cli_actor
from halo_platform.core.cli_options import GIVEN
from halo_platform.core.errors import HaloError
from halo_platform.core.text import cut, echo, exact_number, read_json, visible


@click.group()
def delivery() -> None:
    """Message delivery: send, drain the queue, status, providers, weights, autopilot."""


@delivery.group()
def send() -> None:
    """Send (HIGH) or queue (NORMAL/LOW) one message; prints {id, status, provider} as JSON."""


_common = [
    click.option("--country", default=None, type=GIVEN, help="ISO 3166-1 alpha-2 country of the recipient."),
    click.option("--priority", default="NORMAL", show_default=True, type=click.Choice(["HIGH", "NORMAL", "LOW"], case_sensitive=False)),
    click.option("--expires-at", default=None, type=GIVEN, help="ISO 8601 timestamp with time zone; never sent after it."),
    click.option("--idempotency-key", default=None, help="The same key and payload from you (cli:<login>) returns the first message."),
    click.option("--timezone", default=None, type=GIVEN, help="IANA time zone of the recipient for quiet hours (default: from the number or country)."),
]


def common_options(fn):  # noqa: ANN001, ANN201
    for option in reversed(_common):
        fn = option(fn)
    return fn


def _resources():  # noqa: ANN202
    """The store and providers resources the delivery code location binds."""
    from halo_platform.delivery.definitions import defs

    return defs.resources["store"], defs.resources["providers"]


def _submit(channel: str, fields: dict) -> None:
    from halo_platform.delivery.service import submit

    store, providers = _resources()
    view, created = submit(channel, {k: v for k, v in fields.items() if v is not None}, store=store, providers=providers,
                           created_by=cli_actor())
    click.echo(json.dumps({**view, "created": created}))


@send.command("sms")
@click.option("--to", required=True, help="Phone number (E.164, or national with --country).")
@click.option("--body", required=True)
@click.option("--capability", default="TEXT", show_default=True)
@click.option("--fallback-email", default=None, type=GIVEN, help="If the SMS fails (lost, provider_error, delivery_failed), send its body to this address.")
@click.option("--fallback-subject", default=None, type=GIVEN, help="The fallback email's subject.")
@common_options
def send_sms(to: str, body: str, capability: str, fallback_email: str | None, fallback_subject: str | None, country: str | None, priority: str,
             expires_at: str | None, idempotency_key: str | None, timezone: str | None) -> None:
    """Send an SMS."""
    fallback = {"channel": "email", "to": fallback_email, "subject": fallback_subject} if fallback_email or fallback_subject else None
    _submit("sms", dict(to=to, body=body, capability=capability, country=country, priority=priority.upper(), expires_at=expires_at,
                        idempotency_key=idempotency_key, timezone=timezone, fallback=fallback))


@send.command("email")
@click.option("--to", required=True)
@click.option("--subject", required=True)
@click.option("--body", required=True)
@click.option("--html", default=None, type=GIVEN)
@click.option("--capability", default="TRANSACTIONAL", show_default=True)
@common_options
def send_email(to: str, subject: str, body: str, html: str | None, capability: str, country: str | None, priority: str,
               expires_at: str | None, idempotency_key: str | None, timezone: str | None) -> None:
    """Send an email."""
    _submit("email", dict(to=to, subject=subject, body=body, html=html, capability=capability, country=country,
                          priority=priority.upper(), expires_at=expires_at, idempotency_key=idempotency_key, timezone=timezone))


@send.command("push")
@click.option("--to", required=True, help="Device token.")
@click.option("--title", required=True)
@click.option("--body", required=True)
@click.option("--data", default=None, help="A JSON object of strings.")
@click.option("--capability", default="ALERT", show_default=True)
@common_options
def send_push(to: str, title: str, body: str, data: str | None, capability: str, country: str | None, priority: str,
              expires_at: str | None, idempotency_key: str | None, timezone: str | None) -> None:
    """Send a push notification."""
    parsed = None if data is None else read_json(data, "--data")
    _submit("push", dict(to=to, title=title, body=body, data=parsed, capability=capability, country=country,
                         priority=priority.upper(), expires_at=expires_at, idempotency_key=idempotency_key, timezone=timezone))


@delivery.command()
@click.option("--timeout", type=float, default=None, help="Stop after this many seconds even if messages are still due.")
@click.option("--channel", "channels", multiple=True, type=click.Choice(["sms", "email", "push"]), help="Only these channels (repeatable).")
def drain(timeout: float | None, channels: tuple[str, ...]) -> None:
    """Run the dispatch job in this process until nothing is due."""

    from halo_platform.core.failures import failure_text
    from halo_platform.core.instance import dagster_instance
    from halo_platform.delivery.jobs import message_dispatch_job

    if timeout is not None and not 0 < timeout < 1e9:  # NaN fails this too
        raise HaloError(f"--timeout must be a number of seconds above 0, got {timeout}")
    store, providers = _resources()
    providers.config()  # a bad providers file is an error line before any run
    config = {"channels": list(channels) or ["sms", "email", "push"], "max_seconds": timeout if timeout is not None else 1e9}
    # CRITICAL: a failed step is logged at ERROR with its whole stack trace; the terminal gets one line
    result = message_dispatch_job.execute_in_process(
        run_config={"ops": {"dispatch_messages": {"config": config}}, "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        resources={"store": store, "providers": providers},
        instance=dagster_instance(),
        raise_on_error=False,
    )
    if not result.success:
        errors = [e.event_specific_data.error for e in result.all_events if e.is_step_failure and e.event_specific_data]
        raise HaloError(f"dispatch failed: {failure_text(errors[0]).splitlines()[0] if errors and errors[0] else 'see logs'}")
    click.echo(json.dumps(result.output_for_node("dispatch_messages")))


@delivery.command()
@click.argument("message_id")
def status(message_id: str) -> None:
    """A message's status, provider, retries and lifecycle events."""
    from halo_platform.delivery.service import message_view

    view = message_view(message_id, _resources()[0])
    links = "".join(f"  {name}={view[key]}" for name, key in (("segments", "segments"), ("fallback", "fallback"), ("fallback_of", "fallback_of"))
                    if view[key] is not None)
    click.echo(f"{view['id']}  {view['channel']}  {view['status']}  provider={view['provider'] or '-'}  retries={view['number_of_retries']}{links}")
    for e in view["events"]:
        late = "(overtaken: no status change) " if e["overtaken"] else ""
        click.echo(f"  {e['at']}  {e['event']:<16} {e['provider'] or '-':<16} {late}{e['detail'] or ''}")


@delivery.command()
def providers() -> None:
    """Providers with their autopilot state, weight in each rule they serve (a runtime edit's, as
    `weights show` lists them), traffic factor, error rate and share in the window."""
    from halo_platform.delivery.autopilot import provider_table
    from halo_platform.delivery.state import weights_table

    store, providers = _resources()
    config = providers.config()
    rows = provider_table(config, store)
    weights: dict[str, list[str]] = {}
    for w in weights_table(config, store):
        weights.setdefault(w["provider"], []).append(f"{exact_number(w['weight'])} {w['rule']}")
    shown = {r["provider"]: ", ".join(weights.get(r["provider"], [])) or "-" for r in rows}
    width = max([len("weight (rule)"), *map(len, shown.values())]) + 2
    click.echo(f"{'provider':<18}{'kind':<10}{'channel':<8}{'state':<12}{'factor':>7}{'attempts':>10}{'errors':>8}{'share':>7}  "
               f"{'weight (rule)':<{width}}reason")
    for r in rows:
        paused = f" (paused until {r['paused_until']:%H:%M:%S} UTC: it asked us to wait)" if r["paused_until"] else ""
        click.echo(f"{r['provider']:<18}{r['kind']:<10}{r['channel']:<8}{r['state']:<12}{r['factor']:>7.2f}{r['attempts']:>10}"
                   f"{r['error_rate']:>8.1%}{r['share']:>7.1%}  {shown[r['provider']]:<{width}}{r['reason']}{paused}")


@delivery.command()
@click.argument("provider")
@click.argument("state", type=click.Choice(["off", "auto"]))
@click.option("--reason", required=True, help="Why (kept in the history).")
@click.option("--by", "changed_by", default=None, help="Who (default: cli:<login>, as halo keys and halo users record it).")
def switch(provider: str, state: str, reason: str, changed_by: str | None) -> None:
    """Switch PROVIDER off by hand (the autopilot leaves it off), or hand it back to the autopilot
    (`auto`: pinged, then ramped up like a provider that recovered)."""
    from halo_platform.delivery.autopilot import set_manual

    store, providers = _resources()
    click.echo(f"{provider}: {set_manual(providers.config(), provider, state == 'off', cli_actor() if changed_by is None else changed_by, reason, store)}")


@delivery.group()
def weights() -> None:
    """Routing weights per rule (runtime edits are validated and audited)."""


@weights.command("show")
def weights_show() -> None:
    """Configured weight, autopilot factor and effective weight per rule and provider."""
    from halo_platform.delivery.state import weights_table

    store, providers = _resources()
    rows = weights_table(providers.config(), store)  # a bad providers file is an error line before any output
    click.echo(f"{'rule':<28}{'provider':<18}{'weight':>8}{'factor':>8}{'effective':>10}")
    for r in rows:
        # in full digits, as the Routing page writes them ("%g" wrote 1e+06 and 1234.57); the effective weight
        # rounded off the float noise of weight x factor (123.45678000000001)
        effective = exact_number(round(r["effective"], 6))
        click.echo(f"{r['rule']:<28}{r['provider']:<18}{exact_number(r['weight']):>8}{r['factor']:>8.2f}{effective:>10}")


@weights.command("set")
@click.argument("rule")
@click.argument("assignments", nargs=-1, required=True)
@click.option("--reason", required=True, help="Why (kept in the audit trail).")
@click.option("--by", "changed_by", default=None, help="Who (default: cli:<login>, as halo keys and halo users record it).")
def weights_set(rule: str, assignments: tuple[str, ...], reason: str, changed_by: str | None) -> None:
    """Set RULE's weights: `halo delivery weights set sms/*/TEXT sandbox_sms_a=50 sandbox_sms_b=50`."""
    from halo_platform.delivery.config import WEIGHT_WANTED, typed_weight
    from halo_platform.delivery.state import set_weights

    parsed = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise HaloError(f"expected provider=weight, got {echo(item)}")
        if name in parsed:  # which one was meant? (the last one was kept)
            raise HaloError(f"provider {echo(name)} given more than once")
        if (weight := typed_weight(value)) is None:
            raise HaloError(f"weights for {visible(cut(rule))}: weight of {visible(cut(name))} must be {WEIGHT_WANTED}, not {echo(value)}")
        parsed[name] = weight
    store, providers = _resources()
    stored = set_weights(providers.config(), rule, parsed, cli_actor() if changed_by is None else changed_by, store, reason)
    click.echo(f"{rule}: " + ", ".join(f"{k}={exact_number(v)}" for k, v in stored.items()))


@delivery.command()
def autopilot() -> None:
    """Run one autopilot cycle now (deactivate, ping, ramp) and print the changes."""
    from halo_platform.delivery.autopilot import run_cycle
    from halo_platform.delivery.definitions import defs

    report = run_cycle(*_resources(), sinks=defs.resources["sinks"])
    for name, p in report.providers.items():
        click.echo(f"{name:<18} factor={p['factor']:<5g} attempts={p['attempts']:<6} errors={p['error_rate']:.1%}  {p['reason']}")
    for change in report.changes:
        click.echo(f"changed: {change['provider']}: {change['reason']}")
    for rule in report.rules_down:
        click.echo(f"ERROR: every provider is down for {rule}; its messages stay queued")
    for route, unserved in report.routes_unserved.items():
        click.echo(f"ERROR: {unserved['messages']} queued message(s) no provider can take, {route}: {unserved['reason']}")


_recipient = [
    click.argument("channel", type=click.Choice(["sms", "email", "push"])),
    click.argument("to"),
    click.option("--country", default=None, type=GIVEN, help="Country of a national phone number."),
]


def recipient_arguments(fn):  # noqa: ANN001, ANN201
    for option in reversed(_recipient):
        fn = option(fn)
    return fn


@delivery.command()
@recipient_arguments
@click.option("--scope", type=click.Choice(["normal", "all"], case_sensitive=False), default="normal", show_default=True,
              help="normal: no NORMAL/LOW messages; all: no HIGH (OTP) either.")
@click.option("--reason", default=None, type=GIVEN, help="Why (kept with the suppression).")
def suppress(channel: str, to: str, country: str | None, scope: str, reason: str | None) -> None:
    """Opt TO out of CHANNEL; its queued NORMAL/LOW messages end `suppressed`."""
    from halo_platform.delivery.suppressions import suppress as add

    done = add(_resources()[0], channel, to, scope=scope, reason=reason, created_by=cli_actor(), country=country)
    click.echo(f"suppressed on {channel} (scope {done['scope']}); {done['ended']} queued message(s) ended")


@delivery.command()
@recipient_arguments
@click.option("--reason", default=None, type=GIVEN, help="Why (kept in the suppressions' history).")
def unsuppress(channel: str, to: str, country: str | None, reason: str | None) -> None:
    """Lift the suppression of TO on CHANNEL."""
    from halo_platform.delivery.suppressions import unsuppress as lift

    if not lift(_resources()[0], channel, to, reason=reason, lifted_by=cli_actor(), country=country):
        raise HaloError(f"no suppression of that recipient on {channel}")
    click.echo(f"lifted on {channel}")


@delivery.command()
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--history", is_flag=True, help="The suppressions added and lifted, who by and why, lifted ones included.")
def suppressions(limit: int, history: bool) -> None:
    """The newest suppressions (a hash of the recipient, never the recipient)."""
    from halo_platform.delivery.suppressions import list_suppressions, suppression_history

    store = _resources()[0]
    click.echo(f"{'at':<26}{'channel':<8}{'hash':<14}{'change  ' if history else ''}{'scope':<8}{'by':<22}reason")
    if history:
        for r in suppression_history(store, limit):
            click.echo(_suppression_line(r, f"{r['change']:<8}", r["changed_by"]))
    else:
        for r in list_suppressions(store, limit):
            click.echo(_suppression_line(r, "", r["created_by"]))


def _suppression_line(r: dict, change: str, by: str | None) -> str:
    """One line of `halo delivery suppressions` (`change`: '' but with --history)."""
    return f"{r['at']:%Y-%m-%d %H:%M:%S%z}  {r['channel']:<8}{r['recipient_hash']:<14}{change}{r['scope']:<8}{by or '-':<22}{r['reason'] or ''}"


@delivery.command()
@click.option("--deliver", is_flag=True, help="Deliver the due webhooks now, in this process, then show the backlog.")
def webhooks(deliver: bool) -> None:
    """The status webhook backlog: events not delivered yet (retried with backoff for 24 h)."""
    from halo_platform.delivery import webhooks as hooks

    store = _resources()[0]
    if deliver:
        click.echo("delivered {delivered}, failed {failed}".format(**hooks.deliver(store)))
    waiting = hooks.backlog(store)
    oldest = f"{waiting['oldest_age_seconds'] / 60:.1f} min" if waiting["oldest_at"] else "-"
    click.echo(f"pending events: {waiting['events']}  messages: {waiting['messages']}  due now: {waiting['due_messages']}  "
               f"failed attempts: {waiting['failed_attempts']}  oldest: {oldest}")


COMMANDS = (delivery,)
