"""the recipient's time zone a message was sent with, for quiet hours at dispatch

Revision ID: delivery_0009
Revises: delivery_0008
"""

import sqlalchemy as sa
from alembic import op

revision = 'delivery_0009'
down_revision = 'delivery_0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('timezone')
