"""Status webhooks to the sender: every lifecycle event of a message that carries a
`callback_url` is POSTed there as JSON, signed `X-Halo-Signature: sha256=<hex HMAC-SHA256 of
the body under the webhook secret of the API key that sent the message>`.

The work is derived from `message_events` (the dispatch path writes nothing for it): an event
is pending while no attempt at it in `webhook_attempts` succeeded and it is younger than 24 h.
The events of one message go out in order, one at a time: a later event waits until the one
before it is delivered (or given up after 24 h). A failed attempt is retried with backoff; every
attempt is recorded. This runs in its own Dagster job, so a failing or slow receiver never
slows sending. A deliverer claims a message (`webhook_claims`) before it POSTs its events, so two
at once (`halo delivery webhooks --deliver` beside the job's run) never POST an event twice.

A sender chooses the URL, so our server must not become its way into our network: a URL whose
host resolves to a loopback, private, link-local or reserved address (or an IPv6 address that
carries one: mapped, compatible, NAT64, 6to4) is refused (recorded as a failed attempt) unless `HALO_WEBHOOKS_ALLOW_PRIVATE=1` (tests, receivers inside the network).
The request goes to the address that was checked (the name is resolved once per run), so a
name that answers a private address the next time (DNS rebinding) is not reached. Resolving the
name is part of the request's time: a resolver that hangs fails the attempt at its deadline. A URL is
called as `validation.webhook_url` reads it (a host name in ASCII, never a user name or
password); one stored before URLs were checked in full that cannot be called (a port out of
range) is a failed attempt of its message, never an error that stops the run."""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import functools
import ipaddress
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa

from halo_platform.access.keys import webhook_secret
from halo_platform.core.errors import HaloError
from halo_platform.core.lookup import looking_up
from halo_platform.core.models import utcnow
from halo_platform.core.redact import mask_text
from halo_platform.core.request_deadline import RequestDeadline
from halo_platform.core.store import StoreResource
from halo_platform.core.webhook_signature import SIGNATURE_HEADER, sign
from halo_platform.delivery.queue import events_t, messages_t
from halo_platform.delivery.tables import WebhookAttempt, WebhookClaim
from halo_platform.delivery.validation import webhook_url

log = logging.getLogger("halo.delivery")
attempts_t = WebhookAttempt.__table__
claims_t = WebhookClaim.__table__
#: seconds before retry n (1-based) of one event; the last repeats until the event is 24 h old
BACKOFF_SECONDS = (10, 30, 60, 300, 900, 1800, 3600)
GIVE_UP_AFTER = dt.timedelta(hours=24)
#: a claim's lease outlasts its run by this much: writing the last attempt may wait for the store's
#: lock (SQLite's busy timeout is 60 s)
CLAIM_SLACK = dt.timedelta(seconds=60)
_DETAIL = WebhookAttempt.__table__.c.detail.type.length


@dataclass(frozen=True)
class PendingEvent:
    event_id: int
    message_id: str
    event: str
    provider: str | None
    at: dt.datetime
    detail: str | None
    callback_url: str
    webhook_key: str
    attempts: int = 0
    last_attempt_at: dt.datetime | None = None


def body_of(event: PendingEvent) -> bytes:
    """What the sender receives: the event, its message and when (details masked: a provider's
    error text may quote the number)."""
    return json.dumps({"event_id": event.event_id, "message_id": event.message_id, "event": event.event, "provider": event.provider,
                       "at": event.at.isoformat(), "detail": mask_text(event.detail) if event.detail else None},
                      separators=(",", ":")).encode()


def next_try_at(attempts: int, last_attempt_at: dt.datetime | None, backoff: Sequence[float] = BACKOFF_SECONDS) -> dt.datetime | None:
    """When an event that failed `attempts` times may be tried again (None: now)."""
    if not attempts or last_attempt_at is None:
        return None
    return last_attempt_at + dt.timedelta(seconds=backoff[min(attempts, len(backoff)) - 1])


def due_chains(pending: Sequence[PendingEvent], now: dt.datetime, backoff: Sequence[float] = BACKOFF_SECONDS) -> list[list[PendingEvent]]:
    """Per message, its pending events in order, when the first of them is due (else the
    message waits: its later events never overtake it)."""
    chains: dict[str, list[PendingEvent]] = {}
    for event in pending:
        chains.setdefault(event.message_id, []).append(event)
    due = []
    for events in chains.values():
        retry_at = next_try_at(events[0].attempts, events[0].last_attempt_at, backoff)
        if retry_at is None or retry_at <= now:
            due.append(events)
    return due


