"""EMR availability tables: scheduling items, spans, quarantine, processed files."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from halo_platform.core.models import Base, utcnow


class SchedulingItem(Base):
    """Latest known version of one item of one feed (a tombstone when deleted)."""

    __tablename__ = "scheduling_items"

    feed: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    item_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    version: Mapped[dt.datetime]
    deleted: Mapped[bool] = mapped_column(default=False)
    body: Mapped[dict]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AvailableSpan(Base):
    __tablename__ = "available_spans"
    __table_args__ = (sa.UniqueConstraint("feed", "provider_id", "start_at", name="uq_available_spans"),
                      sa.Index("ix_available_spans_lookup", "feed", "provider_id", "span_date"))

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    feed: Mapped[str] = mapped_column(sa.String(64))
    provider_id: Mapped[str] = mapped_column(sa.String(255))
    span_date: Mapped[dt.date]
    start_at: Mapped[dt.datetime]
    end_at: Mapped[dt.datetime]
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


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
    path: Mapped[str] = mapped_column(sa.String(512), primary_key=True)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    events: Mapped[int]
    quarantined: Mapped[int]
    processed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
