"""`vonage`: Vonage SMS API (form POST with key/secret in the body, signed delivery receipts)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Literal

from halo_platform.delivery.providers.base import (
    ACKNOWLEDGED,
    DEFAULT_PAUSE_SECONDS,
    PERMANENT,
    RETRYABLE,
    THROTTLED,
    UNKNOWN,
    CallbackEvent,
    CallbackRejected,
    CallbackRequest,
    HttpCall,
    Outgoing,
    Provider,
    SendResult,
    check_signed_time,
    http_outcome,
    seconds_to_keep,
    secrets_match,
    short_body,
)
from halo_platform.delivery.providers.wire import Reply
from halo_platform.delivery.validation import GSM7_BASIC, GSM7_EXTENSION

RETRYABLE_STATUSES = {"5", "10"}
#: the characters GSM-7 carries (`sms_segments` counts a text of them in GSM-7): a text's `type`
#: is one set test, 0.13 us for 7 characters, 1.1 us for 59, where `sms_segments` (each character's
#: size listed, the segments counted) took 3.1 and 15 us
GSM7 = GSM7_BASIC | GSM7_EXTENSION
#: "Throttled": Vonage's 429, though answered with a 200 (delivery.md: a pause, not a transmission error)
THROTTLED_STATUS = "1"
#: the `ttl` Vonage takes (sent in ms: 20 s to 7 days); one out of it is refused (status 3)
TTL_SECONDS = (20, 7 * 24 * 3600)
CALLBACK_EVENTS = {
    "accepted": "delivered",
    "buffered": "delivered",
    "rejected": "provider_error",
    "delivered": "received",
    "failed": "delivery_failed",
    "expired": "delivery_failed",
}
SignatureMethod = Literal["md5hash", "md5", "sha1", "sha256", "sha512"]
SIGNATURE_METHODS = {"md5hash": None, "md5": hashlib.md5, "sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def vonage_signature(secret: str, params: Mapping[str, str], method: str = "md5hash") -> str:
    """Vonage's signed-request scheme: `&key=value` for each param sorted by key (the `sig`
    itself left out, `&` and `=` in values replaced by `_`); `md5hash` is the lower-case MD5
    of that string + secret, the HMAC methods the upper-case HMAC of it keyed by the secret."""
    if method not in SIGNATURE_METHODS:
        raise ValueError(f"unknown Vonage signature method {method!r}")
    query = "".join(
        f"&{k}={str(params[k]).replace('&', '_').replace('=', '_')}" for k in sorted(params) if k != "sig"
    )
    digest = SIGNATURE_METHODS[method]
    # a JSON receipt may hold any string, lone surrogates too: hash them, never fail on them
    if digest is None:
        return hashlib.md5((query + secret).encode("utf-8", "surrogatepass")).hexdigest()
    return hmac.new(secret.encode(), query.encode("utf-8", "surrogatepass"), digest).hexdigest().upper()


class VonageProvider(Provider):
    """Sends SMS with `POST /sms/json`; receipts are verified with the signature secret."""

    kind = "vonage"
    api_key: str
    api_secret: str
    sender: str = "Halo"
    callback_url: str | None = None
    signature_secret: str | None = None
    #: a typo (`sha265`) is refused when the providers file is read: it made every signed receipt
    #: and inbound STOP a 400, and the STOPs were lost without a word
    signature_method: SignatureMethod = "md5hash"

    def prepare_one(self, message: Outgoing) -> HttpCall:
        form = {
            "api_key": self.api_key,
            "api_secret": self.api_secret,
            "from": self.sender,
            "to": message.recipient.lstrip("+"),
            "text": message.body,
            # GSM-7 ("text") also carries é, ü, € ...: "unicode" only when GSM-7 cannot, as it
            # costs 70 characters per segment instead of 160
            "type": "text" if GSM7.issuperset(message.body) else "unicode",
            "client-ref": message.id,
        }
        if self.callback_url:
            form["callback"] = self.callback_url
        if message.expires_at is not None:
            form["ttl"] = str(seconds_to_keep(message, TTL_SECONDS[1], TTL_SECONDS[0]) * 1000)
        return self.call("POST", "/sms/json", data=form)

    def read_one(self, message: Outgoing, resp: Reply | tuple[str, str]) -> SendResult:
        if self.transport_failed(resp):
            return SendResult(message.id, resp[0], detail=resp[1])
        outcome = http_outcome(resp.status_code)
        if outcome != ACKNOWLEDGED:
            return SendResult(message.id, outcome, detail=f"{resp.status_code} {short_body(resp)}", http_status=resp.status_code)
        try:
            parts = resp.json()["messages"]
            statuses = [str(part.get("status")) for part in parts]
        except (ValueError, KeyError, TypeError, AttributeError):
            parts, statuses = [], []
        if not parts:
            return SendResult(message.id, UNKNOWN, detail="unreadable 200 answer", http_status=resp.status_code)
        refused = [n for n, status in enumerate(statuses) if status != "0"]
        if not refused:
            return SendResult(message.id, ACKNOWLEDGED, parts[0].get("message-id"), http_status=resp.status_code)
        status, part = statuses[refused[0]], parts[refused[0]]
        detail = f"status {status}: {part.get('error-text', '')}"
        if len(parts) > 1:  # a long text goes out in parts, each with its own status
            detail = f"part {refused[0] + 1} of {len(parts)}: {detail}"
        if len(refused) < len(parts):
            # the parts taken reach the recipient, and a retry would send them again
            return SendResult(message.id, PERMANENT, detail=f"{detail} ({len(parts) - len(refused)} taken: not sent again)",
                              http_status=resp.status_code)
        if status == THROTTLED_STATUS:
            return SendResult(message.id, THROTTLED, detail=detail, http_status=resp.status_code, retry_after=DEFAULT_PAUSE_SECONDS)
        outcome = RETRYABLE if status in RETRYABLE_STATUSES else PERMANENT
        return SendResult(message.id, outcome, detail=detail, http_status=resp.status_code)

    def health(self) -> bool:
        resp = self.request("GET", "/account/get-balance", params={"api_key": self.api_key, "api_secret": self.api_secret})
        return not self.transport_failed(resp) and resp.status_code == 200

    def parse_callback(self, request: CallbackRequest) -> list[CallbackEvent]:
        params = request.params()
        given = params.get("sig", "")
        if not self.signature_secret or not given:
            raise CallbackRejected("unsigned delivery receipt")
        expected = vonage_signature(self.signature_secret, params, self.signature_method)
        if not secrets_match(given.lower(), expected.lower()):
            raise CallbackRejected("bad Vonage signature")
        check_signed_time(params.get("timestamp", ""))
        status, mid = params.get("status", ""), params.get("messageId", "")
        event = CALLBACK_EVENTS.get(status)
        if event is None or not mid:
            return []
        detail = f"{status} err-code {params.get('err-code', '')}".strip()
        # a long text goes out in parts, each with its own id and receipt but all with our
        # `client-ref`: a status of the message is stored once, whichever part reported it first
        ref = params.get("client-ref") or None
        return [CallbackEvent(event, f"vonage:{f'ref:{ref}' if ref else mid}:{status}", message_id=ref, provider_message_id=mid, detail=detail)]
