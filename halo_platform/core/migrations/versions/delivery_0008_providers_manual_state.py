"""providers' manual state: who switched a provider off by hand

Revision ID: delivery_0008
Revises: delivery_0007
"""

import sqlalchemy as sa
from alembic import op

revision = 'delivery_0008'
down_revision = 'delivery_0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('provider_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('manual_by', sa.String(length=128), nullable=True))
    with op.batch_alter_table('provider_state_changes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('changed_by', sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('provider_state_changes', schema=None) as batch_op:
        batch_op.drop_column('changed_by')
    with op.batch_alter_table('provider_state', schema=None) as batch_op:
        batch_op.drop_column('manual_by')
