"""one-time tokens of forms already sent

Revision ID: ui_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

import halo_platform.core.models
from halo_platform.core.migrations.full_unicode import make_utf8mb4

revision = 'ui_0001'
down_revision = None
branch_labels = ('ui',)
depends_on = None


def upgrade() -> None:
    op.create_table('ui_forms_sent',
    sa.Column('token', sa.String(length=43), nullable=False),
    sa.Column('sent_at', halo_platform.core.models.UtcDateTime(), nullable=False),
    sa.Column('sent_by', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('token')
    )
    with op.batch_alter_table('ui_forms_sent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ui_forms_sent_sent_at'), ['sent_at'], unique=False)
    # a branch of its own may run before the domains' utf8mb4 conversions: on a utf8mb3 MariaDB
    # database the table took utf8mb3 (test_review_landing_8)
    make_utf8mb4(('ui_forms_sent',))


def downgrade() -> None:
    with op.batch_alter_table('ui_forms_sent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ui_forms_sent_sent_at'))
    op.drop_table('ui_forms_sent')
