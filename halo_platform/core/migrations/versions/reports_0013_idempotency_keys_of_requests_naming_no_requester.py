"""idempotency keys of requests naming no requester: one key, one request

Revision ID: reports_0013
Revises: reports_0012

The unique index on (requested_by, key) takes NULLs for distinct values: two requests made in
process with one key and no requester both kept the key, and both ran. A key is now held under
`idempotency_scope` (the requester, '' for code that names none; NULL without a key), and the
unique index is (key, scope). Of the requests that already share a key with no requester, the
first (by creation, then id) keeps it; the later ones' key is cleared, their rows stay in the
audit log. A downgrade goes back to the (requested_by, key) index.
"""

import sqlalchemy as sa
from alembic import op

from halo_platform.core.migrations.exact_text import exact_type

revision = 'reports_0013'
down_revision = 'reports_0012'
branch_labels = None
depends_on = None

OLD = 'uq_task_requests_requested_by_idempotency_key'
NEW = 'uq_task_requests_idempotency_key_scope'


def _later_holders_of_unscoped_keys(conn: sa.Connection) -> list[str]:
    """The requests holding a key with no requester that an earlier one of them holds already (an
    empty requester, which an older version may have stored, takes the same scope '')."""
    rows = conn.execute(sa.text("SELECT request_id, idempotency_key FROM task_requests WHERE COALESCE(requested_by, '') = ''"
                                " AND idempotency_key IS NOT NULL ORDER BY created_at, request_id"))
    seen: set[str] = set()
    later = []
    for request_id, key in rows:
        if key in seen:
            later.append(request_id)
        seen.add(key)
    return later


def upgrade() -> None:
    conn = op.get_bind()
    op.add_column('task_requests', sa.Column('idempotency_scope', exact_type(255), nullable=True))
    for request_id in _later_holders_of_unscoped_keys(conn):
        conn.execute(sa.text("UPDATE task_requests SET idempotency_key = NULL WHERE request_id = :id"), {"id": request_id})
    op.execute("UPDATE task_requests SET idempotency_scope = COALESCE(requested_by, '') WHERE idempotency_key IS NOT NULL")
    op.drop_index(OLD, table_name='task_requests')
    op.create_index(NEW, 'task_requests', ['idempotency_key', 'idempotency_scope'], unique=True)


def downgrade() -> None:
    op.drop_index(NEW, table_name='task_requests')
    op.create_index(OLD, 'task_requests', ['requested_by', 'idempotency_key'], unique=True)
    with op.batch_alter_table('task_requests') as batch:  # SQLite drops a column by copying the table
        batch.drop_column('idempotency_scope')
