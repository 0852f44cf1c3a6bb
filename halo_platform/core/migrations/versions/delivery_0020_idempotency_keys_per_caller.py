"""idempotency keys per caller: another caller's key is another message

Revision ID: delivery_0020
Revises: delivery_0019

Keys were unique across callers: an API key sending with a key another had used was answered
with that caller's message (its id, provider and status) or a 409 naming it, and its own message
was never sent. A key is now its caller's (`idempotency_scope`: the message's `created_by`, ''
for code that names no caller, as a unique index takes NULLs for distinct values); the unique
index is (key, scope). The stored keyed messages get their scope from their `created_by`: keys
unique across callers are unique per caller. SQLite copies the table to drop the old constraint,
which it never named. A downgrade fails once two callers hold the same key.
"""

import sqlalchemy as sa
from alembic import op

from halo_platform.core.migrations.exact_text import exact_type

revision = 'delivery_0020'
down_revision = 'delivery_0019'
branch_labels = None
depends_on = None

#: the old constraint's name where the store gave it none (SQLite): the batch copy names it so
UNNAMED = {'uq': 'uq_%(table_name)s_%(column_0_name)s'}
OLD = 'uq_messages_idempotency_key'
NEW = 'uq_messages_idempotency_key_scope'


def _old_name() -> str:
    """The name of the unique constraint on the key alone (PostgreSQL: `messages_idempotency_key_key`,
    MariaDB: `idempotency_key`, SQLite: none, then `OLD`, as `UNNAMED` names it)."""
    found = sa.inspect(op.get_bind()).get_unique_constraints('messages')
    return next(c['name'] for c in found if c['column_names'] == ['idempotency_key']) or OLD


def upgrade() -> None:
    op.add_column('messages', sa.Column('idempotency_scope', exact_type(255), nullable=True))
    op.execute("UPDATE messages SET idempotency_scope = COALESCE(created_by, '') WHERE idempotency_key IS NOT NULL")
    name = _old_name()
    with op.batch_alter_table('messages', naming_convention=UNNAMED) as batch:
        batch.drop_constraint(name, type_='unique')
    op.create_index(NEW, 'messages', ['idempotency_key', 'idempotency_scope'], unique=True)


def downgrade() -> None:
    op.drop_index(NEW, table_name='messages')
    with op.batch_alter_table('messages') as batch:
        batch.create_unique_constraint(OLD, ['idempotency_key'])
        batch.drop_column('idempotency_scope')
