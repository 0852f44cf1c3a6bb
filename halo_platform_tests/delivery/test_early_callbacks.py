"""A provider's status callback that comes before the dispatcher recorded the provider's answer
(between the answer and its transaction) is not lost: one naming only the provider's id
(Twilio's MessageSid) is kept and applied when that id is recorded, once, forward only; one
naming our id (Vonage's client-ref) moves the message at once, and the dispatcher's `sent`
that follows never rewinds it. Kept events older than a day are dropped."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
import sqlalchemy as sa

from halo_platform.core.store import StoreResource
from halo_platform.delivery import dispatch as dispatch_module
from halo_platform.delivery.callbacks import handle_callback
from halo_platform.delivery.providers.base import CallbackRequest
from halo_platform.delivery.service import message_view, submit
from halo_platform.delivery.tables import MessageEvent, ParkedCallback
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.helpers import drain
from halo_platform_tests.delivery.test_callback_outcomes import _twilio, _twilio_request
from halo_platform_tests.delivery.test_callbacks import vonage_sig


@pytest.fixture
def store(every_store) -> StoreResource:  # noqa: ANN001
    return every_store


def history(store: StoreResource, message_id: str) -> list[tuple[str, bool]]:
    """(event, overtaken) of the message, in order."""
    with store.read() as conn:
        rows = conn.execute(sa.select(MessageEvent.event, MessageEvent.overtaken).where(MessageEvent.message_id == message_id).order_by(MessageEvent.id))
        return [(event, bool(overtaken)) for event, overtaken in rows]


def _answering_after(fake, callback) -> list[dict]:  # noqa: ANN001
    """`callback(our reference, provider_id)` runs in the fake's handler once it took a message, before it
    answers: the provider's callback overtakes its answer. Returns what each callback counted."""
    counted, accept = [], fake.accept

    def accept_then_call_back(ref: str, provider_id: str, to: str) -> None:
        accept(ref, provider_id, to)
        counted.append(callback(ref, provider_id))

    fake.accept = accept_then_call_back
    return counted


def _sms(store: StoreResource, providers, country: str = "FR", priority: str = "NORMAL") -> str:  # noqa: ANN001
    view, _ = submit("sms", {"to": "+33612345678" if country == "FR" else "+4915123456789", "country": country, "body": "Tomorrow 10:00",
                             "priority": priority}, store=store, providers=providers)
    return view["id"]


@pytest.mark.parametrize("priority", ["NORMAL", "HIGH"])
def test_a_twilio_status_that_overtakes_the_answer_is_applied_when_the_sid_is_recorded(store, fakes, providers_file, priority):
    """Was: the `sent` callback (lifecycle `delivered`) found no message with its MessageSid yet,
    was counted unmatched and dropped: the message stayed `sent` for good."""
    providers = providers_file({"tw": _twilio(fakes)})
    counted = _answering_after(fakes["twilio"], lambda _, sid: handle_callback("tw", _twilio_request(sid, "sent"), store, providers))
    message_id = _sms(store, providers, priority=priority)
    if priority == "NORMAL":
        drain(providers, store)
    assert counted == [{"applied": 0, "duplicates": 0, "unmatched": 1}]  # nothing to apply it to yet (200: not retried)
    view = message_view(message_id, store)
    assert view["status"] == "delivered"
    assert history(store, message_id)[-2:] == [("sent", False), ("delivered", False)]
    sid = view["provider_message_id"]
    assert handle_callback("tw", _twilio_request(sid, "sent"), store, providers) == {"applied": 0, "duplicates": 1, "unmatched": 0}
    assert handle_callback("tw", _twilio_request(sid, "delivered"), store, providers)["applied"] == 1
    assert message_view(message_id, store)["status"] == "received"
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ParkedCallback.__table__)).scalar() == 0


def test_a_kept_status_moves_its_message_forward_only(store, fakes, providers_file):
    """An `undelivered` and then a `sent` both overtake the answer: the message ends
    `delivery_failed`; the `sent` is in its history, overtaken."""
    providers = providers_file({"tw": _twilio(fakes)})

    def both(_: str, sid: str) -> dict:
        handle_callback("tw", _twilio_request(sid, "undelivered"), store, providers)
        return handle_callback("tw", _twilio_request(sid, "sent"), store, providers)

    _answering_after(fakes["twilio"], both)
    message_id = _sms(store, providers)
    drain(providers, store)
    assert message_view(message_id, store)["status"] == "delivery_failed"
    assert history(store, message_id)[-3:] == [("sent", False), ("delivery_failed", False), ("delivered", True)]


