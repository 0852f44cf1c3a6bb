"""inbound messages applied once

Revision ID: delivery_0012
Revises: delivery_0011

An inbound STOP or START is kept by its provider's id for it (Twilio's MessageSid, Vonage's
messageId), never its sender or text, so a signed request sent again (a provider's retry, or a
captured START replayed after a newer STOP) is applied once. The key compares byte for byte on
every store, as `core.models.ExactString` makes it: on MariaDB the binary collation that does
not pad (delivery_0011), elsewhere a plain string.
"""

import sqlalchemy as sa
from alembic import op

import halo_platform.core.models
from halo_platform.core.migrations.exact_text import exact_type

revision = 'delivery_0012'
down_revision = 'delivery_0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inbound_messages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('dedupe_key', exact_type(255), nullable=False),
    sa.Column('provider', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('at', halo_platform.core.models.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe_key')
    )


def downgrade() -> None:
    op.drop_table('inbound_messages')
