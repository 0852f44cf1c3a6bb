"""Alert tables: the alerts a sink has not taken yet, waiting to be sent to it again; the sensors
whose failure was alerted and has not ended."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from halo_platform.core.models import Base

#: text of any length on every store: MariaDB's TEXT holds 65,535 bytes, and an alert naming every
#: rule a provider serves (the autopilot's, when that provider is down) is longer (alerts_0002)
LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


class AlertRetry(Base):
    """One alert that one sink failed to take: what was sent (masked, as the sink would have got it)
    and when to try again. Deleted once the sink has it (`alerts.outbox`)."""

    __tablename__ = "alert_retries"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    sink: Mapped[str] = mapped_column(sa.String(128))
    subject: Mapped[str] = mapped_column(LONG_TEXT)
    text: Mapped[str] = mapped_column(LONG_TEXT)
    file_name: Mapped[str] = mapped_column(sa.String(255))
    record: Mapped[str] = mapped_column(LONG_TEXT)  # the alert's JSON record, masked
    failures: Mapped[int]
    first_failed_at: Mapped[dt.datetime]
    next_attempt_at: Mapped[dt.datetime] = mapped_column(index=True)
    detail: Mapped[str | None] = mapped_column(sa.Text)


class FailingSensor(Base):
    """A sensor whose failure was alerted and which has not succeeded since: its next failures are
    that episode's, not alerted again. Deleted by its next successful tick (`alerts.failing_sensors`)."""

    __tablename__ = "failing_sensors"

    sensor: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    since: Mapped[dt.datetime]  # when its first failure of the episode was alerted
