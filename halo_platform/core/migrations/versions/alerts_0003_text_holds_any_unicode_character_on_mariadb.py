"""alerts text holds any Unicode character on MariaDB, whatever the database's default character set

Revision ID: alerts_0003
Revises: alerts_0002

On a database created `CHARACTER SET utf8mb3`, an alert kept for a retry whose text held an emoji
was refused, and so lost. Its tables' text columns are converted to utf8mb4 (`full_unicode`);
nothing changes on SQLite and PostgreSQL, and a downgrade changes nothing.
"""

from halo_platform.core.migrations.full_unicode import make_utf8mb4

revision = 'alerts_0003'
down_revision = 'alerts_0002'
branch_labels = None
depends_on = None

TABLES = ('alert_retries',)


def upgrade() -> None:
    make_utf8mb4(TABLES)


def downgrade() -> None:
    pass
