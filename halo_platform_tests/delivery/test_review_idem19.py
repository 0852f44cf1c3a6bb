"""Idempotency keys are each caller's own (delivery.md: an `idempotency_key` seen before returns the
first message, 409 if the payload differs; access.md: `created_by` is the key's or the user's name).
The keys were global: caller B sending with a key caller A had used got A's message back (its id,
provider and status) or a 409 naming it, and B's message was never sent. A key is now scoped by
its caller, as Stripe scopes its keys by account: the same caller keeps today's behaviour exactly,
another caller's key is another message. Over HTTP, the CLI, in-process calls, HIGH and queued
sends, the unique index a race of one caller's requests relies on, the migration of a store
holding messages, and the Control Center's lookup by key."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner
from fastapi.testclient import TestClient

from halo_platform.access import users
from halo_platform.cli import cli
from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource, _alembic_config, migrate
from halo_platform.delivery import service
from halo_platform.delivery.queue import messages_t
from halo_platform.delivery.service import find_message, message_view, submit
from halo_platform.http import create_app
from halo_platform_tests.delivery.conftest import twilio_then_vonage
from halo_platform_tests.fixtures.access import bearer, make_key
from halo_platform_tests.fixtures.databases import store_at_revision

SMS = {"to": "+33612345678", "body": "Your appointment is at 10:00"}
OTHER = {**SMS, "body": "Your appointment moved to 11:00"}
SANDBOX = {"sms": {"kind": "sandbox", "channel": "sms"}}


def _stored(store: StoreResource) -> list[tuple[str, str | None, str | None]]:
    with store.read() as conn:
        return [tuple(r) for r in conn.execute(sa.select(messages_t.c.id, messages_t.c.created_by, messages_t.c.idempotency_key)
                                                .order_by(messages_t.c.created_at))]


@pytest.fixture
def app(providers_file, halo_store):  # noqa: ANN001, ANN201
    return create_app({"store": halo_store, "providers": providers_file(SANDBOX)})


def _caller(app, name: str) -> TestClient:  # noqa: ANN001
    client = TestClient(app)
    client.headers.update(bearer(make_key(app, "messages:send", "messages:read", name=name)))
    return client


@pytest.mark.parametrize(("priority", "status"), [("NORMAL", 202), ("HIGH", 201)])
def test_another_api_key_sending_with_a_key_already_used_gets_a_message_of_its_own(app, halo_store, priority, status):
    """B's first send with A's key was answered with A's message (or a 409 naming it) and B's
    message was never stored nor sent; now B's key is B's: its own message, sent (HIGH) or
    queued, and B's next sends with it answer with B's message or a 409 naming it, never A's."""
    a, b = _caller(app, "clinic-a"), _caller(app, "clinic-b")
    first = a.post("/v1/messages/sms", json={**SMS, "priority": priority, "idempotency_key": "order-42"})
    assert first.status_code == status, first.text
    mine = b.post("/v1/messages/sms", json={**OTHER, "priority": priority, "idempotency_key": "order-42"})
    assert mine.status_code == status and mine.json()["id"] != first.json()["id"], mine.text
    if priority == "HIGH":
        assert mine.json()["status"] == "sent" and mine.json()["provider"] == "sms"
    again = b.post("/v1/messages/sms", json={**OTHER, "priority": priority, "idempotency_key": "order-42"})
    assert (again.status_code, again.json()["id"]) == (status, mine.json()["id"])
    conflict = b.post("/v1/messages/sms", json={**SMS, "priority": priority, "idempotency_key": "order-42"})
    assert conflict.status_code == 409 and mine.json()["id"] in conflict.json()["error"], conflict.text
    assert first.json()["id"] not in conflict.text
    assert a.post("/v1/messages/sms", json={**SMS, "priority": priority, "idempotency_key": "order-42"}).json()["id"] == first.json()["id"]
    conflict = a.post("/v1/messages/sms", json={**OTHER, "priority": priority, "idempotency_key": "order-42"})
    assert conflict.status_code == 409 and first.json()["id"] in conflict.json()["error"] and mine.json()["id"] not in conflict.text
    assert _stored(halo_store) == [(first.json()["id"], "clinic-a", "order-42"), (mine.json()["id"], "clinic-b", "order-42")]


