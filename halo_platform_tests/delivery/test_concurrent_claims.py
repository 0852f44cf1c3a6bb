"""Claims at the same time never lease one message twice, on MariaDB too, where the pick does not
lock (no SKIP LOCKED there, `queue._claim_statements`): the lease is a conditional UPDATE that
InnoDB re-checks on the row's latest committed version, so a claim that lost the race leases
nothing of it and reads back only what it leased."""

import datetime as dt
import threading

import pytest

from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.delivery.queue import claim
from halo_platform.delivery.service import enqueue_many

CLAIMERS, MESSAGES, BATCH = 6, 600, 25


@pytest.mark.parametrize("backend", ["mariadb", "postgresql"])
def test_six_claimers_at_once_lease_each_message_exactly_once(backend, providers_file, halo_env, request):
    store = StoreResource(db_url=request.getfixturevalue({"mariadb": "migrated_mysql_url", "postgresql": "migrated_pg_url"}[backend]))
    config = providers_file({"s": {"kind": "sandbox", "channel": "sms"}}, [])
    enqueue_many("sms", [{"to": "+33612345678", "body": f"m{i}", "priority": "LOW"} for i in range(MESSAGES)],
                 store=store, providers=config)
    now = utcnow() + dt.timedelta(seconds=1)
    leased: dict[str, list[str]] = {f"run-{i}": [] for i in range(CLAIMERS)}
    failures: list[BaseException] = []
    start = threading.Barrier(CLAIMERS)

    def claimer(owner: str) -> None:
        try:
            start.wait()
            while True:
                with store.write() as conn:
                    rows = claim(conn, "sms", owner, BATCH, now, 300)
                if not rows:
                    with store.read() as conn:  # a claim that lost every pick to another takes none: look again
                        if not claim_left(conn):
                            return
                    continue
                leased[owner].extend(r.id for r in rows)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    def claim_left(conn) -> int:  # noqa: ANN001
        import sqlalchemy as sa

        from halo_platform.delivery.tables import Message
        return conn.execute(sa.select(sa.func.count()).select_from(Message).where(Message.lease_owner.is_(None))).scalar_one()

    threads = [threading.Thread(target=claimer, args=(owner,)) for owner in leased]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not failures, failures
        every = [i for ids in leased.values() for i in ids]
        assert len(every) == len(set(every)) == MESSAGES  # none twice, none left
        assert sum(1 for ids in leased.values() if ids) > 1  # they did claim side by side
    finally:
        store.dispose()
