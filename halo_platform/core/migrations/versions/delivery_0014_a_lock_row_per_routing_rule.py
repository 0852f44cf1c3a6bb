"""a lock row per routing rule

Revision ID: delivery_0014
Revises: delivery_0013

Two edits of one rule's weights at the same time, before anything was stored for the rule, had
no row to lock: on PostgreSQL and MariaDB both wrote their providers and the rule kept both sets.
An edit now locks the rule's row here first, made by the first edit that needs it.
"""

import sqlalchemy as sa
from alembic import op

revision = 'delivery_0014'
down_revision = 'delivery_0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('routing_rule_locks',
    sa.Column('rule', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('rule')
    )


def downgrade() -> None:
    op.drop_table('routing_rule_locks')