def test_a_control_center_user_and_the_cli_each_own_the_keys_they_send_with(app, halo_store, providers_file):
    """A signed-in user's send (its session) and `halo delivery send` (`cli:<login>`) are callers
    of their own: a key an API key used before is a new message for each."""
    key_holder = _caller(app, "clinic-a")
    first = key_holder.post("/v1/messages/sms", json={**SMS, "idempotency_key": "order-7"}).json()["id"]
    users.create_user(halo_store, "ada", "admin", "a long enough password")
    person = TestClient(app)
    person.cookies.set("halo_session", users.login(halo_store, "ada", "a long enough password", "test"))
    csrf = users.session(halo_store, person.cookies["halo_session"]).csrf_token
    sent = person.post("/v1/messages/sms", json={**SMS, "idempotency_key": "order-7"}, headers={"X-CSRF-Token": csrf})
    assert sent.status_code == 202 and sent.json()["id"] != first, sent.text
    done = CliRunner().invoke(cli, ["delivery", "send", "sms", "--to", SMS["to"], "--body", SMS["body"], "--idempotency-key", "order-7"])
    assert done.exit_code == 0, done.output
    answer = json.loads(done.output)
    assert answer["created"] is True and answer["id"] not in (first, sent.json()["id"])
    again = CliRunner().invoke(cli, ["delivery", "send", "sms", "--to", SMS["to"], "--body", SMS["body"], "--idempotency-key", "order-7"])
    assert (json.loads(again.output)["id"], json.loads(again.output)["created"]) == (answer["id"], False)
    assert [(by, key) for _, by, key in _stored(halo_store)] == [("clinic-a", "order-7"), ("ada", "order-7"),
                                                                  (message_view(answer["id"], halo_store)["created_by"], "order-7")]


def test_callers_whose_names_differ_only_in_letter_case_and_unnamed_code_each_own_their_keys(every_store, providers_file):
    """Names are compared byte for byte (access_0005): `ops` and `OPS` are two callers, on MariaDB
    too; code in process that names no caller is one caller of its own."""
    providers = providers_file(SANDBOX)
    made = {by: submit("sms", {**SMS, "idempotency_key": "k"}, store=every_store, providers=providers, created_by=by)
            for by in ("ops", "OPS", None)}
    assert all(created for _, created in made.values()) and len({view["id"] for view, _ in made.values()}) == 3
    for by, (view, _) in made.items():
        assert submit("sms", {**SMS, "idempotency_key": "k"}, store=every_store, providers=providers, created_by=by) == (view, False)


@pytest.mark.parametrize("caller", ["clinic-a", None])
def test_a_request_whose_lookup_missed_the_same_callers_first_is_stopped_by_the_unique_index(every_store, providers_file, monkeypatch, caller):
    """Two requests of one caller with one key at once: the second's lookup ran before the first
    committed, and its insert is the one the unique index (caller, key) refuses; it answers with
    the first message. Another caller's message with that key does not stop it."""
    providers = providers_file(SANDBOX)
    other, _ = submit("sms", {**SMS, "idempotency_key": "k"}, store=every_store, providers=providers, created_by="someone-else")
    first, _ = submit("sms", {**SMS, "idempotency_key": "k"}, store=every_store, providers=providers, created_by=caller)
    lookup, missed = service._by_key, []

    def too_early(conn, *args):  # noqa: ANN001, ANN002, ANN202 - the first lookup sees the store as it was before `first`
        if not missed:
            missed.append(args)
            return None
        return lookup(conn, *args)

    monkeypatch.setattr(service, "_by_key", too_early)
    assert submit("sms", {**SMS, "idempotency_key": "k"}, store=every_store, providers=providers, created_by=caller) == (first, False)
    assert missed and first["id"] != other["id"]
    assert len(_stored(every_store)) == 2


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def old_store(request, tmp_path):  # noqa: ANN001, ANN201
    """An empty store migrated up to delivery_0019, when keys were global."""
    yield from store_at_revision(request, tmp_path, "delivery_0019")


def _row(message_id: str, key: str | None, created_by: str | None, **scope: str | None) -> dict:
    """A message row as the store holds it; `idempotency_scope` only when given (not before the migration)."""
    now = utcnow()
    return {"id": message_id, "channel": "sms", "recipient": "+33612345678", "capability": "TEXT", "priority": "NORMAL", "priority_rank": 1,
            "content": {"body": "b"}, "idempotency_key": key, "payload_hash": "h", "status": "queued", "next_attempt_at": now,
            "created_by": created_by, "created_at": now, "updated_at": now, **scope}


