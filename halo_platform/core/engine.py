"""Engines of the operational store, without Dagster: what a worker process needs to open
the store from its URL (span workers import this, never `core.store`, whose resource class
pulls in Dagster: over a second per worker).

On SQLite that means WAL, a busy timeout, write transactions that take the write lock up
front (`BEGIN IMMEDIATE`, asked for with the `halo_write` execution option), so a reader never
has to upgrade its lock mid-transaction and fail with SQLITE_BUSY, and checkpoints off the
write lock (`_Checkpointer`). On PostgreSQL and MariaDB the server does the work.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from halo_platform.core.errors import ConflictError, HaloError

_T = TypeVar("_T")

# UPDATE ... RETURNING (a claim, an in-flight marker) and UPDATE ... FROM (recording answers)
SQLITE_AT_LEAST = (3, 35, 0)
#: how long a SQLite store's checkpointer lets commits gather before it copies them into the database
CHECKPOINT_SECONDS = 0.2
#: the MariaDB/MySQL drivers whose connections take a `charset`: the store's is utf8mb4, which holds
#: any character (a URL's `?charset=utf8`, old guides' spelling, made it utf8mb3, and the server
#: refused every emoji sent).
MYSQL_CHARSET_DRIVERS = ("pymysql", "mysqldb")
#: a pooled connection idle this long is pinged before use (`_ping_if_idle`); a restart of the
#: server takes longer, so a connection it closed has been idle this long by the time it is back
PING_AFTER_IDLE_SECONDS = 1.0


def make_engine(url: str) -> Engine:
    """An engine for the store at `url` (not migrated: `core.store.migrate` does that). Its errors
    name no bound value (`hide_parameters`): the values are personal data, the errors are logged."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if sqlite3.sqlite_version_info < SQLITE_AT_LEAST:
            raise HaloError(f"the SQLite library Python uses is {sqlite3.sqlite_version}; the store needs "
                            f"{'.'.join(map(str, SQLITE_AT_LEAST))} or later (or a PostgreSQL or MariaDB HALO_DB_URL)")
        file = parsed.database if parsed.database and parsed.database != ":memory:" else None
        if file is not None:
            try:
                Path(file).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # HALO_HOME a file, or a folder this account may not write in
                raise HaloError(f"the store's folder {Path(file).parent} cannot be made: {exc.strerror} "
                                "(HALO_HOME, or the folder of HALO_DB_URL's SQLite file)") from None
        engine = sa.create_engine(url, hide_parameters=True, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # noqa: ANN001
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            if file is not None:
                cur.execute("PRAGMA wal_autocheckpoint=0")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            mode = "IMMEDIATE" if conn.get_execution_options().get("halo_write") else "DEFERRED"
            conn.exec_driver_sql(f"BEGIN {mode}")

        if file is not None:  # looked up at each commit: a forked child's commits wake its own checkpointer
            event.listen(engine, "commit", lambda _conn: _checkpointer(file).wrote.set())
        return engine
    kwargs: dict = {"pool_size": 10, "max_overflow": 20, "hide_parameters": True}
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        kwargs["isolation_level"] = "READ COMMITTED"
        if parsed.get_driver_name() in MYSQL_CHARSET_DRIVERS:  # over the URL's `?charset=`: utf8 is utf8mb3 there
            kwargs["connect_args"] = {"charset": "utf8mb4"}
    engine = sa.create_engine(url, **kwargs)
    event.listen(engine, "checkin", _checked_in)
    event.listen(engine, "checkout", lambda dbapi_conn, record, _proxy: _ping_if_idle(engine.dialect, dbapi_conn, record))
    return engine


def _checked_in(_dbapi_conn, record) -> None:  # noqa: ANN001
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dialect: sa.Dialect, dbapi_conn, record) -> None:  # noqa: ANN001
    """Ping a pooled connection (PostgreSQL, MariaDB) that sat idle for PING_AFTER_IDLE_SECONDS before
    it is used; a dead one is replaced (the pool connects anew on DisconnectionError). SQLAlchemy's
    `pool_pre_ping` pinged at every checkout: a round trip per transaction, 4 of the 19 that a HIGH
    send made to PostgreSQL. A connection checked in moments ago is used as it is: were its server
    process gone since, its statement fails (a 503 to an API caller) and the pool drops every
    connection made before. A new connection has no `idle_since`: nothing to check."""
    since = record.info.get("idle_since")
    if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
        return
    try:
        dialect.do_ping(dbapi_conn)
    except dialect.loaded_dbapi.Error as exc:
        raise sa.exc.DisconnectionError("the store's connection was closed while idle in the pool") from exc


