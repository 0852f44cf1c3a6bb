"""The round trips a send makes to a PostgreSQL store, counted on the wire (libpq's trace of the
connections the store opens): on a shared machine each is a wait for a server process, and their
number is what a HIGH request's latency grows with while a drain runs."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from halo_platform.core.store import StoreResource
from halo_platform.delivery.service import message_view, submit
from halo_platform.delivery.suppressions import suppress
from halo_platform_tests.delivery.test_callback_outcomes import _twilio

PAYLOAD = {"to": "+33612345678", "country": "FR", "body": "Code 123456"}


def _round_trips(trace: str) -> int:
    """Messages that wait for the server's answer: a simple Query, or the Sync ending an extended query."""
    sent = (line.split("\t") for line in trace.splitlines())  # when, F(rontend) or B(ackend), length, message, ...
    return sum(1 for fields in sent if fields[1:2] == ["F"] and fields[3:4] in (["Query"], ["Sync"]))


def _traced_send(store: StoreResource, providers, payload: dict, path) -> tuple[dict, int]:  # noqa: ANN001
    """`submit(payload)` once the pool's connections are made; its view and its round trips."""
    assert submit("sms", {**PAYLOAD, "priority": "HIGH"}, store=store, providers=providers)[0]["status"] == "sent"
    traced: dict[int, object] = {}
    with path.open("w") as trace:

        def trace_checked_out(dbapi, *_) -> None:  # noqa: ANN001 - every connection the send takes from the pool
            if id(dbapi) not in traced:
                dbapi.pgconn.trace(trace.fileno())
                traced[id(dbapi)] = dbapi

        sa.event.listen(store.engine, "checkout", trace_checked_out)
        view, _ = submit("sms", payload, store=store, providers=providers)
        for dbapi in traced.values():
            dbapi.pgconn.untrace()  # libpq writes its trace out
    return view, _round_trips(path.read_text())


@pytest.fixture
def pg_store(migrated_pg_url):  # noqa: ANN001, ANN201
    store = StoreResource(db_url=migrated_pg_url)
    yield store
    store.dispose()


def test_a_high_send_on_postgresql_makes_5_round_trips(pg_store, fakes, providers_file, tmp_path):
    """Was 14 round trips for a HIGH SMS (the API key check apart): a transaction for its insert
    (BEGIN, the routing's 3 reads, the suppression check, 2 inserts, its marker, COMMIT), then one for
    its answer (BEGIN, the answer's one statement, the view it returns, COMMIT) and a look for kept
    callbacks. Each write is now one statement, atomic alone, run in autocommit: the message is
    inserted with its event, marked in flight for its first provider, in one; the answer in one;
    the look for kept callbacks on the same connection after it: 8. The routing's weights, states
    and added rules are now read in one statement, and the look for kept callbacks with the view: 5."""
    providers = providers_file({"tw": _twilio(fakes)})
    view, round_trips = _traced_send(pg_store, providers, {**PAYLOAD, "priority": "HIGH"}, tmp_path / "libpq.trace")
    assert view["status"] == "sent"
    assert round_trips == 5


def test_a_queued_send_on_postgresql_is_its_suppression_check_and_one_insert(pg_store, fakes, providers_file, tmp_path):
    """A NORMAL message: the suppression check, then the message and its `queued` event in one
    statement (was BEGIN, the check, 2 inserts, COMMIT, then the view it returns: 6 round trips)."""
    providers = providers_file({"tw": _twilio(fakes)})
    view, round_trips = _traced_send(pg_store, providers, {**PAYLOAD, "priority": "NORMAL"}, tmp_path / "libpq.trace")
    assert view["status"] == "queued"
    assert round_trips == 3  # the check, the insert, the view


@pytest.mark.parametrize(("priority", "stop", "expires", "status", "events"), [
    ("NORMAL", True, None, "suppressed", ["queued", "suppressed"]),
    ("HIGH", False, "2000-01-01T00:00:00Z", "expired", ["queued", "expired"]),
    ("LOW", False, None, "queued", ["queued"]),
])
def test_a_message_written_in_one_statement_has_its_events_in_order(pg_store, fakes, providers_file, priority, stop, expires, status, events):
    """The events written with the message in one statement keep their order (`queued` first)."""
    providers = providers_file({"tw": _twilio(fakes)})
    if stop:
        suppress(pg_store, "sms", PAYLOAD["to"], country="FR")
    view, _ = submit("sms", {**PAYLOAD, "priority": priority, **({"expires_at": expires} if expires else {})}, store=pg_store, providers=providers)
    shown = message_view(view["id"], pg_store)
    assert (shown["status"], [e["event"] for e in shown["events"]]) == (status, events)
