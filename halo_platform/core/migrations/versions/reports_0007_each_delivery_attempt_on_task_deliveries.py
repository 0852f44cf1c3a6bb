"""each delivery attempt on task_deliveries: when, outcome and error line of every attempt

Revision ID: reports_0007
Revises: reports_0006

A nullable JSON column: rows recorded before it keep their attempt count alone.
"""

import sqlalchemy as sa
from alembic import op

revision = 'reports_0007'
down_revision = 'reports_0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('task_deliveries', sa.Column('attempt_log', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('task_deliveries') as batch:  # SQLite drops a column by copying the table
        batch.drop_column('attempt_log')
