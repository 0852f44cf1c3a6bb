"""The queue (the `messages` table): claiming due messages with leases, marking them in flight
before a request leaves, and recording what happened to them (status, lifecycle events,
attempts) as the answers arrive. The rules it applies (`lifecycle`) are pure."""

from __future__ import annotations

import collections
import datetime as dt
import functools
import json
from collections.abc import Callable, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from halo_platform.core.models import UtcDateTime
from halo_platform.core.sqlite_rows import ROWS_PER_STATEMENT, insert_flat, row_major
from halo_platform.core.store import StoreResource
from halo_platform.core.text import digest
from halo_platform.core.write_lock import writing
from halo_platform.delivery.lifecycle import DUE, Transition, overtaken_by
from halo_platform.delivery.tables import DeliveryAttempt, Message, MessageEvent, ParkedCallback

messages_t = Message.__table__
events_t = MessageEvent.__table__
attempts_t = DeliveryAttempt.__table__
parked_t = ParkedCallback.__table__
#: how long a provider's event that named a provider id no message had is kept for it (`park_all`)
PARKED_FOR = dt.timedelta(days=1)
_DEDUPE_LENGTH = events_t.c.dedupe_key.type.length
# literal, not bound: executemany cannot expand an IN list, and the partial index
# `ix_messages_due` is only used when the query's condition is this very literal
_STILL_QUEUED = sa.or_(*(messages_t.c.status == sa.literal_column(f"'{s}'") for s in DUE))
_DUE_LITERAL = sa.text("messages.status IN ('queued', 'retry_scheduled')")


def mark_in_flight(conn: Connection, owner: str, marks: Sequence[tuple[str, str, dt.datetime]], now: dt.datetime,
                   hold_until: dt.datetime | None = None) -> set[str]:
    """Record that requests carrying these messages are about to leave, each mark a (message
    id, provider, lease end as claimed); returns the ids that may be sent. A message counts only
    while this very claim still holds it (same owner and lease end, so neither another run nor
    a later claim of ours took it) and it is still due (not answered meanwhile). `hold_until`
    renews its lease: a request that starts late in a long batch is not taken for a dead
    sender's while it runs."""
    if not marks:
        return set()
    if conn.dialect.name == "postgresql":  # one statement for them all, as arrays; which matched comes back
        return set(conn.execute(_MARK_ARRAYS, {"owner": owner, "now": stored_utc(now), **_mark_arrays(marks, hold_until)}).scalars())
    groups: dict[tuple[str, dt.datetime], list[str]] = {}
    for message_id, provider, lease_until in marks:  # one claim's messages to one provider share their lease end
        groups.setdefault((provider, lease_until), []).append(message_id)
    ours: set[str] = set()
    for (provider, lease_until), ids in groups.items():
        hold = max(lease_until, hold_until or lease_until)
        if conn.dialect.name == "sqlite":  # the same statement, its SQL made once per number of ids
            time_of = _time_converter(conn.dialect)
            marked = conn.exec_driver_sql(_mark_sql(len(ids)), (time_of(now), provider, time_of(hold), *ids, owner, time_of(lease_until)))
            ours.update(message_id for message_id, in marked)
            continue
        params = {"m_owner": owner, "m_lease": lease_until, "m_now": now, "m_provider": provider, "m_hold": hold}
        for message_id in ids:  # MariaDB has no UPDATE ... RETURNING
            if conn.execute(_MARK_ONE, {**params, "m_id": message_id}).rowcount:
                ours.add(message_id)
    return ours


# A statement finding its rows by primary key checks that they are still due in a form
# PostgreSQL cannot match to the partial index `ix_messages_due`: right after a burst is queued
# the planner has no statistics on it, took that index and filtered every due message (16-24 ms
# per marker of 32 messages among 60,000 queued; by primary key 1.2 ms).
_STILL_DUE_BY_KEY = sa.case((_DUE_LITERAL, sa.true()), else_=sa.false())


def _mark_statement(which):  # noqa: ANN001, ANN202
    held = sa.and_(which, messages_t.c.lease_owner == sa.bindparam("m_owner"), messages_t.c.lease_until == sa.bindparam("m_lease"),
                   _STILL_DUE_BY_KEY)
    return messages_t.update().where(held).values(in_flight_at=sa.bindparam("m_now"), provider=sa.bindparam("m_provider"),
                                                  lease_until=sa.bindparam("m_hold"))


@functools.lru_cache(maxsize=256)
def _mark_sql(count: int) -> str:
    """The marker (`_MARK_ONE`) for `count` ids at once in SQLite's parameter style: expanding SQLAlchemy's IN
    list and binding its parameters cost more CPU than the update itself (a marker is
    committed before every request)."""
    return (f"UPDATE messages SET in_flight_at = ?, provider = ?, lease_until = ? WHERE messages.id IN ({', '.join('?' * count)}) "  # noqa: S608 - placeholders only
            f"AND messages.lease_owner = ? AND messages.lease_until = ? AND {_DUE_LITERAL.text} RETURNING messages.id")