class _Checkpointer:
    """Copies a SQLite file's write-ahead log into the database on a thread of its own: a PASSIVE
    checkpoint, which waits for no reader or writer, at most every `CHECKPOINT_SECONDS` while
    commits come. The store's connections never checkpoint (`wal_autocheckpoint=0`): SQLite's
    automatic checkpoint runs inside the commit that takes the log past 1,000 pages, under the
    write lock, where a HIGH message waits for it. Claiming, marking and recording 30,000 SMS on
    a SQLite file, in-process, one thread: 139.5 -> 88.0 us per message."""

    def __init__(self, path: str) -> None:
        self.uri = Path(path).absolute().as_uri() + "?mode=rw"  # never creates the file
        self.pid = os.getpid()
        self.wrote = threading.Event()
        threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True).start()

    def _run(self) -> None:
        while True:
            self.wrote.wait()
            time.sleep(CHECKPOINT_SECONDS)
            self.wrote.clear()
            with contextlib.suppress(sqlite3.Error):  # gone or busy: the next commit asks again
                conn = sqlite3.connect(self.uri, uri=True, timeout=1)
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                finally:
                    conn.close()


_checkpointers: dict[str, _Checkpointer] = {}
_checkpointers_guard = threading.Lock()


def _checkpointer(database: str) -> _Checkpointer:
    """This process's checkpointer of the SQLite file `database` (a forked child starts its own)."""
    with _checkpointers_guard:
        held = _checkpointers.get(database)
        if held is None or held.pid != os.getpid():
            held = _checkpointers[database] = _Checkpointer(database)
        return held


def again_on_conflict(write: Callable[[], _T], tries: int = 2) -> _T:
    """`write()` (a whole transaction), again if it failed on a unique key: another
    transaction, not committed when this one looked, wrote the row this one meant to create
    (PostgreSQL); the next try sees it and edits it instead, `tries` times in all. Where another
    writer may also delete that row (an opt-out's START), a try can find it gone and conflict
    again with a third writer's insert: such callers give more tries."""
    for _ in range(tries - 1):
        try:
            return write()
        except sa.exc.IntegrityError:
            pass
    return write()  # the last try: its error is the caller's


#: how many times a transaction the store rolled back to end a deadlock is run in all (`retried_on_deadlock`)
DEADLOCK_TRIES = 3


def retried_on_deadlock(transaction: Callable[[], _T]) -> _T:
    """`transaction()` (a whole transaction), run again when the store rolled it back to end a
    deadlock (SQLSTATE 40P01 on PostgreSQL, 40001 on MariaDB), `DEADLOCK_TRIES` times in all:
    nothing of it was written, so nothing is applied twice. Delivery's sending rounds and provider
    callbacks use it: a round first applies kept statuses (`apply_parked`) in the order they came,
    then locks its own rows in the order of their ids, so a callback naming both kinds of messages
    at once can still deadlock with it; the one rolled back goes again once the other has committed."""
    for _ in range(DEADLOCK_TRIES - 1):
        try:
            return transaction()
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) not in ("40P01", "40001"):
                raise
    return transaction()  # the last try: its error is the caller's


def unchanged_since(conn: Connection, history: sa.Table, where: sa.ColumnElement[bool], seen: int | None, what: str) -> None:
    """Refuse (ConflictError) an edit sent from a page that showed `seen`, the highest id of the
    rows of `history` (an edit log with `changed_by` and `at`) matching `where`, when one has been
    written since: two people, or two tabs, editing the same thing each see the other's change
    instead of writing their page's older values back over it. Run it in the edit's transaction,
    after its lock (ids then follow the edits' order, whatever their clocks said). `seen` None: no
    page, nothing to compare."""
    if seen is None:
        return
    latest = conn.execute(sa.select(history.c.id, history.c.changed_by, history.c.at).where(where, history.c.id > seen)
                          .order_by(history.c.id.desc()).limit(1)).first()
    if latest is not None:
        raise ConflictError(f"{what}: changed by {latest.changed_by or 'someone'} at {latest.at:%Y-%m-%d %H:%M:%S} UTC after "
                            "this page was opened, so nothing was saved; your values are kept: save again to replace that change")


def listed_after(log: sa.Table, row_id: int) -> sa.ColumnElement[bool]:
    """The rows of `log` (a log with `at` and `id`, listed newest first: `at`, then `id`,
    descending) listed after its row `row_id`: the next page of a list whose last row was it."""
    at = sa.select(log.c.at).where(log.c.id == row_id).scalar_subquery()
    return sa.or_(log.c.at < at, sa.and_(log.c.at == at, log.c.id < row_id))
