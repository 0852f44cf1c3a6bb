"""Sending a message: the one code path behind HTTP, Python and CLI.

`submit` validates, applies the idempotency key, stores the message with its `queued`
event, and for HIGH priority sends it inside the call (within the deadline, failing over
to the next eligible provider, never re-sending after an unknown outcome).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from halo_platform.access.keys import signing_key_prefix
from halo_platform.core.errors import ConflictError, HaloError, NotFoundError
from halo_platform.core.ids import time_ordered_id
from halo_platform.core.models import utcnow
from halo_platform.core.redact import mask_recipient, mask_text
from halo_platform.core.store import StoreResource
from halo_platform.core.text import check_name, cut, echo, unstorable
from halo_platform.core.write_lock import writing, writing_alone
from halo_platform.delivery.config import PRIORITIES, DeliveryConfig
from halo_platform.delivery.dispatch import not_sent, readable, send_request
from halo_platform.delivery.fallback import FALLBACK_KEY_PREFIX
from halo_platform.delivery.lifecycle import attempt_row, due_by, expired, masked_detail, transition
from halo_platform.delivery.providers.base import RETRYABLE, THROTTLED, SendResult
from halo_platform.delivery.queue import (
    KEPT,
    Claimed,
    apply_kept,
    events_t,
    kept_params,
    mark_in_flight,
    messages_t,
    one_statement,
    persist,
    recorded_ids,
    settle_parked,
    stored_utc,
)
from halo_platform.delivery.quiet_hours import quiet_until, recipient_zones
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.delivery.routing import failover_order
from halo_platform.delivery.state import routing_at
from halo_platform.delivery.suppressions import mark_suppressed
from halo_platform.delivery.throttle import Tokens, pause
from halo_platform.delivery.validation import NewMessage, validate

log = logging.getLogger("halo.delivery")
#: the reason a HIGH message passed over a provider whose rate limit had no token left
RATE_PASSED_OVER = "rate limit reached, passed over"
_rng = random.SystemRandom()


def due_at(new: NewMessage, now: dt.datetime, config: DeliveryConfig) -> dt.datetime:
    """When `new` may first be sent: now, or for NORMAL/LOW the end of the recipient's local
    quiet hours (deferred, not dropped); never after `expires_at`, so it expires on time."""
    window = None if new.priority == "HIGH" else config.quiet_hours_for(new.channel, new.country)
    if window is None:
        return now
    end = quiet_until(now, window, recipient_zones(new.channel, new.recipient, new.country, new.timezone))
    if end is None:
        return now
    return due_by(new, end)


def _row_values(new: NewMessage, now: dt.datetime, created_by: str | None = None, due: dt.datetime | None = None,
                webhook_key: str | None = None) -> dict[str, Any]:
    return {
        "id": time_ordered_id(),
        "channel": new.channel,
        "recipient": new.recipient,
        "country": new.country,
        "capability": new.capability,
        "priority": new.priority,
        "priority_rank": PRIORITIES[new.priority],
        "content": new.content,
        "idempotency_key": new.idempotency_key,
        "idempotency_scope": None if new.idempotency_key is None else _key_scope(created_by),
        "payload_hash": new.payload_hash,
        "expires_at": new.expires_at,
        "number_of_retries": 0,
        "status": "queued",
        "provider": None,
        "provider_message_id": None,
        "next_attempt_at": due or now,
        "lease_owner": None,
        "lease_until": None,
        "created_by": created_by,
        "created_at": now,
        "updated_at": now,
        "segments": new.segments,
        "callback_url": new.callback_url,
        "webhook_key": webhook_key,
        "timezone": new.timezone,
        "fallback": new.fallback,
        "fallback_of": None,
    }


def _queued_detail(row: dict) -> str:
    if row["next_attempt_at"] > row["created_at"]:
        return f"{row['priority']}; quiet hours until {row['next_attempt_at']:%Y-%m-%dT%H:%M:%SZ}"
    return row["priority"]


def _insert(conn, rows: list[dict], now: dt.datetime, sent_to: str | None = None) -> None:  # noqa: ANN001
    """Store new messages with their events: `queued`, then `suppressed` for those whose recipient
    opted out (`suppressions`) or `expired` for those already past `expires_at`. `sent_to`: the
    provider a HIGH message (the one row) is sent to at once; unless it ends at once, it is stored
    marked in flight for it, as `mark_in_flight` marks a claimed one. On PostgreSQL one message
    and its events are one statement, atomic alone (`submit` runs it in autocommit)."""
    mark_suppressed(conn, rows)
    events = []
    for r in rows:
        events.append({"message_id": r["id"], "event": "queued", "provider": None, "at": now, "detail": _queued_detail(r), "dedupe_key": None})
        if r["status"] == "suppressed":
            events.append({**events[-1], "event": "suppressed", "detail": "the recipient opted out"})
        elif r["expires_at"] is not None and r["expires_at"] <= now:
            r.update(status="expired", lease_owner=None, lease_until=None)
            events.append({**events[-1], "event": "expired", "detail": "expired on arrival"})
        elif sent_to:
            r.update(provider=sent_to, in_flight_at=now)
    if len(rows) == 1 and conn.dialect.name == "postgresql":
        conn.execute(_insert_one(tuple(rows[0])), {**{f"m_{name}": value for name, value in rows[0].items()},
                                                   **{f"e_{name}": [stored_utc(e[name]) if name == "at" else e[name] for e in events]
                                                      for name in _EVENT_NAMES}})
        return
    conn.execute(messages_t.insert(), rows)
    conn.execute(events_t.insert(), events)


_EVENT_NAMES = ("event", "provider", "at", "detail", "dedupe_key")


@functools.lru_cache(maxsize=8)
def _insert_one(names: tuple[str, ...]) -> sa.Insert:
    """PostgreSQL: one message (values `m_<column>`) and its events (arrays `e_<column>`, in
    order) in one statement, made once per set of columns so that SQLAlchemy compiles it once: a
    VALUES list of literal rows is not cacheable, and compiling it anew was an eighth of a HIGH
    send's time in the API process on a loaded machine."""
    inserted = messages_t.insert().values({name: sa.bindparam(f"m_{name}", type_=messages_t.c[name].type) for name in names}
                                          ).returning(messages_t.c.id).cte("inserted")
    listed = sa.func.unnest(*(sa.cast(sa.bindparam(f"e_{name}"), postgresql.ARRAY(sa.DateTime if name == "at" else sa.String))
                              for name in _EVENT_NAMES)).table_valued(*_EVENT_NAMES, with_ordinality="n").render_derived()
    return events_t.insert().from_select(("message_id", *_EVENT_NAMES), sa.select(inserted.c.id, *(listed.c[name] for name in _EVENT_NAMES))
                                         .select_from(inserted.join(listed, sa.true())).order_by(listed.c.n))