@functools.cache
def _time_converter(dialect: sa.Dialect) -> Callable[[dt.datetime | None], object]:
    """A UTC time as `dialect`'s driver takes it for a `UtcDateTime` column (for SQL written here)."""
    convert = UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
    return lambda value: None if value is None or convert is None else convert(value)


# built once: marking runs before every request, so statement construction would show
_MARK_ONE = _mark_statement(messages_t.c.id == sa.bindparam("m_id"))


def _held(ids: str) -> str:
    """PostgreSQL: the CTE `held` locking the rows of `ids` (an array) that `:owner` holds, in the order
    of their ids, as a callback moves its messages (`callbacks._apply`). A statement of arrays updates
    only rows joined to it, so it waits for no row but in this order: joined on the arrays alone it
    locked them in the arrays' order or the table's, and a sending round whose answers came in
    another order than a callback's events deadlocked with it, the round rolled back unrecorded."""
    return f"""held AS MATERIALIZED (
      SELECT messages.id FROM messages WHERE messages.id = ANY({ids}) AND messages.lease_owner = :owner
      ORDER BY messages.id COLLATE "C" FOR NO KEY UPDATE)"""  # noqa: S608 - constants of this module, no input


# PostgreSQL: markers to any providers as arrays joined on the primary key (an array per provider
# and claim, one statement each, was a round trip each); also the last part of `_RECORD_ARRAYS`
_MARKED = f"""
    UPDATE messages SET in_flight_at = :now, provider = m.provider, lease_until = GREATEST(m.lease, CAST(:m_hold AS timestamp))
    FROM unnest(CAST(:m_ids AS varchar[]), CAST(:m_providers AS varchar[]), CAST(:m_leases AS timestamp[])) AS m(id, provider, lease)
      JOIN held ON held.id = m.id
    WHERE messages.id = m.id AND messages.lease_owner = :owner AND messages.lease_until = m.lease
      AND CASE WHEN {_DUE_LITERAL.text} THEN true ELSE false END
    RETURNING messages.id"""  # noqa: S608 - a constant of this module, no input
_MARK_ARRAYS = sa.text(f"WITH {_held('CAST(:m_ids AS varchar[])')} {_MARKED}")


def _mark_arrays(marks: Sequence[tuple[str, str, dt.datetime]], hold_until: dt.datetime | None) -> dict:
    return {"m_hold": stored_utc(hold_until), "m_ids": [m[0] for m in marks], "m_providers": [m[1] for m in marks],
            "m_leases": [stored_utc(m[2]) for m in marks]}


def resolve_uncertain(conn: Connection, owner: str, rows: Sequence, decide, now: dt.datetime) -> tuple[list, dict[str, str]]:  # noqa: ANN001
    """Settle the claimed `rows` a dead sender left in flight, in the claim's transaction (so a
    second crash cannot forget the decision). `decide(row, unknowns)` gives the resolution
    (`uncertain_resolution`). Returns the rows still to send and, for those that must go to
    the provider holding their idempotency key, that provider; `lost` ones are recorded and
    released here, `resend` ones get an `unknown` event and lose their marker."""
    uncertain = [r for r in rows if r.in_flight_at is not None]
    if not uncertain:
        return list(rows), {}
    counted = conn.execute(
        sa.select(events_t.c.message_id, sa.func.count())
        .where(events_t.c.message_id.in_([r.id for r in uncertain]), events_t.c.event == "unknown")
        .group_by(events_t.c.message_id)
    )
    unknowns = dict(counted.all())
    settled = {r.id: decide(r, unknowns.get(r.id, 0)) for r in uncertain}
    noted = [r for r in uncertain if settled[r.id] != "same_provider"]
    if noted:
        conn.execute(events_t.insert(), [
            {"message_id": r.id, "event": "unknown", "provider": r.provider, "at": now, "dedupe_key": None,
             "detail": "the sender stopped while the request was in flight"} for r in noted])
        conn.execute(messages_t.update().where(messages_t.c.id.in_([r.id for r in noted])).values(in_flight_at=None))
    lost = [r for r in noted if settled[r.id] == "lost"]
    if lost:
        persist(conn, owner, [Transition(r.id, "lost", r.provider, None, r.number_of_retries, r.next_attempt_at,
                                         "outcome unknown, not re-sent") for r in lost], [], now)
    pinned = {r.id: r.provider for r in uncertain if settled[r.id] == "same_provider"}
    # a row keeps `in_flight_at` only while it is pinned: a requeue or a retry keeps the pin (`requeued`, `transition`)
    return [r if settled.get(r.id) in (None, "same_provider") else r._replace(in_flight_at=None) for r in rows if settled.get(r.id) != "lost"], pinned


# what sending a claimed message reads (its content, routing, retry and lease state): the other
# columns (audit, idempotency, callbacks, fallback JSON) were a third of a claim's row decoding
_CLAIMED = [messages_t.c[name] for name in (
    "id", "channel", "recipient", "country", "capability", "priority", "priority_rank", "content", "expires_at", "number_of_retries",
    "provider", "next_attempt_at", "lease_until", "in_flight_at", "created_at", "timezone")]
