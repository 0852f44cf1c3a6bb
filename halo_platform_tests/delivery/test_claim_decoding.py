"""A claim decodes its rows itself (`queue._decoders`: SQLite's time strings through
`datetime.fromisoformat`, JSON through the standard decoder without `json.loads`' wrapper, a time
repeated in a batch once; PostgreSQL's JSON read as text): what it returns must equal what the
columns' own SQLAlchemy converters give for the same rows, on every store, whatever the values:
None, microseconds 0 and 999999, the calendar's ends, content in any script or with a lone
surrogate, numbers past 64 bits, and on SQLite times written in other forms than SQLAlchemy's."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.delivery.queue import Claimed, claim
from halo_platform.delivery.tables import Message

messages_t = Message.__table__
UTC = dt.UTC
CONTENTS = [
    {"body": "plain"},
    {"body": "é✓ 😀 漢字 \u200b \u2028 \x7f"},
    {"body": "lone \ud800 surrogate"},  # refused since (`validation`), kept by rows from before; MariaDB's JSON check refuses it
    {"title": "t", "body": "b", "data": {"k": "v", "ключ": "значение"}},
    {"body": "numbers", "n": 2**70 + 1, "m": -(2**64) - 3, "x": 0.1, "y": 1e300},
    {},
]
TIMES = [
    dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    dt.datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=UTC),
    dt.datetime(1900, 1, 1, tzinfo=UTC),
    dt.datetime(2026, 6, 30, 23, 59, 59, 1, tzinfo=dt.timezone(dt.timedelta(hours=-5))),  # stored as UTC
]
# on SQLite, times in other forms than SQLAlchemy's 'YYYY-MM-DD HH:MM:SS.ffffff' (which the fast path
# takes), some as long: its converter drops an offset rather than applying it, and a date alone is midnight
SQLITE_FORMS = ["2026-01-02 03:04:05", "2026-01-02T03:04:05.123456", "2026-01-02 03:04:05.1+0200", "2026-01-02 03:04:05+02:00",
                "2026-01-02 03:04", "2026-01-02T03:04:05Z", "2026-01-02"]


def _rows(backend: str) -> list[dict]:
    contents = [c for c in CONTENTS if backend != "mariadb" or "surrogate" not in c.get("body", "")]
    rows = []
    for i, content in enumerate(contents * 2):
        due = TIMES[i % len(TIMES)] if i % 3 else TIMES[2]
        rows.append({
            "id": f"m{i:02d}", "channel": "sms", "recipient": "+33612345678", "country": None if i % 2 else "FR", "capability": "TEXT",
            "priority": "LOW", "priority_rank": 2, "content": content, "payload_hash": "h", "status": "queued", "number_of_retries": i % 3,
            "provider": None if i % 2 else "p", "next_attempt_at": due, "created_at": TIMES[(i + 1) % len(TIMES)],
            "updated_at": TIMES[0], "expires_at": None if i % 2 else dt.datetime(2199, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            "in_flight_at": TIMES[i % len(TIMES)] if i % 4 == 1 else None,
            "lease_owner": "dead" if i % 4 == 1 else None, "lease_until": TIMES[2] if i % 4 == 1 else None,
            "timezone": "Europe/Paris" if i % 2 else None})
    return rows


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_a_claim_decodes_its_rows_as_the_columns_converters_do(backend, halo_env, request):
    url = {"sqlite": lambda: halo_env["HALO_DB_URL"], "postgresql": lambda: request.getfixturevalue("migrated_pg_url"),
           "mariadb": lambda: request.getfixturevalue("migrated_mysql_url")}[backend]()
    store = StoreResource(db_url=url)
    try:
        rows = _rows(backend)
        with store.write() as conn:
            conn.execute(messages_t.delete())
            conn.execute(messages_t.insert(), rows)
            if backend == "sqlite":
                for i, form in enumerate(SQLITE_FORMS):
                    column = ("created_at", "next_attempt_at", "in_flight_at")[i % 3]
                    conn.exec_driver_sql(f"UPDATE messages SET {column} = ? WHERE id = ?", (form, f"m{i:02d}"))  # noqa: S608 - a constant
        with store.write() as conn:
            claimed = claim(conn, "sms", "run-1", 100, utcnow(), 300)
        with store.read() as conn:  # the same rows through SQLAlchemy's typed columns, their converters
            stored = {r.id: Claimed._make(r) for r in conn.execute(sa.select(*(messages_t.c[name] for name in Claimed._fields)))}
        assert len(claimed) == len(rows)
        for row in claimed:
            assert row == stored[row.id], row.id
            for value in row:
                if isinstance(value, dt.datetime):
                    assert value.tzinfo is UTC, (row.id, value)
            assert repr(row.content) == repr(stored[row.id].content)  # ints stay ints, as the standard decoder makes them
        assert len({id(r.lease_until) for r in claimed}) == 1  # decoded once for the batch
    finally:
        store.dispose()
