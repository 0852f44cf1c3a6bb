"""Delivery on every store, where MariaDB's default collation (letter case, accents and trailing
spaces ignored) or its column limits made it do otherwise than SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from halo_platform.core.errors import HaloError
from halo_platform.core.store import StoreResource
from halo_platform.delivery.autopilot import set_manual
from halo_platform.delivery.callbacks import handle_callback
from halo_platform.delivery.service import message_view, submit
from halo_platform.delivery.state import set_weights
from halo_platform.delivery.suppressions import suppress
from halo_platform.delivery.tables import Message, ProviderState, RoutingWeightAudit
from halo_platform.lab.fakehttp import FakeHTTPServer
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.helpers import drain
from halo_platform_tests.delivery.test_callback_outcomes import _twilio_request

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


LONG_SID = "SM" + "7" * 300  # a provider's id longer than the 255 characters of its column


@pytest.fixture
def twilio_long_first() -> Iterator[FakeHTTPServer]:
    """Twilio's send endpoint, whose first acceptance names the message `LONG_SID`."""
    server, numbers = FakeHTTPServer(), itertools.count()

    @server.route("POST", r"/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json")
    def send(_request):  # noqa: ANN001, ANN202
        number = next(numbers)
        return 201, {"sid": LONG_SID if number == 0 else f"SM{number:032x}", "status": "queued"}

    yield server.start()
    server.close()


@pytest.mark.parametrize("priority", ["HIGH", "LOW"])
def test_a_provider_id_longer_than_its_column_is_recorded_sent_with_the_others_and_its_callbacks_match(
        store, providers_file, twilio_long_first, priority):
    """SQLite kept the id whole; PostgreSQL and MariaDB refused it, so the answers of the whole
    group were never recorded (the drain failed, HIGH raised after the provider took the OTP):
    the messages stayed queued, in flight, to end lost or be sent again."""
    providers = providers_file({"tw": {"kind": "twilio", "channel": "sms", "base_url": twilio_long_first.url, **SECRETS["twilio"],
                                       "sender": "+33700000000"}})
    views = [submit("sms", {"to": "+33612345678", "body": f"code {i}", "priority": priority}, store=store, providers=providers)[0]
             for i in range(3)]
    drain(providers, store)
    assert [message_view(v["id"], store)["status"] for v in views] == ["sent"] * 3
    assert twilio_long_first.request_count == 3
    assert handle_callback("tw", _twilio_request(LONG_SID, "delivered"), store, providers)["applied"] == 1
    assert handle_callback("tw", _twilio_request(LONG_SID[:-1], "delivered"), store, providers)["unmatched"] == 1
    assert sorted(message_view(v["id"], store)["status"] for v in views) == ["received", "sent", "sent"]


@pytest.mark.parametrize(("switched_by", "weighted_by"), [("b" * 129, "w" * 256), ("ops\nadmin", "ops\nadmin")])
def test_who_switches_a_provider_or_sets_weights_is_one_line_its_column_holds_or_refused(store, providers_file, switched_by, weighted_by):
    """`halo delivery switch ... --by` and `weights set --by` (and the weights job's changed_by)
    took any text: SQLite kept 129 or 256 characters, PostgreSQL and MariaDB refused them with the
    driver's error (the CLI printed "Data too long for column 'manual_by'"), and a line break
    split the providers table's line."""
    providers = providers_file({"sms": {"kind": "sandbox", "channel": "sms"}},
                               routing=[{"channel": "sms", "country": "*", "capability": "*", "weights": {"sms": 1}}])
    config = providers.config()
    with pytest.raises(HaloError, match="changed_by"):
        set_manual(config, "sms", True, switched_by, "maintenance", store)
    with pytest.raises(HaloError, match="changed_by"):
        set_weights(config, config.rules[0].key, {"sms": 2}, weighted_by, store, "more")
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ProviderState)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(RoutingWeightAudit)).scalar_one() == 0
    assert "switched off by " + "b" * 128 in set_manual(config, "sms", True, "b" * 128, "maintenance", store)


@pytest.mark.parametrize("created_by", ["c" * 256, "billing\nreports", "a\x00b"])
def test_who_sends_in_process_is_one_line_its_column_holds_or_the_message_is_refused(store, providers_file, created_by):
    """`send_sms(..., created_by=...)` recorded any text: SQLite kept 256 characters and a NUL
    that PostgreSQL and MariaDB refused with the driver's error (a NUL only PostgreSQL)."""
    providers = providers_file({"sms": {"kind": "sandbox", "channel": "sms"}})
    message = {"to": "+33612345678", "body": "reminder", "priority": "LOW"}
    with pytest.raises(HaloError, match="created_by"):
        submit("sms", message, store=store, providers=providers, created_by=created_by)
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Message)).scalar_one() == 0
    view, _ = submit("sms", message, store=store, providers=providers, created_by="c" * 255)
    assert message_view(view["id"], store)["created_by"] == "c" * 255
