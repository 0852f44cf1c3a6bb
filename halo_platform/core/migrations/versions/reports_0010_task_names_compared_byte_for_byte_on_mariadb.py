"""the task names of requests are compared byte for byte on MariaDB

Revision ID: reports_0010
Revises: reports_0009

MariaDB's default collation (utf8mb4_general_ci, PAD SPACE) ignores letter case, accents and
trailing spaces: `halo tasks log --task PAYMENT_RECONCILIATION` (and the API's and the Control
Center's audit log filtered so) listed the requests of `payment_reconciliation`, where SQLite and
PostgreSQL list none, as for any task no request has. The task name of `task_requests`, the one
the audit log is filtered by, takes the binary collation that does not pad
(`core.models.ExactString`); the rows keep their values. The other task names and the sink names
of the reports tables are read by what the platform itself names (its tasks, its sinks), never
by a name a caller typed. Nothing changes on SQLite and PostgreSQL.
"""

from halo_platform.core.migrations.exact_text import make_default, make_exact

revision = 'reports_0010'
down_revision = 'reports_0009'
branch_labels = None
depends_on = None

# table, column, length, nullable
COLUMNS = (('task_requests', 'task', 128, False),)


def upgrade() -> None:
    make_exact(COLUMNS)


def downgrade() -> None:
    make_default(COLUMNS)
