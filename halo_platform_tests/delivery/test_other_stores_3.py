"""Delivery on every store, where MariaDB's default collation (letter case, accents and trailing
spaces ignored) or its column limits made it do otherwise than SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from halo_platform.core.store import StoreResource
from halo_platform.delivery.service import message_view, submit
from halo_platform.delivery.suppressions import suppress
from halo_platform_tests.delivery.helpers import drain

PUSH = {"title": "Ping", "body": "news", "priority": "LOW"}


@pytest.fixture
def store(every_store) -> StoreResource:  # noqa: ANN001
    return every_store


def test_suppressing_a_device_token_leaves_the_queued_push_of_a_token_differing_only_in_case(store, providers_file):
    """Device tokens and OneSignal external ids are case-sensitive: on MariaDB the opt-out of one
    device ended the queued push of the other (`suppressed`, never sent)."""
    providers = providers_file({"push": {"kind": "sandbox", "channel": "push"}})
    other, _ = submit("push", {**PUSH, "to": "Device_Token_ABCDEF"}, store=store, providers=providers)
    opted_out, _ = submit("push", {**PUSH, "to": "device_token_abcdef"}, store=store, providers=providers)
    assert suppress(store, "push", "device_token_abcdef", reason="asked")["ended"] == 1
    assert message_view(opted_out["id"], store)["status"] == "suppressed"
    assert message_view(other["id"], store)["status"] == "queued"
    drain(providers, store, "push")
    assert message_view(other["id"], store)["status"] == "sent"