def pending_events(conn: sa.Connection, now: dt.datetime, message_id: str | None = None) -> list[PendingEvent]:
    """Events of the last 24 h of messages with a `callback_url` (or of message `message_id`) that
    no attempt delivered yet, per message in order, with their failed attempts so far (not a
    provider's event that came after its message had passed it: no lifecycle change)."""
    since = now - GIVE_UP_AFTER
    delivered = sa.exists().where(attempts_t.c.event_id == events_t.c.id, attempts_t.c.ok.is_(True))
    # its failed attempts in the same statement: a statement of their own was half of a round's reads
    tried = sa.select(sa.func.count()).where(attempts_t.c.event_id == events_t.c.id).scalar_subquery()
    last_tried = sa.select(sa.func.max(attempts_t.c.at)).where(attempts_t.c.event_id == events_t.c.id).scalar_subquery()
    which = [] if message_id is None else [events_t.c.message_id == message_id]
    rows = conn.execute(
        sa.select(events_t.c.id, events_t.c.message_id, events_t.c.event, events_t.c.provider, events_t.c.at, events_t.c.detail,
                  messages_t.c.callback_url, messages_t.c.webhook_key, tried.label("tried"), last_tried.label("last_tried"))
        .join(messages_t, messages_t.c.id == events_t.c.message_id)
        # a message's row changes with each of its events: the two days before bound the scan
        .where(messages_t.c.webhook_key.is_not(None), messages_t.c.updated_at >= since - GIVE_UP_AFTER, events_t.c.at >= since, ~delivered,
               events_t.c.overtaken.is_(False), *which)
        .order_by(events_t.c.message_id, events_t.c.id)
    ).all()
    return [PendingEvent(r.id, r.message_id, r.event, r.provider, r.at, r.detail, r.callback_url, r.webhook_key, r.tried, r.last_tried)
            for r in rows]


def backlog(store: StoreResource, now: dt.datetime | None = None) -> dict[str, Any]:
    """The events waiting for delivery: how many, for how many messages, the oldest one's age."""
    now = now or utcnow()
    with store.read() as conn:
        pending = pending_events(conn, now)
    oldest = min((e.at for e in pending), default=None)
    return {"events": len(pending), "messages": len({e.message_id for e in pending}),
            "failed_attempts": sum(e.attempts for e in pending), "due_messages": len(due_chains(pending, now)),
            "oldest_at": oldest, "oldest_age_seconds": (now - oldest).total_seconds() if oldest else 0.0}


def public_address(host: str, allow_private: bool = False) -> tuple[str | None, str | None]:
    """(address, refusal): the address to connect to for `host` if every address it resolves to
    is public (or `allow_private`), else why it may not be called. The caller connects to that
    address and never resolves the name again, so a name that answers differently later cannot lead inside."""
    try:
        addresses = [info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)]
    except (OSError, UnicodeError):
        return None, f"{host} does not resolve"
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not allow_private and not is_public(ip):
            return None, f"{host} is a non-public address ({ip})"
    return addresses[0], None


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052, the well-known prefix
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: a network's own translator, never public
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # RFC 4291 ::a.b.c.d (deprecated); holds :: and ::1 too
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765 (SIIT)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address that a connection to `ip` reaches, where `ip` carries one: mapped
    (::ffff:a.b.c.d), compatible (::a.b.c.d), translated, NAT64 (64:ff9b::/96) or 6to4 (2002::/16)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or ip in _IPV4_COMPATIBLE or ip in _IPV4_TRANSLATED:
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether `ip` leads to a global unicast address. An IPv6 address that carries an IPv4 one
    is as public as that one: `ipaddress` judged ::127.0.0.1, 64:ff9b::7f00:1 (NAT64) or
    2002:7f00:1:: (6to4) by their IPv6 prefixes alone, all global."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return False
        carried = embedded_ipv4(ip)
        if carried is not None:
            return is_public(carried)
    return ip.is_global and not ip.is_multicast


def pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """(url, headers, extensions) that send a request for `url` to `address`: the Host header
    and the TLS name (SNI, certificate check) stay the URL's host."""
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc).geturl(), {"Host": parts.netloc.rpartition("@")[2]}, {"sni_hostname": parts.hostname or ""}


