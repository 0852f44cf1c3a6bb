"""The round trips a HIGH send makes to a PostgreSQL store, counted on the wire (libpq's trace of
the connections the store opens): on a shared machine each is a wait for a server process, and
their number is what a HIGH request's latency grows with while a drain runs."""

from __future__ import annotations

import sqlalchemy as sa

from halo_platform.core.store import StoreResource
from halo_platform.delivery.service import submit
from halo_platform_tests.delivery.test_callback_outcomes import _twilio


def _round_trips(trace: str) -> int:
    """Messages that wait for the server's answer: a simple Query, or the Sync ending an extended query."""
    sent = (line.split("\t") for line in trace.splitlines())  # when, F(rontend) or B(ackend), length, message, ...
    return sum(1 for fields in sent if fields[1:2] == ["F"] and fields[3:4] in (["Query"], ["Sync"]))


def test_a_high_send_on_postgresql_makes_11_round_trips(fresh_pg_url, fakes, providers_file, tmp_path):
    """Was 14 round trips for a HIGH SMS (the API key check apart): a transaction for its insert
    (BEGIN, the routing's 3 reads, the suppression check, 2 inserts, its marker, COMMIT), then one for
    its answer (BEGIN, the answer's one statement, the view it returns, COMMIT) and a look for kept
    callbacks. The answer is one statement, atomic alone: it now runs in autocommit, and the look
    for kept callbacks on the same connection, after it; the message is inserted marked in flight
    for its first provider, not marked by an update after its insert: 11."""
    store = StoreResource(db_url=fresh_pg_url)
    providers = providers_file({"tw": _twilio(fakes)})
    payload = {"to": "+33612345678", "country": "FR", "body": "Code 123456", "priority": "HIGH"}
    path = tmp_path / "libpq.trace"
    traced: dict[int, object] = {}
    try:
        with path.open("w") as trace:

            def trace_checked_out(dbapi, *_) -> None:  # noqa: ANN001 - every connection the send takes from the pool
                if id(dbapi) not in traced:
                    dbapi.pgconn.trace(trace.fileno())
                    traced[id(dbapi)] = dbapi

            assert submit("sms", payload, store=store, providers=providers)[0]["status"] == "sent"  # the pool's connections made
            sa.event.listen(store.engine, "checkout", trace_checked_out)
            assert submit("sms", payload, store=store, providers=providers)[0]["status"] == "sent"
            for dbapi in traced.values():
                dbapi.pgconn.untrace()  # libpq writes its trace out
        assert _round_trips(path.read_text()) == 11
    finally:
        store.dispose()
