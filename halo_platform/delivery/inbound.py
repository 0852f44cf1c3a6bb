"""Inbound SMS (replies to our numbers) from Twilio and Vonage: verified the way each signs its
callbacks (providers.md), then STOP / START keywords add or lift a suppression. Any other text
is acknowledged and ignored (an inbound message is not stored: it is personal data we do not need)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from halo_platform.core.errors import HaloError, NotFoundError
from halo_platform.core.redact import mask_recipient
from halo_platform.core.store import StoreResource
from halo_platform.delivery.providers.base import CallbackRejected, CallbackRequest, check_signed_time, secrets_match
from halo_platform.delivery.providers.twilio import twilio_signature
from halo_platform.delivery.providers.vonage import vonage_signature
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.delivery.suppressions import keyword_action, suppress, unsuppress

log = logging.getLogger("halo.delivery")


def twilio_inbound(provider: Any, request: CallbackRequest) -> tuple[str, str]:
    """(sender, text) of a Twilio incoming-message webhook (form POST, `X-Twilio-Signature`)."""
    params = request.form()
    given = request.headers.get("x-twilio-signature", "")
    if not given or not secrets_match(given, twilio_signature(provider.auth_token, request.url, params)):
        raise CallbackRejected("bad or missing X-Twilio-Signature")
    if params.get("AccountSid") != provider.account_sid:
        raise CallbackRejected("the message is for another Twilio account")
    return params.get("From", ""), params.get("Body", "")


def vonage_inbound(provider: Any, request: CallbackRequest) -> tuple[str, str]:
    """(sender, text) of a Vonage inbound-SMS webhook (GET or POST, form or JSON), signed with
    the signature secret and a timestamp of at most 10 minutes."""
    body: Any = {}
    if request.method == "POST" and request.body:
        json_body = request.headers.get("content-type", "").startswith("application/json")
        body = request.json() if json_body else request.form()
        if not isinstance(body, dict):
            raise CallbackRejected("expected a JSON object", 400)
    params = {**request.query, **{k: str(v) for k, v in body.items()}}
    given = params.get("sig", "")
    if not provider.signature_secret or not given:
        raise CallbackRejected("unsigned inbound message")
    if not secrets_match(given.lower(), vonage_signature(provider.signature_secret, params, provider.signature_method).lower()):
        raise CallbackRejected("bad Vonage signature")
    check_signed_time(params.get("timestamp", ""))
    sender = params.get("msisdn", "")
    return (f"+{sender}" if sender.isdigit() else sender), params.get("text", "")


#: provider kind -> the reader of its inbound-message webhook
READERS: dict[str, Callable[[Any, CallbackRequest], tuple[str, str]]] = {"twilio": twilio_inbound, "vonage": vonage_inbound}


def handle_inbound(provider_name: str, request: CallbackRequest, store: StoreResource, providers: ProvidersResource) -> dict[str, str]:
    """Apply one inbound SMS: {"action": "suppressed" | "lifted" | "ignored"}. Raises
    `CallbackRejected` (401/400) before touching anything."""
    entry = providers.config().providers.get(provider_name)
    if entry is None or entry.kind not in READERS:
        raise NotFoundError(f"no provider {provider_name!r} that takes inbound messages ({', '.join(READERS)})")
    try:
        sender, text = READERS[entry.kind](providers.build(entry), request)
    except CallbackRejected:
        raise
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise CallbackRejected(f"unreadable inbound message ({type(exc).__name__})", 400) from None
    action = keyword_action(text)
    if action is None:
        return {"action": "ignored"}
    try:
        if action == "suppress":
            suppress(store, "sms", sender, reason=f"{text.strip().upper()} via {provider_name}", created_by=f"inbound:{provider_name}")
        else:
            unsuppress(store, "sms", sender)
    except HaloError as exc:  # a sender that is no phone number (an alphanumeric id)
        log.warning("inbound %s from %s: %s", action, mask_recipient(sender), exc)
        return {"action": "ignored"}
    log.info("inbound %s: %s opted %s", provider_name, mask_recipient(sender), "out" if action == "suppress" else "in")
    return {"action": "suppressed" if action == "suppress" else "lifted"}
