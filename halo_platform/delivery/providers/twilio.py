"""`twilio`: Twilio Programmable Messaging (form POST, Basic auth, HMAC-SHA1 signed callbacks)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import quote, urlsplit

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
    seconds_to_keep,
    secrets_match,
    short_body,
    single_valued,
)
from halo_platform.delivery.providers.wire import Reply

# Twilio error codes that a retry may fix even though the HTTP status is 4xx.
RETRYABLE_CODES = {20429, 30001, 30008}
#: the query field of a status callback URL that names our message (`with_reference`)
REFERENCE = "halo_message"
CALLBACK_EVENTS = {"sent": "delivered", "failed": "provider_error", "delivered": "received", "undelivered": "delivery_failed"}


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """base64(HMAC-SHA1(auth_token, url + each param sorted by name as name+value)); a name
    given twice (pairs) contributes each of its values, sorted (as Twilio's validators read them)."""
    pairs = params.items() if isinstance(params, Mapping) else params
    payload = url + "".join(f"{k}{v}" for k, v in sorted(pairs))
    return base64.b64encode(hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def signed_urls(url: str) -> list[str]:
    """The forms of a webhook's URL Twilio may have signed: as it came, without its port, and
    with the scheme's default port where it has none. Twilio signs a URL with its port or
    without it ("sig generation on back end is inconsistent", its validators say, and accept both)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return [url]
    host = parts.netloc.rpartition("@")[2]
    if port is None:
        forms = [f"{host}:{443 if parts.scheme == 'https' else 80}"]
    else:
        forms = [host[: -len(f":{port}")]]
    return [url, *(parts._replace(netloc=netloc).geturl() for netloc in forms)]


def twilio_signed(auth_token: str, request: CallbackRequest) -> bool:
    """Whether `request` (a form POST) carries Twilio's signature of one form of its URL (`signed_urls`)."""
    if not auth_token:  # `TWILIO_AUTH_TOKEN=` left blank: an HMAC under an empty key is one anyone computes
        return False
    given = request.headers.get("x-twilio-signature", "")
    pairs = request.form_pairs()
    return bool(given) and any(secrets_match(given, twilio_signature(auth_token, url, pairs)) for url in signed_urls(request.url))


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
            form["StatusCallback"] = with_reference(self.status_callback, message.id)
        if message.expires_at is not None:
            form["ValidityPeriod"] = str(seconds_to_keep(message, 36000, 1))
        return self.call("POST", f"/2010-04-01/Accounts/{self.account_sid}/Messages.json", data=form, auth=(self.account_sid, self.auth_token))

    def read_one(self, message: Outgoing, resp: Reply | tuple[str, str]) -> SendResult:
        if self.transport_failed(resp):
            return SendResult(message.id, resp[0], detail=resp[1])
        outcome = http_outcome(resp.status_code)
        if outcome == ACKNOWLEDGED:
            try:
                sid = resp.json()["sid"]
            except (ValueError, KeyError, TypeError):
                sid = None
            if not sid or not isinstance(sid, str):  # a null or empty sid names no message either: no callback could find it
                return SendResult(message.id, UNKNOWN, detail="2xx without a sid", http_status=resp.status_code)
            return SendResult(message.id, ACKNOWLEDGED, sid, http_status=resp.status_code)
        code, text = None, short_body(resp)
        try:
            err = resp.json()
        except ValueError:
            err = None
        if isinstance(err, dict):  # a gateway's 503 may carry other JSON (null, a list, a string): its status then decides
            code, text = err.get("code"), err.get("message", text)
        if code in RETRYABLE_CODES:
            outcome = RETRYABLE
        return SendResult(message.id, outcome, detail=f"{resp.status_code} {code or ''} {text}".strip(), http_status=resp.status_code)

    def health(self) -> bool:
        resp = self.request("GET", f"/2010-04-01/Accounts/{self.account_sid}.json", auth=(self.account_sid, self.auth_token))
        return not self.transport_failed(resp) and resp.status_code == 200

    def parse_callback(self, request: CallbackRequest) -> list[CallbackEvent]:
        if not twilio_signed(self.auth_token, request):
            raise CallbackRejected("bad or missing X-Twilio-Signature")
        params = request.form(single=("MessageSid", "MessageStatus", "ErrorCode"))
        sid, status = params.get("MessageSid", ""), params.get("MessageStatus", "")
        event = CALLBACK_EVENTS.get(status)
        if not sid or event is None:
            return []
        detail = f"{status} {params.get('ErrorCode') or ''}".strip()
        ours = single_valued(pair for pair in request.query if pair[0] == REFERENCE).get(REFERENCE) or None
        return [CallbackEvent(event, f"twilio:{sid}:{status}", message_id=ours, provider_message_id=sid, detail=detail)]


def with_reference(url: str, message_id: str) -> str:
    """The status callback URL of one message: `url` with our id in its query (`REFERENCE`). Twilio
    posts a message's statuses to the URL it was sent with, and signs it whole: its receipt names
    the message by our id although the send's answer, the MessageSid, never came (a timeout), so
    the receipt settles the message before its retry would send it a second time."""
    # appended to the URL as configured, its own query untouched: Twilio signs the URL it was given
    joint = "" if url.endswith(("?", "&")) else "&" if "?" in url else "?"
    return f"{url}{joint}{REFERENCE}={quote(message_id, safe='')}"


