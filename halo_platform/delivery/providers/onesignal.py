"""`onesignal`: OneSignal notifications API. Retries reuse the request's `idempotency_key`
(the message id), so OneSignal itself drops a second copy. Event-stream callbacks carry a
shared secret (`Authorization: Bearer <webhook_secret>`)."""

from __future__ import annotations

from halo_platform.delivery.providers.base import (
    ACKNOWLEDGED,
    PERMANENT,
    UNKNOWN,
    CallbackEvent,
    CallbackRejected,
    CallbackRequest,
    HttpCall,
    Outgoing,
    Provider,
    SendResult,
    http_outcome,
    id_field,
    json_objects,
    seconds_to_keep,
    secrets_match,
    short_body,
)
from halo_platform.delivery.providers.wire import Reply

#: the longest `ttl` OneSignal takes (28 days; its default is 3 days)
MAX_TTL_SECONDS = 28 * 24 * 3600
CALLBACK_EVENTS = {"message.push.sent": "delivered", "message.push.received": "received", "message.push.failed": "delivery_failed"}


class OnesignalProvider(Provider):
    """Sends push notifications with `POST /notifications` to the user with external id = recipient."""

    kind = "onesignal"
    request_idempotency = True
    app_id: str
    api_key: str
    webhook_secret: str | None = None

    def prepare_one(self, message: Outgoing) -> HttpCall:
        payload = {
            "app_id": self.app_id,
            "target_channel": "push",
            "include_aliases": {"external_id": [message.recipient]},
            "contents": {"en": message.body},
            "headings": {"en": message.title or ""},
            "idempotency_key": message.id,
            "external_id": message.id,
        }
        if message.data:
            payload["data"] = dict(message.data)
        if message.expires_at is not None:
            payload["ttl"] = seconds_to_keep(message, MAX_TTL_SECONDS, 1)
        return self.call("POST", "/notifications", json=payload, headers={"Authorization": f"Key {self.api_key}"})

    def read_one(self, message: Outgoing, resp: Reply | tuple[str, str]) -> SendResult:
        if self.transport_failed(resp):
            return SendResult(message.id, resp[0], detail=resp[1])
        outcome = http_outcome(resp.status_code)
        try:
            body = resp.json()
        except ValueError:
            body = None
        if outcome == ACKNOWLEDGED:
            if not isinstance(body, dict):
                return SendResult(message.id, UNKNOWN, detail="unreadable 200 answer", http_status=resp.status_code)
            if not body.get("id"):
                return SendResult(message.id, PERMANENT, detail=f"nothing sent: {body.get('errors')}", http_status=resp.status_code)
            return SendResult(message.id, ACKNOWLEDGED, str(body["id"]), http_status=resp.status_code)
        detail = f"{resp.status_code} {body.get('errors') if isinstance(body, dict) else short_body(resp)}"
        return SendResult(message.id, outcome, detail=detail, http_status=resp.status_code)

    def health(self) -> bool:
        resp = self.request("GET", f"/apps/{self.app_id}", headers={"Authorization": f"Key {self.api_key}"})
        return not self.transport_failed(resp) and resp.status_code == 200

    def parse_callback(self, request: CallbackRequest) -> list[CallbackEvent]:
        given = request.credentials("Bearer")
        if not self.webhook_secret or given is None:
            raise CallbackRejected("missing shared secret")
        if not secrets_match(given, self.webhook_secret):
            raise CallbackRejected("bad shared secret")
        events = []
        for item in json_objects(request.json()):
            ev, message = item.get("event"), item.get("message") or {}
            if not isinstance(ev, dict) or not isinstance(message, dict):
                raise CallbackRejected("event and message: expected JSON objects", 400)
            kind = id_field(ev, "kind") or ""
            event = CALLBACK_EVENTS.get(kind)
            mid, external_id = id_field(message, "id") or "", id_field(item, "external_id")
            if event is None or not (mid or external_id):
                continue
            events.append(
                CallbackEvent(
                    event,
                    f"onesignal:{id_field(ev, 'id') or mid + ':' + kind}",
                    message_id=external_id,
                    provider_message_id=mid or None,
                    detail=kind,
                )
            )
        return events
