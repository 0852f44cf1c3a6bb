"""The operational store: a resource owning one SQLAlchemy engine, migrated on first use.

Several processes write at once (run workers, the sensor daemon, the HTTP
service): the engine is made by `core.engine` (WAL and `BEGIN IMMEDIATE` writes on
SQLite); migrations are serialized with a file lock on SQLite, an advisory lock elsewhere.

Use `store.write()` for transactions that change rows and `store.read()` for queries.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from pydantic import PrivateAttr
from sqlalchemy.engine import Connection, Engine

from halo_platform.core.engine import make_engine
from halo_platform.core.errors import HaloError
from halo_platform.core.settings import get_settings

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


@functools.lru_cache(maxsize=64)
def _default_url(db_url: str | None, home: str | None, cwd: str) -> str:  # noqa: ARG001 - the key: what the URL follows
    """The store URL of the settings (HALO_DB_URL, else the SQLite file in HALO_HOME, a `.env`
    file's values included), resolved once per value of what it follows: every transaction asks
    for it, and resolving the settings (reading the `.env` files) was 17% of a HIGH send's CPU
    in the API process."""
    return get_settings().db_url


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    backend = engine.dialect.name
    if backend == "sqlite":
        db = engine.url.database
        lock_path = Path(db + ".migrate.lock") if db and db != ":memory:" else None
        if lock_path is None:
            yield
            return
        with open(lock_path, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return
    with engine.connect() as conn:
        if backend == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_lock(741852)"))
        else:
            conn.execute(sa.text("SELECT GET_LOCK('halo_migrate', 300)"))
        conn.commit()
        try:
            yield
        finally:
            if backend == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_unlock(741852)"))
            else:
                conn.execute(sa.text("SELECT RELEASE_LOCK('halo_migrate')"))
            conn.commit()


def _alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


# Alembic's `op` and `context` are one per process: two threads migrating two databases at once
# (a late alert's store, the main thread's) ran one's steps on the other's connection.
_upgrading = threading.Lock()


@functools.cache
def named_heads() -> frozenset[str]:
    """The newest revision of each domain's branch, as the migration files name them: a branch is
    linear and a file is named after its revision (`access_0006_...py` is `access_0006`, after
    `access_0005`). Reading them from alembic costs each process that opens the store 0.4 CPU-s
    (importing alembic, loading every migration); a test holds the two to the same answer."""
    newest: dict[str, str] = {}
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        if named := re.match(r"([a-z]+)_(\d{4})_", path.name):
            newest[named[1]] = max(newest.get(named[1], ""), f"{named[1]}_{named[2]}")
    return frozenset(newest.values())


def _at_named_heads(engine: Engine) -> bool:
    """Whether the store's alembic_version holds exactly `named_heads()` (a store never migrated
    has no such table: it is not)."""
    try:
        with engine.connect() as conn:
            return set(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()) == named_heads()
    except (sa.exc.ProgrammingError, sa.exc.OperationalError):
        return False


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision of every domain branch (one migration at a time in
    a process, `_upgrading`; one at a time per database across processes, `_migration_lock`)."""
    if _at_named_heads(engine):
        return
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = _alembic_config(engine)
    heads = set(ScriptDirectory.from_config(cfg).get_heads())
    with engine.connect() as conn:
        if set(MigrationContext.configure(conn).get_current_heads()) == heads:
            return
    with _upgrading, _migration_lock(engine):
        command.upgrade(cfg, "heads")


#: what SQLAlchemy raises for a URL it cannot use. Their text repeats the URL, or its port: the
#: password, when a URL has no `@host` (`user:password` is then read as `host:port`). An ImportError:
#: the URL names a driver that is not installed (`mysql://` is MySQLdb's)
_UNUSABLE_URL = (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ValueError, ImportError)


def _unusable(exc: Exception) -> HaloError:
    if isinstance(exc, ImportError):
        return HaloError(f"the operational store's URL (HALO_DB_URL) needs the driver {exc.name or 'it names'}, which is not installed; "
                         "name an installed one (postgresql+psycopg://, mysql+pymysql://)")
    return HaloError(f"the operational store's URL (HALO_DB_URL) is not one SQLAlchemy can use ({type(exc).__name__})")


def _new_engine(url: str) -> Engine:
    """An engine for `url`, not connected yet; a URL it cannot use is one error naming HALO_DB_URL."""
    try:
        return make_engine(url)
    except _UNUSABLE_URL as exc:
        raise _unusable(exc) from None


class StoreResource(dg.ConfigurableResource):
    """The operational store. It owns its engine: made on first use (and the schema
    migrated then), disposed after each Dagster execution or by `dispose()`.

    `db_url` defaults to `HALO_DB_URL` at run time, so a URL holding a password never
    lands in run config. Domain functions take this resource, never a URL."""

    db_url: str | None = None
    _engine: Engine | None = PrivateAttr(default=None)
    _engine_url: str | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        if self.db_url:
            return self.db_url
        return _default_url(os.environ.get("HALO_DB_URL"), os.environ.get("HALO_HOME"), os.getcwd())

    @property
    def sqlite(self) -> bool:
        """Whether the store is a SQLite database: one writer at a time, so bulk writers keep their
        transactions short and do not run side by side."""
        try:
            return sa.make_url(self.url).get_backend_name() == "sqlite"
        except _UNUSABLE_URL as exc:
            raise _unusable(exc) from None

    @property
    def engine(self) -> Engine:
        url = self.url  # a default URL follows HALO_DB_URL: a store re-pointed gets a new engine
        with self._lock:
            if self._engine is None or self._engine_url != url:
                if self._engine is not None:
                    self._engine.dispose()
                engine = _new_engine(url)
                migrate(engine)
                self._engine, self._engine_url = engine, url
            return self._engine

    def check_url(self) -> None:
        """Refuse a URL the store cannot use (not a URL, a driver that is not installed) without
        connecting: `halo serve` stops with that one line, where it answered every request 422."""
        _new_engine(self.url).dispose()

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that changes rows; commits on success, rolls back on error."""
        with self.engine.connect().execution_options(halo_write=True) as conn:
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction. On PostgreSQL its statements run in autocommit: at READ
        COMMITTED each statement takes its own snapshot either way, and BEGIN and COMMIT were two
        round trips of the three a one-statement read made (an API key check, a HIGH send's look
        for kept callbacks). MariaDB would pay a round trip to switch autocommit on and off."""
        if self.engine.dialect.name == "postgresql":
            with self.autocommit() as conn:
                yield conn
            return
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A PostgreSQL connection whose statements each commit as they run: for reads, and for a
        write of one statement, atomic on its own, without BEGIN and COMMIT (two round trips)."""
        with self.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        """Close the engine's connections; the next use opens new ones."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:  # noqa: ARG002
        self.dispose()
