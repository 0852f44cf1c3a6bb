"""`mailjet`: Mailjet Send API v3.1 (a `Messages` list per request, one status per message);
its event webhook carries no signature, so the URL is protected with Basic credentials."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from halo_platform.delivery.providers.base import (
    ACKNOWLEDGED,
    PERMANENT,
    RETRYABLE,
    UNKNOWN,
    CallbackEvent,
    CallbackRejected,
    CallbackRequest,
    Outgoing,
    Provider,
    SendResult,
    http_outcome,
    id_field,
    json_objects,
    secrets_match,
    short_body,
)

CALLBACK_EVENTS = {"blocked": "provider_error", "sent": "received", "bounce": "delivery_failed", "spam": "delivery_failed"}


class MailjetProvider(Provider):
    """Sends email with `POST /v3.1/send`, up to 50 messages per request."""

    kind = "mailjet"
    max_batch = 50
    api_key: str
    secret_key: str
    sender: str
    sender_name: str | None = None
    webhook_user: str | None = None
    webhook_password: str | None = None

    def send_batch(self, messages: Sequence[Outgoing], timeout: float | None = None) -> list[SendResult]:
        sender = {"Email": self.sender, **({"Name": self.sender_name} if self.sender_name else {})}
        payload = {
            "Messages": [
                {
                    "From": sender,
                    "To": [{"Email": m.recipient}],
                    "Subject": m.subject or "",
                    "TextPart": m.body,
                    **({"HTMLPart": m.html} if m.html else {}),
                    "CustomID": m.id,
                }
                for m in messages
            ]
        }
        resp = self.request("POST", "/v3.1/send", timeout, json=payload, auth=(self.api_key, self.secret_key))
        if self.transport_failed(resp):
            return [SendResult(m.id, resp[0], detail=resp[1]) for m in messages]
        outcome = http_outcome(resp.status_code)
        try:
            answers = resp.json().get("Messages") if resp.status_code in (200, 400) else None
        except (ValueError, AttributeError):
            answers = None
        if not isinstance(answers, list) or len(answers) != len(messages) or not all(isinstance(a, dict) for a in answers):
            if outcome == ACKNOWLEDGED:
                outcome = UNKNOWN  # a 2xx we cannot read: taken, maybe sent, acknowledged for none we can name
            detail = f"{resp.status_code} {short_body(resp)}"
            return [SendResult(m.id, outcome, detail=detail, http_status=resp.status_code) for m in messages]
        return [self._one(m, a, resp.status_code) for m, a in zip(messages, answers, strict=True)]

    @staticmethod
    def _one(message: Outgoing, answer: dict, http_status: int) -> SendResult:
        # the parts read only where they have the documented shape: an answer of another shape (a `To`
        # that is no list of objects, a StatusCode that is no number) made the client raise
        if answer.get("Status") == "success":
            to = next(iter(_objects(answer.get("To"))), {})
            return SendResult(message.id, ACKNOWLEDGED, str(to.get("MessageID") or to.get("MessageUUID") or ""), http_status=http_status)
        errors = _objects(answer.get("Errors")) or [{}]
        codes = [int(code) if isinstance(code := e.get("StatusCode"), int) or (isinstance(code, str) and code.isdigit()) else 400
                 for e in errors]
        outcome = RETRYABLE if any(c == 429 or c >= 500 for c in codes) else PERMANENT
        detail = "; ".join(f"{e.get('ErrorCode')} {e.get('ErrorMessage')}" for e in errors)
        return SendResult(message.id, outcome, detail=detail, http_status=http_status)

    def health(self) -> bool:
        resp = self.request("GET", "/v3/REST/user", auth=(self.api_key, self.secret_key))
        return not self.transport_failed(resp) and resp.status_code == 200

    def parse_callback(self, request: CallbackRequest) -> list[CallbackEvent]:
        given = request.credentials("Basic")
        if not self.webhook_user or not self.webhook_password or given is None:
            raise CallbackRejected("missing Basic credentials")
        expected = base64.b64encode(f"{self.webhook_user}:{self.webhook_password}".encode()).decode()
        if not secrets_match(given, expected):
            raise CallbackRejected("bad Basic credentials")
        events = []
        for item in json_objects(request.json()):
            kind = id_field(item, "event")
            event = CALLBACK_EVENTS.get(kind or "")
            mid, custom_id = id_field(item, "MessageID") or "", id_field(item, "CustomID")
            if event is None:
                continue
            # Mailjet names no event id: a message's event is its kind (one recipient per message),
            # so the same status reported again (at another `time`, Mailjet's retry) is a duplicate
            events.append(
                CallbackEvent(
                    event,
                    f"mailjet:{mid or custom_id}:{kind}",
                    message_id=custom_id,
                    provider_message_id=mid or None,
                    detail=f"{kind} {item.get('error') or ''}".strip(),
                )
            )
        return events


def _objects(value: object) -> list[dict]:
    """The objects of `value` when it is a list, else none."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
