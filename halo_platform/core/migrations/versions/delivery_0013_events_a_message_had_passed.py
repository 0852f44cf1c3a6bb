"""events a message had passed

Revision ID: delivery_0013
Revises: delivery_0012

A provider's callback that arrives after its message had passed the status it reports (Twilio's
`sent` after its `delivered`) is kept in the message's history marked `overtaken`, and the status
webhook, which sends lifecycle changes, leaves it out. Existing rows are not marked: their
webhooks were sent or given up (24 h) already.
"""

import sqlalchemy as sa
from alembic import op

revision = 'delivery_0013'
down_revision = 'delivery_0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('message_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('overtaken', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('message_events', schema=None) as batch_op:
        batch_op.drop_column('overtaken')
