"""scheduling items and their blocks back to rowid tables on SQLite

Revision ID: availability_0006
Revises: availability_0005

availability_0005 stored them WITHOUT ROWID. Measured on the 1M-event bench, ingestion (files
parsed by threads while the main thread applies them) then cost more, not less: 16.9-17.3 ->
17.1-17.6 CPU-s and 11.3-14.9 -> 11.5-16.7 s, four pairs at load 3-5. They go back to rowid
tables, rows copied; PostgreSQL and MariaDB are untouched, as they were by 0005.
"""

from importlib import import_module

revision = 'availability_0006'
down_revision = 'availability_0005'
branch_labels = None
depends_on = None

_KEY_ORDER = import_module("halo_platform.core.migrations.versions.availability_0005_scheduling_items_and_blocks_in_key_order")


def upgrade() -> None:
    _KEY_ORDER.rebuild(with_rowid=True)


def downgrade() -> None:
    _KEY_ORDER.rebuild(with_rowid=False)
