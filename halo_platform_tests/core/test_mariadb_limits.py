"""The operational store answers the same on SQLite, PostgreSQL and MariaDB where MariaDB's
defaults differ: its default collation ignores letter case (a message id or a task name in
capitals found the lowercase one), and its VARCHAR and TEXT columns refuse what is longer than
they hold, where SQLite keeps it (a long alert key, a long delivery detail failed the write)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
import yaml
from alembic import command
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.definitions import STORE
from halo_platform.core.engine import make_engine
from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource, _alembic_config, migrate
from halo_platform.delivery.callbacks import handle_callback
from halo_platform.delivery.providers.base import CallbackRequest
from halo_platform.delivery.queue import events_t, messages_t
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.delivery.service import message_view
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform.reports import audit
from halo_platform.sinks import DeliveryOutcome
from halo_platform.sinks.email import mask_email
from halo_platform_tests.delivery.test_callbacks import vonage_sig
from halo_platform_tests.fixtures.access import authorized_client
from halo_platform_tests.fixtures.databases import collations
from halo_platform_tests.reports.test_rearm import running


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def store(request, halo_env, monkeypatch) -> Iterator[StoreResource]:  # noqa: ANN001
    """The shared store (the API's and the CLI's) on SQLite, PostgreSQL or MariaDB."""
    if request.param != "sqlite":
        monkeypatch.setenv("HALO_DB_URL", request.getfixturevalue({"postgresql": "fresh_pg_url", "mariadb": "fresh_mysql_url"}[request.param]))
    STORE.dispose()
    yield STORE
    STORE.dispose()


@pytest.fixture
def providers(store, tmp_path) -> Iterator[ProvidersResource]:  # noqa: ANN001, ARG001
    """A sandbox SMS provider, and a Vonage one whose signed receipts name our message id."""
    path = tmp_path / "providers.yaml"
    path.write_text(yaml.safe_dump({"providers": {
        "sms": {"kind": "sandbox", "channel": "sms"},
        "vo": {"kind": "vonage", "channel": "sms", "countries": ["DE"], "base_url": "http://127.0.0.1:9", **SECRETS["vonage"],
               "signature_secret": "sigsecret", "signature_method": "md5hash"},
    }, "routing": []}))
    resource = ProvidersResource(providers_file=str(path))
    yield resource
    resource.close()


def _vonage_receipt(client_ref: str) -> CallbackRequest:
    params = {"msisdn": "4915123456789", "to": "Halo", "messageId": "vo-1", "status": "delivered", "err-code": "0",
              "client-ref": client_ref, "message-timestamp": "2026-11-21 10:00:00", "timestamp": str(int(time.time()))}
    params["sig"] = vonage_sig(params, "md5hash")
    return CallbackRequest(url="http://testserver/v1/callbacks/vo", method="GET", body=b"", headers={}, query=list(params.items()))


def test_a_message_id_in_capitals_is_no_message_and_a_receipt_naming_it_matches_nothing(store, providers):
    """On MariaDB `GET /v1/messages/<ID IN CAPITALS>` answered with the message, and a Vonage
    receipt whose `client-ref` named our id in capitals moved it; elsewhere 404 and unmatched."""
    client = authorized_client(create_app({"store": store, "providers": providers}))
    answer = client.post("/v1/messages/sms", json={"to": "+4915123456789", "body": "hello", "priority": "HIGH"})
    assert answer.status_code == 201, answer.text
    message_id = answer.json()["id"]
    assert client.get(f"/v1/messages/{message_id}").status_code == 200
    assert client.get(f"/v1/messages/{message_id.upper()}").status_code == 404
    with store.write() as conn:  # as if Vonage had sent it
        conn.execute(messages_t.update().where(messages_t.c.id == message_id).values(provider="vo"))
    assert handle_callback("vo", _vonage_receipt(message_id.upper()), store, providers) == {"applied": 0, "duplicates": 0, "unmatched": 1}
    assert message_view(message_id, store)["status"] == "sent"
    assert handle_callback("vo", _vonage_receipt(message_id), store, providers)["applied"] == 1
    assert message_view(message_id, store)["status"] == "received"


MESSAGE_IDS = {("messages", "id"), ("messages", "fallback_of"), ("message_events", "message_id"), ("delivery_attempts", "message_id"),
               ("sandbox_messages", "message_id"), ("webhook_attempts", "message_id")}


def test_the_migration_keeps_stored_message_ids_and_compares_them_exactly_from_then_on_on_mariadb(fresh_mysql_url):
    engine = make_engine(fresh_mysql_url)
    command.upgrade(_alembic_config(engine), "delivery_0014")
    now, message_id = utcnow(), "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
    with engine.begin() as conn:
        conn.execute(messages_t.insert().values(id=message_id, channel="sms", recipient="+33612345678", capability="TEXT", priority="NORMAL",
                                                priority_rank=1, content={"body": "b"}, payload_hash="h", status="sent", next_attempt_at=now,
                                                created_at=now, updated_at=now))
        conn.execute(events_t.insert().values(message_id=message_id, event="sent", at=now))
    migrate(engine)
    joined = sa.select(messages_t.c.id).join(events_t, events_t.c.message_id == messages_t.c.id)
    with engine.begin() as conn:
        assert {column for column, collation in collations(conn, MESSAGE_IDS).items() if collation == "utf8mb4_nopad_bin"} == MESSAGE_IDS
        for asked in (message_id, message_id.upper(), message_id + " "):
            assert conn.execute(joined.where(messages_t.c.id == asked)).all() == ([(message_id,)] if asked == message_id else [])
    command.downgrade(_alembic_config(engine), "delivery_0014")
    with engine.begin() as conn:
        assert "utf8mb4_nopad_bin" not in collations(conn, MESSAGE_IDS).values()
        assert conn.execute(joined).all() == [(message_id,)]
    engine.dispose()


def test_the_audit_log_of_a_task_named_in_capitals_lists_none_of_the_task_s_requests(store):
    """On MariaDB `halo tasks log --task PAYMENT_RECONCILIATION` listed `payment_reconciliation`'s
    requests; elsewhere "no task requests", as for any task of that name. (The command now refuses
    a name that is no task's before it reads the log: the log's filter is asked directly.)"""
    audit.record_status(store, "r-1", "QUEUED", task="payment_reconciliation")
    assert "r-1  payment_reconciliation" in CliRunner().invoke(cli, ["tasks", "log", "--task", "payment_reconciliation"]).output
    for other in ("PAYMENT_RECONCILIATION", "payment_reconciliation ", "paymént_reconciliation"):
        assert audit.list_requests(store, other) == [], other


def test_alerts_of_a_campaign_id_longer_than_the_key_column_are_claimed_and_held_back_each_on_its_own(store):
    """A campaign id of 600 characters made a key longer than `task_alert_marks.alert_key` (512):
    PostgreSQL and MariaDB refused the mark, and the run failed with the driver's error instead of
    alerting (SQLite kept it). Two such keys that differ only past the column's length are two alerts."""
    campaign = "C" * 600
    first, second = f"{campaign}\x1fEXPIRING", f"{campaign}\x1fOVER_BUDGET"
    assert running(store, "r-1").claim("campaign_alerts", [first], 24) == set()
    audit.record_deliveries(store, "r-1", [DeliveryOutcome("outbox", "DELIVERED", 1, ["file:///a.csv"])])
    assert running(store, "r-2").claim("campaign_alerts", [first, second], 24) == {first}
    assert running(store, "r-3").claim("campaign_alerts", [first, second], 24) == {first, second}


