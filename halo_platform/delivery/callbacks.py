"""Provider status callbacks: verify the provider's own signature scheme, map its statuses
to lifecycle events, store each event once (a repeated callback changes nothing) and move
the message's status forward only.

A callback only touches messages its provider sent: an event naming a message that another
provider sent (or none) is counted as `unmatched` and changes nothing, so one provider's
credentials can never move another provider's messages."""

from __future__ import annotations

import hashlib
import logging

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from halo_platform.core.errors import NotFoundError
from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.core.text import lone_surrogate
from halo_platform.delivery.lifecycle import overtaken_by
from halo_platform.delivery.providers.base import CallbackEvent, CallbackRejected, CallbackRequest
from halo_platform.delivery.queue import events_t, messages_t
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.delivery.tables import MessageEvent

log = logging.getLogger("halo.delivery")
_DEDUPE_LENGTH = MessageEvent.__table__.c.dedupe_key.type.length


def stored_dedupe_key(key: str) -> str:
    """`key` as it fits its column: a long one (a provider id of any length) becomes its
    provider prefix and a SHA-256, still one per distinct key."""
    if len(key) <= _DEDUPE_LENGTH:
        return key
    prefix = key.split(":", 1)[0][:64]
    return f"{prefix}:sha256:{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()}"


def _parse(provider_name: str, providers: ProvidersResource, request: CallbackRequest) -> list[CallbackEvent]:
    try:
        events = providers.get(provider_name).parse_callback(request)
    except CallbackRejected:
        raise
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        # a body shape no parser foresaw is the caller's error (400), not ours (500)
        log.warning("callback for %s: unreadable body (%s)", provider_name, type(exc).__name__)
        raise CallbackRejected(f"unreadable callback body ({type(exc).__name__})", 400) from None
    if any(text and lone_surrogate(text) is not None for ev in events for text in (ev.message_id, ev.provider_message_id, ev.dedupe_key, ev.detail)):
        # JSON may escape a lone surrogate (\ud800), which no UTF-8 store takes
        raise CallbackRejected("unreadable callback body (text that is not UTF-8)", 400)
    return events


def _own_message(conn: sa.Connection, provider_name: str, ev: CallbackEvent):  # noqa: ANN202
    """The message this event is about, if this provider sent it: the one it names by our id
    when it names one (no other: the provider's id is no better there), else the only one of
    this provider's messages with its provider id (several share one: a SendGrid batch's
    X-Message-Id; which of them it is about cannot be told)."""
    ours = sa.select(messages_t.c.id).where(messages_t.c.provider == provider_name)
    if ev.message_id:
        return conn.execute(ours.where(messages_t.c.id == ev.message_id)).first()
    if not ev.provider_message_id:
        return None
    rows = conn.execute(ours.where(messages_t.c.provider_message_id == ev.provider_message_id).limit(2)).all()
    return rows[0] if len(rows) == 1 else None


def handle_callback(provider_name: str, request: CallbackRequest, store: StoreResource, providers: ProvidersResource) -> dict[str, int]:
    """Apply one callback request; raises `CallbackRejected` (401/400) before touching anything."""
    if provider_name not in providers.config().providers:
        raise NotFoundError(f"unknown provider {provider_name!r}")
    events = _parse(provider_name, providers, request)
    try:
        return _apply(provider_name, events, store)
    except IntegrityError:  # the same callback, delivered twice at once, stored an event first: its duplicate now
        return _apply(provider_name, events, store)


def _apply(provider_name: str, events: list[CallbackEvent], store: StoreResource) -> dict[str, int]:
    """Store each new event once and move its message's status forward, in one transaction.
    The status moves in the UPDATE's condition, on the row as it is when the row is locked:
    two callbacks of one message applied at once never rewind it. An event that moved nothing
    is stored `overtaken`: in the history, not a lifecycle change for the status webhook."""
    counts = {"applied": 0, "duplicates": 0, "unmatched": 0}
    now = utcnow()
    with store.write() as conn:
        for ev in events:
            row = _own_message(conn, provider_name, ev)
            if row is None:
                counts["unmatched"] += 1
                continue
            # scoped to the message: a key another message's event holds (a provider id another
            # provider's callback named) never makes this message's event a duplicate; a key
            # stored unscoped (before) still dedupes its own message's repeats
            dedupe_key = stored_dedupe_key(f"{ev.dedupe_key}:{row.id}")
            seen = conn.execute(sa.select(events_t.c.id).where(sa.or_(
                events_t.c.dedupe_key == dedupe_key,
                sa.and_(events_t.c.dedupe_key == stored_dedupe_key(ev.dedupe_key), events_t.c.message_id == row.id)))).first()
            if seen is not None:
                counts["duplicates"] += 1
                continue
            moved = conn.execute(messages_t.update().where(messages_t.c.id == row.id, messages_t.c.status.in_(overtaken_by(ev.event)))
                                 .values(status=ev.event, updated_at=now)).rowcount
            conn.execute(events_t.insert().values(message_id=row.id, event=ev.event, provider=provider_name, at=now, detail=ev.detail or None,
                                                  dedupe_key=dedupe_key, overtaken=not moved))
            counts["applied"] += 1
    return counts
