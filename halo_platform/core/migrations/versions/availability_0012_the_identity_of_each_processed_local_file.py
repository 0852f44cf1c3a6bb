"""the identity of each processed local file

Revision ID: availability_0012
Revises: availability_0011

A landed file rewritten in place keeping its size and modification time (`rsync -t` of a
corrected file, a rewrite then `touch -d`) was taken for the content processed, its modification
time being the one recorded, and never processed. The file's device, inode and status-change time
(`landing.identity`) are recorded with what was processed instead; a file processed before is
read once more, and its identity recorded, the first time the landing zone is listed.
"""

import sqlalchemy as sa
from alembic import op

revision = 'availability_0012'
down_revision = 'availability_0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('emr_processed_files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('file_identity', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('emr_processed_files', schema=None) as batch_op:
        batch_op.drop_column('file_identity')
