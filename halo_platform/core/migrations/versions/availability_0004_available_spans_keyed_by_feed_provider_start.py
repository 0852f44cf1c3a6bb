"""available spans keyed by (feed, provider, start)

Revision ID: availability_0004
Revises: availability_0003

The surrogate id, the unique constraint and the date index give way to a primary key on
(feed, provider_id, start_at), stored in key order on SQLite (WITHOUT ROWID): a span written
updates one B-tree instead of three. The spans are copied over (only dirty provider-dates are
ever recomputed, so the table is not rebuilt by the next run).
"""

import sqlalchemy as sa
from alembic import op

import halo_platform.core.models

revision = 'availability_0004'
down_revision = 'availability_0003'
branch_labels = None
depends_on = None

COLUMNS = "feed, provider_id, span_date, start_at, end_at, computed_at"


def _columns() -> list[sa.Column]:
    return [sa.Column('feed', sa.String(length=64), nullable=False),
            sa.Column('provider_id', sa.String(length=255), nullable=False),
            sa.Column('span_date', sa.Date(), nullable=False),
            sa.Column('start_at', halo_platform.core.models.UtcDateTime(), nullable=False),
            sa.Column('end_at', halo_platform.core.models.UtcDateTime(), nullable=False),
            sa.Column('computed_at', halo_platform.core.models.UtcDateTime(), nullable=False)]


def _replace_with(table: str) -> None:
    op.execute(f"INSERT INTO {table} ({COLUMNS}) SELECT {COLUMNS} FROM available_spans")  # noqa: S608 - fixed names
    op.drop_table('available_spans')
    op.rename_table(table, 'available_spans')


def upgrade() -> None:
    op.create_table('available_spans_keyed', *_columns(), sa.PrimaryKeyConstraint('feed', 'provider_id', 'start_at'),
                    sqlite_with_rowid=False)
    _replace_with('available_spans_keyed')


def downgrade() -> None:
    op.create_table('available_spans_with_id', sa.Column('id', sa.Integer(), autoincrement=True, nullable=False), *_columns(),
                    sa.PrimaryKeyConstraint('id'), sa.UniqueConstraint('feed', 'provider_id', 'start_at', name='uq_available_spans'))
    _replace_with('available_spans_with_id')
    with op.batch_alter_table('available_spans', schema=None) as batch_op:
        batch_op.create_index('ix_available_spans_lookup', ['feed', 'provider_id', 'span_date'], unique=False)