def test_the_detail_of_an_email_refused_for_3000_recipients_is_recorded_cut_with_its_length_noted(store):
    """The email sink's detail for 3,000 refused recipients is over 100 kB: MariaDB's TEXT (65,535
    bytes) refused the write, so the request's deliveries were lost to the driver's error (SQLite and
    PostgreSQL kept it whole). Every store now keeps its first 64 kB and the length of the whole."""
    refused = [f"finance.team.{n:04d}@example.com" for n in range(3000)]
    detail = f"permanent: refused for {', '.join(f'{mask_email(a)} (550)' for a in refused)}; sent to "
    assert len(detail.encode()) > 65_535
    audit.record_status(store, "r-1", "RUNNING", task="payment_reconciliation")
    audit.record_deliveries(store, "r-1", [DeliveryOutcome("mail", "FAILED", 1, [], detail, permanent=True)])
    answer = authorized_client(create_app({"store": store})).get("/v1/task-requests/r-1")
    assert answer.status_code == 200, answer.text
    [delivery] = answer.json()["deliveries"]
    assert delivery["status"] == "FAILED" and len(delivery["detail"].encode()) <= 65_535
    kept, _, note = delivery["detail"].rpartition(" ... ")
    assert detail.startswith(kept) and len(kept) > 60_000
    assert note == f"[cut: {len(detail.encode()):,} bytes in all]"
