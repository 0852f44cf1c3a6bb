"""one claim per root request and sink while it is delivered

Revision ID: reports_0011
Revises: reports_0010

Two re-executions of one failed request running at the same time (re-execute clicked twice, or the
run retry policy and a manual re-execution overlapping) both read that a sink had not been
delivered yet, and both sent it the report. A run now claims (root request, sink) before it
delivers: the key is unique, so one run delivers and the other waits. Ids and sink names compare
byte for byte on every store (`core.models.ExactString`): on MariaDB the binary collation that does
not pad, elsewhere a plain string.
"""

import sqlalchemy as sa
from alembic import op

import halo_platform.core.models
from halo_platform.core.migrations.exact_text import exact_type

revision = 'reports_0011'
down_revision = 'reports_0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('task_delivery_claims',
    sa.Column('root_request_id', exact_type(64), nullable=False),
    sa.Column('sink', exact_type(128), nullable=False),
    sa.Column('request_id', exact_type(64), nullable=False),
    sa.Column('claimed_at', halo_platform.core.models.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('root_request_id', 'sink')
    )


def downgrade() -> None:
    op.drop_table('task_delivery_claims')
