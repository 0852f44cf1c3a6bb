"""who revoked each key and who created, gave a new password to or disabled each user

Revision ID: access_0003
Revises: access_0002
"""

import sqlalchemy as sa
from alembic import op

import halo_platform.core.models

revision = 'access_0003'
down_revision = 'access_0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked_by', sa.String(length=255), nullable=True))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_by', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('password_changed_at', halo_platform.core.models.UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column('password_changed_by', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('disabled_by', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('disabled_by')
        batch_op.drop_column('password_changed_by')
        batch_op.drop_column('password_changed_at')
        batch_op.drop_column('created_by')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('revoked_by')
