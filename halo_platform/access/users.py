"""Users (people signing in to the Control Center): argon2 password hashes, roles, server-side
sessions with a CSRF token each, and a login rate limit per name from one client address and per
client address."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError

from halo_platform.access.keys import check_name
from halo_platform.access.tables import LoginFailure, User, UserSession
from halo_platform.core.errors import ConflictError, HaloError, NotFoundError
from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.core.text import lone_surrogate, unstorable

# what each role may do, in API scopes: viewer reads everything; operator also requests tasks
# (and edits schedules); admin everything (routing, providers, keys, users)
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "viewer": frozenset({"messages:read", "tasks:read", "availability:read"}),
    "operator": frozenset({"messages:read", "tasks:read", "availability:read", "tasks:request"}),
    "admin": frozenset({"admin"}),
}
SESSION_HOURS = 12
LOGIN_WINDOW = dt.timedelta(minutes=15)
# failures of a name are counted per client address: counted from everywhere, anyone who knew a
# name (the admin's) locked its user out with five wrong passwords; the address guessing is refused
MAX_FAILURES_PER_NAME = 5
MAX_FAILURES_PER_CLIENT = 20
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 hashes what it is given: a megabyte-long "password" is work, not a secret
WRONG_LOGIN = "wrong name or password"

users_t, sessions_t, failures_t = User.__table__, UserSession.__table__, LoginFailure.__table__
_hasher = PasswordHasher()
# verified against when the name is unknown, so an unknown name costs the same time as a known one
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def _check_role(role: str) -> str:
    if role not in ROLE_SCOPES:
        raise HaloError(f"role: one of {', '.join(ROLE_SCOPES)}")
    return role


def check_password(password: str) -> str:
    """A password a person can sign in with, the one rule of `halo users`, the Access page and
    `halo demo`: 12 to 1024 characters of UTF-8 text, no NUL (nobody types one at sign-in)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise HaloError(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise HaloError(f"password: at most {MAX_PASSWORD_LENGTH} characters")
    if lone_surrogate(password) is not None:  # bytes that were not UTF-8 (a piped stdin): argon2 cannot encode them
        raise HaloError("password: not valid UTF-8 text")
    if "\x00" in password:
        raise HaloError("password: not a valid password: it holds a NUL character, which cannot be typed at sign-in")
    return password


def create_user(store: StoreResource, name: str, role: str, password: str, *, created_by: str | None = None) -> None:
    check_name(name)
    _check_role(role)
    password_hash = _hasher.hash(check_password(password))
    taken = ConflictError(f"a user named {name!r} exists")
    try:
        with store.write() as conn:
            if conn.execute(sa.select(users_t.c.id).where(users_t.c.name == name)).first():
                raise taken
            conn.execute(users_t.insert().values(name=name, role=role, password_hash=password_hash, created_at=utcnow(), created_by=created_by))
    except IntegrityError:  # made at once by another request, not committed when this one looked (name is unique)
        raise taken from None


def set_password(store: StoreResource, name: str, password: str, *, changed_by: str | None = None, role: str | None = None) -> str:
    """A new password for `name` (re-enabled if disabled), and `role` if given; every session of
    the user ends. Returns the role the user had."""
    password_hash = _hasher.hash(check_password(password))
    with store.write() as conn:
        row = conn.execute(sa.select(users_t.c.id, users_t.c.role).where(users_t.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no user named {name!r}")
        conn.execute(users_t.update().where(users_t.c.id == row.id).values(
            password_hash=password_hash, password_changed_at=utcnow(), password_changed_by=changed_by, disabled_at=None, disabled_by=None,
            role=_check_role(role or row.role)))
        conn.execute(sessions_t.delete().where(sessions_t.c.user_id == row.id))
    return row.role


def list_users(store: StoreResource) -> list[dict[str, Any]]:
    """Every user by name, with who made each change and when; never the password hash."""
    columns = [users_t.c[c] for c in ("name", "role", "created_at", "created_by", "password_changed_at", "password_changed_by",
                                       "disabled_at", "disabled_by")]
    with store.read() as conn:
        rows = conn.execute(sa.select(*columns).order_by(users_t.c.name))
        return [dict(r._mapping) for r in rows]


def disable_user(store: StoreResource, name: str, *, disabled_by: str | None = None) -> None:
    """Refuse the user's logins from now on and end their sessions; a user disabled already is a
    `ConflictError` (as a revoked key's revoke is an error), their first disable kept."""
    with store.write() as conn:
        row = conn.execute(sa.select(users_t.c.id).where(users_t.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no user named {name!r}")
        done = conn.execute(users_t.update().where(users_t.c.id == row.id, users_t.c.disabled_at.is_(None))
                            .values(disabled_at=utcnow(), disabled_by=disabled_by))
        if not done.rowcount:
            raise ConflictError(f"user {name!r} is disabled already")
        conn.execute(sessions_t.delete().where(sessions_t.c.user_id == row.id))


@dataclass(frozen=True)
class Session:
    user: str
    role: str
    csrf_token: str
    expires_at: dt.datetime

    @property
    def scopes(self) -> frozenset[str]:
        return ROLE_SCOPES[self.role]


class LoginThrottled(HaloError):
    http_status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many failed logins; try again later")
        self.retry_after = retry_after


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _throttle(conn: sa.Connection, name: str, client: str, now: dt.datetime, over: int = 0) -> None:
    since, from_client = now - LOGIN_WINDOW, failures_t.c.client == client
    for which, limit in ((sa.and_(from_client, failures_t.c.name == name), MAX_FAILURES_PER_NAME), (from_client, MAX_FAILURES_PER_CLIENT)):
        found = conn.execute(sa.select(sa.func.count(), sa.func.min(failures_t.c.at))
                             .where(which, failures_t.c.at > since)).first()
        if found[0] >= limit + over:
            raise LoginThrottled(max(1, int((found[1] + LOGIN_WINDOW - now).total_seconds()) + 1))


def login(store: StoreResource, name: str, password: str, client: str, csrf_token: str | None = None) -> str:
    """Sign `name` in; returns the session token for the cookie. The session's CSRF token is
    `csrf_token` if given (the one of the browser's session of the same person, which its open
    pages carry), else a new one. Any failure is `WRONG_LOGIN`
    (unknown name, wrong password, disabled user alike) and counts towards the rate limit;
    past it, `LoginThrottled` even with the right password.

    An attempt is counted as a failure before its password is checked, and the count read
    after, with every attempt made meanwhile: guesses sent at once are checked up to the limit,
    not each against the count from before any of them (all 12 at once were checked). A
    success forgets its name's failures from its address, its own attempt with them: they were
    the person's typos, and kept for the window they made the next typo lock the person out. A
    refused attempt (throttled) is not counted."""
    # the attempt is counted under the name's first 100 characters (the column's), but only the
    # whole name and the whole password sign in: a user named "a" * 100 was signed in by that name
    # with anything after it, and a password by its first 1024 characters with anything after them
    counted, client, now = name[:100], client[:64], utcnow()
    if unstorable(name):  # no user has such a name, and PostgreSQL takes no NUL in a query's text
        raise HaloError(WRONG_LOGIN)
    with store.write() as conn:
        _throttle(conn, counted, client, now)
        attempt = conn.execute(failures_t.insert().values(name=counted, client=client, at=now)).inserted_primary_key[0]
    try:
        with store.read() as conn:
            _throttle(conn, counted, client, now, over=1)  # this attempt is among those counted
            user = conn.execute(sa.select(users_t).where(users_t.c.name == name)).first() if name == counted else None
    except LoginThrottled:
        with store.write() as conn:
            conn.execute(failures_t.delete().where(failures_t.c.id == attempt))
        raise
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password[:MAX_PASSWORD_LENGTH])
        ok = user is not None and user.disabled_at is None and len(password) <= MAX_PASSWORD_LENGTH
    except (VerificationError, InvalidHashError):
        ok = False
    with store.write() as conn:
        if ok:  # checked against the hash read before argon2 ran: a new password or a disable committed since ends this sign-in too
            # (the row locked: one being committed now ends the session once this one is written)
            ok = conn.execute(sa.select(users_t.c.id).where(users_t.c.id == user.id, users_t.c.password_hash == user.password_hash,
                                                            users_t.c.disabled_at.is_(None)).with_for_update()).first() is not None
        if not ok:
            conn.execute(failures_t.delete().where(failures_t.c.at <= now - LOGIN_WINDOW))
        else:
            conn.execute(failures_t.delete().where(failures_t.c.name == counted, failures_t.c.client == client))
            token = secrets.token_urlsafe(32)
            conn.execute(sessions_t.delete().where(sessions_t.c.expires_at <= now))
            conn.execute(sessions_t.insert().values(token_hash=_token_hash(token), user_id=user.id, csrf_token=csrf_token or secrets.token_urlsafe(32),
                                                    created_at=now, expires_at=now + dt.timedelta(hours=SESSION_HOURS)))
    if not ok:
        raise HaloError(WRONG_LOGIN)
    return token


def session(store: StoreResource, token: str) -> Session | None:
    """The live session the cookie `token` names, or None (unknown, expired, user disabled)."""
    with store.read() as conn:
        row = conn.execute(
            sa.select(users_t.c.name, users_t.c.role, sessions_t.c.csrf_token, sessions_t.c.expires_at)
            .join(users_t, users_t.c.id == sessions_t.c.user_id)
            .where(sessions_t.c.token_hash == _token_hash(token), sessions_t.c.expires_at > utcnow(), users_t.c.disabled_at.is_(None))
        ).first()
    return Session(row.name, row.role, row.csrf_token, row.expires_at) if row else None


def logout(store: StoreResource, token: str) -> None:
    with store.write() as conn:
        conn.execute(sessions_t.delete().where(sessions_t.c.token_hash == _token_hash(token)))
