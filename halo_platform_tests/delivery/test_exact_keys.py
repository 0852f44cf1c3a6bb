"""Keys a caller or a provider chooses are compared byte for byte on every store: MariaDB's
default collation ignores letter case, accents and trailing spaces, so `ORDER-ABC` was answered
with the message of `order-abc` (never stored, never sent), and a provider's message ids or
event ids that differ only in case were taken for one another."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command

from halo_platform.core.engine import make_engine
from halo_platform.core.errors import ConflictError
from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource, _alembic_config, migrate
from halo_platform.delivery.callbacks import handle_callback
from halo_platform.delivery.queue import messages_t
from halo_platform.delivery.service import message_view, submit
from halo_platform_tests.delivery.test_callback_outcomes import _twilio, _twilio_request
from halo_platform_tests.fixtures.databases import collations

SMS = {"to": "+33612345678", "body": "Your code is 1234"}
# pairs of distinct keys that MariaDB's default collation (utf8mb4_general_ci, PAD SPACE) takes for one
LOOK_ALIKE_KEYS = [("order-abc", "ORDER-ABC"), ("order-1", "order-1 "), ("café", "cafe"), ("Ünïcode", "unicode")]


@pytest.fixture
def store(every_store) -> StoreResource:  # noqa: ANN001
    return every_store


def test_idempotency_keys_that_differ_in_case_accents_or_trailing_spaces_are_different_messages(store, providers_file):
    providers = providers_file({"sms": {"kind": "sandbox", "channel": "sms"}})
    for first, second in LOOK_ALIKE_KEYS:
        a, created_a = submit("sms", {**SMS, "idempotency_key": first}, store=store, providers=providers)
        b, created_b = submit("sms", {**SMS, "idempotency_key": second}, store=store, providers=providers)
        assert created_a and created_b and a["id"] != b["id"], (first, second)
        again, created = submit("sms", {**SMS, "idempotency_key": second}, store=store, providers=providers)
        assert (again["id"], created) == (b["id"], False)  # the same key still finds its own message


def test_a_key_in_other_letter_case_with_another_body_is_a_new_message_and_the_same_key_a_409(store, providers_file):
    providers = providers_file({"sms": {"kind": "sandbox", "channel": "sms"}})
    submit("sms", {**SMS, "body": "one", "idempotency_key": "Order-7"}, store=store, providers=providers)
    _, created = submit("sms", {**SMS, "body": "two", "idempotency_key": "order-7"}, store=store, providers=providers)
    assert created
    with pytest.raises(ConflictError):
        submit("sms", {**SMS, "body": "three", "idempotency_key": "Order-7"}, store=store, providers=providers)


@pytest.fixture
def mariadb(fresh_mysql_url) -> Iterator[StoreResource]:  # noqa: ANN001
    server = StoreResource(db_url=fresh_mysql_url)
    yield server
    server.dispose()


def test_provider_ids_that_differ_only_in_letter_case_reach_their_own_message_on_mariadb(fakes, providers_file, mariadb):
    """Twilio's callback names the message by its SID and is stored once under
    `twilio:<sid>:<status>`: both were matched without regard to case, so the second message's
    callback moved the first one, and the first one's was then dropped as a repeat."""
    providers = providers_file({"tw": _twilio(fakes)})
    ids = [submit("sms", {**SMS, "priority": "HIGH"}, store=mariadb, providers=providers)[0]["id"] for _ in range(2)]
    sids = ["SMcase0001abc", "SMCASE0001ABC"]
    with mariadb.write() as conn:
        for message_id, sid in zip(ids, sids, strict=True):
            conn.execute(messages_t.update().where(messages_t.c.id == message_id).values(provider_message_id=sid))
    assert handle_callback("tw", _twilio_request(sids[1], "delivered"), mariadb, providers)["applied"] == 1
    assert [message_view(i, mariadb)["status"] for i in ids] == ["sent", "received"]
    assert handle_callback("tw", _twilio_request(sids[0], "delivered"), mariadb, providers) == {"applied": 1, "duplicates": 0, "unmatched": 0}
    assert [message_view(i, mariadb)["status"] for i in ids] == ["received", "received"]
    assert handle_callback("tw", _twilio_request(sids[0] + " ", "delivered"), mariadb, providers)["unmatched"] == 1



EXACT = {("messages", "idempotency_key"): "utf8mb4_nopad_bin", ("messages", "provider_message_id"): "utf8mb4_nopad_bin",
         ("message_events", "dedupe_key"): "utf8mb4_nopad_bin", ("inbound_messages", "dedupe_key"): "utf8mb4_nopad_bin"}


def test_the_migration_keeps_stored_keys_and_compares_them_exactly_from_then_on_on_mariadb(fresh_mysql_url):
    engine = make_engine(fresh_mysql_url)
    command.upgrade(_alembic_config(engine), "delivery_0010")
    now = utcnow()
    row = {"id": "m-1", "channel": "sms", "recipient": "+33612345678", "capability": "TEXT", "priority": "NORMAL", "priority_rank": 1,
           "content": {"body": "b"}, "idempotency_key": "Order-7 ", "payload_hash": "h", "status": "sent", "next_attempt_at": now,
           "provider_message_id": "SMabc", "created_at": now, "updated_at": now}
    with engine.begin() as conn:
        conn.execute(messages_t.insert().values(**row))
        assert conn.execute(sa.select(messages_t.c.id).where(messages_t.c.idempotency_key == "order-7")).all() == [("m-1",)]
    migrate(engine)
    with engine.begin() as conn:
        assert EXACT.items() <= collations(conn, EXACT).items()
        assert conn.execute(sa.select(messages_t.c.idempotency_key, messages_t.c.provider_message_id)).all() == [("Order-7 ", "SMabc")]
        for key in ("Order-7 ", "order-7 ", "Order-7"):
            assert conn.execute(sa.select(messages_t.c.id).where(messages_t.c.idempotency_key == key)).all() == ([("m-1",)] if key == "Order-7 " else [])
    command.downgrade(_alembic_config(engine), "delivery_0010")
    with engine.begin() as conn:
        # delivery's keys only: other domains' (task_requests.idempotency_key) keep their own branch's migrations
        assert not {c for column, c in collations(conn, EXACT).items() if column[0] in ("messages", "message_events")} & {"utf8mb4_nopad_bin"}
        assert conn.execute(sa.select(messages_t.c.idempotency_key)).scalar_one() == "Order-7 "
    engine.dispose()
