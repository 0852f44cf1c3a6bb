"""request ids are compared byte for byte on MariaDB

Revision ID: reports_0009
Revises: reports_0008

MariaDB's default collation (utf8mb4_general_ci, PAD SPACE) ignores letter case, accents and
trailing spaces: `GET /v1/task-requests/ABC-1` (and `abc-1 `, `äbc-1`, the Control Center's page
of each) answered with the request `abc-1`, where SQLite and PostgreSQL answer 404 as for any id
no request has. The request ids of the reports tables take the binary collation that does not pad
(`core.models.ExactString`); the rows keep their values (Dagster run ids, unique under the looser
collation and so under this one). Nothing changes on SQLite and PostgreSQL. A downgrade fails if
ids stored since then differ only in case, accents or trailing spaces.
"""

from halo_platform.core.migrations.exact_text import make_default, make_exact

revision = 'reports_0009'
down_revision = 'reports_0008'
branch_labels = None
depends_on = None

# table, column, length, nullable
COLUMNS = (('task_requests', 'request_id', 64, False), ('task_requests', 'root_request_id', 64, True),
           ('task_deliveries', 'request_id', 64, False), ('task_alert_marks', 'request_id', 64, False))


def upgrade() -> None:
    make_exact(COLUMNS)


def downgrade() -> None:
    make_default(COLUMNS)