def test_a_kept_status_of_another_provider_or_older_than_a_day_is_never_applied(store, fakes, providers_file):
    """A callback to another provider naming the SID before we recorded it (its own account may
    use it), and one of ours kept for over a day (dropped when the next one is kept), change nothing."""
    providers = providers_file({"tw": _twilio(fakes), "tw2": {**_twilio(fakes), "countries": ["DE"]}})
    first_sid = f"SM{1:032x}"  # the fake's first
    assert handle_callback("tw2", _twilio_request(first_sid, "undelivered"), store, providers)["unmatched"] == 1
    assert handle_callback("tw", _twilio_request(first_sid, "undelivered"), store, providers)["unmatched"] == 1
    parked = ParkedCallback.__table__
    with store.write() as conn:
        conn.execute(parked.update().where(parked.c.provider == "tw").values(received_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1, seconds=1)))
    assert handle_callback("tw", _twilio_request("SM-never-sent", "sent"), store, providers)["unmatched"] == 1
    with store.read() as conn:
        assert sorted(conn.execute(sa.select(parked.c.provider, parked.c.provider_message_id)).all()) == [("tw", "SM-never-sent"), ("tw2", first_sid)]
    message_id = _sms(store, providers)
    drain(providers, store)
    view = message_view(message_id, store)
    assert (view["status"], view["provider_message_id"]) == ("sent", first_sid)
    assert history(store, message_id)[-1] == ("sent", False)


def _vonage_receipt(message_id: str, mid: str, status: str) -> CallbackRequest:
    params = {"msisdn": "4915123456789", "to": "Halo", "messageId": mid, "status": status, "err-code": "0", "client-ref": message_id,
              "message-timestamp": "2026-11-21 10:00:00", "timestamp": str(int(time.time()))}
    params["sig"] = vonage_sig(params, "md5hash")
    return CallbackRequest(url="http://testserver/v1/callbacks/vo", method="GET", body=b"", headers={}, query=list(params.items()))


def test_a_vonage_receipt_naming_our_id_moves_the_message_in_flight_and_the_answer_never_rewinds_it(store, fakes, providers_file):
    providers = providers_file({"vo": {"kind": "vonage", "channel": "sms", "countries": ["DE"], "base_url": fakes["vonage"].url, **SECRETS["vonage"],
                                       "signature_secret": "sigsecret", "signature_method": "md5hash"}})
    sent_by = {}

    def receipt(ref: str, mid: str) -> dict:
        sent_by[ref] = mid
        return handle_callback("vo", _vonage_receipt(ref, mid, "delivered"), store, providers)

    counted = _answering_after(fakes["vonage"], receipt)
    message_id = _sms(store, providers, country="DE")
    drain(providers, store)
    assert counted == [{"applied": 1, "duplicates": 0, "unmatched": 0}]
    view = message_view(message_id, store)
    assert (view["status"], view["provider_message_id"]) == ("received", sent_by[message_id])
    assert ("received", False) in history(store, message_id) and ("sent", False) not in history(store, message_id)
    assert handle_callback("vo", _vonage_receipt(message_id, sent_by[message_id], "accepted"), store, providers)["applied"] == 1
    assert message_view(message_id, store)["status"] == "received"


