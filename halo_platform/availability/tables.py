"""EMR availability tables.

- `scheduling_items`: the winning version of each (feed, item id), tombstones included;
  its facts live in `scheduling_item_blocks` (unavailable intervals, Schedule
  memberships, Slots pointing at a Schedule) and `scheduling_item_hours` (weekly template rows).
- `available_spans`: the standardized output (spec table).
- `emr_dirty_dates`: provider-date ranges whose spans must be recomputed (written with
  the item changes in one transaction, consumed by the span step).
- `emr_windows`: the horizon each feed's spans were last computed for.
- `emr_quarantine`, `emr_processed_files`, `next_available_slots`.

Ids a feed chose (items, providers, Schedule references) and landed paths are `ExactString`: an
EMR's `A1` and `a1` are two appointments, `DR1` and `dr1` two providers (availability_0010).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from halo_platform.core.models import Base, ExactString, utcnow


class SchedulingItem(Base):
    """Latest known version of one item of one feed (a tombstone when deleted)."""

    __tablename__ = "scheduling_items"
    __table_args__ = {"sqlite_with_rowid": False}  # stored in key order on SQLite (availability_0008)

    feed: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    item_id: Mapped[str] = mapped_column(ExactString(255), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    version: Mapped[dt.datetime]
    deleted: Mapped[bool] = mapped_column(default=False)
    fingerprint: Mapped[int] = mapped_column(sa.BigInteger)
    status: Mapped[str | None] = mapped_column(sa.String(32))
    tz: Mapped[str | None] = mapped_column(sa.String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SchedulingItemBlock(Base):
    """An unavailable interval of an item for one provider. `is_local`: start/end are
    provider-local wall times, else naive UTC; `end_elapsed` (local ones): the end is the start's
    instant plus `end_ts - start_ts` (a local start and a duration), not the wall time `end_ts`. Schedule memberships have no interval;
    Slots have no provider but a `ref` to their Schedule."""

    __tablename__ = "scheduling_item_blocks"
    # Slots of a Schedule are found by their ref, which no other block has: only theirs are indexed
    # (MariaDB has no partial index and indexes every block)
    __table_args__ = (sa.Index("ix_scheduling_item_blocks_provider", "feed", "provider_id"),
                      sa.Index("ix_scheduling_item_blocks_ref", "feed", "ref",
                               sqlite_where=sa.text("ref IS NOT NULL"), postgresql_where=sa.text("ref IS NOT NULL")))

    feed: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    item_id: Mapped[str] = mapped_column(ExactString(255), primary_key=True)
    n: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    provider_id: Mapped[str | None] = mapped_column(ExactString(255))
    ref: Mapped[str | None] = mapped_column(ExactString(255))
    start_ts: Mapped[dt.datetime | None] = mapped_column(sa.DateTime())
    end_ts: Mapped[dt.datetime | None] = mapped_column(sa.DateTime())
    is_local: Mapped[bool] = mapped_column(default=False)
    end_elapsed: Mapped[bool] = mapped_column(default=False, server_default=sa.false())


class SchedulingItemHours(Base):
    """One weekly working interval of a provider (minutes from local midnight)."""

    __tablename__ = "scheduling_item_hours"
    __table_args__ = (sa.Index("ix_scheduling_item_hours_provider", "feed", "provider_id"),)

    feed: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    item_id: Mapped[str] = mapped_column(ExactString(255), primary_key=True)
    n: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    provider_id: Mapped[str] = mapped_column(ExactString(255))
    weekday: Mapped[int] = mapped_column(sa.SmallInteger)
    start_minute: Mapped[int] = mapped_column(sa.SmallInteger)
    end_minute: Mapped[int] = mapped_column(sa.SmallInteger)


class AvailableSpan(Base):
    """Free time of a provider on a local date; unique, sorted, non-overlapping per (feed, provider).

    Keyed by (feed, provider, start) and, on SQLite, stored in that key's order (WITHOUT ROWID):
    one B-tree per row written instead of three (rowid table, unique index, date index). Every
    query names a feed and a provider, whose ~150 spans of a horizon the key finds together, so a
    date range is read from them without an index of its own."""

    __tablename__ = "available_spans"
    __table_args__ = {"sqlite_with_rowid": False}

    feed: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    provider_id: Mapped[str] = mapped_column(ExactString(255), primary_key=True)
    span_date: Mapped[dt.date]
    start_at: Mapped[dt.datetime] = mapped_column(primary_key=True)
    end_at: Mapped[dt.datetime]
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class EmrDirtyDates(Base):
    __tablename__ = "emr_dirty_dates"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    feed: Mapped[str] = mapped_column(sa.String(64), index=True)
    provider_id: Mapped[str] = mapped_column(ExactString(255))
    from_date: Mapped[dt.date]
    to_date: Mapped[dt.date]


class EmrWindow(Base):
    __tablename__ = "emr_windows"

    feed: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    as_of: Mapped[dt.date]
    horizon_days: Mapped[int]


class EmrQuarantine(Base):
    __tablename__ = "emr_quarantine"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    feed: Mapped[str] = mapped_column(sa.String(64), index=True)
    file: Mapped[str] = mapped_column(sa.Text)
    position: Mapped[int]
    reason: Mapped[str] = mapped_column(sa.Text)
    raw: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ProcessedFile(Base):
    __tablename__ = "emr_processed_files"

    feed: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    path: Mapped[str] = mapped_column(ExactString(512), primary_key=True)
    sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    events: Mapped[int]
    quarantined: Mapped[int]
    processed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)  # when its events were applied
    received_at: Mapped[dt.datetime | None]  # when it landed (unknown for files processed before this column)
    file_identity: Mapped[str | None] = mapped_column(sa.String(64))  # a local file's `landing.identity` when processed


def became_current(files: sa.FromClause) -> sa.ColumnElement[dt.datetime]:
    """When a processed content of a landed path became the one the path holds: when it was processed,
    or when it was seen landing again after another content (A, B, then A: `record_received` stamps
    A's row then, and A is not processed again). The path's current content is its latest."""
    return sa.case((files.c.received_at > files.c.processed_at, files.c.received_at), else_=files.c.processed_at)


class NextAvailableSlot(Base):
    """Earliest bookable slot per provider and appointment type under the feed's slot rules,
    as of the last processing run."""

    __tablename__ = "next_available_slots"

    feed: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    provider_id: Mapped[str] = mapped_column(ExactString(255), primary_key=True)
    slot_type: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    duration_minutes: Mapped[int]
    start_at: Mapped[dt.datetime]
    end_at: Mapped[dt.datetime]
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
