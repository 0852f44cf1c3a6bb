"""delivery text holds any Unicode character on MariaDB, whatever the database's default character set

Revision ID: delivery_0017
Revises: delivery_0016

On a database created `CHARACTER SET utf8mb3`, a message whose recipient held an emoji (a device
token, an address's name), or a routing rule whose reason held one, was refused. Its tables' text
columns are converted to utf8mb4 (`full_unicode`); nothing changes on SQLite and PostgreSQL, and a
downgrade changes nothing.
"""

from halo_platform.core.migrations.full_unicode import make_utf8mb4

revision = 'delivery_0017'
down_revision = 'delivery_0016'
branch_labels = None
depends_on = None

TABLES = ('delivery_attempts', 'inbound_messages', 'message_events', 'messages', 'parked_callbacks',
          'provider_state', 'provider_state_changes', 'routing_rule_locks', 'routing_rules',
          'routing_weight_audit', 'routing_weights', 'sandbox_messages', 'suppressions', 'webhook_attempts')


def upgrade() -> None:
    make_utf8mb4(TABLES)


def downgrade() -> None:
    pass