Claimed = collections.namedtuple("Claimed", [c.name for c in _CLAIMED])  # type: ignore[misc]
_RANK, _CREATED, _IN_FLIGHT_AT, _CONTENT = (Claimed._fields.index(name) for name in ("priority_rank", "created_at", "in_flight_at", "content"))
_TIMES = [i for i, c in enumerate(_CLAIMED) if isinstance(c.type, UtcDateTime)]
_new_claimed = functools.partial(tuple.__new__, Claimed)  # `Claimed._make` without its Python frame


def claim(conn: Connection, channel: str, owner: str, limit: int, now: dt.datetime, lease_seconds: float) -> list[Claimed]:
    """`lease_due`, its rows decoded."""
    return decode_claimed(conn.dialect, lease_due(conn, channel, owner, limit, now, lease_seconds))


def lease_due(conn: Connection, channel: str, owner: str, limit: int, now: dt.datetime, lease_seconds: float) -> list[tuple]:
    """Lease up to `limit` due messages of `channel` (NORMAL before LOW, oldest first), in one
    statement where the database returns updated rows. The lease is taken by a conditional
    UPDATE, so two runs never hold the same message (on PostgreSQL the pick locks its rows
    and skips those another claim holds); an expired lease (crashed run) makes the message
    due again. The rows come as the driver gives them, for `decode_claimed` to decode after
    the transaction: building the statement and decoding 200 rows took 4-6 ms of a 7-9 ms
    claim on SQLite, under the store's only write lock."""
    params = {"c_channel": channel, "c_now": now, "c_limit": limit, "c_owner": owner, "c_until": now + dt.timedelta(seconds=lease_seconds)}
    lease, pick, read = _claim_statements(conn.dialect.name, conn.dialect.update_returning)
    if read is None:  # one statement: pick, lease and read the batch
        rows = conn.execute(lease, params).all()
    else:  # MariaDB has no UPDATE ... RETURNING
        ids = list(conn.execute(pick, params).scalars())
        if not ids:
            return []
        conn.execute(lease, {**params, "c_ids": ids})
        rows = conn.execute(read, {"c_ids": ids, "c_owner": owner}).all()
    return sorted(rows, key=lambda r: (r[_RANK], r[_CREATED]))  # raw times order as decoded ones do


def decode_claimed(dialect: sa.Dialect, rows: Sequence[tuple]) -> list[Claimed]:
    """Rows of `claim` as `Claimed`, their values decoded as the columns' own result converters
    decode them (`_decoders`). A time repeated in a batch (its lease end, a message due when it
    was made) is decoded once: 1.43 -> 1.30 us per row on SQLite."""
    if not rows:
        return []
    time_of, json_of = _decoders(dialect)
    columns = list(zip(*rows, strict=True))
    seen: dict = {None: None}
    for i in _TIMES:
        columns[i] = [seen[v] if v in seen else seen.setdefault(v, time_of(v)) for v in columns[i]]
    columns[_CONTENT] = list(map(json_of, columns[_CONTENT]))
    return list(map(_new_claimed, zip(*columns, strict=True)))


def uncertain_rows(rows: Sequence[tuple]) -> bool:
    """Whether claimed `rows` (decoded or not) hold one a dead sender left in flight."""
    return any(r[_IN_FLIGHT_AT] is not None for r in rows)


@functools.cache
def _decoders(dialect: sa.Dialect) -> tuple[Callable[[object], dt.datetime], Callable[[str | None], object]]:
    """How `decode_claimed` decodes `dialect`'s claimed times (but None) and JSON content: each
    value as the column's result converter decodes it, the converter taking what the fast paths
    leave. The converters took 5.2 us per claimed row on SQLite, now 1.3; on PostgreSQL 3.3 us,
    now 1.5, and psycopg's decoding of the content while fetching (1.3 us) is gone (one batch,
    best of 7, load 8). `json.loads` takes 2.5-3.0 us a content where its decoder without the
    wrapper takes 0.6-0.7. A time from PostgreSQL or MariaDB, naive UTC, is the converter's
    (`UtcDateTime`'s own, 0.26 us)."""
    convert_time = _converter(dialect, "created_at")
    convert_json = _converter(dialect, "content") or json.loads  # PostgreSQL: as psycopg decodes JSON (read as text here)

    def time_of(value: object) -> dt.datetime:
        if type(value) is str and len(value) == _STORED_TIME_LENGTH:  # SQLite's, as SQLAlchemy stores it, naive
            try:  # one with an offset already is refused (two offsets) and left to the converter, which drops it
                return _FROM_ISO(value + "+00:00")
            except ValueError:
                pass
        return convert_time(value)

    def json_of(text: str | None) -> object:
        if text is None:
            return None
        try:  # the decoder `json.loads` runs, without its wrapper; anything but one whole value is left to the converter
            value, end = _JSON.raw_decode(text)
            if end == len(text):
                return value
        except (TypeError, ValueError):
            pass
        return convert_json(text)

    return time_of, json_of


