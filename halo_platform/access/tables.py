"""The access tables: API keys, users, their sessions and failed logins."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from halo_platform.core.models import Base, ExactString


class ApiKey(Base):
    """A key is `halo_<prefix>_<secret>`; only the SHA-256 of the whole key is kept (a key is 256
    random bits, so a fast hash is as safe as a slow one and costs microseconds per request).
    The token bucket of its rate limit lives on the row, so every worker process shares it; a key
    replaced by a rotation draws from its name's active key's (`keys.check_key`)."""

    __tablename__ = "api_keys"
    __table_args__ = (sa.UniqueConstraint("active_name", name="uq_api_keys_active_name"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(ExactString(100), index=True)
    prefix: Mapped[str] = mapped_column(sa.String(16), unique=True)
    hash: Mapped[str] = mapped_column(sa.String(64))
    scopes: Mapped[list] = mapped_column()
    rate_per_second: Mapped[float | None] = mapped_column(sa.Double)
    created_at: Mapped[dt.datetime] = mapped_column()
    created_by: Mapped[str | None] = mapped_column(sa.String(255))
    expires_at: Mapped[dt.datetime | None] = mapped_column()
    revoked_at: Mapped[dt.datetime | None] = mapped_column()
    revoked_by: Mapped[str | None] = mapped_column(sa.String(255))
    last_used_at: Mapped[dt.datetime | None] = mapped_column()
    bucket_tokens: Mapped[float | None] = mapped_column(sa.Double)
    bucket_at: Mapped[float | None] = mapped_column(sa.Double)
    # signs the status webhooks of the messages this key sends (`keys.webhook_secret`)
    webhook_secret: Mapped[str | None] = mapped_column(sa.String(64))
    # the name while the key is active, None once revoked: one active key per name, held by the database
    active_name: Mapped[str | None] = mapped_column(ExactString(100))


class User(Base):
    """A person; each change to the row keeps who made it (a user's name, `cli:<login>`, `halo demo`)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(ExactString(100), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[dt.datetime] = mapped_column()
    created_by: Mapped[str | None] = mapped_column(sa.String(255))
    password_changed_at: Mapped[dt.datetime | None] = mapped_column()
    password_changed_by: Mapped[str | None] = mapped_column(sa.String(255))
    disabled_at: Mapped[dt.datetime | None] = mapped_column()
    disabled_by: Mapped[str | None] = mapped_column(sa.String(255))


class UserSession(Base):
    """A signed-in browser: the cookie holds a random token, the row its SHA-256, so a copy of the
    table signs nobody in. Deleting the row (sign out, user disabled) ends the session."""

    __tablename__ = "user_sessions"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column()
    expires_at: Mapped[dt.datetime] = mapped_column()


class LoginFailure(Base):
    """One refused login, counted per name from its client address and per client address by the login rate limit."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(ExactString(100), index=True)
    client: Mapped[str] = mapped_column(sa.String(64), index=True)
    at: Mapped[dt.datetime] = mapped_column(index=True)
