"""API keys: created and shown once, stored as a SHA-256, checked on every request; a name's
token bucket lives on its active key's row, so the rate limit holds across worker processes and
the keys of a rotation's overlap share it."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from halo_platform.access.tables import ApiKey
from halo_platform.core.errors import ConflictError, HaloError, NotFoundError
from halo_platform.core.models import in_calendar, utcnow
from halo_platform.core.settings import MAX_RATE_PER_SECOND
from halo_platform.core.store import StoreResource
from halo_platform.core.text import cut, echo
from halo_platform.core.token_bucket import HeldTokens, refilled
from halo_platform.core.write_lock import writing

SCOPES = ("messages:send", "messages:read", "tasks:request", "tasks:read", "availability:read", "admin")
DEFAULT_RATE_PER_SECOND = 50.0
MAX_RETRY_AFTER_SECONDS = 86_400.0  # the longest Retry-After a key past its rate is told
_KEY = re.compile(r"halo_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

keys_t = ApiKey.__table__


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def webhook_secret_of(key: str) -> str:
    """The webhook secret of an API key: hex HMAC-SHA256 of the text `halo webhook secret` under
    the key. Its holder computes it from the key alone; the store keeps it (not the key) to sign
    the status webhooks of the messages the key sends (`X-Halo-Signature`)."""
    return hmac.new(key.encode(), b"halo webhook secret", hashlib.sha256).hexdigest()


def signing_key_prefix(store: StoreResource, name: str | None, prefix: str | None = None) -> str:
    """The prefix of the key whose webhook secret will sign a message's status webhooks: the key
    `prefix` that sent it (during a rotation's overlap the replaced key still sends, and its holder
    checks with its own secret), else the active key `name`; refused (422) without an API key or
    for a key that has no secret."""
    if not name:
        raise HaloError("callback_url: status webhooks are signed with an API key's webhook secret; send the message with an API key")
    which = keys_t.c.prefix == prefix if prefix else keys_t.c.active_name == name
    with store.read() as conn:
        prefix = conn.execute(sa.select(keys_t.c.prefix).where(which, keys_t.c.webhook_secret.is_not(None))).scalar()
    if prefix is None:
        raise HaloError(f"callback_url: the API key {name!r} has no webhook secret (it predates status webhooks); create a new key")
    return prefix


def webhook_secret(store: StoreResource, prefix: str) -> str | None:
    """The webhook secret of the key with `prefix` (None if it has none)."""
    with store.read() as conn:
        return conn.execute(sa.select(keys_t.c.webhook_secret).where(keys_t.c.prefix == prefix)).scalar()


def check_name(name: str, what: str = "name") -> str:
    if not _NAME.fullmatch(name or ""):
        raise HaloError(f"{what}: 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def check_scopes(scopes: list[str] | tuple[str, ...]) -> list[str]:
    if not scopes:
        raise HaloError(f"scope: give at least one of {', '.join(SCOPES)}")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise HaloError(f"scope: unknown {cut(', '.join(map(echo, unknown)), 200)}; known: {', '.join(SCOPES)}")
    return sorted(set(scopes))


def check_rate(rate_per_second: float | None) -> float | None:
    if rate_per_second is not None and not (0 < rate_per_second <= MAX_RATE_PER_SECOND):
        raise HaloError(f"rate: must be a number of requests per second in (0, {MAX_RATE_PER_SECOND}]")
    return rate_per_second


def check_expires(expires: dt.date | None, now: dt.datetime | None = None) -> dt.datetime | None:
    """When a key expiring on `expires` is refused from: 00:00 UTC that day, which must be after `now`."""
    expires_at = dt.datetime.combine(in_calendar(expires, "expires"), dt.time(), tzinfo=dt.UTC) if expires else None
    if expires_at is not None and expires_at <= (now or utcnow()):
        raise HaloError(f"expires: {expires.isoformat()} is not in the future")
    return expires_at


def _new_key() -> tuple[str, str]:
    """(prefix, key) of a new key: `halo_<prefix>_<secret>`."""
    prefix = secrets.token_hex(6)
    return prefix, f"halo_{prefix}_{secrets.token_urlsafe(32)}"


def create_key(store: StoreResource, name: str, scopes: list[str] | tuple[str, ...], *, expires: dt.date | None = None,
               rate_per_second: float | None = None, created_by: str | None = None) -> str:
    """Store a new key named `name` and return it; this is the only time it exists in clear.
    A name is taken while a key of that name is active: a revoked or expired key's name may be reused
    (the expired key stays listed, refused, and gives the name up)."""
    with store.write() as conn:
        return create_key_in(conn, name, scopes, expires=expires, rate_per_second=rate_per_second, created_by=created_by)


def create_key_in(conn: Connection, name: str, scopes: list[str] | tuple[str, ...], *, expires: dt.date | None = None,
                  rate_per_second: float | None = None, created_by: str | None = None) -> str:
    """`create_key` in the caller's transaction (a Control Center form records its one-time token in it)."""
    check_name(name)
    scopes = check_scopes(scopes)
    check_rate(rate_per_second)
    now = utcnow()
    expires_at = check_expires(expires, now)
    prefix, key = _new_key()
    taken = ConflictError(f"an active key named {name!r} exists; revoke it first")
    try:
        conn.execute(keys_t.update().where(keys_t.c.active_name == name, keys_t.c.expires_at <= now).values(active_name=None))
        if conn.execute(sa.select(keys_t.c.id).where(keys_t.c.active_name == name)).first():
            raise taken
        conn.execute(keys_t.insert().values(
            name=name, active_name=name, prefix=prefix, hash=key_hash(key), scopes=scopes, rate_per_second=rate_per_second,
            created_at=now, created_by=created_by, expires_at=expires_at, webhook_secret=webhook_secret_of(key)))
    except IntegrityError:  # another key of that name made at once (active_name is unique)
        raise taken from None
    return key


