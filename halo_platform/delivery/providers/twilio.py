"""`twilio`: Twilio Programmable Messaging (form POST, Basic auth, HMAC-SHA1 signed callbacks)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from halo_platform.core.models import utcnow
from halo_platform.delivery.providers.base import (
    ACKNOWLEDGED,
    RETRYABLE,
    UNKNOWN,
    CallbackEvent,
    CallbackRejected,
    CallbackRequest,
    HttpCall,
    Outgoing,
    Provider,
    SendResult,
    http_outcome,
    secrets_match,
    short_body,
)
from halo_platform.delivery.providers.wire import Reply

# Twilio error codes that a retry may fix even though the HTTP status is 4xx.
RETRYABLE_CODES = {20429, 30001, 30008}
CALLBACK_EVENTS = {"sent": "delivered", "failed": "provider_error", "delivered": "received", "undelivered": "delivery_failed"}


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """base64(HMAC-SHA1(auth_token, url + each param sorted by name as name+value))."""
    payload = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


class TwilioProvider(Provider):
    """Sends SMS with `POST /2010-04-01/Accounts/{sid}/Messages.json`."""

    kind = "twilio"
    account_sid: str
    auth_token: str
    sender: str | None = None
    messaging_service_sid: str | None = None
    status_callback: str | None = None

    def prepare_one(self, message: Outgoing) -> HttpCall:
        form = {"To": message.recipient, "Body": message.body}
        if self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
        else:
            form["From"] = self.sender or ""
        if self.status_callback:
            form["StatusCallback"] = self.status_callback
        if message.expires_at is not None:
            form["ValidityPeriod"] = str(int(min(max((message.expires_at - utcnow()).total_seconds(), 1), 36000)))
        return self.call("POST", f"/2010-04-01/Accounts/{self.account_sid}/Messages.json", data=form, auth=(self.account_sid, self.auth_token))

    def read_one(self, message: Outgoing, resp: Reply | tuple[str, str]) -> SendResult:
        if self.transport_failed(resp):
            return SendResult(message.id, resp[0], detail=resp[1])
        outcome = http_outcome(resp.status_code)
        if outcome == ACKNOWLEDGED:
            try:
                sid = resp.json()["sid"]
            except (ValueError, KeyError, TypeError):
                return SendResult(message.id, UNKNOWN, detail="2xx without a sid", http_status=resp.status_code)
            return SendResult(message.id, ACKNOWLEDGED, sid, http_status=resp.status_code)
        code, text = None, short_body(resp)
        try:
            err = resp.json()
            code, text = err.get("code"), err.get("message", text)
        except ValueError:
            pass
        if code in RETRYABLE_CODES:
            outcome = RETRYABLE
        return SendResult(message.id, outcome, detail=f"{resp.status_code} {code or ''} {text}".strip(), http_status=resp.status_code)

    def health(self) -> bool:
        resp = self.request("GET", f"/2010-04-01/Accounts/{self.account_sid}.json", auth=(self.account_sid, self.auth_token))
        return not self.transport_failed(resp) and resp.status_code == 200

    def parse_callback(self, request: CallbackRequest) -> list[CallbackEvent]:
        params = request.form()
        given = request.headers.get("x-twilio-signature", "")
        expected = twilio_signature(self.auth_token, request.url, params)
        if not given or not secrets_match(given, expected):
            raise CallbackRejected("bad or missing X-Twilio-Signature")
        sid, status = params.get("MessageSid", ""), params.get("MessageStatus", "")
        event = CALLBACK_EVENTS.get(status)
        if not sid or event is None:
            return []
        detail = f"{status} {params.get('ErrorCode') or ''}".strip()
        return [CallbackEvent(event, f"twilio:{sid}:{status}", provider_message_id=sid, detail=detail)]


