"""callbacks that overtake the answer are kept

Revision ID: delivery_0016
Revises: delivery_0015

A provider's status callback naming only its own id for the message (Twilio's MessageSid) can
come before the dispatcher recorded that id with the provider's answer: it matched no message
and was dropped, and the provider does not send a callback we answered 200 again. It is kept in
`parked_callbacks` and applied when the id is recorded for a message of that provider; kept
ones older than a day are dropped. The provider id compares byte for byte on every store, as
`core.models.ExactString` makes it.
"""

import sqlalchemy as sa
from alembic import op

import halo_platform.core.models
from halo_platform.core.migrations.exact_text import exact_type

revision = 'delivery_0016'
down_revision = 'delivery_0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('parked_callbacks',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('provider', sa.String(length=128), nullable=False),
    sa.Column('provider_message_id', exact_type(255), nullable=False),
    sa.Column('event', sa.String(length=24), nullable=False),
    sa.Column('dedupe_key', sa.Text(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('received_at', halo_platform.core.models.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('parked_callbacks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_parked_callbacks_provider_message_id'), ['provider_message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_parked_callbacks_received_at'), ['received_at'], unique=False)


def downgrade() -> None:
    op.drop_table('parked_callbacks')
