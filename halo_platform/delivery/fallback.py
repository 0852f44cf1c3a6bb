"""Channel fallback: an SMS that carries `fallback: {channel: email, to, subject}` and ends
`lost`, `provider_error` or `delivery_failed` is followed by that email (the SMS's body, its
priority, its sender, its `expires_at`: an OTP's code is never sent after it; its country and the
zone its recipient is known to be in: the email keeps the SMS's quiet hours and country routes),
once: the email's `fallback_of` is unique and its idempotency key is `fallback:<sms id>`, so two
runs that race make one message. Both show the link. The email reports to the SMS's
`callback_url`, signed by the same API key."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from halo_platform.core.errors import HaloError
from halo_platform.core.store import StoreResource
from halo_platform.delivery.queue import events_t, messages_t
from halo_platform.delivery.quiet_hours import recipient_zones
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.delivery.validation import webhook_url

log = logging.getLogger("halo.delivery")
FAILED = ("lost", "provider_error", "delivery_failed")
FALLBACK_KEY_PREFIX = "fallback:"  # of the idempotency keys of fallbacks: callers may not use it


def _failed(after_event_id: int):  # noqa: ANN202
    """Failure events after `after_event_id` of SMS with a fallback that ended failed: a late
    failure callback of one received meanwhile (stored, its status kept) is not its end."""
    return sa.and_(events_t.c.id > after_event_id, events_t.c.event.in_(FAILED), messages_t.c.status.in_(FAILED),
                   messages_t.c.fallback.is_not(None))


def waiting_fallbacks(conn: sa.Connection, after_event_id: int) -> list[str]:
    """The SMS with a failure event after `after_event_id` whose fallback is not made yet."""
    made = messages_t.alias("made")
    query = (sa.select(messages_t.c.id).distinct().join(events_t, events_t.c.message_id == messages_t.c.id)
             .where(_failed(after_event_id), ~sa.exists().where(made.c.fallback_of == messages_t.c.id)))
    return sorted(conn.execute(query).scalars())


def newest_event_id(conn: sa.Connection) -> int:
    return conn.execute(sa.select(sa.func.max(events_t.c.id))).scalar() or 0


def _reported_to(row: sa.Row) -> tuple[str | None, str | None]:
    """(callback_url, webhook_key) of the fallback of SMS `row`: the SMS's, as the webhook worker
    calls it. An SMS stored before URLs were checked in full may hold one that the fallback's own
    submission would refuse (422, ending the run for every later SMS): then the email goes, without
    status webhooks."""
    if not row.callback_url:
        return None, row.webhook_key
    try:
        return webhook_url(row.callback_url), row.webhook_key
    except HaloError as exc:
        log.warning("fallback of %s sent without status webhooks: %s", row.id, exc)
        return None, None


def _recipients_zone(row: sa.Row) -> str | None:
    """The SMS's `timezone`, or the one zone its number or country tells (an email has no number to
    tell it): None where it may be any of several, which the email's country then gives."""
    zones = recipient_zones("sms", row.recipient, row.country, row.timezone)
    return zones[0].key if len(zones) == 1 else None


def send_fallbacks(store: StoreResource, providers: ProvidersResource, after_event_id: int = 0) -> dict[str, Any]:
    """Submit the fallback of every SMS with a failure event after `after_event_id`; returns the
    fallback messages made now and those that existed already."""
    from halo_platform.delivery.service import submit

    failed = _failed(after_event_id)
    with store.read() as conn:
        rows = conn.execute(
            sa.select(messages_t.c.id, messages_t.c.fallback, messages_t.c.content, messages_t.c.priority, messages_t.c.created_by,
                      messages_t.c.callback_url, messages_t.c.webhook_key, messages_t.c.expires_at, messages_t.c.recipient,
                      messages_t.c.country, messages_t.c.timezone)
            .join(events_t, events_t.c.message_id == messages_t.c.id).where(failed).order_by(events_t.c.id)
        ).all()
    made, existing = [], []
    for row in {r.id: r for r in rows}.values():  # a message that failed twice (lost, then delivery_failed) falls back once
        callback_url, webhook_key = _reported_to(row)
        payload = {"to": row.fallback["to"], "subject": row.fallback["subject"], "body": row.content["body"], "priority": row.priority,
                   "idempotency_key": f"{FALLBACK_KEY_PREFIX}{row.id}", "callback_url": callback_url, "expires_at": row.expires_at,
                   "country": row.country, "timezone": _recipients_zone(row)}
        try:
            view, created = submit("email", payload, store=store, providers=providers, created_by=row.created_by, fallback_of=row.id,
                                   webhook_key=webhook_key)
        # its key taken by another message (a 409: stored before callers were refused such keys), or the
        # fallback stored before a check its submission makes now (a 422): it never will be made
        except HaloError as exc:
            log.warning("fallback of %s not made: %s", row.id, exc)
            continue
        (made if created else existing).append(view["id"])
    return {"made": made, "existing": existing}
