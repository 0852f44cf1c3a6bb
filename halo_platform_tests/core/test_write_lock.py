"""The SQLite write queue across processes: a priority writer (a HIGH send) that comes while
a bulk writer (a drain's transaction) is already queued behind the holder goes before it, so it
waits for one transaction at most; and a bulk transaction run in steps lets it in between two."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from halo_platform.core.store import StoreResource
from halo_platform.core.write_lock import in_autocommit, priority_waiting, writing, writing_in_steps

WRITER = """
import sys
from pathlib import Path
from halo_platform.core.store import StoreResource
from halo_platform.core.write_lock import priority_waiting, writing, writing_in_steps
url, name, priority, log = sys.argv[1], sys.argv[2], sys.argv[3] == "1", Path(sys.argv[4])
store = StoreResource(db_url=url)
store.engine
print("ready", flush=True)
with writing(store, priority=priority):
    with log.open("a") as f:
        f.write(name + "\\n")
"""


def _writer(url: str, name: str, priority: bool, log: Path) -> subprocess.Popen:
    """A writer in a process of its own, returned once it waits for the lock (Linux lists a
    process blocked on a file lock in /proc/locks with an arrow)."""
    process = subprocess.Popen([sys.executable, "-c", WRITER, url, name, "1" if priority else "0", str(log)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 30
    while not any(line.split()[1:3] == ["->", "FLOCK"] and str(process.pid) in line.split() for line in Path("/proc/locks").read_text().splitlines()):
        assert time.monotonic() < deadline, f"{name} never waited for the lock"
        time.sleep(0.01)
    return process


def test_a_priority_writer_passes_a_bulk_writer_already_queued(tmp_path):
    url = f"sqlite:///{tmp_path / 'halo.db'}"
    store = StoreResource(db_url=url)
    log = tmp_path / "order"
    with writing(store):  # the holder: a drain's transaction
        bulk = _writer(url, "bulk", False, log)
        high = _writer(url, "high", True, log)
        assert not log.exists()
    assert bulk.wait(30) == 0 and high.wait(30) == 0
    assert log.read_text().split() == ["high", "bulk"]


def test_a_bulk_transaction_in_steps_lets_a_priority_writer_in_between_two(tmp_path):
    url = f"sqlite:///{tmp_path / 'halo.db'}"
    store = StoreResource(db_url=url)
    log = tmp_path / "order"
    high = []

    def step(name: str, then=None):  # noqa: ANN001, ANN202
        def run(conn) -> None:  # noqa: ANN001
            with log.open("a") as f:
                f.write(name + "\n")
            if then:
                then()
        return run

    def start_high() -> None:
        high.append(_writer(url, "high", True, log))
        assert priority_waiting(store)

    assert not priority_waiting(store)
    writing_in_steps(store, [step("bulk-1"), step("bulk-2", start_high), step("bulk-3")])
    assert high[0].wait(30) == 0
    assert log.read_text().split() == ["bulk-1", "bulk-2", "high", "bulk-3"]
    assert not priority_waiting(store)


def test_a_statement_in_autocommit_on_a_kept_connection_commits_alone_and_leaves_it_transactional(migrated_pg_url):
    events = sa.table("message_events", sa.column("message_id"), sa.column("event"), sa.column("at"))
    store = StoreResource(db_url=migrated_pg_url)

    def count() -> int:
        with store.read() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(events)).scalar()

    with store.engine.connect() as held:
        in_autocommit(held, lambda conn: conn.execute(sa.insert(events).values(message_id="m1", event="queued", at=sa.func.now())))
        assert count() == 1 and not held.in_transaction()  # committed with the statement, seen elsewhere
        with pytest.raises(RuntimeError), held.begin():
            held.execute(sa.insert(events).values(message_id="m2", event="queued", at=sa.func.now()))
            raise RuntimeError("boom")
        assert count() == 1
    store.dispose()
