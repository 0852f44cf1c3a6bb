"""Provider status callbacks: verify the provider's own signature scheme, map its statuses
to lifecycle events, store each event once (a repeated callback changes nothing) and move
the message's status forward only.

A callback only touches messages its provider sent: an event naming a message that another
provider sent (or none) is counted as `unmatched` and changes nothing, so one provider's
credentials can never move another provider's messages. One naming by our id a message this
provider was sent a request for before another provider took it (its answer unknown, or a retry)
is that provider's word on its copy: kept in the message's timeline, `overtaken` (its status unchanged). One that names only the provider's id
for a message, before the dispatcher recorded that id, is kept until it does (`queue.park_all`)."""

from __future__ import annotations

import datetime as dt
import functools
import logging

from sqlalchemy.exc import IntegrityError

from halo_platform.core.engine import retried_on_deadlock
from halo_platform.core.errors import NotFoundError
from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.core.text import echo, unstorable
from halo_platform.delivery.providers.base import CallbackEvent, CallbackRejected, CallbackRequest
from halo_platform.delivery.queue import apply_event, own_messages, park_all, settle_parked
from halo_platform.delivery.resources import ProvidersResource

log = logging.getLogger("halo.delivery")


def _parse(provider_name: str, providers: ProvidersResource, request: CallbackRequest) -> list[CallbackEvent]:
    try:
        events = providers.get(provider_name).parse_callback(request)
    except CallbackRejected:
        raise
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        # a body shape no parser foresaw is the caller's error (400), not ours (500)
        log.warning("callback for %s: unreadable body (%s)", provider_name, type(exc).__name__)
        raise CallbackRejected(f"unreadable callback body ({type(exc).__name__})", 400) from None
    for ev in events:
        for text in (ev.message_id, ev.provider_message_id, ev.dedupe_key, ev.detail):
            # JSON may escape a lone surrogate (\ud800), which no UTF-8 store takes, and a NUL
            # (\u0000, or %00 in a form), which PostgreSQL refuses where SQLite and MariaDB keep it
            if text and (why := unstorable(text)):
                raise CallbackRejected(f"unreadable callback body (text no store takes: {why})", 400)
    return events


def handle_callback(provider_name: str, request: CallbackRequest, store: StoreResource, providers: ProvidersResource) -> dict[str, int]:
    """Apply one callback request; raises `CallbackRejected` (401/400) before touching anything."""
    if provider_name not in providers.config().providers:
        raise NotFoundError(f"unknown provider {echo(provider_name)}")
    events = _parse(provider_name, providers, request)
    try:
        return _apply(provider_name, events, store)
    except IntegrityError:  # the same callback, delivered twice at once, stored an event first: its duplicate now
        return _apply(provider_name, events, store)


def _apply(provider_name: str, events: list[CallbackEvent], store: StoreResource) -> dict[str, int]:
    """Store each new event once and move its message's status forward (`apply_event`), in one
    transaction. An event that names only the provider's id, which no message of this provider
    holds yet, is kept (`park_all`): it may have overtaken the answer that id comes in, and is
    applied when the dispatcher records it.

    The messages are moved in the order of their ids (each one's events in the order they came):
    two callbacks naming the same messages in other orders (SendGrid posts batches at once) lock
    their rows alike, where they deadlocked on PostgreSQL and MariaDB and one of them was a 500."""
    now = utcnow()
    counts, kept = retried_on_deadlock(functools.partial(_applied, provider_name, events, store, now))
    settle_parked(store, kept, now)  # its id may have been recorded meanwhile
    return counts


def _applied(provider_name: str, events: list[CallbackEvent], store: StoreResource, now: dt.datetime) -> tuple[dict[str, int], set]:
    """`_apply`'s transaction: its counts and the (provider, provider id) pairs it kept."""
    counts = {"applied": 0, "duplicates": 0, "unmatched": 0}
    kept, parked = set(), []
    with store.write() as conn:
        owned = list(zip(events, own_messages(conn, provider_name, [(ev.message_id, ev.provider_message_id) for ev in events]), strict=True))
        for ev, row in sorted(owned, key=lambda pair: "" if pair[1] is None else pair[1].id):
            if row is None:
                if not ev.message_id and ev.provider_message_id:
                    parked.append((ev.provider_message_id, ev.event, ev.dedupe_key, ev.detail))
                    kept.add((provider_name, ev.provider_message_id))
                counts["unmatched"] += 1
            elif apply_event(conn, provider_name, row.id, ev.event, ev.dedupe_key, ev.detail, now, moves=row.provider == provider_name):
                counts["applied"] += 1
            else:
                counts["duplicates"] += 1
        if parked:  # kept together (a batch of mail another sender of the account sent is thousands of them)
            park_all(conn, provider_name, parked, now)
    return counts, kept
