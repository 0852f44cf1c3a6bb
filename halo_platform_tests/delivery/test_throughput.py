"""What the drain's speed rests on, pinned where it could silently break: a claim leases exactly
its batch in one statement on every database (PostgreSQL once leased the whole queue for a
batch of 10) and its messages' ids grow in claim order, the grouped writes of PostgreSQL (arrays, COPY) store what the generic path
stores, and a keep-alive connection the provider closed while idle is replaced, not taken for
an unknown outcome."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
import sqlalchemy as sa

from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.delivery.lifecycle import Transition
from halo_platform.delivery.providers.base import ACKNOWLEDGED
from halo_platform.delivery.queue import claim, mark_in_flight, persist
from halo_platform.delivery.service import enqueue_many
from halo_platform.delivery.tables import DeliveryAttempt, Message, MessageEvent
from halo_platform_tests.delivery.conftest import outgoing


def _store(backend: str, halo_store, request):  # noqa: ANN001, ANN202
    urls = {"sqlite": None, "postgresql": "migrated_pg_url", "mariadb": "mysql_url"}
    return StoreResource(db_url=request.getfixturevalue(urls[backend])) if urls[backend] else halo_store


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_a_claim_leases_exactly_its_batch_oldest_first_and_a_second_claim_the_next(backend, providers_file, halo_store, request):
    store = _store(backend, halo_store, request)
    config = providers_file({"s": {"kind": "sandbox", "channel": "sms"}}, [])
    with store.read() as conn:
        earlier = set(conn.execute(sa.select(Message.id)).scalars())
    enqueue_many("sms", [{"to": "+33612345678", "body": f"claim{i}", "priority": "LOW"} for i in range(50)], store=store, providers=config)
    try:
        now = utcnow() + dt.timedelta(seconds=1)
        with store.write() as conn:
            first = claim(conn, "sms", "run-a", 10, now, 60)
        with store.write() as conn:
            second = claim(conn, "sms", "run-b", 10, now, 60)
        with store.read() as conn:
            leased = dict(conn.execute(sa.select(Message.lease_owner, sa.func.count()).where(Message.lease_owner.is_not(None))
                                       .group_by(Message.lease_owner)).all())
        assert leased == {"run-a": 10, "run-b": 10}
        assert [r.content["body"] for r in first] == [f"claim{i}" for i in range(10)]
        with store.read() as conn:  # read raw and decoded after the claim's transaction: what the ORM reads
            orm = {m.id: m for m in conn.execute(sa.select(Message.__table__).where(Message.lease_owner == "run-a"))}
        assert [r._asdict() for r in first] == [{name: getattr(orm[r.id], name) for name in r._fields} for r in first]
        assert all(r.lease_until.tzinfo is dt.UTC and isinstance(r.content, dict) for r in first)
        assert [r.content["body"] for r in second] == [f"claim{i}" for i in range(10, 20)]
        # time-ordered ids: a claim's messages, their events and attempts are neighbours in every index on the id
        claimed = [r.id for r in first + second]
        assert claimed == sorted(claimed)
    finally:  # the MariaDB database is the session's: leave no message for the next test to send
        with store.write() as conn:
            ours = [i for i in conn.execute(sa.select(Message.id)).scalars() if i not in earlier]
            conn.execute(sa.delete(MessageEvent).where(MessageEvent.message_id.in_(ours)))
            conn.execute(sa.delete(Message).where(Message.id.in_(ours)))
        if store is not halo_store:
            store.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_recorded_answers_are_the_same_rows_whatever_the_database(backend, providers_file, halo_store, request):
    """PostgreSQL records a group with one UPDATE over arrays and COPY; SQLite with statements of
    64 rows each (150 answers: two full statements and the rest). Only the messages the owner
    still holds move, and get their events; one cancelled meanwhile keeps its status and gets none."""
    store = _store(backend, halo_store, request)
    config = providers_file({"s": {"kind": "sandbox", "channel": "sms"}}, [])
    enqueue_many("sms", [{"to": "+33612345678", "body": f"m{i}", "priority": "LOW"} for i in range(151)], store=store, providers=config)
    now = utcnow() + dt.timedelta(seconds=1)
    later = now + dt.timedelta(seconds=30)
    with store.write() as conn:
        rows = claim(conn, "sms", "run", 150, now, 60)
        (other,) = claim(conn, "sms", "other-run", 1, now, 60)
        conn.execute(sa.update(Message).where(Message.id == rows[7].id).values(status="cancelled"))
        kinds = [("sent", "pm-{}", 0, None, None), ("retry_scheduled", None, 1, later, "503 busy"), ("provider_error", None, 0, None, "400 bad number é")]
        moved = [Transition(r.id, status, "s", pmid and pmid.format(i), retries, at or r.next_attempt_at, detail)
                 for i, r in enumerate([*rows, other]) for status, pmid, retries, at, detail in [kinds[i % 3]]]
        attempts = [{"message_id": r.id, "provider": "s", "outcome": ACKNOWLEDGED, "http_status": 201, "latency_ms": 1.5, "at": now} for r in rows]
        persist(conn, "run", moved, attempts, now)
    with store.read() as conn:
        stored = {r.id: r for r in conn.execute(sa.select(Message))}
        events = conn.execute(sa.select(MessageEvent.message_id, MessageEvent.event, MessageEvent.detail, MessageEvent.at)
                              .where(MessageEvent.event != "queued")).all()
        attempts_at = conn.execute(sa.select(DeliveryAttempt.at, DeliveryAttempt.latency_ms)).all()
    ours = moved[:-1]
    expected = [("cancelled" if t.message_id == rows[7].id else t.status, t.provider_message_id, t.number_of_retries, None, t.next_attempt_at)
                for t in ours]
    assert [(stored[t.message_id].status, stored[t.message_id].provider_message_id, stored[t.message_id].number_of_retries,
             stored[t.message_id].lease_owner, stored[t.message_id].next_attempt_at) for t in ours] == expected
    assert expected[1][:3] == ("retry_scheduled", None, 1) and expected[1][4] == later and expected[3][:2] == ("sent", "pm-3")
    assert (stored[other.id].status, stored[other.id].lease_owner, stored[other.id].provider) == ("queued", "other-run", None)
    # an answer is an event where it moved its message, as on every store: neither the one cancelled
    # nor the one another run holds gets one (each request that left is still an attempt)
    assert sorted((e.message_id, e.event, e.detail) for e in events) == sorted((t.message_id, t.status, t.detail or None) for t in ours
                                                                               if t.message_id != rows[7].id)
    assert {e.at for e in events} == {now} and attempts_at == [(now, 1.5)] * 150
    if store is not halo_store:
        store.dispose()


def test_a_keep_alive_connection_the_provider_closed_while_idle_is_replaced_not_an_unknown_outcome(fakes, make_provider):
    fake = fakes["twilio"]
    provider = make_provider("twilio", fake)
    assert provider.send(outgoing("sms")).outcome == ACKNOWLEDGED
    fake.stop()  # closes the pooled connection from the server's side
    fake.start()
    result = provider.send(outgoing("sms"))
    assert result.outcome == ACKNOWLEDGED, result.detail
    assert len(fake.accepted) == 2


def test_a_marker_finds_its_messages_by_primary_key_on_postgresql_even_with_stale_statistics(migrated_pg_url, providers_file):
    """Right after a burst is queued PostgreSQL has no statistics on it, and a marker whose
    still-due check matched the partial index `ix_messages_due` was planned as a scan of every
    due message (16-24 ms per marker of 32 messages among 60,000 queued, instead of about 1)."""
    store = StoreResource(db_url=migrated_pg_url)
    config = providers_file({"s": {"kind": "sandbox", "channel": "sms"}}, [])
    # enough rows that scanning them all is the planner's worst choice, not a fair one for a small table
    enqueue_many("sms", ({"to": "+33612345678", "body": f"m{i}", "priority": "LOW"} for i in range(20_000)), store=store, providers=config)
    now = utcnow() + dt.timedelta(seconds=1)
    statements: list[tuple] = []
    try:
        with store.write() as conn:
            rows = claim(conn, "sms", "run", 100, now, 60)
            sa.event.listen(conn, "before_cursor_execute", lambda *args: statements.append(args[2:4]))
            assert mark_in_flight(conn, "run", [(r.id, "s", r.lease_until) for r in rows[:32]], now) == {r.id for r in rows[:32]}
            sql, parameters = statements[-1]
            cursor = conn.connection.driver_connection.cursor()
            cursor.execute("EXPLAIN " + sql, parameters)
            plan = "\n".join(line for (line,) in cursor.fetchall())
        assert "messages_pkey" in plan and "ix_messages_due" not in plan, plan
    finally:
        store.dispose()


def test_a_claim_and_a_marker_update_messages_in_place_on_postgresql(migrated_pg_url, providers_file):
    """Neither a claim nor an in-flight marker changes an indexed column, and the messages' pages
    keep room (migration delivery_0010), so both are HOT updates: no new version on another page,
    no new entry in any of the table's indexes. With full pages none of them was.

    A page makes room for the next update by pruning the versions earlier ones left, which the
    server does only once no transaction older than theirs runs anywhere in the cluster: a write
    held open in another database (another test's, at any moment) kept 982 of the 2,000 off their
    page (CI, twice). So each step waits for the cluster to pass it before the next one: this
    test counts what the claim and the marker do, not what other transactions hold."""
    store = StoreResource(db_url=migrated_pg_url)
    with store.write() as conn:
        # an autoanalyze of the new rows holds a snapshot in this database just the same
        conn.exec_driver_sql("ALTER TABLE messages SET (autovacuum_enabled = false)")
    config = providers_file({"s": {"kind": "sandbox", "channel": "sms"}}, [])
    enqueue_many("sms", ({"to": "+33612345678", "body": f"m{i}", "priority": "LOW"} for i in range(2_000)), store=store, providers=config)
    now = utcnow() + dt.timedelta(seconds=1)

    def updates() -> tuple[int, int]:
        with store.read() as conn:
            conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
            return conn.exec_driver_sql("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'messages'").one()

    def xid(conn: sa.Connection) -> int:
        return conn.exec_driver_sql("SELECT pg_current_xact_id()::text::bigint").scalar_one()

    def passed(writer: int) -> None:
        """Return once no transaction as old as the writer's runs in the cluster."""
        deadline = time.monotonic() + 60
        while True:
            with store.read() as conn:
                oldest = conn.exec_driver_sql("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").scalar_one()
            if oldest > writer:
                return
            assert time.monotonic() < deadline, "a transaction elsewhere in the cluster stayed open for 60 s"
            time.sleep(0.05)

    try:
        before = updates()
        for _ in range(5):
            with store.write() as conn:
                rows = claim(conn, "sms", "run", 200, now, 60)
                claimer = xid(conn)
            passed(claimer)
            for start in range(0, 200, 50):
                with store.write() as conn:
                    mark_in_flight(conn, "run", [(r.id, "s", r.lease_until) for r in rows[start:start + 50]], now)
                    marker = xid(conn)
                passed(marker)
        deadline = time.monotonic() + 10  # the server publishes its counters within a second or so
        while (after := updates())[0] - before[0] < 2_000 and time.monotonic() < deadline:
            time.sleep(0.2)
        updated, hot = after[0] - before[0], after[1] - before[1]
        assert updated == 2_000 and hot >= 0.9 * updated, (updated, hot)  # 10% with full pages, 58% with a fillfactor of 70
    finally:
        store.dispose()


def test_a_claim_while_another_claim_holds_its_batch_takes_the_next_batch_at_once(migrated_pg_url, providers_file):
    """On PostgreSQL a claim's pick skips the rows an open claim holds and leases the next ones.
    (MariaDB does not: see the next test.)"""
    store = StoreResource(db_url=migrated_pg_url)
    config = providers_file({"s": {"kind": "sandbox", "channel": "sms"}}, [])
    enqueue_many("sms", [{"to": "+33612345678", "body": f"claim{i}", "priority": "LOW"} for i in range(20)], store=store, providers=config)
    now, second = utcnow() + dt.timedelta(seconds=1), []

    def claim_meanwhile() -> None:
        with store.write() as conn:
            second.extend(claim(conn, "sms", "run-b", 10, now, 60))

    try:
        with store.write() as conn:  # the first claim's transaction is still open
            first = claim(conn, "sms", "run-a", 10, now, 60)
            other = threading.Thread(target=claim_meanwhile)
            other.start()
            other.join(10)
            waited = other.is_alive()
        other.join(60)
        assert not waited, "the second claim waited for the first one's commit"
        assert [r.content["body"] for r in first] == [f"claim{i}" for i in range(10)]
        assert [r.content["body"] for r in second] == [f"claim{i}" for i in range(10, 20)]
    finally:
        store.dispose()


def test_a_mariadb_claim_holds_no_lock_on_the_history_it_reads_past(migrated_mysql_url, providers_file):
    """A locking pick (FOR UPDATE SKIP LOCKED, as on PostgreSQL) walked the channel's index
    through 3,000 sent messages (MariaDB has no partial index) and a callback updating one of
    them waited for the claim's commit. The MariaDB pick reads without locks."""
    store = StoreResource(db_url=migrated_mysql_url)
    config = providers_file({"s": {"kind": "sandbox", "channel": "sms"}}, [])
    enqueue_many("sms", [{"to": "+33612345678", "body": f"old{i}", "priority": "LOW"} for i in range(3000)], store=store, providers=config)
    with store.write() as conn:
        conn.execute(sa.update(Message).values(status="sent"))
        (old,) = conn.execute(sa.select(Message.id).limit(1)).scalars()
    enqueue_many("sms", [{"to": "+33612345678", "body": f"due{i}", "priority": "LOW"} for i in range(40)], store=store, providers=config)
    now, answered = utcnow() + dt.timedelta(seconds=1), []

    def callback_meanwhile() -> None:
        with store.write() as conn:
            conn.execute(sa.text("SET SESSION innodb_lock_wait_timeout = 3"))
            conn.execute(sa.update(Message).where(Message.id == old).values(status="delivered"))
        answered.append(True)

    try:
        with store.write() as conn:  # the claim's transaction is still open
            assert [r.content["body"] for r in claim(conn, "sms", "run-a", 10, now, 60)] == [f"due{i}" for i in range(10)]
            callback = threading.Thread(target=callback_meanwhile)
            callback.start()
            callback.join(2)
            waited = callback.is_alive()
        callback.join(10)
        assert not waited and answered == [True]
    finally:
        store.dispose()
