"""`fcm`: Firebase Cloud Messaging HTTP v1 (one request per message, no delivery callback).

Authentication: a Google service account (`service_account_file`): google-auth signs a JWT with
its key and trades it at the file's `token_uri` for an OAuth2 access token, which is cached and
minted anew before it expires (google-auth treats a token as expired 3 min 45 s early), one
refresh at a time. A fixed `access_token` is accepted for tools and tests."""

from __future__ import annotations

import threading
from typing import Any

from pydantic import PrivateAttr, model_validator

from halo_platform.delivery.providers.base import (
    ACKNOWLEDGED,
    PERMANENT,
    RETRYABLE,
    UNKNOWN,
    Outgoing,
    Provider,
    SendResult,
    http_outcome,
    seconds_to_keep,
    short_body,
)

#: the OAuth2 scope of the FCM HTTP v1 API
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
RETRYABLE_ERRORS = {"QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL"}
PERMANENT_ERRORS = {"INVALID_ARGUMENT", "UNREGISTERED", "SENDER_ID_MISMATCH", "THIRD_PARTY_AUTH_ERROR"}
#: a well-formed token no device holds; a validate-only send of it proves the API answers
HEALTH_TOKEN = "halo-health-check"


class FcmProvider(Provider):
    """Sends push notifications with `POST /v1/projects/{project_id}/messages:send`."""

    kind = "fcm"
    project_id: str
    service_account_file: str | None = None
    access_token: str | None = None
    ttl_seconds: int = 3600

    _credentials: Any = PrivateAttr(default=None)
    _session: Any = PrivateAttr(default=None)
    _token_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @model_validator(mode="after")
    def _one_credential(self) -> FcmProvider:
        if bool(self.service_account_file) == bool(self.access_token):
            raise ValueError("give service_account_file (or, for tools and tests, access_token): exactly one")
        return self

    def bearer(self) -> str:
        """The access token to send: the fixed one, or the service account's, minted or refreshed
        when google-auth finds it missing or about to expire."""
        if self.access_token:
            return self.access_token
        with self._token_lock:
            if self._credentials is None:
                import requests
                from google.oauth2 import service_account

                self._credentials = service_account.Credentials.from_service_account_file(self.service_account_file, scopes=[SCOPE])
                self._session = requests.Session()
            if not self._credentials.valid:
                from google.auth.transport.requests import Request

                transport = Request(self._session)
                self._credentials.refresh(lambda **kw: transport(**{**kw, "timeout": self.timeout_seconds}))
            return self._credentials.token

    def close(self) -> None:
        super().close()
        if self._session is not None:
            self._session.close()
            self._session = None
            self._credentials = None

    def _payload(self, message: Outgoing, validate_only: bool = False) -> dict:
        body: dict = {
            "message": {
                "token": message.recipient,
                "notification": {"title": message.title or "", "body": message.body},
                "android": {"ttl": f"{seconds_to_keep(message, self.ttl_seconds)}s"},
            }
        }
        if message.data:
            body["message"]["data"] = {str(k): str(v) for k, v in message.data.items()}
        if validate_only:
            body["validate_only"] = True
        return body

    def _post(self, payload: dict, timeout: float | None = None):  # noqa: ANN202
        """The reply, or (RETRYABLE, why) when no access token could be had (nothing was sent)."""
        from google.auth.exceptions import GoogleAuthError

        try:
            token = self.bearer()
        except (GoogleAuthError, OSError, ValueError) as exc:
            return RETRYABLE, f"no FCM access token: {type(exc).__name__}: {str(exc)[:120]}"
        resp = self.request(
            "POST",
            f"/v1/projects/{self.project_id}/messages:send",
            timeout,
            json=payload,
            headers={"Authorization": f"Bearer {token}"},
        )
        if not self.transport_failed(resp) and resp.status_code == 401 and self._credentials is not None:
            with self._token_lock:  # revoked before it expired: the next send mints another
                if self._credentials.token == token:
                    self._credentials.token = None
        return resp

    def send_one(self, message: Outgoing, timeout: float | None = None) -> SendResult:
        resp = self._post(self._payload(message), timeout)
        if self.transport_failed(resp):
            return SendResult(message.id, resp[0], detail=resp[1])
        outcome = http_outcome(resp.status_code)
        if outcome == ACKNOWLEDGED:
            try:
                name = resp.json()["name"]
            except (ValueError, KeyError, TypeError):
                name = None
            if not isinstance(name, str):  # a name that is no text (null, a number) names no message either
                return SendResult(message.id, UNKNOWN, detail="2xx without a name", http_status=resp.status_code)
            return SendResult(message.id, ACKNOWLEDGED, name.rsplit("/", 1)[-1], http_status=resp.status_code)
        code = None
        try:
            error = resp.json()["error"]
            code = next((d.get("errorCode") for d in error.get("details", []) if d.get("errorCode")), None) or error.get("status")
            text = error.get("message", "")
        except (ValueError, KeyError, TypeError, AttributeError):
            text = short_body(resp)  # a 502 may come back as an HTML page
        # a service account's token refused before its expiry (revoked) was dropped in `_post`: a new one may pass
        if code in RETRYABLE_ERRORS or (code == "UNAUTHENTICATED" and self.service_account_file):
            outcome = RETRYABLE
        elif code in PERMANENT_ERRORS:
            outcome = PERMANENT
        return SendResult(message.id, outcome, detail=f"{resp.status_code} {code or ''} {text}".strip(), http_status=resp.status_code)

    def health(self) -> bool:
        probe = Outgoing(id="health", channel="push", recipient=HEALTH_TOKEN, body="health", title="health")
        resp = self._post(self._payload(probe, validate_only=True))
        # 400 for a token no device holds still proves the API is up and takes our credentials
        return not self.transport_failed(resp) and resp.status_code in (200, 400)


