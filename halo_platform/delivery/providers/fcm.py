"""`fcm`: Firebase Cloud Messaging HTTP v1 (one request per message, no delivery callback)."""

from __future__ import annotations

from halo_platform.delivery.providers.base import (
    ACKNOWLEDGED,
    PERMANENT,
    RETRYABLE,
    Outgoing,
    Provider,
    SendResult,
    http_outcome,
    short_body,
)

RETRYABLE_ERRORS = {"QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL"}
PERMANENT_ERRORS = {"INVALID_ARGUMENT", "UNREGISTERED", "SENDER_ID_MISMATCH", "THIRD_PARTY_AUTH_ERROR"}
#: a well-formed token no device holds; a validate-only send of it proves the API answers
HEALTH_TOKEN = "halo-health-check"


class FcmProvider(Provider):
    """Sends push notifications with `POST /v1/projects/{project_id}/messages:send`."""

    kind = "fcm"
    project_id: str
    access_token: str
    ttl_seconds: int = 3600

    def _payload(self, message: Outgoing, validate_only: bool = False) -> dict:
        body: dict = {
            "message": {
                "token": message.recipient,
                "notification": {"title": message.title or "", "body": message.body},
                "android": {"ttl": f"{self.ttl_seconds}s"},
            }
        }
        if message.data:
            body["message"]["data"] = {str(k): str(v) for k, v in message.data.items()}
        if validate_only:
            body["validate_only"] = True
        return body

    def _post(self, payload: dict, timeout: float | None = None):  # noqa: ANN202
        return self.request(
            "POST",
            f"/v1/projects/{self.project_id}/messages:send",
            timeout,
            json=payload,
            headers={"Authorization": f"Bearer {self.access_token}"},
        )

    def send_one(self, message: Outgoing, timeout: float | None = None) -> SendResult:
        resp = self._post(self._payload(message), timeout)
        if self.transport_failed(resp):
            return SendResult(message.id, resp[0], detail=resp[1])
        outcome = http_outcome(resp.status_code)
        if outcome == ACKNOWLEDGED:
            try:
                name = resp.json()["name"]
            except (ValueError, KeyError, TypeError):
                return SendResult(message.id, RETRYABLE, detail="2xx without a name", http_status=resp.status_code)
            return SendResult(message.id, ACKNOWLEDGED, name.rsplit("/", 1)[-1], http_status=resp.status_code)
        code = None
        try:
            error = resp.json()["error"]
            code = next((d.get("errorCode") for d in error.get("details", []) if d.get("errorCode")), None) or error.get("status")
            text = error.get("message", "")
        except (ValueError, KeyError, TypeError, AttributeError):
            text = short_body(resp)  # a 502 may come back as an HTML page
        if code in RETRYABLE_ERRORS:
            outcome = RETRYABLE
        elif code in PERMANENT_ERRORS:
            outcome = PERMANENT
        return SendResult(message.id, outcome, detail=f"{resp.status_code} {code or ''} {text}".strip(), http_status=resp.status_code)

    def health(self) -> bool:
        probe = Outgoing(id="health", channel="push", recipient=HEALTH_TOKEN, body="health", title="health")
        resp = self._post(self._payload(probe, validate_only=True))
        # 400 for a token no device holds still proves the API is up and takes our credentials
        return not self.transport_failed(resp) and resp.status_code in (200, 400)