def _converter(dialect: sa.Dialect, name: str) -> Callable | None:
    """The result converter of claimed column `name` on `dialect` (None: the driver's value as it is)."""
    return messages_t.c[name].type.dialect_impl(dialect).result_processor(dialect, None)


_JSON = json.JSONDecoder()
_FROM_ISO = dt.datetime.fromisoformat
_STORED_TIME_LENGTH = len("2026-01-01 00:00:00.000000")


@functools.cache
def _claim_statements(dialect_name: str, returning: bool) -> tuple[sa.Executable, sa.Executable | None, sa.Executable | None]:
    """The claim's statements for a dialect, built once: (lease, pick, read); pick and read are
    None where the lease returns its rows. The columns come back untyped (undecoded)."""
    due = sa.and_(
        messages_t.c.channel == sa.bindparam("c_channel"),
        _DUE_LITERAL,
        messages_t.c.next_attempt_at <= sa.bindparam("c_now"),
        sa.or_(messages_t.c.lease_until.is_(None), messages_t.c.lease_until < sa.bindparam("c_now")),
    )
    raw = [sa.literal_column(f"messages.{c.name}").label(c.name) for c in _CLAIMED]
    if dialect_name == "postgresql":  # its JSON as text, as the other stores give it: `_decoders` decodes it faster than psycopg
        raw[_CONTENT] = sa.literal_column("CAST(messages.content AS TEXT)").label("content")
    pick = sa.select(messages_t.c.id).where(due).order_by(messages_t.c.priority_rank, messages_t.c.created_at).limit(sa.bindparam("c_limit"))
    # concurrent claims skip each other's rows instead of waiting. Not on MariaDB: without a partial
    # index a locking pick walks the channel's sent history, and a callback updating a message of it
    # waited for the claim's commit (`test_throughput`); a MariaDB claim that finds its picks leased
    # by another meanwhile takes none, and the queue sensor launches its dispatcher again
    if dialect_name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    lease = messages_t.update().values(lease_owner=sa.bindparam("c_owner"), lease_until=sa.bindparam("c_until"))
    if returning:
        # the pick is a materialized CTE: as an IN (subquery) PostgreSQL may run it again for
        # every row it updates, leasing far more than `limit` (seen: 10,000 rows for 500). The
        # pick locked its rows (PostgreSQL) or holds the only writer (SQLite), so the update
        # joins on the primary key alone: repeating `due` there let a planner without fresh
        # statistics scan the partial index once per picked row (0.9 s per claim of 500)
        picked = pick.cte("picked").prefix_with("MATERIALIZED")
        return lease.where(messages_t.c.id == picked.c.id).returning(*raw), None, None
    ids = messages_t.c.id.in_(sa.bindparam("c_ids", expanding=True))
    return lease.where(ids, due), pick, sa.select(*raw).select_from(messages_t).where(ids, messages_t.c.lease_owner == sa.bindparam("c_owner"))


def persist(conn: Connection, owner: str, transitions: Sequence[Transition], attempts: Iterable[dict], now: dt.datetime,
            marks: Sequence[tuple[str, str, dt.datetime]] = (), hold_until: dt.datetime | None = None) -> set[str]:
    """Write the new states, their lifecycle events and the attempts (`attempt_row`); release
    the leases; then mark `marks` in flight (`mark_in_flight`, whose ids this returns): a sending
    round's answers and its next requests' markers. A message gets its event (and so its status
    webhook) only where the UPDATE moved it to the new status: one `owner` no longer holds (an
    opt-out ended it, another dispatcher leased it after our lease ran out) is left alone, one
    that left the queue meanwhile keeps its status, and neither gets an event (the attempt, a
    request that left, is recorded all the same). PostgreSQL does it all in one statement
    (`_RECORD_ARRAYS`, one round trip); elsewhere the UPDATE says which it moved where the
    database returns updated rows, and MariaDB reads them first, in one locking read of the group
    and the markers' rows. Both lock a round's rows in the order of their ids, as a callback does."""
    moved = [t for t in transitions if t.status != "held"]
    attempts = list(attempts)
    ours: set[str] = set()
    if conn.dialect.name == "postgresql":
        ours = set(conn.execute(_RECORD_ARRAYS, {
            "owner": owner, "now": stored_utc(now), "ids": [t.message_id for t in moved], "statuses": [t.status for t in moved],
            "providers": [t.provider for t in moved], "pmids": [t.provider_message_id for t in moved],
            "retries": [t.number_of_retries for t in moved], "nexts": [stored_utc(t.next_attempt_at) for t in moved],
            "pins": [stored_utc(t.in_flight_at) for t in moved], "details": [t.detail or None for t in moved],
            **{f"a_{key}": [stored_utc(a[key]) if key == "at" else a[key] for a in attempts] for key in _ATTEMPT_KEYS},
            **_mark_arrays(marks, hold_until)}).scalars())
    else:
        if moved and conn.dialect.name == "sqlite":
            now_in = _move_sqlite(conn, owner, moved, now)
        elif moved or marks:  # MariaDB has no UPDATE ... RETURNING: the rows still ours, locked until the commit, are those the UPDATE matches;
            # the markers' rows are locked with them, all in key order (as a callback moves them): locked after, they deadlocked with it
            held_in = dict(conn.execute(_STILL_HELD, {"b_ids": [t.message_id for t in moved] + [m[0] for m in marks], "b_owner": owner}).all())
            moved = [t for t in moved if t.message_id in held_in]
            now_in = {t.message_id: t.status if held_in[t.message_id] in DUE else held_in[t.message_id] for t in moved}
            if moved:
                executemany(conn, _MOVE, [
                    {"b_id": t.message_id, "b_owner": owner, "b_status": t.status, "b_provider": t.provider, "b_pmid": t.provider_message_id,
                     "b_retries": t.number_of_retries, "b_next": t.next_attempt_at, "b_pin": t.in_flight_at, "b_now": now}
                    for t in moved
                ])
        noted = [{"message_id": t.message_id, "event": t.status, "provider": t.provider, "at": now, "detail": t.detail or None, "dedupe_key": None}
                 for t in moved if now_in.get(t.message_id) == t.status]
        for table, rows in ((events_t, noted), (attempts_t, attempts)):
            if rows:
                executemany(conn, table, rows)
        if marks:
            ours = mark_in_flight(conn, owner, marks, now, hold_until)
    held = [t for t in transitions if t.status == "held"]
    if held:
        executemany(conn, _HOLD, [{"b_id": t.message_id, "b_owner": owner, "b_next": t.next_attempt_at, "b_pin": t.in_flight_at, "b_now": now}
                                  for t in held])
    return ours


