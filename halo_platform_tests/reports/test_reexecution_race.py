"""Two re-executions of one failed request at the same time (an operator clicking re-execute
twice, or the run retry policy and a manual re-execution overlapping) send each sink the
request's output once: the second waits while the first delivers, then finds the sink has it.
A sink whose delivery was claimed by a run that failed or died is delivered by the next one."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.lab.fakehttp import FakeHTTPServer, Recorder, Request
from halo_platform.reports import audit
from halo_platform.reports.assets import deliver_once
from halo_platform.reports.tables import TaskDeliveryClaim
from halo_platform.sinks import Delivery, SinksResource

DELIVERY = Delivery(subject="payment_reconciliation: 2024-03-04", text="3 row(s)")
# how long the first delivery waits for a second one to arrive: what the second run needs to read
# the store and post, many times over; with the fix it never comes, and the first goes on after this
SECOND_POST_WAIT = 5.0


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def any_store(request, store) -> Iterator[StoreResource]:  # noqa: ANN001
    """The reports' SQLite store, then a PostgreSQL and a MariaDB database of its own (migrated)."""
    if request.param == "sqlite":
        yield store
        return
    server = StoreResource(db_url=request.getfixturevalue({"postgresql": "migrated_pg_url", "mariadb": "migrated_mysql_url"}[request.param]))
    server.engine  # noqa: B018 - migrated before the race
    yield server
    server.dispose()


@dataclass
class Hook:
    """What the webhook sink `partner_hook` received. With `overlap`, its first POST is answered once
    a second one has come (at most `SECOND_POST_WAIT` later): two runs sending at once overlap."""

    received: Recorder[Request] = field(default_factory=Recorder)
    overlap: bool = False
    _second: threading.Event = field(default_factory=threading.Event)

    def answer(self, request: Request) -> tuple[int, dict]:
        self.received.append(request)
        if len(self.received) > 1:
            self._second.set()
        elif self.overlap:
            self._second.wait(SECOND_POST_WAIT)
        return 200, {"ok": True}


@pytest.fixture
def hook(http_fake: FakeHTTPServer, sinks_file) -> Hook:  # noqa: ANN001
    made = Hook()
    http_fake.add_route("POST", "/hook", made.answer)
    sinks_file({"partner_hook": {"kind": "webhook", "url": f"{http_fake.url}/hook", "secret": "s3cret"}})
    return made


def _requests(store: StoreResource, *reexecutions: str) -> None:
    """The failed request `first` and its re-executions, running."""
    audit.record_status(store, "first", "FAILED", task="payment_reconciliation", error="delivery failed")
    for request_id in reexecutions:
        audit.record_status(store, request_id, "RUNNING", task="payment_reconciliation", trigger="retry",
                            root_request_id="first")


def _delivering(store: StoreResource, request_id: str, root: str) -> Callable[[], tuple]:
    """`deliver_once` of `request_id` to `partner_hook`, started on a thread of its own; call the result
    for what it returned. A delivery that waits on a claim for good fails the test, never hangs it."""
    done: list[tuple] = []
    thread = threading.Thread(daemon=True, target=lambda: done.append(
        deliver_once(store, SinksResource(), ["partner_hook"], DELIVERY, request_id, root)))
    thread.start()

    def result() -> tuple:
        thread.join(60)
        assert done, f"{request_id}: still delivering (or failed) after 60 s"
        return done[0]

    return result


def test_two_re_executions_at_once_send_a_sink_the_output_once(any_store, hook):
    _requests(any_store, "again", "again_too")
    hook.overlap = True
    first = _delivering(any_store, "again", "first")
    hook.received.wait_for(1, timeout=30)  # "again" is delivering
    second = _delivering(any_store, "again_too", "first")
    (outcomes, earlier), again_too = first(), second()

    assert len(hook.received) == 1
    assert ([(o.sink, o.status) for o in outcomes], earlier) == ([("partner_hook", "DELIVERED")], {})
    target = outcomes[0].targets
    assert again_too == ([], {"partner_hook": target})  # it waited, then found the sink had it
    assert audit.delivered_sinks(any_store, "first") == {"partner_hook": target}
    assert audit.get_request(any_store, "again_too")["deliveries"] == []


def test_a_sink_claimed_by_a_run_that_failed_or_died_is_delivered_by_the_next(any_store, hook):
    """A run that crashed while delivering leaves its claim: the next re-execution takes it over
    once that run's request has ended (FAILED, as the run-failure sensor records it) or, for a
    killed process whose request stays RUNNING, once the claim is older than the lease."""
    _requests(any_store, "crashed", "died", "next", "last")
    claims = TaskDeliveryClaim.__table__
    with any_store.write() as conn:
        conn.execute(claims.insert().values(root_request_id="first", sink="partner_hook", request_id="crashed",
                                            claimed_at=utcnow()))
    audit.record_status(any_store, "crashed", "FAILED", task="payment_reconciliation", error="run worker died")
    outcomes, earlier = _delivering(any_store, "next", "first")()
    assert ([(o.sink, o.status) for o in outcomes], earlier, len(hook.received)) == ([("partner_hook", "DELIVERED")], {}, 1)

    with any_store.write() as conn:  # another root: a killed run still RUNNING, its claim past the lease
        conn.execute(claims.insert().values(root_request_id="other", sink="partner_hook", request_id="died",
                                            claimed_at=utcnow() - audit.DELIVERY_LEASE - dt.timedelta(minutes=1)))
        conn.execute(audit.requests_t.update().where(audit.requests_t.c.request_id.in_(["died", "last"]))
                     .values(root_request_id="other"))
    outcomes, earlier = _delivering(any_store, "last", "other")()
    assert ([(o.sink, o.status) for o in outcomes], earlier, len(hook.received)) == ([("partner_hook", "DELIVERED")], {}, 2)
    with any_store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(claims)).scalar() == 0  # released once recorded
