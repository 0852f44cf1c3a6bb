"""ids feeds choose and landed paths are compared byte for byte on MariaDB

Revision ID: availability_0010
Revises: availability_0009

MariaDB's default collation (utf8mb4_general_ci, PAD SPACE) ignores letter case, accents and
trailing spaces: an acme file booking appointments `A1` and `a1` (or templates of providers `DR1`
and `dr1`) was quarantined whole for a duplicate primary key, so none of its events was applied,
and a later delete of `a1` deleted `A1`'s facts. Item ids, provider ids, Schedule references and
landed paths take the binary collation that does not pad (`core.models.ExactString`); the rows
keep their values, which were unique under the looser collation and so are under this one.
SQLite and PostgreSQL compare these columns byte for byte already: nothing changes there.
A downgrade fails if ids stored since then differ only in case, accents or trailing spaces.
"""

from halo_platform.core.migrations.exact_text import make_default, make_exact

revision = 'availability_0010'
down_revision = 'availability_0009'
branch_labels = None
depends_on = None

# table, column, length, nullable
COLUMNS = (('scheduling_items', 'item_id', 255, False), ('scheduling_item_blocks', 'item_id', 255, False),
           ('scheduling_item_blocks', 'provider_id', 255, True), ('scheduling_item_blocks', 'ref', 255, True),
           ('scheduling_item_hours', 'item_id', 255, False), ('scheduling_item_hours', 'provider_id', 255, False),
           ('available_spans', 'provider_id', 255, False), ('emr_dirty_dates', 'provider_id', 255, False),
           ('emr_processed_files', 'path', 512, False), ('next_available_slots', 'provider_id', 255, False))


def upgrade() -> None:
    make_exact(COLUMNS)


def downgrade() -> None:
    make_default(COLUMNS)
