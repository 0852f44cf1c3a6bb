"""Report task tables: the audit trail of requests, per-sink deliveries, schedules."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from halo_platform.core.models import Base, ExactString, utcnow


class TaskRequest(Base):
    __tablename__ = "task_requests"

    # ids compare byte for byte on every store (reports_0009): on MariaDB `ABC-1` was the request `abc-1`
    request_id: Mapped[str] = mapped_column(ExactString(64), primary_key=True)
    # the request a retry, re-execution or repeat (same idempotency key) repeats (its own id otherwise): deliveries
    # are once per root
    root_request_id: Mapped[str | None] = mapped_column(ExactString(64), index=True)
    # the audit log is filtered by it, byte for byte on every store (reports_0010)
    task: Mapped[str] = mapped_column(ExactString(128), index=True)
    payload: Mapped[dict]
    trigger: Mapped[str] = mapped_column(sa.String(16))
    requested_by: Mapped[str | None] = mapped_column(ExactString(255))
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    outputs: Mapped[list] = mapped_column(default=list)
    row_count: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(sa.Text)
    stats: Mapped[dict] = mapped_column(default=dict)
    # the requester's one-time key for this request (the Control Center's form, an API client's
    # `Idempotency-Key`): the same key sent again by the same requester answers with this request
    idempotency_key: Mapped[str | None] = mapped_column(ExactString(255))
    # whose key it is: the requester, '' for code that names none (a unique index takes NULLs for
    # distinct values: two such requests kept one key and both ran); NULL without a key (reports_0013)
    idempotency_scope: Mapped[str | None] = mapped_column(ExactString(255))

    __table_args__ = (sa.Index("uq_task_requests_idempotency_key_scope", "idempotency_key", "idempotency_scope",
                               unique=True),)


class TaskDelivery(Base):
    __tablename__ = "task_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ExactString(64), index=True)
    sink: Mapped[str] = mapped_column(sa.String(128))
    target: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int]
    delivered_at: Mapped[dt.datetime | None]
    detail: Mapped[str | None] = mapped_column(sa.Text)
    # every attempt in order: {attempt, at, outcome, error} (`DeliveryOutcome.tries`), so that the
    # error of an attempt a retry then fixed is kept; None on rows recorded before reports_0007
    attempt_log: Mapped[list | None]


class TaskDeliveryClaim(Base):
    """A sink being sent a root request's output: the request (of that root) delivering to it, and
    since when. One row per (root request, sink) at most: of two re-executions of a request at the
    same time, one delivers and the other waits; the row goes when the delivery is recorded, and a
    row left by a run that failed or died is taken over (`reports.audit.claim_sink`)."""

    __tablename__ = "task_delivery_claims"

    root_request_id: Mapped[str] = mapped_column(ExactString(64), primary_key=True)
    sink: Mapped[str] = mapped_column(ExactString(128), primary_key=True)
    request_id: Mapped[str] = mapped_column(ExactString(64))
    claimed_at: Mapped[dt.datetime]


class TaskSchedule(Base):
    __tablename__ = "task_schedules"

    schedule_id: Mapped[str] = mapped_column(ExactString(128), primary_key=True)
    task: Mapped[str] = mapped_column(sa.String(128))
    cron: Mapped[str] = mapped_column(sa.String(128))
    timezone: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[dict]
    sinks: Mapped[list]
    enabled: Mapped[bool] = mapped_column(default=True)
    # ticks missed while the sensor was not running: none, latest (the last one) or all of them
    catch_up: Mapped[str] = mapped_column(sa.String(8), default="latest", server_default="latest")
    # the latest tick the sensor has decided on (run or, by the catch-up policy, dropped)
    last_tick_at: Mapped[dt.datetime | None]
    updated_by: Mapped[str | None] = mapped_column(sa.String(255))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TaskScheduleEdit(Base):
    """One change to a schedule, whatever made it (CLI, launchpad job, Control Center): who,
    when, and the schedule's fields before (None for a new schedule) and after."""

    __tablename__ = "task_schedule_edits"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    schedule_id: Mapped[str] = mapped_column(ExactString(128), index=True)
    before: Mapped[dict | None]
    after: Mapped[dict]
    changed_by: Mapped[str | None] = mapped_column(sa.String(255))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TaskAlertMark(Base):
    """A condition alert a request was about to send: task, the alert's key (its subject and
    kind, e.g. campaign + OVER_BUDGET), when. Within the task's `rearm_hours` an alert whose
    key a delivered request already sent is left out (`reports.rearm`)."""

    __tablename__ = "task_alert_marks"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    task: Mapped[str] = mapped_column(sa.String(128))
    alert_key: Mapped[str] = mapped_column(ExactString(512))
    request_id: Mapped[str] = mapped_column(ExactString(64))
    at: Mapped[dt.datetime]

    __table_args__ = (sa.Index("ix_task_alert_marks_task_at", "task", "at"),)


class TaskAlertLock(Base):
    """One row per condition-alert task, locked (SELECT ... FOR UPDATE) by a run while it reads
    which alerts are sent or being sent and marks the ones it will send: runs at the same time
    take turns there, so each alert is claimed by one of them (`reports.rearm`)."""

    __tablename__ = "task_alert_locks"

    task: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
