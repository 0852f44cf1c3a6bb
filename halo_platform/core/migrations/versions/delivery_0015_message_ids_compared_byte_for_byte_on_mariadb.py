"""message ids are compared byte for byte on MariaDB

Revision ID: delivery_0015
Revises: delivery_0014

MariaDB's default collation (utf8mb4_general_ci, PAD SPACE) ignores letter case, accents and
trailing spaces: `GET /v1/messages/<our id in capitals>` answered with the message, where SQLite
and PostgreSQL answer 404 as for any id no message has, and a provider's receipt naming our id in
another case (Vonage's `client-ref`, SendGrid's `halo_message_id`) moved that message. The
message ids of the delivery tables take the binary collation that does not pad
(`core.models.ExactString`), all of them, so that the joins between them compare alike; the rows
keep their values (UUIDs, unique under the looser collation and so under this one). Nothing
changes on SQLite and PostgreSQL. A downgrade fails if ids stored since then differ only in case.
"""

from halo_platform.core.migrations.exact_text import make_default, make_exact

revision = 'delivery_0015'
down_revision = 'delivery_0014'
branch_labels = None
depends_on = None

# table, column, length, nullable
COLUMNS = (('messages', 'id', 36, False), ('messages', 'fallback_of', 36, True), ('message_events', 'message_id', 36, False),
           ('delivery_attempts', 'message_id', 36, False), ('sandbox_messages', 'message_id', 36, True),
           ('webhook_attempts', 'message_id', 36, False))


def upgrade() -> None:
    make_exact(COLUMNS)


def downgrade() -> None:
    make_default(COLUMNS)
