"""requesters, schedule ids and alert keys are compared byte for byte on MariaDB

Revision ID: reports_0008
Revises: reports_0007

MariaDB's default collation (utf8mb4_general_ci, PAD SPACE) ignores letter case, accents and
trailing spaces: with user and key names compared exactly (access_0005), the requester `OPS` was
still answered with the request `ops` made under the same idempotency key (the unique index is
per requester and key), saving schedule `Daily` changed `daily`, and a condition alert keyed
`ACME` was sent again inside its re-arm window when `Acme` had been (`SELECT DISTINCT` folded
the two). These columns take the binary collation that does not pad (`core.models.ExactString`);
the rows keep their values, which were unique under the looser collation and so are under this
one. SQLite and PostgreSQL compare these columns byte for byte already: nothing changes there.
A downgrade fails if requesters or schedule ids stored since then differ only in case, accents
or trailing spaces.
"""

from halo_platform.core.migrations.exact_text import make_default, make_exact

revision = 'reports_0008'
down_revision = 'reports_0007'
branch_labels = None
depends_on = None

# table, column, length, nullable
COLUMNS = (('task_requests', 'requested_by', 255, True), ('task_schedules', 'schedule_id', 128, False),
           ('task_schedule_edits', 'schedule_id', 128, False), ('task_alert_marks', 'alert_key', 512, False))


def upgrade() -> None:
    make_exact(COLUMNS)


def downgrade() -> None:
    make_default(COLUMNS)
