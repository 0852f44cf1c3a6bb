"""The store's engine: it refuses a SQLite library older than the SQL it runs, in one line, and on
SQLite leaves checkpoints to a thread of its own."""

import multiprocessing
import os
import time

import pytest

from halo_platform.core import engine
from halo_platform.core.errors import HaloError


def test_a_sqlite_library_too_old_for_the_store_is_refused_in_one_line(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(engine.sqlite3, "sqlite_version_info", (3, 31, 1))  # Ubuntu 20.04's
    monkeypatch.setattr(engine.sqlite3, "sqlite_version", "3.31.1")
    with pytest.raises(HaloError, match=r"^the SQLite library Python uses is 3\.31\.1; the store needs 3\.35\.0 or later"):
        engine.make_engine(f"sqlite:///{tmp_path / 'ops.db'}")
    assert not (tmp_path / "ops.db").exists()



def test_a_sqlite_store_commits_without_checkpointing_and_a_thread_of_its_own_checkpoints(tmp_path) -> None:  # noqa: ANN001
    store = engine.make_engine(f"sqlite:///{tmp_path / 'ops.db'}")
    try:
        with store.begin() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0  # a commit never copies the log itself
            conn.exec_driver_sql("CREATE TABLE t (x BLOB)")
        for _ in range(100):  # 1.6 MB in 100 commits, each far under SQLite's own 1,000-page checkpoint
            with store.begin() as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES (randomblob(16000))")
        deadline = time.monotonic() + 10
        while (tmp_path / "ops.db").stat().st_size < 1_600_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (tmp_path / "ops.db").stat().st_size >= 1_600_000  # the checkpointer copied the log into the database
    finally:
        store.dispose()


def test_the_checkpointer_never_makes_a_database_file(tmp_path) -> None:  # noqa: ANN001
    store = engine.make_engine(f"sqlite:///{tmp_path / 'gone.db'}")
    with store.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x)")
    store.dispose()
    for name in ("gone.db", "gone.db-wal", "gone.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    time.sleep(engine.CHECKPOINT_SECONDS * 3)  # the commit above woke it
    assert not (tmp_path / "gone.db").exists()


def _write_and_wait_for_the_checkpoint(store, path) -> None:  # noqa: ANN001
    store.dispose(close=False)  # the parent's connections stay the parent's
    for _ in range(100):
        with store.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (randomblob(16000))")
    deadline = time.monotonic() + 10
    while path.stat().st_size < 1_600_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    os._exit(0 if path.stat().st_size >= 1_600_000 else 1)


def test_a_forked_process_commits_wake_a_checkpointer_of_its_own(tmp_path) -> None:  # noqa: ANN001
    store = engine.make_engine(f"sqlite:///{tmp_path / 'ops.db'}")
    try:
        with store.begin() as conn:  # the parent's checkpointer is started and has nothing more to do
            conn.exec_driver_sql("CREATE TABLE t (x BLOB)")
        time.sleep(engine.CHECKPOINT_SECONDS * 3)
        child = multiprocessing.get_context("fork").Process(target=_write_and_wait_for_the_checkpoint, args=(store, tmp_path / "ops.db"))
        child.start()
        child.join(30)
        assert child.exitcode == 0  # 1: the child's commits woke no checkpointer
    finally:
        store.dispose()


_SERVER_PROCESS = {"postgresql": ("SELECT pg_backend_pid()", "SELECT pg_terminate_backend({})"),
                   "mysql": ("SELECT CONNECTION_ID()", "KILL {}")}


def _server_process(conn) -> int:  # noqa: ANN001
    return conn.exec_driver_sql(_SERVER_PROCESS[conn.dialect.name][0]).scalar()


def _end_server_process(url: str, pid: int) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(_SERVER_PROCESS[conn.dialect.name][1].format(int(pid)))
            conn.commit()
    finally:
        admin.dispose()
    time.sleep(0.2)  # the server closes the socket


@pytest.mark.parametrize("url_fixture", ["pg_url", "mysql_url"])
def test_a_connection_idle_in_the_pool_is_checked_before_use_and_one_used_moments_ago_is_not(request, url_fixture, monkeypatch) -> None:  # noqa: ANN001
    """Every checkout from the pool pinged the server (SQLAlchemy's pool_pre_ping): a round trip
    per transaction, 4 of the 19 a HIGH send made to PostgreSQL, each a wait for a server process
    on a busy machine. Now only a connection idle in the pool for PING_AFTER_IDLE_SECONDS is
    pinged first, and replaced when its server process is gone (a restart, an idle-session
    timeout); one checked in moments ago (a burst of requests) is used as it is: were its server
    process gone, its statement fails (an API caller gets 503) and the pool drops the connections
    made before, so the next checkout connects anew."""
    import sqlalchemy as sa

    url = request.getfixturevalue(url_fixture)
    monkeypatch.setattr(engine, "PING_AFTER_IDLE_SECONDS", 0.5)
    store = engine.make_engine(url)
    try:
        with store.connect() as conn:
            first = _server_process(conn)
        time.sleep(0.6)
        _end_server_process(url, first)
        with store.connect() as conn:  # pinged: idle long enough; a new connection replaces it
            second = _server_process(conn)
        assert second != first
        _end_server_process(url, second)
        with pytest.raises(sa.exc.DBAPIError) as failed, store.connect() as conn:  # used moments ago: not pinged
            _server_process(conn)
        assert failed.value.connection_invalidated
        with store.connect() as conn:
            assert _server_process(conn) not in (first, second)
    finally:
        store.dispose()
