"""Alert tables: the alerts a sink has not taken yet, waiting to be sent to it again."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from halo_platform.core.models import Base


class AlertRetry(Base):
    """One alert that one sink failed to take: what was sent (masked, as the sink would have got it)
    and when to try again. Deleted once the sink has it (`alerts.outbox`)."""

    __tablename__ = "alert_retries"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    sink: Mapped[str] = mapped_column(sa.String(128))
    subject: Mapped[str] = mapped_column(sa.Text)
    text: Mapped[str] = mapped_column(sa.Text)
    file_name: Mapped[str] = mapped_column(sa.String(255))
    record: Mapped[str] = mapped_column(sa.Text)  # the alert's JSON record, masked
    failures: Mapped[int]
    first_failed_at: Mapped[dt.datetime]
    next_attempt_at: Mapped[dt.datetime] = mapped_column(index=True)
    detail: Mapped[str | None] = mapped_column(sa.Text)