class _Deadlines:
    """The deadlines of one run's requests, `seconds` after each starts, kept by one thread: a
    `threading.Timer` per request started a thread per POST (5-9 % of the workers' time in a round
    of 2,000 POSTs). Every request has the same time, so their deadlines pass in the order they
    started."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.waiting: collections.deque[tuple[float, RequestDeadline]] = collections.deque()
        self.changed = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._watch, name="halo-webhook-deadlines", daemon=True)
        self.thread.start()

    def start(self) -> RequestDeadline:
        deadline = RequestDeadline(time.monotonic() + self.seconds)
        with self.changed:
            self.waiting.append((deadline.at, deadline))
            if len(self.waiting) == 1:  # else the watch already waits for an earlier one
                self.changed.notify()
        return deadline

    def _watch(self) -> None:
        with self.changed:
            while not self.closed:
                left = self.waiting[0][0] - time.monotonic() if self.waiting else None
                if left is None or left > 0:
                    self.changed.wait(left)
                else:
                    self.waiting.popleft()[1].expire()

    def close(self) -> None:
        with self.changed:
            self.closed = True
            self.changed.notify()
        self.thread.join()


class _Poster:
    """POSTs the due events of messages it claims with one HTTP client, recording each attempt as
    it ends."""

    def __init__(self, store: StoreResource, client: httpx.Client, deadlines: _Deadlines, clock: Callable[[], dt.datetime], allow_private: bool,
                 until: float, backoff: Sequence[float]) -> None:
        self.store, self.client, self.deadlines, self.clock, self.allow_private = store, client, deadlines, clock, allow_private
        self.timeout = deadlines.seconds
        self.until, self.backoff = until, backoff  # `until`: the `time.monotonic()` after which no request starts
        self.owner = uuid.uuid4().hex
        self.secrets: dict[str, str | None] = {}
        self.resolved: dict[str, Future[tuple[str | None, str | None]]] = {}
        self.resolved_lock = threading.Lock()

    def target(self, callback_url: str, deadline: RequestDeadline) -> tuple[tuple[str, dict[str, str], dict[str, str]] | None, str | None]:
        """((url, headers, extensions) to send with, None) or (None, why not): the URL as
        `webhook_url` reads it, its host resolved before the request's `deadline` (once per host
        and run, one resolution shared by the requests waiting for it)."""
        try:  # a URL stored before it was checked in full is a failed attempt of its own, not the run's end
            url = webhook_url(callback_url)
            host = urlsplit(url).hostname or ""
            with self.resolved_lock:
                if host not in self.resolved:
                    self.resolved[host] = looking_up(host, functools.partial(public_address, allow_private=self.allow_private))
                answer = self.resolved[host]
            address, refusal = answer.result(timeout=max(deadline.at - time.monotonic(), 0))
            return (pinned(url, address), None) if address else (None, refusal)
        except TimeoutError:
            return None, f"{host} did not resolve within {self.timeout:g} s"
        except HaloError as exc:
            return None, str(exc)
        except ValueError as exc:
            return None, f"callback_url: cannot be called ({type(exc).__name__})"

    def secret(self, prefix: str) -> str | None:
        if prefix not in self.secrets:
            self.secrets[prefix] = webhook_secret(self.store, prefix)
        return self.secrets[prefix]

    def post(self, event: PendingEvent) -> dict[str, Any]:
        """The attempt at `event`: its `webhook_attempts` row, which `chain` records."""
        secret = self.secret(event.webhook_key)
        body = body_of(event)
        started = time.monotonic()
        status = None
        deadline = self.deadlines.start()  # resolving the URL's host is part of the request's time
        try:
            target, detail = (None, "the API key that sent the message is gone") if secret is None else self.target(event.callback_url, deadline)
            if secret is not None and target is not None:
                url, headers, extensions = target
                # its status is the receiver's answer; its body is never read: one that never ends
                # (or a huge one) held the run, every other message's webhooks with it
                with self.client.stream("POST", url, content=body, extensions={**extensions, "trace": deadline.trace}, headers={
                        **headers, "Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body), "User-Agent": "halo-webhooks/1"}) as resp:
                    status = resp.status_code
                detail = None if 200 <= status < 300 else f"HTTP {status}"
        except httpx.HTTPError as exc:
            detail = f"no answer within {self.timeout:g} s" if deadline.passed else f"{type(exc).__name__}"
        except (httpx.InvalidURL, ValueError) as exc:  # what httpx refuses of a URL the checks let through
            detail = f"callback_url: cannot be called ({type(exc).__name__})"
        finally:
            deadline.end()
        return {"event_id": event.event_id, "message_id": event.message_id, "ok": status is not None and 200 <= status < 300, "http_status": status,
                "latency_ms": (time.monotonic() - started) * 1000, "detail": detail and detail[:_DETAIL], "at": self.clock()}

    def claim(self, message_id: str) -> bool:
        """Whether this run holds the message's events now, until it is over for sure (its last
        request, started before `until`, has its timeout, and writing its attempt may wait for the
        store's lock): a claim inserted, or taken over from a run whose claim has ended (it died).
        Of deliverers claiming at once, one holds it."""
        now = self.clock()
        lease_until = now + dt.timedelta(seconds=self.until - time.monotonic() + self.timeout) + CLAIM_SLACK
        try:
            with self.store.write() as conn:
                conn.execute(claims_t.insert().values(message_id=message_id, lease_owner=self.owner, lease_until=lease_until))
            return True
        except sa.exc.IntegrityError:  # held: taken over only once its lease has ended
            pass
        with self.store.write() as conn:
            taken = conn.execute(claims_t.update().where(claims_t.c.message_id == message_id, claims_t.c.lease_until <= now)
                                 .values(lease_owner=self.owner, lease_until=lease_until))
        return taken.rowcount == 1

    def chain(self, message_id: str) -> tuple[int, int]:
        """(delivered, failed): the message's due events in order while this run holds its claim,
        stopping at the first failure or once the run's time is up (a round's messages were all
        POSTed however long it took, far past `max_seconds`). They are read again under the claim:
        another deliverer (`halo delivery webhooks --deliver` beside the Dagster job) may have
        delivered them since the round read them, and both POSTed them. The claim ends in the
        transaction that records the chain's last attempt: a write of its own was one in four of a
        round's writes."""
        if time.monotonic() >= self.until or not self.claim(message_id):
            return 0, 0
        held = True
        try:
            with self.store.read() as conn:
                now = self.clock()
                events = [event for chain in due_chains(pending_events(conn, now, message_id), now, self.backoff) for event in chain]  # one chain at most
            for i, event in enumerate(events):
                if time.monotonic() >= self.until:
                    return i, 0
                attempt = self.post(event)
                last = not attempt["ok"] or i == len(events) - 1
                with self.store.write() as conn:
                    conn.execute(attempts_t.insert().values(**attempt))
                    if last:
                        self.release(conn, message_id)
                held = not last
                if not attempt["ok"]:
                    return i, 1
            return len(events), 0
        finally:
            if held:
                with self.store.write() as conn:
                    self.release(conn, message_id)

    def release(self, conn: sa.Connection, message_id: str) -> None:
        conn.execute(claims_t.delete().where(claims_t.c.message_id == message_id, claims_t.c.lease_owner == self.owner))


