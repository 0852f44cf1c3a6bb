"""an idempotency key per requester on task requests: a form or a POST sent twice is one request

Revision ID: reports_0006
Revises: reports_0005

A unique index rather than a unique constraint: SQLite adds it without copying the table. Rows
without a key (NULL) never collide. On MariaDB the key takes the binary collation that does not
pad (`core.models.ExactString`): keys that differ only in case or trailing spaces are two keys.
"""

import sqlalchemy as sa
from alembic import op

import halo_platform.core.models

revision = 'reports_0006'
down_revision = 'reports_0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('task_requests', sa.Column('idempotency_key', halo_platform.core.models.ExactString(length=255), nullable=True))
    op.create_index('uq_task_requests_requested_by_idempotency_key', 'task_requests', ['requested_by', 'idempotency_key'],
                    unique=True)


def downgrade() -> None:
    op.drop_index('uq_task_requests_requested_by_idempotency_key', table_name='task_requests')
    with op.batch_alter_table('task_requests') as batch:  # SQLite drops a column by copying the table
        batch.drop_column('idempotency_key')
