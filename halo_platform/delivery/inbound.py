"""Inbound SMS (replies to our numbers) from Twilio and Vonage: verified the way each signs its
callbacks (providers.md), then STOP / START keywords add or lift a suppression (`STOP ALL`: one
that stops HIGH messages too). Any other text is acknowledged and ignored (an inbound message is
not stored: it is personal data we do not need).

A STOP or START is applied once: the provider's id for it (Twilio's `MessageSid`, Vonage's
`messageId`) is kept in `inbound_messages` in the transaction that changes the suppression, so
the same signed request sent again (the provider's retry, or a captured START replayed after a
newer STOP: Twilio signs no time) changes nothing and is answered 200, which the provider does
not retry."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from typing import Any, NamedTuple

import sqlalchemy as sa

from halo_platform.core.errors import HaloError, NotFoundError
from halo_platform.core.models import utcnow
from halo_platform.core.redact import mask_recipient
from halo_platform.core.store import StoreResource
from halo_platform.core.text import echo, unstorable
from halo_platform.delivery.providers.base import CallbackRejected, CallbackRequest, check_signed_time, secrets_match
from halo_platform.delivery.providers.twilio import twilio_signed
from halo_platform.delivery.providers.vonage import vonage_signature
from halo_platform.delivery.queue import stored_dedupe_key
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.delivery.suppressions import (
    STOP_ALL_WORDS,
    changed_since,
    keyword,
    keyword_action,
    opt_out_written,
    suppress_in,
    unsuppress_in,
)
from halo_platform.delivery.tables import InboundMessage

log = logging.getLogger("halo.delivery")
inbound_t = InboundMessage.__table__


class Inbound(NamedTuple):
    message_id: str  # the provider's id of the inbound message
    sender: str
    text: str
    #: the provider's time of the message ("YYYY-MM-DD HH:MM:SS", UTC), "" where it gives none
    said: str = ""


def said_at(said: str, now: dt.datetime) -> dt.datetime:
    """When the recipient sent an inbound message: the provider's time of it, UTC, else (none, or
    unreadable) `now`, the time we received it; never later than `now` (a provider clock ahead of
    ours would make its STOP newer than every START for as long as it is ahead)."""
    try:
        at = dt.datetime.strptime(said, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
    except ValueError:
        return now
    return min(at, now)


def twilio_inbound(provider: Any, request: CallbackRequest) -> Inbound:
    """An incoming-message webhook of Twilio (form POST, or GET with the fields in the query; `X-Twilio-Signature`)."""
    if not twilio_signed(provider.auth_token, request):
        raise CallbackRejected("bad or missing X-Twilio-Signature")
    params = request.form(single=("AccountSid", "MessageSid", "From", "Body"))
    if params.get("AccountSid") != provider.account_sid:
        raise CallbackRejected("the message is for another Twilio account")
    return Inbound(params.get("MessageSid", ""), params.get("From", ""), params.get("Body", ""))


def vonage_inbound(provider: Any, request: CallbackRequest) -> Inbound:
    """An inbound-SMS webhook of Vonage (GET or POST, form or JSON), signed with
    the signature secret and a timestamp of at most 10 minutes."""
    params = request.params()
    given = params.get("sig", "")
    if not provider.signature_secret or not given:
        raise CallbackRejected("unsigned inbound message")
    if not secrets_match(given.lower(), vonage_signature(provider.signature_secret, params, provider.signature_method).lower()):
        raise CallbackRejected("bad Vonage signature")
    check_signed_time(params.get("timestamp", ""))
    sender = params.get("msisdn", "")
    return Inbound(params.get("messageId", ""), f"+{sender}" if sender.isdigit() else sender, params.get("text", ""),
                   params.get("message-timestamp", ""))


#: provider kind -> the reader of its inbound-message webhook
READERS: dict[str, Callable[[Any, CallbackRequest], Inbound]] = {"twilio": twilio_inbound, "vonage": vonage_inbound}


def handle_inbound(provider_name: str, request: CallbackRequest, store: StoreResource, providers: ProvidersResource) -> dict[str, str]:
    """Apply one inbound SMS: {"action": "suppressed" | "lifted" | "ignored" | "duplicate" | "outdated"}
    (`ignored`: no keyword, or a START from a sender with no opt-out to lift; `duplicate`: its STOP
    or START was applied before; `outdated`: the sender's suppression changed after the message was
    sent, a webhook delivered out of order). Raises `CallbackRejected` (401/400) before touching anything."""
    entry = providers.config().providers.get(provider_name)
    if entry is None or entry.kind not in READERS:
        raise NotFoundError(f"no provider {echo(provider_name)} that takes inbound messages ({', '.join(READERS)})")
    try:
        inbound = READERS[entry.kind](providers.build(entry), request)
    except CallbackRejected:
        raise
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise CallbackRejected(f"unreadable inbound message ({type(exc).__name__})", 400) from None
    if why := next(filter(None, map(unstorable, inbound)), None):
        # JSON may escape a lone surrogate (\ud800), which no UTF-8 store takes (the id's lookup
        # raised), and a NUL, which PostgreSQL refuses where SQLite and MariaDB keep it
        raise CallbackRejected(f"unreadable inbound message (text no store takes: {why})", 400)
    action = keyword_action(inbound.text)
    if action is None:
        return {"action": "ignored"}
    if not inbound.message_id:
        raise CallbackRejected("an inbound message without the provider's id for it", 400)
    # the provider's kind, not our name for it: a Vonage request (whose signature covers no URL)
    # replayed to another Vonage entry sharing the secret is the same message
    key = stored_dedupe_key(f"{entry.kind}:{inbound.message_id}")
    try:
        # the same message (or recipient) applied at once by another request: seen on the next try
        answer = opt_out_written(functools.partial(_apply_once, store, provider_name, key, action, inbound))
    except HaloError as exc:  # a sender that is no phone number (an alphanumeric id)
        log.warning("inbound %s from %s: %s", action, mask_recipient(inbound.sender), exc)
        return {"action": "ignored"}
    if answer == "duplicate":
        log.info("inbound %s: message %s seen before, not applied again", provider_name, inbound.message_id[:64])
    elif answer == "outdated":
        log.info("inbound %s: %s from %s sent before the last change of its opt-out, not applied", provider_name, action,
                 mask_recipient(inbound.sender))
    elif answer == "ignored":
        log.info("inbound %s: START from %s, who had not opted out: nothing to lift", provider_name, mask_recipient(inbound.sender))
    else:
        log.info("inbound %s: %s opted %s", provider_name, mask_recipient(inbound.sender), "out" if action == "suppress" else "in")
    return {"action": answer}


def _apply_once(store: StoreResource, provider_name: str, key: str, action: str, inbound: Inbound) -> str:
    """Record the message and change the suppression in one transaction; the answer's action:
    `duplicate` if it was recorded before, `outdated` if the sender's suppression last changed at a
    later time than the message's (the newest STOP or START by the provider's time wins; Twilio's
    webhook carries no time: the receipt's stands for it), `ignored` for a START with no suppression
    to lift (it is recorded all the same: replayed after a later STOP, it lifts nothing)."""
    now = utcnow()
    with store.write() as conn:
        if conn.execute(sa.select(inbound_t.c.id).where(inbound_t.c.dedupe_key == key)).first() is not None:
            return "duplicate"
        conn.execute(inbound_t.insert().values(dedupe_key=key, provider=provider_name, action=action, at=now))
        said = said_at(inbound.said, now)
        if changed_since(conn, "sms", inbound.sender, said):
            return "outdated"
        # the keyword, not the text around it: `STOP!` and a line of dashes, on two lines or past the
        # reason's 255 characters, was no reason a suppression keeps, and the opt-out was `ignored`
        word = keyword(inbound.text)
        reason, by = f"{word} via {provider_name}", f"inbound:{provider_name}"
        if action == "suppress":
            scope = "all" if word in STOP_ALL_WORDS else "normal"
            suppress_in(conn, "sms", inbound.sender, scope=scope, reason=reason, created_by=by, said_at=said)
            return "suppressed"
        return "lifted" if unsuppress_in(conn, "sms", inbound.sender, reason=reason, lifted_by=by, said_at=said) else "ignored"
