"""availability text holds any Unicode character on MariaDB, whatever the database's default character set

Revision ID: availability_0011
Revises: availability_0010

On a database created `CHARACTER SET utf8mb3`, the quarantine row of a landed file named with an
emoji (or of a record holding one) was refused: the run failed, and none of the file's events was
applied. Its tables' text columns are converted to utf8mb4 (`full_unicode`); nothing changes on
SQLite and PostgreSQL, and a downgrade changes nothing.
"""

from halo_platform.core.migrations.full_unicode import make_utf8mb4

revision = 'availability_0011'
down_revision = 'availability_0010'
branch_labels = None
depends_on = None

TABLES = ('available_spans', 'emr_dirty_dates', 'emr_processed_files', 'emr_quarantine', 'emr_windows',
          'next_available_slots', 'scheduling_item_blocks', 'scheduling_item_hours', 'scheduling_items')


def upgrade() -> None:
    make_utf8mb4(TABLES)


def downgrade() -> None:
    pass