def one_statement(conn: Connection | Engine, transitions: Sequence[Transition]) -> bool:
    """Whether `persist` writes these answers (and any markers) in one statement on `conn` (or a
    connection of an engine): on
    PostgreSQL, when none of them is `held`."""
    return conn.dialect.name == "postgresql" and all(t.status != "held" for t in transitions)


def stored_dedupe_key(key: str) -> str:
    """`key` as it fits its column: a long one (a provider id of any length) becomes its
    provider prefix and a SHA-256, still one per distinct key."""
    if len(key) <= _DEDUPE_LENGTH:
        return key
    return f"{key.split(':', 1)[0][:64]}:{digest(key)}"


#: the ids looked up per statement by `own_messages` (a callback batch may name thousands)
OWN_LOOKUP_CHUNK = 500


def own_messages(conn: Connection, provider: str, named: Sequence[tuple[str | None, str | None]]) -> list:
    """The message each provider's event of `named` (our id, the provider's id) is about, in order,
    if this provider sent it: the one it names by our id when it names one (no other: the
    provider's id is no better there), also one this provider was sent a request for before another
    provider took it (its row's `provider` says which), else the only one of this provider's messages with its
    provider id (several share one: a SendGrid batch's X-Message-Id; which of them it is about
    cannot be told). A statement per OWN_LOOKUP_CHUNK ids, not one per event (a signed 1 MiB
    SendGrid batch, 8,000 events, was 16,000 statements and most of 10 s on PostgreSQL)."""
    ids = sorted({mid for mid, _ in named if mid})
    pmids = sorted({pmid for mid, pmid in named if not mid and pmid})
    columns = sa.select(messages_t.c.id, messages_t.c.provider_message_id, messages_t.c.provider)
    ours = columns.where(messages_t.c.provider == provider)
    # by our id, also a message this provider had a request for before another provider took it
    # (its answer unknown or retryable): its receipt is that provider's word on the copy it got
    handed = columns.where(sa.or_(messages_t.c.provider == provider, sa.exists().where(
        attempts_t.c.message_id == messages_t.c.id, attempts_t.c.provider == provider)))
    by_id, holders = {}, collections.defaultdict(list)
    for start in range(0, len(ids), OWN_LOOKUP_CHUNK):
        by_id.update((row.id, row) for row in conn.execute(handed.where(messages_t.c.id.in_(ids[start:start + OWN_LOOKUP_CHUNK]))))
    for start in range(0, len(pmids), OWN_LOOKUP_CHUNK):
        for row in conn.execute(ours.where(messages_t.c.provider_message_id.in_(pmids[start:start + OWN_LOOKUP_CHUNK]))):
            holders[row.provider_message_id].append(row)
    return [by_id.get(mid) if mid else (rows[0] if pmid and len(rows := holders.get(pmid, [])) == 1 else None) for mid, pmid in named]