def deliver(store: StoreResource, *, clock: Callable[[], dt.datetime] = utcnow, timeout: float = 5.0, workers: int = 8,
            max_seconds: float = 50.0, backoff: Sequence[float] = BACKOFF_SECONDS, allow_private: bool | None = None) -> dict[str, int]:
    """Deliver the due webhooks until none is due or `max_seconds` pass (no request starts later):
    messages in parallel (`workers`), each message's events in order, each request answered within
    `timeout` seconds in all or a failed attempt. Returns counts of delivered and failed attempts.
    `allow_private` defaults to `HALO_WEBHOOKS_ALLOW_PRIVATE=1`."""
    if allow_private is None:
        allow_private = os.environ.get("HALO_WEBHOOKS_ALLOW_PRIVATE") == "1"
    totals = {"delivered": 0, "failed": 0, "messages": 0}
    # no connection kept alive: each request's deadline shuts down the socket it connected
    with httpx.Client(timeout=timeout, follow_redirects=False, limits=httpx.Limits(max_keepalive_connections=0)) as client, \
            contextlib.closing(_Deadlines(timeout)) as deadlines, ThreadPoolExecutor(workers) as pool:  # the pool's requests end first
        poster = _Poster(store, client, deadlines, clock, allow_private, time.monotonic() + max_seconds, backoff)
        while time.monotonic() < poster.until:
            with store.read() as conn:
                chains = due_chains(pending_events(conn, clock()), clock(), backoff)
            tried = 0
            for delivered, failed in pool.map(poster.chain, [events[0].message_id for events in chains]):
                totals["delivered"] += delivered
                totals["failed"] += failed
                tried += bool(delivered or failed)
            if not tried:  # none due, or those due are another deliverer's: it POSTs them
                break
            totals["messages"] += tried
    if totals["failed"]:
        log.warning("status webhooks: %(delivered)s delivered, %(failed)s failed (retried with backoff)", totals)
    return totals
