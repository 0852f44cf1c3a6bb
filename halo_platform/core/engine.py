"""Engines of the operational store, without Dagster: what a worker process needs to open
the store from its URL (span workers import this, never `core.store`, whose resource class
pulls in Dagster: over a second per worker).

On SQLite that means WAL, a busy timeout, and write transactions that take the write lock
up front (`BEGIN IMMEDIATE`, asked for with the `halo_write` execution option), so a reader
never has to upgrade its lock mid-transaction and fail with SQLITE_BUSY. On PostgreSQL and
MariaDB the server does the work.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from halo_platform.core.errors import HaloError

# UPDATE ... RETURNING (a claim, an in-flight marker) and UPDATE ... FROM (recording answers)
SQLITE_AT_LEAST = (3, 35, 0)


def make_engine(url: str) -> Engine:
    """An engine for the store at `url` (not migrated: `core.store.migrate` does that)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if sqlite3.sqlite_version_info < SQLITE_AT_LEAST:
            raise HaloError(f"the SQLite library Python uses is {sqlite3.sqlite_version}; the store needs "
                            f"{'.'.join(map(str, SQLITE_AT_LEAST))} or later (or a PostgreSQL or MariaDB HALO_DB_URL)")
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # noqa: ANN001
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            mode = "IMMEDIATE" if conn.get_execution_options().get("halo_write") else "DEFERRED"
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    kwargs: dict = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20}
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        kwargs["isolation_level"] = "READ COMMITTED"
    return sa.create_engine(url, **kwargs)