def apply_event(conn: Connection, provider: str, message_id: str, event: str, dedupe_key: str, detail: str | None, now: dt.datetime,
                moves: bool = True) -> bool:
    """Store a provider's event of message `message_id` once (False: it was stored already) and
    move the message's status forward. The status moves in the UPDATE's condition, on the row
    as it is when the row is locked: two events of one message applied at once never rewind it.
    An event that moved nothing is stored `overtaken`: in the history, not a lifecycle change
    for the status webhook. `moves` False: the event of a provider that had the message before
    another one took it, which never changes a message another provider sent (delivery.md)."""
    # scoped to the message: a key another message's event holds (a provider id another
    # provider's callback named) never makes this message's event a duplicate; a key
    # stored unscoped (before) still dedupes its own message's repeats
    scoped = stored_dedupe_key(f"{dedupe_key}:{message_id}")
    seen = conn.execute(sa.select(events_t.c.id).where(sa.or_(
        events_t.c.dedupe_key == scoped,
        sa.and_(events_t.c.dedupe_key == stored_dedupe_key(dedupe_key), events_t.c.message_id == message_id)))).first()
    if seen is not None:
        return False
    moved = moves and conn.execute(messages_t.update().where(messages_t.c.id == message_id, messages_t.c.status.in_(overtaken_by(event)))
                                   .values(status=event, updated_at=now)).rowcount
    conn.execute(events_t.insert().values(message_id=message_id, event=event, provider=provider, at=now, detail=detail or None,
                                          dedupe_key=scoped, overtaken=not moved))
    return True


def park_all(conn: Connection, provider: str, events: Sequence[tuple[str, str, str, str | None]], now: dt.datetime) -> None:
    """Keep each provider's event of `events` (provider id, event, dedupe key, detail), in the order
    given, that names only its id for a message no message of it holds yet: its callback may overtake
    the answer that id comes in (`settle_parked`). Those kept longer than `PARKED_FOR` (their id was
    never recorded) are dropped here. Two statements whatever their number (a statement per event and
    another dropping the expired ones made a signed 1 MiB SendGrid batch of mail we did not send,
    8,000 events, take 11 s on PostgreSQL)."""
    conn.execute(parked_t.delete().where(parked_t.c.received_at < now - PARKED_FOR))
    if events:
        conn.execute(parked_t.insert(), [{"provider": provider, "provider_message_id": pmid, "event": event, "dedupe_key": key,
                                          "detail": detail or None, "received_at": now} for pmid, event, key, detail in events])


def recorded_ids(transitions: Iterable[Transition]) -> set[tuple[str, str]]:
    """The (provider, provider id) pairs `persist` records for `transitions`."""
    return {(t.provider, t.provider_message_id) for t in transitions if t.status != "held" and t.provider and t.provider_message_id}


def settle_parked(store: StoreResource, recorded: set[tuple[str, str]], now: dt.datetime) -> None:
    """Apply the kept events (`park_all`) of the `recorded` (provider, provider id) pairs to their
    message, as their callback would have been (`apply_event`), and drop them. Both sides call
    it after their own commit: the callback for the ids it kept, a HIGH send for its id (a drain
    folds it into its next transaction, `apply_parked`; a HIGH send on PostgreSQL looks with its
    view, `KEPT`). Whichever commits last then finds the other's rows, even where PostgreSQL or
    MariaDB let a callback commit while the transaction recording its id was open."""
    if not recorded:
        return
    with store.read() as conn:  # nearly always nothing kept: no write
        if not _any_parked(conn, recorded):
            return
    apply_kept(store, recorded, now)


def apply_kept(store: StoreResource, recorded: set[tuple[str, str]], now: dt.datetime) -> None:
    """The write of `settle_parked`, for a caller that found kept events itself (`KEPT`)."""
    with writing(store) as conn:
        _apply_kept(conn, recorded, now)


def apply_parked(conn: Connection, recorded: set[tuple[str, str]], now: dt.datetime) -> None:
    """`settle_parked` in `conn`'s transaction, which must have begun after the commit that
    recorded the ids."""
    if recorded and _any_parked(conn, recorded):
        _apply_kept(conn, recorded, now)


def _apply_kept(conn: Connection, recorded: set[tuple[str, str]], now: dt.datetime) -> None:
    """The kept events of the `recorded` ids applied and dropped; read locked (the other side's
    call, at the same time, waits and then finds them dropped)."""
    parked = conn.execute(sa.select(parked_t).where(_parked_of(conn, recorded)).order_by(parked_t.c.id).with_for_update()).all()
    wanted = [p for p in parked if (p.provider, p.provider_message_id) in recorded]
    owners = {}
    for provider in sorted({p.provider for p in wanted}):
        named = sorted({(None, p.provider_message_id) for p in wanted if p.provider == provider})
        owners.update(((provider, pmid), row) for (_, pmid), row in zip(named, own_messages(conn, provider, named), strict=True))
    applied = []
    for p in wanted:
        if row := owners.get((p.provider, p.provider_message_id)):
            apply_event(conn, p.provider, row.id, p.event, p.dedupe_key, p.detail, now)
            applied.append(p.id)
    if applied:
        conn.execute(parked_t.delete().where(parked_t.c.id.in_(applied)))


def _any_parked(conn: Connection, recorded: set[tuple[str, str]]) -> bool:
    """Whether an event is kept for one of the `recorded` ids (a read without locks: nearly always none)."""
    return conn.execute(sa.select(parked_t.c.id).where(_parked_of(conn, recorded)).limit(1)).first() is not None


