"""`sendgrid`: SendGrid v3 Mail Send (up to 1000 personalizations per request) and its
ECDSA-signed event webhook."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from itertools import groupby

from halo_platform.delivery.providers.base import (
    ACKNOWLEDGED,
    PERMANENT,
    CallbackEvent,
    CallbackRejected,
    CallbackRequest,
    Outgoing,
    Provider,
    SendResult,
    check_signed_time,
    http_outcome,
    id_field,
    json_objects,
    short_body,
)
from halo_platform.delivery.providers.wire import Reply

CALLBACK_EVENTS = {
    "processed": "delivered",
    "deferred": "delivered",
    "dropped": "provider_error",
    "delivered": "received",
    "bounce": "delivery_failed",
}
CUSTOM_ARG = "halo_message_id"


def verify_sendgrid_signature(public_key_b64: str, signature_b64: str, timestamp: str, body: bytes) -> bool:
    """ECDSA P-256 / SHA-256 over timestamp + raw body, with the webhook's public key (base64 DER)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_der_public_key(base64.b64decode(public_key_b64))
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return False
        key.verify(base64.b64decode(signature_b64), timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _whole_request_refused(resp: Reply) -> bool:
    """Whether a 400 names only fields of the whole request (`from.email`, `subject`, `content.0.value`):
    each half of the request is refused alike, so a bisection of n messages would only send 2n - 2
    more requests. One naming a personalization, or no field, may be about one message."""
    try:
        fields = [error.get("field") for error in resp.json().get("errors")]
    except (ValueError, AttributeError, TypeError):
        return False
    return bool(fields) and all(isinstance(f, str) and f and not f.startswith("personalizations") for f in fields)


class SendgridProvider(Provider):
    """Sends email with `POST /v3/mail/send`. Messages with the same subject and content go
    out together as personalizations of one request; a 202 acknowledges each of them."""

    kind = "sendgrid"
    max_batch = 1000
    api_key: str
    sender: str
    sender_name: str | None = None
    webhook_public_key: str | None = None

    def send_batch(self, messages: Sequence[Outgoing], timeout: float | None = None) -> list[SendResult]:
        results: dict[str, SendResult] = {}
        def content_of(m: Outgoing) -> tuple:
            return (m.subject or "", m.body, m.html or "")
        for _, group in groupby(sorted(messages, key=content_of), key=content_of):
            for r in self._send_group(list(group), timeout):
                results[r.message_id] = r
        return [results[m.id] for m in messages]

    def _send_group(self, group: list[Outgoing], timeout: float | None) -> list[SendResult]:
        first = group[0]
        content = [{"type": "text/plain", "value": first.body}]
        if first.html:
            content.append({"type": "text/html", "value": first.html})
        sender = {"email": self.sender, **({"name": self.sender_name} if self.sender_name else {})}
        payload = {
            "personalizations": [{"to": [{"email": m.recipient}], "custom_args": {CUSTOM_ARG: m.id}} for m in group],
            "from": sender,
            "subject": first.subject or "",
            "content": content,
        }
        resp = self.request("POST", "/v3/mail/send", timeout, json=payload, headers={"Authorization": f"Bearer {self.api_key}"})
        # a batch may be several requests (content groups, bisected halves): each result carries the
        # pause its own request asked for, not the last request's
        asked = self.take_pause()
        if self.transport_failed(resp):
            return [SendResult(m.id, resp[0], detail=resp[1]) for m in group]
        outcome = http_outcome(resp.status_code)
        if outcome == ACKNOWLEDGED:
            mid = resp.headers.get("x-message-id")
            return [SendResult(m.id, ACKNOWLEDGED, mid, http_status=resp.status_code) for m in group]
        if outcome == PERMANENT and len(group) > 1 and resp.status_code == 400 and not _whole_request_refused(resp):
            # one bad personalization fails the whole request: bisect to isolate it
            half = len(group) // 2
            return self._send_group(group[:half], timeout) + self._send_group(group[half:], timeout)
        detail = f"{resp.status_code} {short_body(resp)}"
        return [SendResult(m.id, outcome, detail=detail, http_status=resp.status_code, retry_after=asked) for m in group]

    def health(self) -> bool:
        resp = self.request("GET", "/v3/scopes", headers={"Authorization": f"Bearer {self.api_key}"})
        return not self.transport_failed(resp) and resp.status_code == 200

    def parse_callback(self, request: CallbackRequest) -> list[CallbackEvent]:
        signature = request.headers.get("x-twilio-email-event-webhook-signature", "")
        timestamp = request.headers.get("x-twilio-email-event-webhook-timestamp", "")
        if not self.webhook_public_key or not signature or not timestamp:
            raise CallbackRejected("missing SendGrid webhook signature")
        if not verify_sendgrid_signature(self.webhook_public_key, signature, timestamp, request.body):
            raise CallbackRejected("bad SendGrid webhook signature")
        check_signed_time(timestamp)
        events = []
        for item in json_objects(request.json(), single_allowed=False):
            kind = id_field(item, "event")
            event = CALLBACK_EVENTS.get(kind or "")
            sg_id = id_field(item, "sg_message_id") or ""
            message_id = id_field(item, CUSTOM_ARG)
            if event is None:
                continue
            dedupe = f"sendgrid:{id_field(item, 'sg_event_id') or sg_id + ':' + str(kind)}"
            events.append(
                CallbackEvent(
                    event,
                    dedupe,
                    message_id=message_id,
                    provider_message_id=sg_id.split(".")[0] or None,
                    detail=f"{item.get('event')} {item.get('reason') or ''}".strip(),
                )
            )
        return events
