"""access text holds any Unicode character on MariaDB, whatever the database's default character set

Revision ID: access_0006
Revises: access_0005

An API key created or revoked by a user named with an emoji was refused on a database created
`CHARACTER SET utf8mb3`: the key's `created_by` and `revoked_by` took the database's character set.
Its tables' text columns are converted to utf8mb4 (`full_unicode`); nothing changes on SQLite and
PostgreSQL, and a downgrade changes nothing.
"""

from halo_platform.core.migrations.full_unicode import make_utf8mb4

revision = 'access_0006'
down_revision = 'access_0005'
branch_labels = None
depends_on = None

TABLES = ('api_keys', 'login_failures', 'user_sessions', 'users')


def upgrade() -> None:
    make_utf8mb4(TABLES)


def downgrade() -> None:
    pass