def _calling_back_while_recording(monkeypatch, module, fakes, store, providers, in_transactions: bool = True) -> list[dict]:  # noqa: ANN001
    """The first SID's `sent` callback runs (and commits) inside the transaction recording that
    SID, right after `module.persist` wrote it; returns what the callback counted. On PostgreSQL
    a drain's round of one statement runs in autocommit and commits with it: `in_transactions`
    makes every round a transaction, as a round of several statements is."""
    if in_transactions:
        monkeypatch.setattr(module, "one_statement", lambda *_: False)
    sids, counted = [], []
    fakes["twilio"].accept = (lambda accept: lambda ref, sid, to: (accept(ref, sid, to), sids.append(sid)))(fakes["twilio"].accept)
    original = module.persist

    def persist_then_call_back(conn, owner, transitions, attempts, now, *marking):  # noqa: ANN001, ANN202
        ours = original(conn, owner, transitions, attempts, now, *marking)
        if sids and not counted:  # the callback commits while this transaction is still open
            thread = threading.Thread(target=lambda: counted.append(handle_callback("tw", _twilio_request(sids[0], "sent"), store, providers)))
            thread.start()
            thread.join(timeout=30)
        return ours

    monkeypatch.setattr(module, "persist", persist_then_call_back)
    return counted


@pytest.mark.parametrize("priority", ["NORMAL", "HIGH"])
@pytest.mark.parametrize("url", ["migrated_pg_url", "migrated_mysql_url"], ids=["postgresql", "mariadb"])
def test_a_status_kept_while_the_sids_transaction_commits_is_applied(request, fakes, providers_file, monkeypatch, priority, url):
    """PostgreSQL and MariaDB let a callback commit while the transaction recording its SID is
    open. Was: the dispatcher looked for kept statuses before the callback kept its own, the
    callback looked for the SID before it was committed, and neither applied it: the message
    stayed `sent` and the status sat kept for a day. (SQLite's single writer orders them.)"""
    from halo_platform.delivery import dispatch, service

    store = StoreResource(db_url=request.getfixturevalue(url))
    request.addfinalizer(store.dispose)
    providers = providers_file({"tw": _twilio(fakes)})
    counted = _calling_back_while_recording(monkeypatch, dispatch if priority == "NORMAL" else service, fakes, store, providers)
    message_id = _sms(store, providers, priority=priority)
    if priority == "NORMAL":
        drain(providers, store)
    assert counted == [{"applied": 0, "duplicates": 0, "unmatched": 1}]
    assert message_view(message_id, store)["status"] == "delivered"
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ParkedCallback.__table__)).scalar() == 0


def test_a_round_of_one_statement_commits_with_it_on_postgresql(migrated_pg_url, fakes, providers_file, monkeypatch):
    """On PostgreSQL a round's answers and markers are one statement, run in autocommit: the
    callback that comes right after it finds the SID committed and applies its status at once."""
    store = StoreResource(db_url=migrated_pg_url)
    providers = providers_file({"tw": _twilio(fakes)})
    counted = _calling_back_while_recording(monkeypatch, dispatch_module, fakes, store, providers, in_transactions=False)
    message_id = _sms(store, providers)
    drain(providers, store)
    assert counted == [{"applied": 1, "duplicates": 0, "unmatched": 0}]
    assert message_view(message_id, store)["status"] == "delivered"
    store.dispose()


@pytest.mark.parametrize("url", ["migrated_pg_url", "migrated_mysql_url"], ids=["postgresql", "mariadb"])
def test_a_drain_applies_a_status_kept_during_a_transaction_in_its_next_transaction(request, fakes, providers_file, monkeypatch, url):
    """A drain looks for the statuses kept for the ids a transaction recorded in a later
    transaction (it began after that commit), not in a read of its own after each commit: one
    request at a time, the first message's status, kept while its SID's transaction was open,
    is applied by the transaction recording the second message's answer (the read after the
    drain's last transaction is switched off here, and the look made in every transaction)."""
    from halo_platform.delivery import dispatch

    store = StoreResource(db_url=request.getfixturevalue(url))
    request.addfinalizer(store.dispose)
    providers = providers_file({"tw": {**_twilio(fakes), "max_concurrency": 1}})
    counted = _calling_back_while_recording(monkeypatch, dispatch, fakes, store, providers)
    monkeypatch.setattr(dispatch, "settle_parked", lambda *_: None)
    monkeypatch.setattr(dispatch, "SETTLE_SECONDS", 0.0)  # a look in every transaction
    first, second = _sms(store, providers), _sms(store, providers)
    drain(providers, store)
    assert counted == [{"applied": 0, "duplicates": 0, "unmatched": 1}]
    assert [message_view(m, store)["status"] for m in (first, second)] == ["delivered", "sent"]
