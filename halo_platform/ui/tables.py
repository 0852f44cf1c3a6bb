"""The Control Center's own table: the one-time tokens of forms already sent (`ui.once`)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from halo_platform.core.models import Base


class FormSent(Base):
    """A form that makes something shown once (an API key) was sent with this token: the same form
    sent again is refused. Rows older than a page may live (`once.FORM_HOURS`) are deleted."""

    __tablename__ = "ui_forms_sent"

    token: Mapped[str] = mapped_column(sa.String(43), primary_key=True)
    sent_at: Mapped[dt.datetime] = mapped_column(index=True)
    sent_by: Mapped[str] = mapped_column(sa.String(255))
