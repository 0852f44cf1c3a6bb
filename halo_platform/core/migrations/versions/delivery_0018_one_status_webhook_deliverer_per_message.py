"""one status webhook deliverer per message at a time

Revision ID: delivery_0018
Revises: delivery_0017

Two status webhook deliverers running at once (`halo delivery webhooks --deliver` beside the
Dagster job) both read the same events as pending and both POSTed them: the sender received each
event twice. A deliverer now claims a message before it POSTs its events (`webhook_claims`, one
row per message held, deleted when done; a claim whose lease has ended is taken over). The message
id compares byte for byte on every store, as `core.models.ExactString` makes it.
"""

import sqlalchemy as sa
from alembic import op

import halo_platform.core.models
from halo_platform.core.migrations.exact_text import exact_type

revision = 'delivery_0018'
down_revision = 'delivery_0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('webhook_claims',
    sa.Column('message_id', exact_type(36), nullable=False),
    sa.Column('lease_owner', sa.String(length=64), nullable=False),
    sa.Column('lease_until', halo_platform.core.models.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('message_id')
    )


def downgrade() -> None:
    op.drop_table('webhook_claims')
