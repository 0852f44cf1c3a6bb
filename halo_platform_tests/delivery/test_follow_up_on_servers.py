"""Opt-out, status webhooks and channel fallback on PostgreSQL and MariaDB (which enforce
types and sizes SQLite lets pass), against the real Twilio and SendGrid fakes: a suppression
ends a queued message and stops the next, a webhook reaches its receiver, a failed SMS falls
back once, and the suppression check finds nothing sent in spite of a suppression."""

from __future__ import annotations

import json
import uuid

import pytest

from halo_platform.access.keys import create_key
from halo_platform.core.store import StoreResource
from halo_platform.delivery.fallback import send_fallbacks
from halo_platform.delivery.service import message_view, submit
from halo_platform.delivery.suppressions import sent_despite_suppression, suppress
from halo_platform.delivery.webhooks import backlog, deliver
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.helpers import drain, webhook_receiver


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_opt_out_webhooks_and_fallback_on_a_database_server(fakes, providers_file, server, request, monkeypatch):
    monkeypatch.setenv("HALO_WEBHOOKS_ALLOW_PRIVATE", "1")  # the receiver listens on 127.0.0.1
    store = StoreResource(db_url=request.getfixturevalue({"postgresql": "migrated_pg_url", "mariadb": "mysql_url"}[server]))
    providers = providers_file({
        "tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"},
        "sg": {"kind": "sendgrid", "channel": "email", "base_url": fakes["sendgrid"].url, **SECRETS["sendgrid"], "sender": "noreply@example.com"},
    })
    key_name = f"app-{uuid.uuid4().hex[:8]}"
    create_key(store, key_name, ["messages:send"])
    number = f"+3361{uuid.uuid4().int % 10**7:07d}"

    def sms(**fields) -> dict:  # noqa: ANN003
        return submit("sms", {"to": number, "body": "b", "priority": "LOW", **fields}, store=store, providers=providers, sender_key=key_name)[0]

    try:
        queued = sms()
        assert suppress(store, "sms", number)["ended"] == 1
        assert (message_view(queued["id"], store)["status"], sms()["status"]) == ("suppressed", "suppressed")
        with webhook_receiver() as receiver:
            other = submit("sms", {"to": "+33612345678", "body": "b", "priority": "LOW", "callback_url": f"{receiver.url}/hooks"},
                           store=store, providers=providers, sender_key=key_name)[0]
            refused = submit("sms", {"to": "+33612340000", "body": "b", "priority": "LOW",
                                     "fallback": {"channel": "email", "to": "ada@example.com", "subject": "s"}}, store=store, providers=providers)[0]
            drain(providers, store)
            assert deliver(store, max_seconds=10)["delivered"] >= 2
            assert backlog(store)["events"] == 0
            assert {json.loads(b)["message_id"] for _, b in receiver.got} == {other["id"]}
        assert len(send_fallbacks(store, providers)["made"]) == 1
        assert send_fallbacks(store, providers)["made"] == []
        assert message_view(message_view(refused["id"], store)["fallback"], store)["fallback_of"] == refused["id"]
        assert sent_despite_suppression(store) == []
    finally:
        store.dispose()
