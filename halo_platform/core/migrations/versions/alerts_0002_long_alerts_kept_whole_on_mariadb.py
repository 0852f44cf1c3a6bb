"""alerts kept for a retry whole on MariaDB, however long

Revision ID: alerts_0002
Revises: alerts_0001

MariaDB's TEXT holds 65,535 bytes, where SQLite and PostgreSQL take text of any length: the
autopilot's alert when a provider serving every country goes down names each of its rules in the
subject, the text and the JSON record, and with 600 rules the record did not fit, so the alert a
sink failed to take was logged and lost instead of being sent again. These columns take
MEDIUMTEXT (16 MiB) there; nothing changes on SQLite and PostgreSQL. A downgrade fails once an
alert kept since then is longer than TEXT holds.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = 'alerts_0002'
down_revision = 'alerts_0001'
branch_labels = None
depends_on = None

COLUMNS = ('subject', 'text', 'record')


def _alter(to: sa.types.TypeEngine, existing: sa.types.TypeEngine) -> None:
    if op.get_bind().dialect.name in ('mysql', 'mariadb'):
        for column in COLUMNS:
            op.alter_column('alert_retries', column, type_=to, existing_type=existing, existing_nullable=False)


def upgrade() -> None:
    _alter(mysql.MEDIUMTEXT(), sa.Text())


def downgrade() -> None:
    _alter(sa.Text(), mysql.MEDIUMTEXT())
