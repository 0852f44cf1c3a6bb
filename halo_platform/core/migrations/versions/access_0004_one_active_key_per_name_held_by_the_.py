"""one active key per name, held by the database

Revision ID: access_0004
Revises: access_0003
"""

import sqlalchemy as sa
from alembic import op

revision = 'access_0004'
down_revision = 'access_0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('active_name', sa.String(length=100), nullable=True))
    # of active keys made at once under one name (the check before the insert allowed it), the first keeps it
    op.execute("UPDATE api_keys SET active_name = name WHERE id IN ("
               "SELECT id FROM (SELECT min(id) AS id FROM api_keys WHERE revoked_at IS NULL GROUP BY name) AS firsts)")
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_api_keys_active_name', ['active_name'])


def downgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_constraint('uq_api_keys_active_name', type_='unique')
        batch_op.drop_column('active_name')
