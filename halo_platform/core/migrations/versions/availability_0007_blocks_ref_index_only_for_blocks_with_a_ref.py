"""scheduling item blocks: the ref index holds only the blocks with a ref

Revision ID: availability_0007
Revises: availability_0004

Only FHIR Slots point at a Schedule, so nearly every block's entry in ix_scheduling_item_blocks_ref
was (feed, NULL): written with every block and never read (the queries that use the index name a
ref). SQLite and PostgreSQL index the blocks with a ref alone; MariaDB has no partial index and
keeps the whole one. (availability_0005 and 0006 were removed before they reached a store.)
"""

import sqlalchemy as sa
from alembic import op

revision = 'availability_0007'
down_revision = 'availability_0004'
branch_labels = None
depends_on = None

INDEX, TABLE = 'ix_scheduling_item_blocks_ref', 'scheduling_item_blocks'


def _recreate(where: str | None) -> None:
    if op.get_bind().dialect.name not in ('sqlite', 'postgresql'):
        return
    op.drop_index(INDEX, table_name=TABLE)
    clause = {} if where is None else {'sqlite_where': sa.text(where), 'postgresql_where': sa.text(where)}
    op.create_index(INDEX, TABLE, ['feed', 'ref'], unique=False, **clause)


def upgrade() -> None:
    _recreate('ref IS NOT NULL')


def downgrade() -> None:
    _recreate(None)
