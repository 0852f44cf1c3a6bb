"""The declarative base shared by every domain's tables.

Each domain keeps its tables in its own module and its migrations on its own
Alembic branch, so domains evolve their schema independently;
`halo_platform.schema` assembles them for migrations and checks.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from halo_platform.core.errors import HaloError


class UtcDateTime(TypeDecorator):
    """A timestamp stored as naive UTC and always returned timezone-aware (UTC)."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):  # noqa: ANN001
        if dialect.name in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import DATETIME

            return dialect.type_descriptor(DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value, dialect):  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):  # noqa: ANN001
        if value is None:
            return None
        if isinstance(value, str):  # sqlite via raw SQL
            value = dt.datetime.fromisoformat(value)
        # `value.replace(tzinfo=dt.UTC)` made anew: `replace` took 1.8 us a value here, this 0.23
        return dt.datetime.combine(value, value.time(), dt.UTC)


class ExactString(TypeDecorator):
    """Text that equals only the same characters, on every store: a key a caller or a provider
    chose. SQLite and PostgreSQL compare text so by default; MariaDB's default collation ignores
    letter case, accents and trailing spaces (`ORDER-ABC`, `order-abc ` and `ordér-abc` were one
    idempotency key), so there the column takes a binary collation that does not pad."""

    impl = sa.String
    cache_ok = True

    def load_dialect_impl(self, dialect):  # noqa: ANN001, ANN201
        if dialect.name in ("mysql", "mariadb"):
            # `utf8mb4_bin` pads ('a' = 'a '); MySQL 8 names its binary collation without padding otherwise
            collation = "utf8mb4_nopad_bin" if dialect.is_mariadb else "utf8mb4_0900_bin"
            return dialect.type_descriptor(mysql.VARCHAR(self.length, charset="utf8mb4", collation=collation))
        return dialect.type_descriptor(sa.String(self.length))


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UtcDateTime(), dict: sa.JSON, list: sa.JSON}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso_z(value: dt.datetime) -> str:
    """An aware instant as the platform writes instants: UTC, whole seconds, `YYYY-MM-DDTHH:MM:SSZ`."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: the dates the platform takes from a caller (queries, runs, payloads): past them, the days a
#: computation steps before or after leave Python's calendar (an OverflowError, not an answer)
EARLIEST_DATE, LATEST_DATE = dt.date(1900, 1, 1), dt.date(2199, 12, 31)


def in_calendar(day: dt.date, what: str) -> dt.date:
    """`day`, or HaloError (4xx, one CLI line) when it is outside [EARLIEST_DATE, LATEST_DATE]."""
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise HaloError(f"{what}: {day} is out of range ({EARLIEST_DATE} to {LATEST_DATE})")
    return day