_PARKED_ANY = parked_t.c.provider_message_id == sa.any_(sa.bindparam("pmids", type_=sa.ARRAY(sa.String)))
#: PostgreSQL: whether an event is kept for one of the ids `kept_params` names, to read beside
#: something else in one statement (a HIGH send's view: a round trip fewer than `settle_parked`'s look)
KEPT = sa.exists().where(_PARKED_ANY)


def kept_params(recorded: set[tuple[str, str]]) -> dict[str, list[str]]:
    return {"pmids": sorted({pmid for _, pmid in recorded})}


def _parked_of(conn: Connection, recorded: set[tuple[str, str]]) -> sa.ColumnElement[bool]:
    """The kept rows of the `recorded` ids; on PostgreSQL their ids as one array, so the statement is
    the same whatever their number (an IN list made a statement, planned anew, per number of ids:
    2 ms of each sending round's transaction on a loaded machine)."""
    pmids = kept_params(recorded)["pmids"]
    if conn.dialect.name == "postgresql":
        return _PARKED_ANY.params(pmids=pmids)
    return parked_t.c.provider_message_id.in_(pmids)


_MOVED_WIDTH = 7  # values of an answer in `_move_sql`


def _move_sqlite(conn: Connection, owner: str, moved: Sequence[Transition], now: dt.datetime) -> dict[str, str]:
    """`_MOVE` of a group in statements of `ROWS_PER_STATEMENT` answers each (`_move_sql`); the
    status of each message it matched, as it left it."""
    time_of = _time_converter(conn.dialect)
    flat = row_major([[t.message_id for t in moved], [t.status for t in moved], [t.provider for t in moved],
                      [t.provider_message_id for t in moved], [t.number_of_retries for t in moved],
                      [time_of(t.next_attempt_at) for t in moved], [time_of(t.in_flight_at) for t in moved]])
    step, now_in = ROWS_PER_STATEMENT * _MOVED_WIDTH, {}
    for start in range(0, len(flat), step):
        group = flat[start:start + step]
        now_in.update(conn.exec_driver_sql(_move_sql(len(group) // _MOVED_WIDTH), (time_of(now), *group, owner)).all())
    return now_in


@functools.lru_cache(maxsize=ROWS_PER_STATEMENT)
def _move_sql(rows: int) -> str:
    """`_MOVE` (as PostgreSQL's `_RECORD_ARRAYS`) for `rows` answers in SQLite's parameter style: one
    statement joining them as VALUES on the primary key, instead of a statement per answer."""
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * rows)
    return f"""UPDATE messages SET
      status = CASE WHEN {_DUE_LITERAL.text} THEN v.column2 ELSE messages.status END,
      provider = v.column3, provider_message_id = v.column4, number_of_retries = v.column5, next_attempt_at = v.column6,
      lease_owner = NULL, lease_until = NULL, in_flight_at = v.column7, updated_at = ?
    FROM (VALUES {values}) AS v WHERE messages.id = v.column1 AND messages.lease_owner = ? RETURNING messages.id, messages.status"""  # noqa: S608 - placeholders only


def stored_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A UTC time as the columns store it (what `UtcDateTime` binds), for statements that bypass it."""
    return None if value is None else value.astimezone(dt.UTC).replace(tzinfo=None)


def executemany(conn: Connection, statement: sa.Executable | sa.Table, rows: Sequence[dict]) -> None:
    """`conn.execute(statement, rows)` (a table: an INSERT of the rows' keys) with the statement
    compiled once per dialect and the rows bound column by column with the columns' own
    converters (a time repeated in every row converted once): SQLAlchemy's per-row parameter
    handling was two thirds of the recorder's CPU on SQLite."""
    keys = tuple(rows[0]) if isinstance(statement, sa.Table) else None
    compiled = _compiled(statement, conn.dialect, keys)
    if compiled is None:  # a named parameter style (MariaDB's driver): SQLAlchemy binds them
        conn.execute(statement.insert() if isinstance(statement, sa.Table) else statement, rows)
        return
    sql, names, defaults, converters = compiled
    columns = []
    for name, default, convert in zip(names, defaults, converters, strict=True):
        values = [row.get(name, default) for row in rows]
        if convert is not None:
            converted: dict = {None: None}
            values = [converted[v] if v in converted else converted.setdefault(v, convert(v)) for v in values]
        columns.append(values)
    if keys is not None and conn.dialect.name == "sqlite":  # an insert: several rows to a statement
        insert_flat(conn, sql, len(columns), row_major(columns))
        return
    conn.exec_driver_sql(sql, list(zip(*columns, strict=True)))


@functools.lru_cache(maxsize=64)
def _compiled(statement: sa.Executable | sa.Table, dialect: sa.Dialect, keys: tuple[str, ...] | None) -> tuple[str, list[str], list, list] | None:
    """The SQL of `statement` (a table: its INSERT of columns `keys`) for `dialect` with
    positional parameters, their names, their values in the statement (None where each row
    gives them) and their bind converters; None when the dialect's parameters are named."""
    if isinstance(statement, sa.Table):
        statement = statement.insert()
    compiled = statement.compile(dialect=dialect, column_keys=list(keys) if keys else None)
    if compiled.positiontup is None:
        return None
    binds = [compiled.binds[name] for name in compiled.positiontup]
    return (str(compiled), list(compiled.positiontup), [bind.value for bind in binds],
            [bind.type.dialect_impl(dialect).bind_processor(dialect) for bind in binds])


# built once: the dispatcher records answers in many small transactions
_HELD_BY = sa.and_(messages_t.c.id == sa.bindparam("b_id"), messages_t.c.lease_owner == sa.bindparam("b_owner"))
_MOVE = messages_t.update().where(_HELD_BY).values(
    status=sa.case((_STILL_QUEUED, sa.bindparam("b_status")), else_=messages_t.c.status),
    provider=sa.bindparam("b_provider"),
    provider_message_id=sa.bindparam("b_pmid"),
    number_of_retries=sa.bindparam("b_retries"),
    next_attempt_at=sa.bindparam("b_next"),
    lease_owner=None,
    lease_until=None,
    in_flight_at=sa.bindparam("b_pin"),
    updated_at=sa.bindparam("b_now"),
)
_ATTEMPT_KEYS = ("message_id", "provider", "outcome", "http_status", "latency_ms", "at")  # `attempt_row`'s
# PostgreSQL: a round's answers as arrays joined on the primary key, the events of the messages
# the UPDATE moved, the attempts and the next requests' markers, in one statement (a statement
# each, one round trip each, were half of a sending round's transaction on a loaded machine). A
# round's markers are never on messages it answers (they wait to be sent), so the two UPDATEs
# never meet on a row
_RECORD_ARRAYS = sa.text(f"""
    WITH {_held("CAST(:ids AS varchar[]) || CAST(:m_ids AS varchar[])")},
    moved AS (
      UPDATE messages SET
        status = CASE WHEN messages.status IN ('queued', 'retry_scheduled') THEN v.status ELSE messages.status END,
        provider = v.provider, provider_message_id = v.pmid, number_of_retries = v.retries, next_attempt_at = v.next_at,
        lease_owner = NULL, lease_until = NULL, in_flight_at = v.pin, updated_at = :now
      FROM unnest(CAST(:ids AS varchar[]), CAST(:statuses AS varchar[]), CAST(:providers AS varchar[]), CAST(:pmids AS varchar[]),
                  CAST(:retries AS integer[]), CAST(:nexts AS timestamp[]), CAST(:pins AS timestamp[]), CAST(:details AS text[]))
           AS v(id, status, provider, pmid, retries, next_at, pin, detail) JOIN held ON held.id = v.id
      WHERE messages.id = v.id AND messages.lease_owner = :owner
      RETURNING messages.id, messages.status, v.status AS wanted, v.provider, v.detail),
    noted AS (
      INSERT INTO message_events (message_id, event, provider, at, detail)
      SELECT id, status, provider, :now, detail FROM moved WHERE status = wanted),
    tried AS (
      INSERT INTO delivery_attempts (message_id, provider, outcome, http_status, latency_ms, at)
      SELECT * FROM unnest(CAST(:a_message_id AS varchar[]), CAST(:a_provider AS varchar[]), CAST(:a_outcome AS varchar[]),
                           CAST(:a_http_status AS integer[]), CAST(:a_latency_ms AS double precision[]), CAST(:a_at AS timestamp[]))),
    marked AS ({_MARKED})
    SELECT id FROM marked""")  # noqa: S608 - constants of this module, no input
_STILL_HELD = sa.select(messages_t.c.id, messages_t.c.status).where(
    messages_t.c.id.in_(sa.bindparam("b_ids", expanding=True)), messages_t.c.lease_owner == sa.bindparam("b_owner")).with_for_update()
_HOLD = messages_t.update().where(_HELD_BY).values(
    next_attempt_at=sa.bindparam("b_next"), lease_owner=None, lease_until=None, in_flight_at=sa.bindparam("b_pin"), updated_at=sa.bindparam("b_now"))


def queued_routes(conn: Connection) -> dict[tuple[str, str | None, str], int]:
    """Messages in the queue (due or not yet) per route (channel, country, capability): what the
    autopilot checks a provider can take."""
    query = (sa.select(messages_t.c.channel, messages_t.c.country, messages_t.c.capability, sa.func.count())
             .where(_DUE_LITERAL).group_by(messages_t.c.channel, messages_t.c.country, messages_t.c.capability))
    return {(channel, country, capability): count for channel, country, capability, count in conn.execute(query)}


def due_counts(conn: Connection, now: dt.datetime) -> dict[str, int]:
    """Due messages per channel (what the sensor looks at)."""
    query = (
        sa.select(messages_t.c.channel, sa.func.count())
        .where(messages_t.c.status.in_(DUE), messages_t.c.next_attempt_at <= now, sa.or_(messages_t.c.lease_until.is_(None), messages_t.c.lease_until < now))
        .group_by(messages_t.c.channel)
    )
    return {channel: count for channel, count in conn.execute(query)}
