"""names people and callers choose are compared byte for byte on MariaDB

Revision ID: access_0005
Revises: access_0004

MariaDB's default collation (utf8mb4_general_ci, PAD SPACE) ignores letter case, accents and
trailing spaces: signing in as `ADA`, `ada ` or `adá` signed in as `ada`, a user `Ada` or a key
`OPS` next to `ada` or `ops` was refused as a duplicate, revoking `OPS` revoked `ops`, and the
failed logins of `ADA` counted against `ada`. The user, key and failed-login names take the
binary collation that does not pad (`core.models.ExactString`); the rows keep their values, which
were unique under the looser collation and so are under this one. SQLite and PostgreSQL compare
these columns byte for byte already: nothing changes there (a batch copy of the tables would
change nothing either). A downgrade fails if names stored since then differ only in case,
accents or trailing spaces.
"""

from halo_platform.core.migrations.exact_text import make_default, make_exact

revision = 'access_0005'
down_revision = 'access_0004'
branch_labels = None
depends_on = None

# table, column, length, nullable
COLUMNS = (('users', 'name', 100, False), ('api_keys', 'name', 100, False), ('api_keys', 'active_name', 100, True),
           ('login_failures', 'name', 100, False))


def upgrade() -> None:
    make_exact(COLUMNS)


def downgrade() -> None:
    make_default(COLUMNS)
