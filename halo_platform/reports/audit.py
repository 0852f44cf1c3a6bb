"""The audit trail: `task_requests` (one row per run) and `task_deliveries` (one per sink, with
each of its attempts).

Status only moves forward (QUEUED -> RUNNING -> a terminal state): every writer (the API/CLI,
the asset, the run-status sensors) may report in any order and the row ends in the first
terminal state reported. The terminal states:

- SUCCEEDED: every sink has the output (delivered by this run or by the request it repeats);
- SKIPPED_NO_DATA: the task sends nothing for an empty result, the result was empty, nothing was sent;
- BLOCKED: a blocking check failed: nothing was delivered (the failed check alerts);
- FAILED: an error, or a sink that did not get the output;
- CANCELED: canceled before it finished.

A retry or re-execution is a request of its own whose `root_request_id` is the request it
repeats: a sink gets a request's output once per root (`delivered_sinks`), also when two of them
run at the same time (`claim_sink`). A request sent again with its idempotency key, recorded
second, is a repeat: CANCELED, its root the first request (`record_repeat`), so a re-execution
of its run is one of the first request (`root_request`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from halo_platform.core.errors import NotFoundError
from halo_platform.core.models import utcnow
from halo_platform.core.redact import mask_text
from halo_platform.core.text import as_one_line, echo, unstorable, within_bytes
from halo_platform.reports.tables import TaskDelivery, TaskDeliveryClaim, TaskRequest

if TYPE_CHECKING:
    from dagster import DagsterRun

    from halo_platform.core.store import StoreResource
    from halo_platform.sinks import DeliveryOutcome

TERMINAL = ("SUCCEEDED", "SKIPPED_NO_DATA", "BLOCKED", "FAILED", "CANCELED")
#: what each terminal state says, as the pages show it beside the state
MEANING = {
    "SUCCEEDED": "every sink has the output",
    "SKIPPED_NO_DATA": "the result was empty and this task sends nothing then: nothing was sent",
    "BLOCKED": "a blocking check failed: nothing was delivered and an alert went out",
    "FAILED": "an error, or a sink did not get the output",
    "CANCELED": "canceled before it finished",
}
STATUSES = ("QUEUED", "RUNNING", *TERMINAL)
TRIGGERS = ("manual", "schedule", "api", "retry")  # what started a request (the spec's list); a person in the Control Center is manual
_RANK = {"QUEUED": 0, "RUNNING": 1, **dict.fromkeys(TERMINAL, 2)}
KEY_TAG = "halo/idempotency_key"  # on the run of a request made with one

requests_t = TaskRequest.__table__
deliveries_t = TaskDelivery.__table__
claims_t = TaskDeliveryClaim.__table__
# How long a request still RUNNING holds its claim on a sink: longer than any delivery to one sink
# takes (its attempts and backoff), so that only a run that died (its request left RUNNING) is outlived.
DELIVERY_LEASE = dt.timedelta(hours=1)
CLAIM_POLL_SECONDS = 0.5  # between looks at a claim another running request holds


ERROR_CHARS = 2000  # of a request's error kept


def kept_error(error: str) -> str:
    """`error` as a request keeps it: masked, then cut to `ERROR_CHARS` (cut first, an address across
    the cut, `jean.dupont@exam`, was no address to the mask and stayed in clear). Only its beginning
    is masked: the longest address reaching into what is kept starts before it."""
    return mask_text(error[:ERROR_CHARS + 320])[:ERROR_CHARS]


def record_status(
    store: StoreResource,
    request_id: str,
    status: str,
    *,
    task: str,
    payload: Mapping[str, Any] | None = None,
    trigger: str = "manual",
    requested_by: str | None = None,
    root_request_id: str | None = None,
    idempotency_key: str | None = None,
    at: dt.datetime | None = None,
    created_at: dt.datetime | None = None,
    **fields: Any,
) -> str:
    """Create or advance the request row to `status`, with optional `outputs`, `row_count`,
    `error`, `stats`; returns the status the row has now. A status never moves backwards; a
    terminal status is kept once set.
    `started_at` is set by RUNNING (or given, e.g. the Dagster run's start), never by a terminal
    status alone: a request canceled or failed before its run started keeps it empty.
    `root_request_id` (default: the request itself) and `created_at` (default: `at`) are recorded
    when the row is created;
    `idempotency_key` too, or on the row another writer created first. Raises `KeyTaken` when
    another request of `requested_by` holds the key."""
    at = at or utcnow()
    if fields.get("error"):  # shown on the request's page and by the API: masked as log lines are, then cut
        fields["error"] = kept_error(fields["error"])
    created = {"task": task, "payload": dict(payload or {}), "trigger": trigger, "requested_by": requested_by,
               "root_request_id": root_request_id or request_id, "created_at": created_at or at}
    if idempotency_key is not None:
        created.update(idempotency_key=idempotency_key, idempotency_scope=key_scope(requested_by))
    try:
        return _record_status(store, request_id, status, created, at, fields)
    except sa.exc.IntegrityError:  # another writer created the row first: advance it instead
        if idempotency_key is not None and (first := find_by_key(store, requested_by, idempotency_key)) \
                and first["request_id"] != request_id:
            raise KeyTaken(first) from None
        return _record_status(store, request_id, status, created, at, fields)


def requester(tags: Mapping[str, str]) -> str | None:
    """Who asked for a run, from its tags (ours, else the Dagster UI's user), as the row can hold
    it: the launchpad sets any text, which is recorded on one line that fits rather than refused
    (a run, and the sensors recording it, would fail on every store but SQLite), without blanks at
    its ends, as `core.text.check_name` takes a name and the Requests page's filter finds it."""
    for name in (tags.get("halo/requested_by"), tags.get("dagster/user")):
        if name and (kept := as_one_line(name).strip()):
            return kept
    return None


class KeyTaken(Exception):
    """Another request of the same requester holds the idempotency key (`request`: that one)."""

    def __init__(self, request: dict[str, Any]) -> None:
        super().__init__(f"idempotency key taken by request {request['request_id']}")
        self.request = request


def record_repeat(store: StoreResource, request_id: str, first: Mapping[str, Any], **created: Any) -> str:
    """Record `request_id` CANCELED as a repeat of `first` (the request holding its idempotency key),
    with `first`'s root as its own: a re-execution of its run (the Dagster UI's re-execute) is then
    one of `first`, and sends no sink `first`'s output again."""
    error = f"a repeat of request {first['request_id']} (same idempotency key): canceled"
    return record_status(store, request_id, "CANCELED", **{**created, "root_request_id": first["root_request_id"],
                                                           "error": error})


def root_request(store: StoreResource, run: DagsterRun) -> str:
    """The request whose output a run delivers: its own id for a first run; for a re-execution, the
    root its root run's request has (that run's id, or the first request of a repeat's key)."""
    if not run.root_run_id:
        return run.run_id
    with store.read() as conn:
        recorded = conn.execute(sa.select(requests_t.c.root_request_id)
                                .where(requests_t.c.request_id == run.root_run_id)).scalar()
    return recorded or run.root_run_id


def record_run_status(store: StoreResource, run: DagsterRun, status: str, **created: Any) -> str:
    """`record_status` of a request's run, whoever reports it (its asset, the run-status sensors),
    with its `root_request` (the caller's, when it has it) and the idempotency key on its tags (`KEY_TAG`): a run whose key another
    request of its requester holds is a repeat (a submission whose answer never came, sent again),
    recorded CANCELED, and its asset runs nothing. A re-execution carries its parent's tags (the
    Dagster UI's re-execute, the run retry daemon), the key with them: it is a request of its own."""
    key = None if run.parent_run_id else run.tags.get(KEY_TAG)
    if "root_request_id" not in created:  # the asset passes the one it delivers for: a re-execution's is a read
        created["root_request_id"] = root_request(store, run)
    try:
        return record_status(store, run.run_id, status, idempotency_key=key, **created)
    except KeyTaken as taken:
        return record_repeat(store, run.run_id, taken.request, **created)


def key_scope(requested_by: str | None) -> str:
    """Whose idempotency keys a request's key is among: its requester's, '' for code naming none."""
    return requested_by or ""


def find_by_key(store: StoreResource, requested_by: str | None, idempotency_key: str) -> dict[str, Any] | None:
    """The request of `requested_by` made with `idempotency_key`, JSON-ready, or None."""
    where = sa.and_(requests_t.c.idempotency_key == idempotency_key, requests_t.c.idempotency_scope == key_scope(requested_by))
    with store.read() as conn:
        request_id = conn.execute(sa.select(requests_t.c.request_id).where(where)).scalar()
    return None if request_id is None else get_request(store, request_id)


def _record_status(store: StoreResource, request_id: str, status: str, created: dict[str, Any], at: dt.datetime,
                   fields: dict[str, Any]) -> str:
    with store.write() as conn:
        query = sa.select(requests_t).where(requests_t.c.request_id == request_id).with_for_update()
        row = conn.execute(query).mappings().first()
        if row is None:
            values = {"request_id": request_id, **created, "status": status, "outputs": [], "stats": {}}
            if status == "RUNNING" and fields.get("started_at") is None:
                values["started_at"] = at
            if status in TERMINAL:
                values["finished_at"] = at
            conn.execute(requests_t.insert().values(**values, **fields))
            return status
        if created.get("idempotency_key") and row["idempotency_key"] is None:  # a sensor or the run wrote first
            conn.execute(requests_t.update().where(requests_t.c.request_id == request_id)
                         .values(idempotency_key=created["idempotency_key"], idempotency_scope=created["idempotency_scope"]))
        if row["status"] in TERMINAL or _RANK[status] < _RANK[row["status"]]:
            return row["status"]
        values = dict(fields, status=status)
        if row["started_at"] is not None:
            values.pop("started_at", None)
        elif status == "RUNNING":
            values.setdefault("started_at", at)
        if status in TERMINAL:
            values["finished_at"] = at
        conn.execute(requests_t.update().where(requests_t.c.request_id == request_id).values(**values))
        return status


def record_deliveries(store: StoreResource, request_id: str, outcomes: Sequence[DeliveryOutcome]) -> None:
    """One row per sink outcome (and per target when a sink wrote several), with each attempt. A
    detail is kept cut to what MariaDB's TEXT holds (an email refused for 3,000 recipients names
    each of them); each attempt's error is its first 500 characters already."""
    rows = []
    for o in outcomes:
        for target in o.targets or [None]:
            rows.append({
                "request_id": request_id, "sink": o.sink, "target": target, "status": o.status,
                "attempts": o.attempts, "delivered_at": o.delivered_at, "detail": within_bytes(o.detail) or None,
                "attempt_log": o.tries or None,
            })
    with store.write() as conn:
        if rows:
            conn.execute(deliveries_t.insert(), rows)
        _release(conn, request_id, [o.sink for o in outcomes])


def _release(conn: sa.Connection, request_id: str, sinks: Sequence[str]) -> None:
    conn.execute(claims_t.delete().where(claims_t.c.request_id == request_id, claims_t.c.sink.in_(sinks)))


def claim_sink(store: StoreResource, root_request_id: str, sink: str, request_id: str) -> list[str] | None:
    """Wait while another request of the root delivers to `sink`; then the sink's targets when a
    request of the root has delivered to it (nothing to send: `request_id` does not hold it), else
    None: `request_id` holds the sink's claim, delivers, and `record_deliveries` releases it.

    The claim is a row keyed by (root, sink): of two re-executions at the same time, one inserts
    it and the other waits. A claim whose request is no longer RUNNING (a run that crashed while
    delivering ends FAILED), or older than `DELIVERY_LEASE` (a killed run's request may stay
    RUNNING), is taken over. No transaction stays open while waiting."""
    while not _take_claim(store, root_request_id, sink, request_id):
        time.sleep(CLAIM_POLL_SECONDS)
    targets = delivered_sinks(store, root_request_id).get(sink)
    if targets is not None:
        with store.write() as conn:
            _release(conn, request_id, [sink])
    return targets


def _take_claim(store: StoreResource, root_request_id: str, sink: str, request_id: str) -> bool:
    """Whether `request_id` holds (root, sink)'s claim now: inserted, or taken over from a request
    that no longer delivers (a compare-and-set on the holder: of two taking it over, one does)."""
    now = utcnow()
    try:
        with store.write() as conn:
            conn.execute(claims_t.insert().values(root_request_id=root_request_id, sink=sink, request_id=request_id,
                                                  claimed_at=now))
        return True
    except sa.exc.IntegrityError:  # claimed: by whom
        pass
    key = sa.and_(claims_t.c.root_request_id == root_request_id, claims_t.c.sink == sink)
    with store.write() as conn:
        claim = conn.execute(sa.select(claims_t.c.request_id, claims_t.c.claimed_at).where(key)).first()
        if claim is None:  # released meanwhile: insert it again
            return False
        holder, claimed_at = claim
        status = conn.execute(sa.select(requests_t.c.status).where(requests_t.c.request_id == holder)).scalar()
        if holder != request_id and status == "RUNNING" and claimed_at > now - DELIVERY_LEASE:
            return False
        taken = conn.execute(claims_t.update().where(key, claims_t.c.request_id == holder)
                             .values(request_id=request_id, claimed_at=now))
        return taken.rowcount == 1


def delivered_sinks(store: StoreResource, root_request_id: str) -> dict[str, list[str]]:
    """The sinks that already have the output of a request or of any retry of it (same root),
    with their targets: the sinks a retry must not send to again."""
    query = (sa.select(deliveries_t.c.sink, deliveries_t.c.target)
             .join(requests_t, requests_t.c.request_id == deliveries_t.c.request_id)
             .where(requests_t.c.root_request_id == root_request_id, deliveries_t.c.status == "DELIVERED")
             .order_by(deliveries_t.c.id))
    delivered: dict[str, list[str]] = {}
    with store.read() as conn:
        for sink, target in conn.execute(query):
            delivered.setdefault(sink, [])
            if target:
                delivered[sink].append(target)
    return delivered


def requested_at(store: StoreResource, request_id: str) -> dt.datetime | None:
    """When a request was made (its row's `created_at`); None for a request with no row."""
    with store.read() as conn:
        return conn.execute(sa.select(requests_t.c.created_at).where(requests_t.c.request_id == request_id)).scalar()


def unfinished_requests(store: StoreResource, created_before: dt.datetime) -> list[tuple[str, str]]:
    """(request id, task) of each request made before `created_before` that has no terminal state yet."""
    query = sa.select(requests_t.c.request_id, requests_t.c.task).where(
        requests_t.c.status.not_in(TERMINAL), requests_t.c.created_at < created_before).order_by(requests_t.c.created_at)
    with store.read() as conn:
        return [(request_id, task) for request_id, task in conn.execute(query)]


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in row.items()}


def get_request(store: StoreResource, request_id: str) -> dict[str, Any]:
    """A request with its deliveries, JSON-ready."""
    with store.read() as conn:
        # an id no store holds (a NUL, which PostgreSQL refuses in a query's text) is no request's: not looked up
        row = None if unstorable(request_id) else \
            conn.execute(sa.select(requests_t).where(requests_t.c.request_id == request_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no task request {echo(request_id)}")  # cut: an id of the URL's length came back whole
        deliveries = conn.execute(
            sa.select(deliveries_t).where(deliveries_t.c.request_id == request_id).order_by(deliveries_t.c.id)
        ).mappings().all()
    result = _jsonable(row)
    result["deliveries"] = [_jsonable({k: v for k, v in d.items() if k not in ("id", "request_id")}) for d in deliveries]
    return result


def logged_tasks(store: StoreResource) -> list[str]:
    """The tasks the audit log is filtered by, sorted: every task of the code location and every task
    it holds requests of (a retired task's, whose module is gone: its requests stay findable)."""
    from halo_platform.reports.task import load_tasks

    with store.read() as conn:
        logged = conn.execute(sa.select(requests_t.c.task).distinct()).scalars().all()
    return sorted({*load_tasks(), *logged})


def _log_filters(task: str | None, status: str | None, requested_by: str | None, created_from: dt.datetime | None,
                 created_before: dt.datetime | None) -> list[sa.ColumnElement[bool]]:
    """The conditions of the audit log's filters (`list_requests`, `count_requests`). A filter no
    store holds (a NUL, which PostgreSQL refuses in a query's text) matches nothing, on every store."""
    if any(unstorable(text) for text in (task, status, requested_by) if text):
        return [sa.false()]
    c, conditions = requests_t.c, []
    if task:
        conditions.append(c.task == task)
    if status:
        conditions.append(c.status == status.upper())
    if requested_by:
        conditions.append(c.requested_by == requested_by)
    if created_from:
        conditions.append(c.created_at >= created_from)
    if created_before:
        conditions.append(c.created_at < created_before)
    return conditions


def _past(older_than: tuple[dt.datetime, str]) -> sa.ColumnElement[bool]:
    """Requests listed after the request `older_than` (its created_at and request_id): past a row,
    not past an instant, as a page's end may fall among requests of one instant."""
    at, request_id = older_than
    return sa.or_(requests_t.c.created_at < at, sa.and_(requests_t.c.created_at == at, requests_t.c.request_id < request_id))


def _listed(limit: int, task: str | None, status: str | None, requested_by: str | None, created_from: dt.datetime | None,
            created_before: dt.datetime | None, older_than: tuple[dt.datetime, str] | None,
            *counts: sa.ColumnElement[int]) -> sa.Select:
    """The query of `list_requests`, selecting `counts` (of a derived table) beside each row."""
    # ties by request id: requests of one instant (the sensors record Dagster's creation time, to the second
    # on its SQLite storage) came in the order a top-N sort left them, so a longer log began otherwise
    query = sa.select(requests_t, *counts).order_by(requests_t.c.created_at.desc(), requests_t.c.request_id.desc()).limit(limit)
    query = query.where(*_log_filters(task, status, requested_by, created_from, created_before))
    return query.where(_past(older_than)) if older_than else query


def list_requests(store: StoreResource, task: str | None = None, status: str | None = None, limit: int = 50, *,
                  requested_by: str | None = None, created_from: dt.datetime | None = None,
                  created_before: dt.datetime | None = None,
                  older_than: tuple[dt.datetime, str] | None = None) -> list[dict[str, Any]]:
    """The newest requests first (then by request id), optionally of one task, status and/or requester, created in
    [created_from, created_before) (the Control Center's audit log filters), and listed after the request
    `older_than` (its created_at and request_id: the last of the page before)."""
    with store.read() as conn:
        query = _listed(limit, task, status, requested_by, created_from, created_before, older_than)
        return [_jsonable(r) for r in conn.execute(query).mappings().all()]


def log_page(store: StoreResource, limit: int, *, task: str | None = None, status: str | None = None,
             requested_by: str | None = None, created_from: dt.datetime | None = None,
             created_before: dt.datetime | None = None,
             older_than: tuple[dt.datetime, str] | None = None) -> tuple[list[dict[str, Any]], tuple[int, int] | None]:
    """The page `list_requests` lists, with how many requests it lists with these filters and how
    many of them up to the request `older_than` (0 without it): where the page starts; no counts
    for an empty page. One statement, so the counts are of the requests the page was read from: read
    apart, a request made between them was counted and not listed ("requests 1–3 of 4" over three
    rows; each PostgreSQL statement reads its own snapshot)."""
    counted = [sa.func.count().label("log_total"),
               (sa.func.count(sa.case((_past(older_than), None), else_=1)) if older_than else sa.literal(0)).label("log_before")]
    counts = sa.select(*counted).select_from(requests_t) \
        .where(*_log_filters(task, status, requested_by, created_from, created_before)).subquery("counts")
    query = _listed(limit, task, status, requested_by, created_from, created_before, older_than, counts.c.log_total, counts.c.log_before)
    with store.read() as conn:
        rows = conn.execute(query.join_from(requests_t, counts, sa.true())).mappings().all()
    page = [_jsonable({k: v for k, v in row.items() if k not in ("log_total", "log_before")}) for row in rows]
    return page, (int(rows[0]["log_total"]), int(rows[0]["log_before"])) if rows else None
