"""reports text holds any Unicode character on MariaDB, whatever the database's default character set

Revision ID: reports_0012
Revises: reports_0011

On a database created `CHARACTER SET utf8mb3`, a task request whose error quoted an emoji (a
warehouse's value), or a schedule changed by a user named with one, was refused. Its tables' text
columns are converted to utf8mb4 (`full_unicode`); nothing changes on SQLite and PostgreSQL, and a
downgrade changes nothing.
"""

from halo_platform.core.migrations.full_unicode import make_utf8mb4

revision = 'reports_0012'
down_revision = 'reports_0011'
branch_labels = None
depends_on = None

TABLES = ('task_alert_locks', 'task_alert_marks', 'task_deliveries', 'task_requests', 'task_schedule_edits',
          'task_schedules')


def upgrade() -> None:
    make_utf8mb4(TABLES)


def downgrade() -> None:
    pass
