"""Text columns that hold any Unicode character on MariaDB and MySQL, whatever the database's
default character set, for the migrations that convert a domain's tables. A table created
without a character set takes the database's default: created with `CHARACTER SET utf8mb3` (or
latin1), its text columns refused a 4-byte character (an emoji, `𝔸`) with "Incorrect string
value", and a landed file naming one, or a message body holding one, failed its transaction.
What a migration did must not change after it ran: change this only with a migration that
alters the columns again."""

import sqlalchemy as sa
from alembic import op

CHARSET = 'utf8mb4'


def _collation(narrow: str) -> str | None:
    """The utf8mb4 collation comparing as `narrow` did (utf8mb3's collations have utf8mb4 twins
    of the same name); None, the character set's default, for another character set's."""
    charset, _, rest = narrow.partition('_')
    return f'{CHARSET}_{rest}' if charset in ('utf8', 'utf8mb3') else None


def _kept(dialect: sa.Dialect, column: dict) -> str:
    """The reflected `column`'s default and comment, as a column definition spells them."""
    default = f" DEFAULT {column['default']}" if column['default'] is not None else ''
    if not column.get('comment'):
        return default
    return f"{default} COMMENT {sa.literal(column['comment']).compile(dialect=dialect, compile_kwargs={'literal_binds': True})}"


def make_utf8mb4(tables: tuple[str, ...]) -> None:
    """Make utf8mb4 the database's default character set (for the tables migrations create later)
    when it is not, and convert the text columns of `tables` that are in another one, each keeping
    its type, nullability, default and comparison; one ALTER TABLE per table (it copies the table).
    Nothing to do elsewhere."""
    bind = op.get_bind()
    if bind.dialect.name not in ('mysql', 'mariadb'):
        return
    if bind.execute(sa.text('SELECT @@character_set_database')).scalar_one() != CHARSET:
        op.execute(f'ALTER DATABASE CHARACTER SET {CHARSET}')
    narrow = bind.execute(sa.text(
        'SELECT table_name, column_name, collation_name FROM information_schema.columns '
        'WHERE table_schema = DATABASE() AND character_set_name IS NOT NULL AND character_set_name <> :charset'),
        {'charset': CHARSET}).all()
    inspector, quote = sa.inspect(bind), bind.dialect.identifier_preparer.quote
    for table in tables:
        collations = {column: collation for name, column, collation in narrow if name == table}
        changes = []
        for column in inspector.get_columns(table):
            if column['name'] not in collations:
                continue
            type_ = column['type'].copy()
            type_.charset, type_.collation = CHARSET, _collation(collations[column['name']])
            changes.append(f"MODIFY {quote(column['name'])} {type_.compile(bind.dialect)} "
                           f"{'NULL' if column['nullable'] else 'NOT NULL'}{_kept(bind.dialect, column)}")
        if changes:
            op.execute(f"ALTER TABLE {quote(table)} {', '.join(changes)}")
