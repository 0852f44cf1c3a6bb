"""Text columns that compare byte for byte on every store (`core.models.ExactString`), for the
migrations that create or change them. SQLite and PostgreSQL compare text so by default;
MariaDB's default collation ignores letter case, accents and trailing spaces, so there the
column takes the binary collation that does not pad. What a migration did must not change
after it ran: change the spelling here only with a migration that alters the columns again."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

#: (table, column, length, nullable)
Column = tuple[str, str, int, bool]


def exact_type(length: int) -> sa.types.TypeEngine:
    """`ExactString(length)` as the store being migrated spells it."""
    dialect = op.get_bind().dialect
    if dialect.name not in ('mysql', 'mariadb'):
        return sa.String(length=length)
    collation = 'utf8mb4_nopad_bin' if dialect.is_mariadb else 'utf8mb4_0900_bin'  # utf8mb4_bin pads: 'a' = 'a '
    return mysql.VARCHAR(length, charset='utf8mb4', collation=collation)


def _on_mysql() -> bool:
    return op.get_bind().dialect.name in ('mysql', 'mariadb')


def make_exact(columns: tuple[Column, ...]) -> None:
    """Alter `columns` to compare byte for byte (on MariaDB and MySQL; elsewhere they do)."""
    if _on_mysql():
        for table, column, length, nullable in columns:
            op.alter_column(table, column, type_=exact_type(length), existing_type=sa.String(length=length),
                            existing_nullable=nullable)


def make_default(columns: tuple[Column, ...]) -> None:
    """Undo `make_exact`: fails on MariaDB once values that differ only in case, accents or
    trailing spaces are stored in a unique column."""
    if _on_mysql():
        for table, column, length, nullable in columns:
            op.alter_column(table, column, type_=sa.String(length=length), existing_type=sa.String(length=length),
                            existing_nullable=nullable)
