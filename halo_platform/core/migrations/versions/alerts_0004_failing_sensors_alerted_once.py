"""a failing sensor alerted once per episode

Revision ID: alerts_0004
Revises: alerts_0003

A sensor that raises (its store unreachable, a malformed schedules or feeds file) alerts the
HALO_ALERTS sinks at its first failing tick, not at each (they come every 5-60 s); which sensors
were alerted and have not succeeded since is kept here, so that a code-server restart or another
process does not alert the same failure again. The table is utf8mb4 on MariaDB: alerts_0003 made
that the database's default.
"""

import sqlalchemy as sa
from alembic import op

import halo_platform.core.models

revision = 'alerts_0004'
down_revision = 'alerts_0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('failing_sensors',
    sa.Column('sensor', sa.String(length=128), nullable=False),
    sa.Column('since', halo_platform.core.models.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('sensor')
    )


def downgrade() -> None:
    op.drop_table('failing_sensors')