def submit(
    channel: str,
    payload: Mapping[str, Any],
    *,
    store: StoreResource,
    providers: ProvidersResource,
    rng: random.Random | None = None,
    created_by: str | None = None,
    sender_key: str | None = None,
    sender_prefix: str | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
    fallback_of: str | None = None,
    webhook_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Accept one message; returns (view, created). An idempotency key `created_by` used before
    with the same payload returns that first message (created False); with another payload, 409.
    A key is its caller's own: another caller's message with it is no answer (delivery_0020).
    `sender_key` names the API key that asks, `sender_prefix` which of its name's keys (its webhook
    secret signs the message's status webhooks: a `callback_url` needs one); `clock` is injectable for tests (quiet hours);
    `fallback_of` links a channel fallback to the SMS it replaces (`fallback.py`), whose signing
    key (`webhook_key`, a key prefix) signs the fallback's webhooks too. `created_by` is one line
    that fits its column (SQLite kept a longer one, or a NUL, that PostgreSQL and MariaDB refused)."""
    config = providers.config()
    new = validate(channel, payload, config)
    if created_by is not None and fallback_of is None:  # a fallback carries its SMS's, as stored
        check_name(created_by, "created_by")
    if fallback_of is None and (new.idempotency_key or "").startswith(FALLBACK_KEY_PREFIX):
        raise HaloError(f"idempotency_key: keys starting with {FALLBACK_KEY_PREFIX!r} are the platform's, for channel fallbacks")
    if new.callback_url and not webhook_key:
        webhook_key = signing_key_prefix(store, sender_key, sender_prefix)
    now = clock()
    values = _row_values(new, now, created_by=created_by, due=due_at(new, now, config), webhook_key=webhook_key)
    values["fallback_of"] = fallback_of
    high = new.priority == "HIGH"
    route, sending, view = None, False, None
    if high:  # the API call owns it until its deadline; dispatch runs leave it alone
        values["lease_owner"] = f"api:{values['id']}"
        values["lease_until"] = now + dt.timedelta(seconds=config.high_deadline_seconds + config.lease_seconds)
    try:  # on PostgreSQL its one write is one statement (`_insert`), in autocommit: BEGIN and COMMIT were 2 of its round trips
        with writing_alone(store, store.engine.dialect.name == "postgresql", priority=high) as conn:
            existing = _by_key(conn, new.idempotency_key, created_by) if new.idempotency_key else None
            if existing is None:
                if high:  # read on the insert's connection (in its transaction where it has one): a pool checkout fewer
                    route = high_route(new.channel, new.country, new.capability, config, conn, providers, rng or _rng)
                _insert(conn, [values], now, sent_to=route.names[0] if route is not None and route.first_unmetered else None)
                # neither suppressed nor expired on arrival (`_insert` settles both)
                sending = route is not None and values["status"] == "queued"
                if sending:
                    route.marked = values["provider"]  # the provider `_insert` marked it in flight for, if any
                else:
                    view = brief_view(conn, values["id"])
    except IntegrityError:  # a concurrent request with the same key won the race
        with store.read() as conn:
            existing = _by_key(conn, new.idempotency_key, created_by)
        if existing is None:
            raise
    if existing is not None:
        if existing.payload_hash != new.payload_hash:
            raise ConflictError(f"idempotency_key {echo(new.idempotency_key)} was used for a different message ({existing.id})")
        return message_view(existing.id, store, with_events=False), False
    if sending:
        as_stored = Claimed(**{name: values.get(name) for name in Claimed._fields})
        view = send_high(as_stored._replace(provider=route.marked, in_flight_at=now if route.marked else None), route, store, providers)
    return view or message_view(values["id"], store, with_events=False), True


def enqueue_many(channel: str, payloads: Iterable[Mapping[str, Any]], *, store: StoreResource, providers: ProvidersResource, chunk: int = 5000,
                 created_by: str | None = None) -> int:
    """Queue many NORMAL/LOW messages at once (same validation; no idempotency keys). Returns the count."""
    if created_by is not None:
        check_name(created_by, "created_by")
    config = providers.config()
    count = 0
    batch: list[dict] = []

    def flush() -> None:
        now = utcnow()
        for i, r in enumerate(batch):  # distinct times keep "oldest first" exact within a batch
            r["created_at"] = r["updated_at"] = now + dt.timedelta(microseconds=i)
            r["next_attempt_at"] = max(r["next_attempt_at"], r["created_at"])
        with writing(store) as conn:
            _insert(conn, batch, now)
        batch.clear()

    for payload in payloads:
        new = validate(channel, payload, config)
        if new.priority == "HIGH" or new.idempotency_key or new.callback_url:
            raise HaloError("enqueue_many takes NORMAL/LOW messages without idempotency keys or callback URLs; use submit")
        now = utcnow()
        batch.append(_row_values(new, now, created_by=created_by, due=due_at(new, now, config)))
        count += 1
        if len(batch) >= chunk:
            flush()
    if batch:
        flush()
    return count


def _key_scope(created_by: str | None) -> str:
    """Whose idempotency keys a message's are: its caller's (`created_by`), '' for code naming none."""
    return created_by or ""


def _by_key(conn, key: str, created_by: str | None):  # noqa: ANN001, ANN202
    return conn.execute(sa.select(messages_t.c.id, messages_t.c.payload_hash).where(
        messages_t.c.idempotency_key == key, messages_t.c.idempotency_scope == _key_scope(created_by))).first()


@dataclass
class HighRoute:
    """Where a HIGH message goes, drawn before it is stored so that its insert can mark it in
    flight for the first provider (when that one has no rate limit to take a token from): a
    write transaction fewer per send, each of which may wait for a drain's. Providers in
    failover order, paused ones left out."""

    names: list[str]
    first_unmetered: bool
    marked: str | None = None  # the provider it was marked in flight for with its insert


def high_route(channel: str, country: str, capability: str, config: DeliveryConfig, conn: Connection, providers: ProvidersResource,
               rng: random.Random) -> HighRoute:
    router, stopped = routing_at(config, conn, utcnow())
    _, weights = router.weights_for(channel, country, capability)
    names = [name for name in failover_order(weights, rng) if name not in stopped]
    return HighRoute(names, bool(names) and providers.build(config.providers[names[0]]).rate_per_second is None)


def _passed_over(message_id: str, provider: str, at: dt.datetime, why: str | None) -> dict[str, Any]:
    """The `retry_scheduled` event of a provider a HIGH message passed over, and why."""
    return {"message_id": message_id, "event": "retry_scheduled", "provider": provider, "at": at, "detail": why, "dedupe_key": None}


def send_high(row: Claimed, route: HighRoute, store: StoreResource, providers: ProvidersResource) -> dict[str, Any] | None:
    """Send HIGH message `row` (as its insert stored it) now: the providers of `route` in order
    until one takes it, the deadline passes, or an answer is unknown (then it is `lost`, never
    sent twice). A provider whose rate limit has no token left, and one that asks us to wait
    (which pauses it) are passed over for the next, never waited for. Each request is marked in
    flight first (the first one by the message's insert), so a crash of this process leaves it
    `lost`, not re-sent by a dispatch run; a message that cannot be sent ends `provider_error`.
    Each provider that refused it, asked us to wait or had no token left leaves a `retry_scheduled`
    event with its reason (its status unchanged, no retry counted): the timeline says why the next
    one sent it. When none took it, the last one tried (else the last one passed over) leaves the
    final event, its reason after the deadline's: `retry_scheduled`, a retryable failure as delivery.md
    has it, where a 429 from each provider leaves it too; `queued` only when its route had no provider.
    Returns the message's `brief_view` as its final write left it (None: no longer ours). The
    row is not read back, nor the view read apart: each read was a transaction of its own in a
    call that a drain competes with for the CPU."""
    message_id = row.id
    owner = f"api:{message_id}"
    config = providers.config()
    started = time.monotonic()
    attempts, passed_over, final, last_provider = [], [], None, None
    now = utcnow()
    outgoing, problem = readable(row)
    names = route.names
    if problem:  # its marker, if any, goes with this transition
        final = transition(row, not_sent(row, problem), None, config.retry, now, high=True)
        names = []
    tokens = Tokens(store)
    premarked = route.marked

    def mark(name: str, leases: list) -> set[str]:
        nonlocal premarked
        if premarked == name:
            premarked = None
            return {message_id}
        with writing(store, priority=True) as conn:
            return mark_in_flight(conn, owner, [(message_id, name, lease) for message_id, lease in leases], utcnow())

    for name in names:
        remaining = config.high_deadline_seconds - (time.monotonic() - started)
        if remaining <= 0.05:
            break
        if row.expires_at is not None and row.expires_at <= (now := utcnow()):  # never failed over past its time
            final = expired(row, now)
            break
        provider = providers.build(config.providers[name])
        if provider.rate_per_second is not None and not tokens.take(name, provider.rate_per_second, 1, batch=False, priority=True):
            log.info("HIGH %s to %s: %s passed over (rate limit reached)", message_id, mask_recipient(row.recipient), name)
            passed_over.append(_passed_over(message_id, name, utcnow(), RATE_PASSED_OVER))
            continue
        answered = send_request(provider, [(row, outgoing)], mark, remaining)
        if not answered:
            return None  # no longer ours (its lease ended): whoever holds it now records it
        result = answered[0][1]
        now = utcnow()
        attempts.append(attempt_row(result, name, now))
        last_provider = name
        log.info("HIGH %s to %s via %s: %s %s", message_id, mask_recipient(row.recipient), name, result.outcome,
                 masked_detail(result.detail, row.recipient))
        if result.outcome not in (THROTTLED, RETRYABLE):
            final = transition(row, result, name, config.retry, now, high=True)
            break
        if result.outcome == THROTTLED:
            pause(store, name, result.retry_after or 0.0, priority=True)
        last_event = len(passed_over)
        passed_over.append(_passed_over(message_id, name, now, masked_detail(result.detail, row.recipient) or None))
    if final is None:
        if last_provider is None and passed_over:  # each one passed over for its rate limit: as a 429 from each, the last one's event is final
            last_provider, last_event = passed_over[-1]["provider"], len(passed_over) - 1
        if last_provider is None:
            final = transition(row, None, None, config.retry, now)
        else:  # the last provider tried leaves the final event, with its reason: one event per provider passed over
            why = "; ".join(filter(None, ("every provider failed within the deadline", passed_over.pop(last_event)["detail"])))
            final = transition(row, SendResult(message_id, RETRYABLE, detail=why), last_provider, config.retry, now, high=True)
    alone, recorded = one_statement(store.engine, [final]), recorded_ids([final])
    with writing_alone(store, alone, priority=True) as conn:
        if passed_over:  # before the final event: the timeline is in the order of the events' ids
            conn.execute(events_t.insert(), passed_over)
        persist(conn, owner, [final], attempts, now)
        if alone:  # committed with its statement: the view and the look for kept callbacks (`settle_parked`'s) in one
            *brief, kept = conn.execute(_BRIEF_AND_KEPT, {"message_id": message_id, **kept_params(recorded)}).one()
            view = dict(zip(_BRIEF, brief, strict=True))
        else:
            view = brief_view(conn, message_id)
    if not alone:
        settle_parked(store, recorded, now)
    elif kept:
        apply_kept(store, recorded, now)
    return view


_BRIEF = ("id", "channel", "status", "provider", "priority", "number_of_retries")
_BRIEF_OF = sa.select(*(messages_t.c[name] for name in _BRIEF)).where(messages_t.c.id == sa.bindparam("message_id"))
_BRIEF_AND_KEPT = sa.select(*(messages_t.c[name] for name in _BRIEF), KEPT).where(messages_t.c.id == sa.bindparam("message_id"))  # PostgreSQL


def brief_view(conn, message_id: str) -> dict[str, Any]:  # noqa: ANN001
    """A message's id, channel, status, provider, priority and retries (what `submit` answers)."""
    return dict(zip(_BRIEF, conn.execute(_BRIEF_OF, {"message_id": message_id}).one(), strict=True))


def shown_callback_url(url: str) -> str:
    """`url` as a message view shows it: without its query and fragment (the receiver's own
    token may be there) and with a user name and password masked (stored before they were
    refused). One whose host or port cannot be read (stored before URLs were checked in full)
    is not shown: what looks like a port there may be a password."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - reading it checks it
    except ValueError:
        return "(not a valid URL)"
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"***@{netloc}" if "@" in parts.netloc else netloc, parts.path, "", ""))


def message_view(message_id: str, store: StoreResource, with_events: bool = True) -> dict[str, Any]:
    """Message `message_id`, exactly that id (compared byte for byte on every store, delivery_0015);
    text no store holds (a NUL, which PostgreSQL refuses) is no message's id, a 404 like any other."""
    with store.read() as conn:
        problem = unstorable(message_id)
        row = None if problem else conn.execute(sa.select(messages_t).where(messages_t.c.id == message_id)).first()
        if row is None:
            raise NotFoundError(f"no message {cut(message_id)}" if problem is None else f"no message: the id holds {problem}")
        view = {name: getattr(row, name) for name in _BRIEF}
        if with_events:
            events = conn.execute(sa.select(events_t).where(events_t.c.message_id == message_id).order_by(events_t.c.id))
            view["recipient"] = mask_recipient(row.recipient)
            view["provider_message_id"] = row.provider_message_id
            view["created_by"] = row.created_by
            view["created_at"] = row.created_at.isoformat()
            view["segments"] = row.segments
            view["callback_url"] = shown_callback_url(row.callback_url) if row.callback_url else None
            view["fallback_of"] = row.fallback_of
            view["fallback"] = conn.execute(sa.select(messages_t.c.id).where(messages_t.c.fallback_of == row.id)).scalar()
            view["events"] = [{"event": e.event, "provider": e.provider, "at": e.at.isoformat(), "detail": e.detail,
                               "overtaken": e.overtaken} for e in events]
    return view




def find_message(reference: str, store: StoreResource) -> dict[str, Any]:
    """The message whose id or idempotency key is `reference`, with its events, for a person
    looking one up (the Control Center): one field takes either, since people hold whichever
    the sending team logged. Event details pass through `mask_text` too, as a provider's error
    text can quote the number, and so does the key shown (a sender builds it from what it has:
    'appt-7731-+33612345678'). A key is taken as typed or without the spaces around it (a key
    is stored as its sender gave it, spaces included); an id in either letter case (a UUID, made
    in lower case; a support tool may have upper-cased it). A key is each caller's own, so several
    callers' messages may hold it: the view is of the first one, and lists the others (`same_key`:
    id, created_by, channel, status, created_at) for the person to open."""
    typed, reference = reference, reference.strip()
    if not reference:
        raise NotFoundError("no message id or idempotency key given")
    with store.read() as conn:
        found = conn.execute(sa.select(messages_t.c.id, messages_t.c.idempotency_key).where(
            sa.or_(messages_t.c.id.in_({reference, reference.lower()}), messages_t.c.idempotency_key.in_({typed, reference})))
            .order_by(messages_t.c.created_at, messages_t.c.id)).all()
    if not found:
        raise NotFoundError(f"no message with id or idempotency key {echo(reference)}")
    # an id beats a key that happens to spell another message's id, and the key as typed the stripped one
    message_id, key = next(((i, k) for i, k in found if i in (reference, reference.lower())), None) or next(
        ((i, k) for i, k in found if k == typed), found[0])
    view = message_view(message_id, store)
    view["idempotency_key"] = mask_text(key) if key else key
    view["same_key"] = [] if key is None else _holding_key(key, message_id, store)
    for event in view["events"]:
        event["detail"] = mask_text(event["detail"]) if event["detail"] else event["detail"]
    return view


def _holding_key(key: str, message_id: str, store: StoreResource) -> list[dict[str, Any]]:
    """The messages other than `message_id` that other callers sent with idempotency key `key`, oldest first."""
    columns = (messages_t.c.id, messages_t.c.created_by, messages_t.c.channel, messages_t.c.status, messages_t.c.created_at)
    with store.read() as conn:
        rows = conn.execute(sa.select(*columns).where(messages_t.c.idempotency_key == key, messages_t.c.id != message_id)
                            .order_by(messages_t.c.created_at, messages_t.c.id)).all()
    return [{**row._asdict(), "created_at": row.created_at.isoformat()} for row in rows]