def test_the_migration_keeps_the_stored_messages_and_scopes_their_keys_by_caller(old_store):
    """A store holding messages (keyed by a caller, keyed by unnamed code, without a key) keeps
    them, each key held by its caller; from then on another caller may use a key, the same may
    not. A downgrade (once no two callers share a key) makes keys global again."""
    with old_store.begin() as conn:
        conn.execute(messages_t.insert(), [_row("m-1", "order-7", "clinic-a"), _row("m-2", "order-8", None), _row("m-3", None, "clinic-a")])
    migrate(old_store)
    with old_store.begin() as conn:
        assert conn.execute(sa.select(messages_t.c.id, messages_t.c.idempotency_key, messages_t.c.created_by, messages_t.c.idempotency_scope)
                            .order_by(messages_t.c.id)).all() == [("m-1", "order-7", "clinic-a", "clinic-a"), ("m-2", "order-8", None, ""),
                                                                  ("m-3", None, "clinic-a", None)]
        conn.execute(messages_t.insert().values(_row("m-4", "order-7", "clinic-b", idempotency_scope="clinic-b")))
        conn.execute(messages_t.insert().values(_row("m-5", None, "clinic-a")))
    for message_id, key, by in (("m-6", "order-7", "clinic-a"), ("m-7", "order-8", None)):
        with pytest.raises(sa.exc.IntegrityError), old_store.begin() as conn:
            conn.execute(messages_t.insert().values(_row(message_id, key, by, idempotency_scope=by or "")))
    with old_store.begin() as conn:
        conn.execute(messages_t.delete().where(messages_t.c.id == "m-4"))
    command.downgrade(_alembic_config(old_store), "delivery_0019")
    with old_store.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(messages_t)).scalar() == 4
    with pytest.raises(sa.exc.IntegrityError), old_store.begin() as conn:  # keys are global again
        conn.execute(messages_t.insert().values(_row("m-4", "order-7", "clinic-b")))


def test_the_messages_page_lists_every_callers_message_holding_a_key(app, halo_store, providers_file):
    """A viewer reads every message: a key two callers used names two messages, and the lookup
    showed one of them, the other hidden; it shows the first and links each other one."""
    a, b = _caller(app, "clinic-a"), _caller(app, "clinic-b")
    first = a.post("/v1/messages/sms", json={**SMS, "idempotency_key": "order-42"}).json()["id"]
    second = b.post("/v1/messages/sms", json={**OTHER, "idempotency_key": "order-42"}).json()["id"]
    found = find_message("order-42", halo_store)
    assert found["id"] == first and [m["id"] for m in found["same_key"]] == [second]
    assert found["same_key"][0]["created_by"] == "clinic-b"
    users.create_user(halo_store, "vera", "viewer", "a long enough password")
    viewer = TestClient(app)
    viewer.cookies.set("halo_session", users.login(halo_store, "vera", "a long enough password", "test"))
    page = viewer.get("/ui/messages", params={"q": "order-42"})
    assert page.status_code == 200 and first in page.text and f'href="/ui/messages?q={second}"' in page.text, page.text
    assert "clinic-b" in page.text
    assert [m["id"] for m in find_message(second, halo_store)["same_key"]] == [first]


def test_a_high_sms_that_failed_over_keeps_why_the_first_provider_was_passed_over(fakes, providers_file, halo_store, app):
    """delivery.md: lifecycle events with detail. A HIGH SMS that Twilio refused (503) and Vonage
    sent had only `queued` and `sent`: nothing said why Twilio, drawn first, had not sent it. Its
    refusal is a `retry_scheduled` event of Twilio's with the reason (the number masked), before
    the `sent`; the status stays `sent`, no retry is counted, and the Messages page shows it."""
    import random

    providers = twilio_then_vonage(fakes, providers_file)
    fakes["twilio"].set_switches(failure_rate=1.0, failure_response=(
        503, {"Content-Type": "application/json"}, b'{"code": 20503, "message": "carrier for +33612345678 unavailable"}'))
    view, _ = submit("sms", {**SMS, "priority": "HIGH"}, store=halo_store, providers=providers, rng=random.Random(7))
    assert (view["status"], view["provider"], view["number_of_retries"]) == ("sent", "vo", 0)
    events = message_view(view["id"], halo_store)["events"]
    assert [(e["event"], e["provider"]) for e in events] == [("queued", None), ("retry_scheduled", "tw"), ("sent", "vo")], events
    assert "503" in events[1]["detail"] and "+33612345678" not in events[1]["detail"], events[1]
    users.create_user(halo_store, "vera", "viewer", "a long enough password")
    viewer = TestClient(app)
    viewer.cookies.set("halo_session", users.login(halo_store, "vera", "a long enough password", "test"))
    page = viewer.get("/ui/messages", params={"q": view["id"]})
    assert page.status_code == 200 and "retry_scheduled" in page.text and "via tw" in page.text and "503" in page.text, page.text
