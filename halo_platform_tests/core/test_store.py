"""The operational store: migrated on first use, schema == tables, safe under concurrent writers."""

import datetime as dt
import multiprocessing as mp
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from halo_platform.core.store import StoreResource, _alembic_config, migrate, named_heads
from halo_platform.schema import all_metadata
from halo_platform_tests.fixtures.databases import store_at_revision

EVENTS = sa.table("message_events", sa.column("message_id"), sa.column("event"), sa.column("at"), sa.column("detail"))


def _schema_diff(url: str) -> list:
    engine = StoreResource(db_url=url).engine
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), all_metadata())


def test_first_use_migrates_sqlite_to_every_domain_head_and_enables_wal(tmp_path):
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    engine = StoreResource(db_url=url).engine
    tables = set(sa.inspect(engine).get_table_names())
    assert {"task_requests", "task_deliveries", "task_schedules", "available_spans", "emr_quarantine",
            "messages", "message_events"} <= tables
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert _schema_diff(url) == []


def test_the_heads_the_migration_files_name_are_alembics_heads(tmp_path):
    """`migrate` skips alembic when the store is at the heads the file names give: a migration whose
    file is named other than its revision, or a branch that forks, fails here."""
    from alembic.script import ScriptDirectory

    config = _alembic_config(sa.create_engine(f"sqlite:///{tmp_path / 'unused.db'}"))
    assert named_heads() == set(ScriptDirectory.from_config(config).get_heads())
    assert len(named_heads()) >= 6  # access, alerts, availability, delivery, reports, ui


def _behind(head: str) -> str:
    return f"{head[:-4]}{int(head[-4:]) - 1:04d}"


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def old_store(request, tmp_path) -> Iterator[sa.Engine]:  # noqa: ANN001
    """A store migrated up to the revision before delivery's newest, and no further."""
    yield from store_at_revision(request, tmp_path, _behind(max(head for head in named_heads() if head.startswith("delivery_"))))


def test_a_store_behind_the_heads_is_migrated_on_first_use(old_store):  # noqa: ANN001
    """The quick look at alembic_version sees a store that is not at every head, and alembic then
    upgrades it."""
    with old_store.connect() as conn:
        assert set(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()) != named_heads()
    migrate(old_store)
    with old_store.connect() as conn:
        assert set(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()) == named_heads()


def test_migrations_match_the_models_on_postgresql_and_mariadb(fresh_pg_url, fresh_mysql_url):
    # databases of their own: the session's MariaDB database also holds the report tests' warehouse tables
    assert _schema_diff(fresh_pg_url) == []
    assert _schema_diff(fresh_mysql_url) == []


def test_a_failed_write_transaction_leaves_nothing_behind(tmp_path):
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    with pytest.raises(RuntimeError):
        with StoreResource(db_url=url).write() as conn:
            conn.execute(sa.insert(EVENTS).values(message_id="m1", event="queued", at=dt.datetime(2026, 1, 1)))
            raise RuntimeError("boom")
    with StoreResource(db_url=url).read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar() == 0


def _writer(url: str, worker: int, rows: int) -> None:
    store = StoreResource(db_url=url)
    for i in range(rows):
        with store.write() as conn:
            conn.execute(sa.insert(EVENTS).values(message_id=f"w{worker}-{i}", event="queued",
                                                  at=dt.datetime(2026, 1, 1), detail=str(worker)))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_four_processes_writing_2000_rows_each_lose_and_duplicate_nothing(backend, tmp_path, fresh_pg_url):
    url = f"sqlite:///{tmp_path / 'ops.db'}" if backend == "sqlite" else fresh_pg_url
    StoreResource(db_url=url).engine.dispose()  # migrate once before the race, as `halo demo`/the first process would
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(url, w, 2000)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    with StoreResource(db_url=url).read() as conn:
        total, distinct = conn.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(EVENTS.c.message_id))).select_from(EVENTS)
        ).one()
        per_worker = dict(conn.execute(sa.select(EVENTS.c.detail, sa.func.count()).group_by(EVENTS.c.detail)).all())
    assert (total, distinct) == (8000, 8000)
    assert per_worker == {"0": 2000, "1": 2000, "2": 2000, "3": 2000}


def test_processes_racing_to_migrate_a_new_database_all_succeed(tmp_path):
    url = f"sqlite:///{tmp_path / 'race.db'}"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(url, w, 1)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert _schema_diff(url) == []


def test_threads_of_one_process_migrating_different_databases_at_once_all_succeed(tmp_path):
    """Alembic's `op` and `context` are one per process: a late alert's store (a thread) migrating
    while the main thread migrated another database ran one's steps on the other's connection
    (`no such table: provider_state` on SQLite, in CI)."""
    urls = [f"sqlite:///{tmp_path / f'db{i}.db'}" for i in range(4)]
    stores = [StoreResource(db_url=url) for url in urls]
    failures = []

    def open_store(store: StoreResource) -> None:
        try:
            store.engine  # noqa: B018 - made and migrated
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")

    threads = [threading.Thread(target=open_store, args=(store,)) for store in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for store in stores:
        store.dispose()
    assert failures == []
    assert [_schema_diff(url) for url in urls] == [[]] * 4


def test_a_store_without_a_url_follows_halo_db_url_and_halo_home_as_they_change(tmp_path, monkeypatch):
    store = StoreResource()
    monkeypatch.setenv("HALO_DB_URL", f"sqlite:///{tmp_path / 'a.db'}")
    assert store.url == f"sqlite:///{tmp_path / 'a.db'}"
    monkeypatch.setenv("HALO_DB_URL", f"sqlite:///{tmp_path / 'b.db'}")
    assert store.url == f"sqlite:///{tmp_path / 'b.db'}"
    monkeypatch.delenv("HALO_DB_URL")
    monkeypatch.setenv("HALO_HOME", str(tmp_path / "home"))
    assert store.url == f"sqlite:///{tmp_path / 'home' / 'halo.db'}"
    assert StoreResource(db_url="sqlite:///elsewhere.db").url == "sqlite:///elsewhere.db"


def test_reads_on_postgresql_run_in_autocommit_and_every_write_stays_one_transaction(fresh_pg_url):
    """A read on PostgreSQL sends no BEGIN and COMMIT (two of a one-statement read's three round
    trips); the pooled connections it used are handed to writes as transactional as before: a
    write that fails halfway leaves nothing."""
    store = StoreResource(db_url=fresh_pg_url)
    for i in range(12):  # more than the pool keeps, reads and writes taking turns
        with store.read() as conn:
            assert conn.connection.dbapi_connection.autocommit
            assert conn.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar() == 0
        with pytest.raises(RuntimeError), store.write() as conn:
            assert not conn.connection.dbapi_connection.autocommit
            conn.execute(sa.insert(EVENTS).values(message_id=f"m{i}", event="queued", at=dt.datetime(2026, 1, 1)))
            raise RuntimeError("boom")
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar() == 0
    store.dispose()
