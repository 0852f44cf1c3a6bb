"""keys that callers and providers choose are compared byte for byte on MariaDB

Revision ID: delivery_0011
Revises: delivery_0010

MariaDB's default collation (utf8mb4_general_ci, PAD SPACE) ignores letter case, accents and
trailing spaces: `ORDER-ABC` was answered with the message of `order-abc` (never stored nor
sent), `order-7` with another body was a 409, and provider ids or callback event ids that differ
only in case were taken for one another. The three columns take the binary collation that does
not pad (`core.models.ExactString`); the rows keep their values, which were unique under the
looser collation and so are under this one. SQLite and PostgreSQL compare these columns byte for
byte already: nothing changes there (a batch copy of the tables would change nothing either).
A downgrade fails if keys stored since then differ only in case, accents or trailing spaces.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = 'delivery_0011'
down_revision = 'delivery_0010'
branch_labels = None
depends_on = None

COLUMNS = (('messages', 'idempotency_key'), ('messages', 'provider_message_id'), ('message_events', 'dedupe_key'))


def _mysql() -> sa.Dialect | None:
    dialect = op.get_bind().dialect
    return dialect if dialect.name in ('mysql', 'mariadb') else None


def upgrade() -> None:
    dialect = _mysql()
    if dialect is None:
        return
    collation = 'utf8mb4_nopad_bin' if dialect.is_mariadb else 'utf8mb4_0900_bin'  # utf8mb4_bin pads: 'a' = 'a '
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=mysql.VARCHAR(255, charset='utf8mb4', collation=collation),
                        existing_type=sa.String(length=255), existing_nullable=True)


def downgrade() -> None:
    if _mysql() is None:
        return
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.String(length=255), existing_type=sa.String(length=255), existing_nullable=True)
