"""scheduling items and their blocks stored in key order on SQLite

Revision ID: availability_0005
Revises: availability_0004

On SQLite, `scheduling_items` and `scheduling_item_blocks` become WITHOUT ROWID tables: the
rows live in their primary key's B-tree, so an item written updates one B-tree instead of two,
and reading a feed's blocks (the span computation reads them all) is one range of that tree
instead of an index walk with a row lookup per entry (0.53 -> 0.24 CPU-s for 250k blocks).
PostgreSQL and MariaDB have no such choice (InnoDB already stores rows in key order): nothing
changes there. The rows are copied over.
"""

from alembic import op

revision = 'availability_0005'
down_revision = 'availability_0004'
branch_labels = None
depends_on = None

INDEXES = {"scheduling_items": [],
           "scheduling_item_blocks": [("ix_scheduling_item_blocks_provider", "feed, provider_id"),
                                      ("ix_scheduling_item_blocks_ref", "feed, ref")]}


def rebuild(with_rowid: bool) -> None:
    """Copy both tables into new ones with or without rowid (SQLite only; also used by availability_0006)."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for table, indexes in INDEXES.items():
        ddl = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).scalar_one()
        columns = ddl.split("(", 1)[1].rstrip().removesuffix("WITHOUT ROWID").rstrip()
        op.execute(f"CREATE TABLE {table}_rebuilt ({columns}{'' if with_rowid else ' WITHOUT ROWID'}")
        op.execute(f"INSERT INTO {table}_rebuilt SELECT * FROM {table}")  # noqa: S608 - fixed names
        op.execute(f"DROP TABLE {table}")
        op.execute(f"ALTER TABLE {table}_rebuilt RENAME TO {table}")
        for name, on in indexes:
            op.execute(f"CREATE INDEX {name} ON {table} ({on})")


def upgrade() -> None:
    rebuild(with_rowid=False)


def downgrade() -> None:
    rebuild(with_rowid=True)
