"""keys that callers and providers choose are compared byte for byte on MariaDB

Revision ID: delivery_0011
Revises: delivery_0010

MariaDB's default collation (utf8mb4_general_ci, PAD SPACE) ignores letter case, accents and
trailing spaces: `ORDER-ABC` was answered with the message of `order-abc` (never stored nor
sent), `order-7` with another body was a 409, and provider ids or callback event ids that differ
only in case were taken for one another. The three columns take the binary collation that does
not pad (`core.models.ExactString`); the rows keep their values, which were unique under the
looser collation and so are under this one. SQLite and PostgreSQL compare these columns byte for
byte already: nothing changes there (a batch copy of the tables would change nothing either).
A downgrade fails if keys stored since then differ only in case, accents or trailing spaces.
"""

from halo_platform.core.migrations.exact_text import make_default, make_exact

revision = 'delivery_0011'
down_revision = 'delivery_0010'
branch_labels = None
depends_on = None

COLUMNS = (('messages', 'idempotency_key', 255, True), ('messages', 'provider_message_id', 255, True),
           ('message_events', 'dedupe_key', 255, True))


def upgrade() -> None:
    make_exact(COLUMNS)


def downgrade() -> None:
    make_default(COLUMNS)
