"""Loopback fakes of the providers' HTTP APIs (shared/spec/providers.md), built on
`FakeHTTPServer`: real request shapes, authentication, success and error answers, and the
server's switches (failure rate, latency, hard down, HTML 502). Each fake records what it
accepted in `accepted` (one entry per message it took, with our message reference), so a
test can prove no message was accepted twice. `halo bench delivery` runs them in processes.

Magic recipients trigger permanent errors, like the providers' test credentials do:
SMS to a number ending in 0000 is invalid, email to `bounce@...` is refused, push tokens
starting with `unregistered` are unknown.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import threading
import time
import uuid
from typing import Any

from halo_platform.lab.fakehttp import FakeHTTPServer, Recorder, Request

SECRETS = {
    "twilio": {"account_sid": "AC" + "1" * 32, "auth_token": "twilio-token"},
    "vonage": {"api_key": "vkey", "api_secret": "vsecret"},
    "sendgrid": {"api_key": "SG.fake-key"},
    "mailjet": {"api_key": "mj-key", "secret_key": "mj-secret"},
    "fcm": {"project_id": "halo-test", "access_token": "ya29.fake"},
    "onesignal": {"app_id": "0d3c1f5e-1111-2222-3333-444455556666", "api_key": "os-key"},
}


class ProviderFake(FakeHTTPServer):
    """A FakeHTTPServer that also records accepted messages: `accepted` holds dicts
    `{"ref": our reference, "provider_id": ..., "to": ...}`."""

    kind = "fake"

    def __init__(self, port: int = 0, seed: int = 0, record: bool = True) -> None:
        self.accepted: Recorder[dict[str, Any]] = Recorder()
        self._ids = itertools.count(1)
        self._id_lock = threading.Lock()
        super().__init__(port=port, seed=seed, record=record)
        self.add_route("GET", r"/__halo__/accepted", self._accepted_summary)

    def reset(self) -> None:
        super().reset()
        self.accepted.clear()

    def next_id(self) -> int:
        with self._id_lock:
            return next(self._ids)

    def accept(self, ref: str, provider_id: str, to: str) -> None:
        self.accepted.append({"ref": ref, "provider_id": provider_id, "to": to})

    def throttle(self, seconds: float) -> None:
        """Answer sends with 429 and `Retry-After` for the next `seconds` (the FCM and OneSignal
        fakes, as their APIs do when a quota is exceeded)."""
        self.throttled_until = time.time() + seconds

    def retry_after(self) -> int | None:
        """Whole seconds until the throttle ends (the `Retry-After` to send), None when not throttled."""
        left = getattr(self, "throttled_until", 0.0) - time.time()
        return max(1, math.ceil(left)) if left > 0 else None

    def duplicates(self) -> list[str]:
        """References accepted more than once (must stay empty)."""
        return _dupes([a["ref"] for a in self.accepted])

    def _accepted_summary(self, request: Request):  # noqa: ANN202
        refs = [a["ref"] for a in self.accepted]
        return 200, {"accepted": len(refs), "unique": len(set(refs))}

    def settings(self) -> dict[str, Any]:
        """The provider settings (for HALO_PROVIDERS_FILE) that point a client at this fake."""
        return {"kind": self.kind, "base_url": self.url, **SECRETS.get(self.kind, {})}


def _dupes(refs: list[str]) -> list[str]:
    seen, dup = set(), set()
    for r in refs:
        (dup if r in seen else seen).add(r)
    return sorted(dup)


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


def _bearer(request: Request, scheme: str = "Bearer") -> str | None:
    header = request.headers.get("authorization", "")
    return header[len(scheme) + 1 :] if header.startswith(scheme + " ") else None


# -- SMS ---------------------------------------------------------------------------------


def twilio_fake(port: int = 0, seed: int = 0, record: bool = True) -> ProviderFake:
    fake = ProviderFake(port, seed, record)
    fake.kind = "twilio"
    sid, token = SECRETS["twilio"]["account_sid"], SECRETS["twilio"]["auth_token"]

    def authorized(request: Request) -> bool:
        return request.params.get("sid") == sid and _basic(request) == (sid, token)

    def error(status: int, code: int, message: str):  # noqa: ANN202
        return status, {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}

    @fake.route("POST", r"/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json")
    def send(request: Request):  # noqa: ANN202
        if not authorized(request):
            return error(401, 20003, "Authenticate")
        form = request.form()
        to, body = form.get("To", ""), form.get("Body", "")
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return error(400, 21603, "A 'From' phone number is required.")
        if not to.startswith("+") or not to[1:].isdigit() or to.endswith("0000"):
            return error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not body:
            return error(400, 21602, "Message body is required.")
        msid = f"SM{fake.next_id():032x}"
        fake.accept(body, msid, to)
        return 201, {"sid": msid, "status": "queued", "to": to, "from": form.get("From"), "body": body, "account_sid": sid}

    @fake.route("GET", r"/2010-04-01/Accounts/(?P<sid>[^/.]+)\.json")
    def account(request: Request):  # noqa: ANN202
        if not authorized(request):
            return error(401, 20003, "Authenticate")
        return 200, {"sid": sid, "status": "active"}

    return fake


def vonage_fake(port: int = 0, seed: int = 0, record: bool = True) -> ProviderFake:
    fake = ProviderFake(port, seed, record)
    fake.kind = "vonage"
    key, secret = SECRETS["vonage"]["api_key"], SECRETS["vonage"]["api_secret"]

    def answer(to: str, status: str, text: str = "", mids: list[str] | None = None, ref: str | None = None):  # noqa: ANN202
        if not mids:
            return 200, {"message-count": "1", "messages": [{"to": to, "status": status, "error-text": text}]}
        # a long text goes out in parts, each with a message id of its own (and each its own receipt)
        items = [{"to": to, "status": status, "message-id": mid, "remaining-balance": "10.0", "message-price": "0.03", "network": "20810",
                  **({"client-ref": ref} if ref else {})} for mid in mids]
        return 200, {"message-count": str(len(items)), "messages": items}

    @fake.route("POST", r"/sms/json")
    def send(request: Request):  # noqa: ANN202
        form = request.json() if request.headers.get("content-type", "").startswith("application/json") else request.form()
        to = str(form.get("to", ""))
        if form.get("api_key") != key or form.get("api_secret") != secret:
            return answer(to, "4", "Bad Credentials")
        if not form.get("from") or not form.get("text") or not to:
            return answer(to, "2", "Missing params")
        if not to.isdigit() or to.endswith("0000"):
            return answer(to, "3", "Invalid to number")
        ttl = str(form.get("ttl", "259200000"))
        if not ttl.isdigit() or not 20_000 <= int(ttl) <= 604_800_000:
            return answer(to, "3", "Invalid ttl: 20000 to 604800000 ms")
        mids = [f"{fake.next_id():016X}" for _ in range(_sms_parts(str(form["text"]), form.get("type") == "unicode"))]
        fake.accept(str(form.get("client-ref") or form.get("text")), mids[0], to)
        return answer(to, "0", mids=mids, ref=form.get("client-ref"))

    @fake.route("GET", r"/account/get-balance")
    def balance(request: Request):  # noqa: ANN202
        q = request.query
        if q.get("api_key") != [key] or q.get("api_secret") != [secret]:
            return 401, {"error_title": "Bad Credentials"}
        return 200, {"value": 10.0, "autoReload": False}

    return fake


def _sms_parts(text: str, unicode: bool) -> int:
    """The parts a carrier splits `text` into (160 / 153 characters, 70 / 67 in unicode; close
    enough for a fake: GSM-7 extension characters are counted once)."""
    single, split = (70, 67) if unicode else (160, 153)
    return 1 if len(text) <= single else math.ceil(len(text) / split)


# -- Email -------------------------------------------------------------------------------


def sendgrid_fake(port: int = 0, seed: int = 0, record: bool = True) -> ProviderFake:
    fake = ProviderFake(port, seed, record)
    fake.kind = "sendgrid"

    def errors(status: int, message: str, field: str | None = None):  # noqa: ANN202
        return status, {"errors": [{"message": message, "field": field, "help": None}]}

    @fake.route("POST", r"/v3/mail/send")
    def send(request: Request):  # noqa: ANN202
        if _bearer(request) != SECRETS["sendgrid"]["api_key"]:
            return errors(401, "The provided authorization grant is invalid, expired, or revoked")
        body = request.json()
        personalizations = body.get("personalizations") or []
        if not personalizations or len(personalizations) > 1000:
            return errors(400, "The personalizations field is required and must have at least 1 and at most 1000 items", "personalizations")
        if not (body.get("from") or {}).get("email"):
            return errors(400, "The from object must be provided for every email send.", "from.email")
        if not body.get("content") or not all(c.get("value") for c in body["content"]):
            return errors(400, "The content value must be a string at least one character in length.", "content.0.value")
        for i, p in enumerate(personalizations):
            for to in p.get("to") or []:
                if "@" not in to.get("email", "") or to["email"].startswith("bounce@"):
                    return errors(400, "Does not contain a valid address.", f"personalizations.{i}.to.0.email")
        mid = uuid.uuid4().hex[:22]
        for p in personalizations:
            ref = (p.get("custom_args") or {}).get("halo_message_id") or p["to"][0]["email"]
            fake.accept(ref, mid, p["to"][0]["email"])
        return 202, {"X-Message-Id": mid}, b""

    @fake.route("GET", r"/v3/scopes")
    def scopes(request: Request):  # noqa: ANN202
        if _bearer(request) != SECRETS["sendgrid"]["api_key"]:
            return errors(401, "authorization required")
        return 200, {"scopes": ["mail.send"]}

    return fake


def mailjet_fake(port: int = 0, seed: int = 0, record: bool = True) -> ProviderFake:
    fake = ProviderFake(port, seed, record)
    fake.kind = "mailjet"
    creds = (SECRETS["mailjet"]["api_key"], SECRETS["mailjet"]["secret_key"])

    @fake.route("POST", r"/v3\.1/send")
    def send(request: Request):  # noqa: ANN202
        if _basic(request) != creds:
            return 401, {"ErrorIdentifier": str(uuid.uuid4()), "StatusCode": 401, "ErrorMessage": "API key authentication/authorization failure."}
        messages = request.json().get("Messages") or []
        if not messages or len(messages) > 50:
            return 400, {"ErrorIdentifier": str(uuid.uuid4()), "StatusCode": 400, "ErrorMessage": "Messages must hold 1 to 50 items"}
        out = []
        for m in messages:
            to = (m.get("To") or [{}])[0].get("Email", "")
            if "@" not in to or to.startswith("bounce@") or not (m.get("TextPart") or m.get("HTMLPart")):
                out.append({"Status": "error", "CustomID": m.get("CustomID", ""), "Errors": [
                    {"ErrorIdentifier": str(uuid.uuid4()), "ErrorCode": "mj-0013", "StatusCode": 400,
                     "ErrorMessage": f"\"{to}\" is an invalid email address.", "ErrorRelatedTo": ["To[0].Email"]}]})
                continue
            number = 1152921500000000000 + fake.next_id()
            fake.accept(m.get("CustomID") or to, str(number), to)
            out.append({"Status": "success", "CustomID": m.get("CustomID", ""), "To": [
                {"Email": to, "MessageUUID": str(uuid.uuid4()), "MessageID": number, "MessageHref": f"https://api.mailjet.com/v3/REST/message/{number}"}],
                "Cc": [], "Bcc": []})
        status = 200 if any(o["Status"] == "success" for o in out) else 400
        return status, {"Messages": out}

    @fake.route("GET", r"/v3/REST/user")
    def user(request: Request):  # noqa: ANN202
        if _basic(request) != creds:
            return 401, {"ErrorMessage": "API key authentication/authorization failure."}
        return 200, {"Count": 1, "Data": [{"ID": 1, "Username": "halo"}], "Total": 1}

    return fake


# -- Push --------------------------------------------------------------------------------


def fcm_fake(port: int = 0, seed: int = 0, record: bool = True) -> ProviderFake:
    """Sends take the fixed test token or an access token the fake's OAuth2 token endpoint
    (`POST /token`, Google's JWT-bearer grant) issued and that has not expired; a service account
    made by `fcm_service_account` is trusted. `token_lifetime` sets `expires_in`; `issued` maps
    each token to its expiry (epoch seconds)."""
    fake = ProviderFake(port, seed, record)
    fake.kind = "fcm"
    project = SECRETS["fcm"]["project_id"]
    fake.trusted_keys, fake.issued, fake.token_lifetime = {}, {}, 3600

    @fake.route("POST", r"/token")
    def token(request: Request):  # noqa: ANN202
        form = request.form()
        claims = _verified_jwt(form.get("assertion", ""), fake.trusted_keys)
        if (form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" or claims is None
                or claims.get("aud") not in ("https://oauth2.googleapis.com/token", f"{fake.url}/token")
                or "https://www.googleapis.com/auth/firebase.messaging" not in str(claims.get("scope", "")).split()
                or not claims.get("iat", 0) - 60 <= time.time() < claims.get("exp", 0)):
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        issued = f"ya29.issued-{uuid.uuid4().hex}"
        with fake._id_lock:
            fake.issued[issued] = time.time() + fake.token_lifetime
        return 200, {"access_token": issued, "expires_in": fake.token_lifetime, "token_type": "Bearer"}

    def authorized(request: Request) -> bool:
        bearer = _bearer(request)
        return bearer == SECRETS["fcm"]["access_token"] or fake.issued.get(bearer or "", 0) > time.time()

    def error(status: int, state: str, code: str, message: str):  # noqa: ANN202
        return status, {"error": {"code": status, "message": message, "status": state, "details": [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}]}}

    @fake.route("POST", r"/v1/projects/(?P<project>[^/]+)/messages:send")
    def send(request: Request):  # noqa: ANN202
        if not authorized(request):
            return 401, {"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}
        wait = fake.retry_after()
        if wait is not None:
            status, body = error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded for quota metric 'Send requests'.")
            return status, {"Retry-After": str(wait)}, body
        if request.params["project"] != project:
            return error(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch")
        body = request.json()
        message = body.get("message") or {}
        token = message.get("token", "")
        if not token or not (message.get("notification") or message.get("data")):
            return error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Invalid message")
        reserved = [k for k in message.get("data") or {} if k in ("from", "message_type") or k.startswith(("google", "gcm"))]
        if reserved:
            return error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", f"Invalid data payload key: {reserved[0]}")
        if token.startswith("unregistered"):
            return error(404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found.")
        if body.get("validate_only"):
            return 200, {"name": f"projects/{project}/messages/fake_message_id"}
        mid = f"0:{fake.next_id()}%{uuid.uuid4().hex[:16]}"
        fake.accept(str((message.get("data") or {}).get("halo_ref") or message["notification"].get("body")), mid, token)
        return 200, {"name": f"projects/{project}/messages/{mid}"}

    return fake


def _verified_jwt(assertion: str, keys: dict[str, Any]) -> dict[str, Any] | None:
    """The claims of an RS256 JWT signed by one of `keys` (by issuer), or None."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    def decoded(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    try:
        header, payload, signature = assertion.split(".")
        claims = json.loads(decoded(payload))
        key = keys[claims["iss"]]
        if json.loads(decoded(header)).get("alg") != "RS256":
            return None
        key.verify(decoded(signature), f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except (ValueError, KeyError, TypeError, InvalidSignature):
        return None
    return claims


def fcm_service_account(fake: ProviderFake, path: Any, trusted: bool = True) -> Any:
    """Write a Google service-account file (a new RSA key) whose `token_uri` is the fake's token
    endpoint; the fake trusts its key unless `trusted` is false. Returns `path`."""
    from pathlib import Path

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    email = f"halo-sender-{uuid.uuid4().hex[:6]}@{SECRETS['fcm']['project_id']}.iam.gserviceaccount.com"
    if trusted:
        fake.trusted_keys[email] = key.public_key()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    Path(path).write_text(json.dumps({"type": "service_account", "project_id": SECRETS["fcm"]["project_id"], "private_key_id": uuid.uuid4().hex,
                                      "private_key": pem, "client_email": email, "client_id": "1", "token_uri": f"{fake.url}/token"}))
    return path


def onesignal_fake(port: int = 0, seed: int = 0, record: bool = True) -> ProviderFake:
    """OneSignal honours `idempotency_key`: a repeat returns the first notification's id and
    is not accepted again."""
    fake = ProviderFake(port, seed, record)
    fake.kind = "onesignal"
    app_id = SECRETS["onesignal"]["app_id"]
    seen: dict[str, str] = {}
    lock = threading.Lock()

    @fake.route("POST", r"/notifications")
    def send(request: Request):  # noqa: ANN202
        if _bearer(request, "Key") != SECRETS["onesignal"]["api_key"]:
            return 401, {"errors": ["Access denied.  Please include an 'Authorization: Key' header with a valid API key"]}
        wait = fake.retry_after()
        if wait is not None:
            return 429, {"Retry-After": str(wait)}, {"errors": ["API rate limit exceeded"]}
        body = request.json()
        if body.get("app_id") != app_id:
            return 400, {"errors": ["app_id not found. You may be missing a Content-Type: application/json header."]}
        if not (body.get("contents") or {}).get("en"):
            return 400, {"errors": ["Message Notifications must have English language content"]}
        users = (body.get("include_aliases") or {}).get("external_id") or []
        key = body.get("idempotency_key")
        with lock:
            if key and key in seen:
                return 200, {"id": seen[key], "external_id": body.get("external_id"), "errors": []}
            if not users or any(u.startswith("unregistered") for u in users):
                return 200, {"id": "", "external_id": None, "errors": ["All included players are not subscribed"]}
            nid = str(uuid.uuid4())
            if key:
                seen[key] = nid
        fake.accept(str(body.get("external_id") or key or nid), nid, users[0])
        return 200, {"id": nid, "external_id": body.get("external_id"), "errors": []}

    @fake.route("GET", r"/apps/(?P<app>[^/]+)")
    def app(request: Request):  # noqa: ANN202
        if _bearer(request, "Key") != SECRETS["onesignal"]["api_key"]:
            return 401, {"errors": ["Access denied."]}
        if request.params["app"] != app_id:
            return 404, {"errors": ["app not found"]}
        return 200, {"id": app_id, "name": "halo"}

    return fake


# -- Inbound messages: what the providers POST to us when someone replies to our number -----


def twilio_inbound(url: str, sender: str, text: str, auth_token: str = SECRETS["twilio"]["auth_token"]) -> tuple[dict[str, str], dict[str, str]]:
    """(form, headers) of Twilio's incoming-message webhook to `url`, signed as Twilio signs:
    base64 HMAC-SHA1 under the auth token of the URL and each parameter sorted by name."""
    import hashlib
    import hmac

    form = {"MessageSid": f"SM{uuid.uuid4().hex}", "AccountSid": SECRETS["twilio"]["account_sid"], "From": sender,
            "To": "+33700000000", "Body": text, "NumMedia": "0"}
    signed = url + "".join(k + form[k] for k in sorted(form))
    signature = base64.b64encode(hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()).decode()
    return form, {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}


def vonage_inbound(sender: str, text: str, signature_secret: str, timestamp: int | None = None, message_id: str | None = None,
                   message_timestamp: str = "2026-12-01 10:00:00") -> dict[str, str]:
    """The parameters of Vonage's inbound-SMS webhook, signed with `md5hash`: the MD5 of
    `&key=value` for each parameter sorted by key, then the signature secret. `message_timestamp`
    is Vonage's time of the message (UTC, `YYYY-MM-DD HH:MM:SS`); `timestamp` the signing time."""
    import hashlib
    import time

    params = {"msisdn": sender.lstrip("+"), "to": "33700000000", "messageId": message_id or uuid.uuid4().hex[:16], "text": text, "type": "text",
              "keyword": text.strip().split(" ")[0].upper() if text.strip() else "", "message-timestamp": message_timestamp,
              "timestamp": str(int(time.time() if timestamp is None else timestamp)), "nonce": uuid.uuid4().hex}
    signed = "".join(f"&{k}={params[k].replace('&', '_').replace('=', '_')}" for k in sorted(params))
    return {**params, "sig": hashlib.md5((signed + signature_secret).encode()).hexdigest()}


FAKES = {
    "twilio": twilio_fake,
    "vonage": vonage_fake,
    "sendgrid": sendgrid_fake,
    "mailjet": mailjet_fake,
    "fcm": fcm_fake,
    "onesignal": onesignal_fake,
}