MAX_OVERLAP_HOURS = 24 * 30


def rotate_key(store: StoreResource, name: str, *, overlap_hours: float = 24.0, rotated_by: str | None = None) -> tuple[str, dt.datetime]:
    """Replace the active key `name` with a new one of the same name, scopes and rate, and return
    it (shown this once) with when the replaced key stops working: `overlap_hours` from now (or
    its own expiry, if sooner), time for its holders to move to the new key without a refused
    request. Until then both keys work; `halo keys revoke NAME` revokes the new one, the old one
    by its prefix (`halo keys revoke NAME --prefix PREFIX`, the Control Center's Access page)."""
    with store.write() as conn:
        return rotate_key_in(conn, name, overlap_hours=overlap_hours, rotated_by=rotated_by)


def rotate_key_in(conn: Connection, name: str, *, overlap_hours: float = 24.0, rotated_by: str | None = None) -> tuple[str, dt.datetime]:
    """`rotate_key` in the caller's transaction (a Control Center form records its one-time token in it)."""
    if not (isinstance(overlap_hours, (int, float)) and 0 <= overlap_hours <= MAX_OVERLAP_HOURS):
        raise HaloError(f"overlap: a number of hours from 0 to {MAX_OVERLAP_HOURS}")
    now = utcnow()
    prefix, key = _new_key()
    old = conn.execute(sa.select(keys_t).where(keys_t.c.active_name == name).with_for_update()).first()
    if old is None or (old.expires_at is not None and old.expires_at <= now):
        raise NotFoundError(f"no active key named {name!r} to rotate")
    until = now + dt.timedelta(hours=overlap_hours)
    until = min(until, old.expires_at) if old.expires_at is not None else until
    conn.execute(keys_t.update().where(keys_t.c.id == old.id).values(active_name=None, expires_at=until))
    conn.execute(keys_t.insert().values(
        name=old.name, active_name=old.name, prefix=prefix, hash=key_hash(key), scopes=old.scopes,
        rate_per_second=old.rate_per_second, created_at=now, created_by=rotated_by, expires_at=old.expires_at,
        webhook_secret=webhook_secret_of(key), bucket_tokens=old.bucket_tokens, bucket_at=old.bucket_at))  # the name's bucket, as it is
    return key, until


def list_keys(store: StoreResource) -> list[dict[str, Any]]:
    """Every key, newest first: never the hash, never the secret."""
    columns = [keys_t.c[c] for c in ("name", "prefix", "scopes", "rate_per_second", "created_at", "created_by",
                                      "expires_at", "revoked_at", "revoked_by", "last_used_at", "active_name")]
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(*columns).order_by(keys_t.c.id.desc()))]


def revoke_key(store: StoreResource, name: str, *, revoked_by: str | None = None, prefix: str | None = None) -> None:
    """Revoke the active key `name`; with `prefix`, the key of that name and prefix, whichever it is
    (a row of a list: an expired key whose name a newer key holds, or a key replaced since the list
    was read), never another key of the name."""
    which = keys_t.c.active_name == name if prefix is None else \
        sa.and_(keys_t.c.name == name, keys_t.c.prefix == prefix, keys_t.c.revoked_at.is_(None))
    with store.write() as conn:
        done = conn.execute(keys_t.update().where(which).values(revoked_at=utcnow(), revoked_by=revoked_by, active_name=None))
    if not done.rowcount:
        raise NotFoundError(f"no active key named {name!r}" if prefix is None else f"no key named {name!r} with prefix halo_{prefix}_… to revoke")


def replace_keys(store: StoreResource, name: str, scopes: list[str] | tuple[str, ...], *, replaced_by: str | None = None) -> str:
    """Revoke every key named `name` that still works (the active one, and those a rotation replaced
    that are in their overlap) and create a new one in the same transaction: the key returned is the
    name's only working key (`halo demo`, which prints the demo key and replaces it on every run)."""
    now = utcnow()
    working = sa.and_(keys_t.c.name == name, keys_t.c.revoked_at.is_(None), sa.or_(keys_t.c.expires_at.is_(None), keys_t.c.expires_at > now))
    with store.write() as conn:
        conn.execute(keys_t.update().where(working).values(revoked_at=now, revoked_by=replaced_by, active_name=None))
        return create_key_in(conn, name, scopes, created_by=replaced_by)


