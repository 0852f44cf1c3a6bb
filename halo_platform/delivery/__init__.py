"""Message delivery: `send_sms`, `send_email`, `send_push` for feature code (the same
validation and rules as `POST /v1/messages/*` and `halo delivery send`), over the store and
providers resources the delivery code location binds."""

from __future__ import annotations

from typing import Any


def _send(channel: str, fields: dict[str, Any], created_by: str | None) -> dict[str, Any]:
    """In process: no API key; `created_by` is what the calling code names itself (recorded)."""
    from halo_platform.delivery.definitions import defs
    from halo_platform.delivery.service import submit

    payload = {k: v for k, v in fields.items() if v is not None}
    view, _created = submit(channel, payload, store=defs.resources["store"], providers=defs.resources["providers"], created_by=created_by)
    return view


def send_sms(to: str, body: str, *, country: str | None = None, capability: str = "TEXT", priority: str = "NORMAL",
             expires_at: Any = None, idempotency_key: str | None = None, timezone: str | None = None,
             fallback: dict[str, str] | None = None, created_by: str | None = None) -> dict[str, Any]:
    """Send (HIGH) or queue an SMS; returns {id, status, provider, ...}. Raises HaloError on bad input.
    `timezone` places quiet hours (default: the number's zone); `fallback` = {channel: email, to,
    subject}: the email sent once if the SMS fails. (A status `callback_url` needs an API key to
    sign its webhooks: the HTTP API's.)"""
    return _send("sms", dict(to=to, body=body, country=country, capability=capability, priority=priority,
                             expires_at=expires_at, idempotency_key=idempotency_key, timezone=timezone, fallback=fallback),
                 created_by)


def send_email(to: str, subject: str, body: str, *, html: str | None = None, country: str | None = None,
               capability: str = "TRANSACTIONAL", priority: str = "NORMAL", expires_at: Any = None,
               idempotency_key: str | None = None, timezone: str | None = None, created_by: str | None = None) -> dict[str, Any]:
    """Send (HIGH) or queue an email."""
    return _send("email", dict(to=to, subject=subject, body=body, html=html, country=country, capability=capability,
                               priority=priority, expires_at=expires_at, idempotency_key=idempotency_key, timezone=timezone),
                 created_by)


def send_push(to: str, title: str, body: str, *, data: dict[str, str] | None = None, country: str | None = None,
              capability: str = "ALERT", priority: str = "NORMAL", expires_at: Any = None,
              idempotency_key: str | None = None, timezone: str | None = None, created_by: str | None = None) -> dict[str, Any]:
    """Send (HIGH) or queue a push notification to a device token."""
    return _send("push", dict(to=to, title=title, body=body, data=data, country=country, capability=capability,
                              priority=priority, expires_at=expires_at, idempotency_key=idempotency_key, timezone=timezone),
                 created_by)


__all__ = ["send_email", "send_push", "send_sms"]