@dataclass(frozen=True)
class KeyCheck:
    """What checking a presented key found: the key's name and scopes, or why it is refused
    (`refused` for 401, `retry_after` seconds for 429)."""

    name: str | None = None
    scopes: frozenset[str] = frozenset()
    refused: str | None = None
    retry_after: int | None = None
    rate_per_second: float | None = None
    prefix: str | None = None


# A worker takes up to this many seconds of a key's rate from the shared bucket in one write and
# spends it locally, so a busy key costs one write per batch of requests, not one per request; the
# limit stays shared (at most one batch per worker process is held at a time, and a batch not spent
# within HELD_SECONDS is dropped, never returned, so it can only make the limit stricter).
BATCH_SECONDS = 0.1
HELD_SECONDS = 1.0


_held = HeldTokens(HELD_SECONDS)  # per bucket, by its row's key prefix (random and unique, where an id repeats across stores)


# The rate limit is the name's, not its secret's: a key replaced by a rotation, working for the
# overlap, draws from the bucket of its name's active key (it had its own, and the name's caller
# was let through twice its rate); a key that is its name's active one, or whose name has none
# (the new key revoked during the overlap), from its own row's.
_active = keys_t.alias("active")
# built once: every request checks its key, and building the statement cost more than running it
_BY_PREFIX = sa.select(
    keys_t.c.id, keys_t.c.name, keys_t.c.hash, keys_t.c.scopes, keys_t.c.rate_per_second, keys_t.c.revoked_at, keys_t.c.expires_at,
    sa.func.coalesce(_active.c.id, keys_t.c.id).label("bucket_id"), sa.func.coalesce(_active.c.prefix, keys_t.c.prefix).label("bucket"),
).select_from(keys_t.outerjoin(_active, _active.c.active_name == keys_t.c.name)).where(keys_t.c.prefix == sa.bindparam("prefix"))


def check_key(store: StoreResource, key: str, default_rate: float = DEFAULT_RATE_PER_SECOND) -> KeyCheck:
    """Authenticate `key` (a read: revocation and expiry count at once) and take one token from its
    name's rate limit: from this process's batch if it holds one, else a batch from the name's
    shared bucket in one write transaction, the row locked so every worker draws from the same bucket.
    A refused key changes nothing; a rate-limited one keeps its bucket as it was."""
    match = _KEY.fullmatch(key)
    if match is None:
        return KeyCheck(refused="invalid API key")
    presented = key_hash(key)
    with store.read() as conn:
        row = conn.execute(_BY_PREFIX, {"prefix": match.group(1)}).first()
    # compared even when the prefix is unknown, so timing tells nothing about which prefixes exist
    if not hmac.compare_digest(row.hash if row else "0" * 64, presented) or row is None:
        return KeyCheck(refused="invalid API key")
    now = utcnow()
    if row.revoked_at is not None:
        return KeyCheck(refused="API key revoked")
    if row.expires_at is not None and row.expires_at <= now:
        return KeyCheck(refused="API key expired")
    rate = row.rate_per_second or default_rate
    passed = KeyCheck(name=row.name, scopes=frozenset(row.scopes), rate_per_second=rate, prefix=match.group(1))
    clock = time.time()
    if _held.spend(row.bucket, 1, clock):
        return passed
    capacity = max(rate, 1.0)
    # a priority write: every request of the key (an OTP's too) may wait for this refill, which
    # must not queue behind a dispatcher's transactions (p99 140 ms during a drain, 37 ms so)
    with writing(store, priority=True) as conn:
        bucket = conn.execute(sa.select(keys_t.c.bucket_tokens, keys_t.c.bucket_at).where(keys_t.c.id == row.bucket_id).with_for_update()).first()
        tokens, counted = refilled(bucket.bucket_tokens, bucket.bucket_at, rate, capacity)
        if tokens < 1.0:
            # bounded: a tiny rate (a subnormal float) makes the wait infinite, whose ceiling is an OverflowError
            wait = min((1.0 - tokens) / rate, MAX_RETRY_AFTER_SECONDS)
            return KeyCheck(name=row.name, retry_after=max(1, math.ceil(wait)), rate_per_second=rate)
        batch = max(1, min(int(tokens), int(rate * BATCH_SECONDS)))
        drawn = {"bucket_tokens": tokens - batch, "bucket_at": counted}
        if row.bucket_id != row.id:  # a replaced key: its own last use, the name's bucket
            conn.execute(keys_t.update().where(keys_t.c.id == row.id).values(last_used_at=now))
            conn.execute(keys_t.update().where(keys_t.c.id == row.bucket_id).values(**drawn))
        else:
            conn.execute(keys_t.update().where(keys_t.c.id == row.id).values(**drawn, last_used_at=now))
    _held.keep(row.bucket, batch - 1, clock)
    return passed
