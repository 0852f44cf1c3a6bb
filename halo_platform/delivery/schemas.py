"""The message requests and answers of `POST /v1/messages/{sms,email,push}` as pydantic models,
for the OpenAPI document. The rules live in `validation.py` (one path for HTTP, Python and CLI):
these models state them, from its constants, so a client sees the real body (an optional field is
left out or null, never ""); the route still hands the raw JSON to `validate`, whose messages name
the field."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from halo_platform.delivery.validation import EXPIRES_RANGE, LIMITS, TOKEN_MIN, TOKEN_PATTERN, column_limit

_PRIORITY = Field("NORMAL", description="HIGH is sent within the request (201); NORMAL and LOW are queued (202). Any letter case.")
_COUNTRY = Field(None, min_length=2, max_length=2, description="ISO 3166-1 alpha-2 country of the recipient; routes the message")
_EXPIRES = Field(None, min_length=1, description=f"ISO 8601 timestamp with a time zone, {EXPIRES_RANGE[0]:%Y} to {EXPIRES_RANGE[1]:%Y}; "
                                   "never sent after it", json_schema_extra={"format": "date-time"})
_KEY = Field(None, min_length=1, max_length=column_limit("idempotency_key"),
             description="The caller's own: the same key from the same API key or user with the same message returns the first "
                         "message; with another message, 409. Another caller's key is another message")
_CAPABILITY = {"pattern": "^[A-Z][A-Z0-9_]*$", "max_length": column_limit("capability")}


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    country: str | None = _COUNTRY
    priority: Literal["HIGH", "NORMAL", "LOW", "high", "normal", "low"] | None = _PRIORITY
    expires_at: str | None = _EXPIRES
    idempotency_key: str | None = _KEY
    callback_url: str | None = Field(None, min_length=1, max_length=column_limit("callback_url"), json_schema_extra={"format": "uri"},
                                     description="Every lifecycle event is POSTed here as JSON, signed with HMAC-SHA256 of the body "
                                                 "under the API key's webhook secret (`X-Halo-Signature: sha256=<hex>`); retried for 24 h. "
                                                 "http(s), a port from 1 to 65535 if any, no user name or password; a host name in other "
                                                 "letters is stored as its IDNA A-label (xn--...)")
    timezone: str | None = Field(None, min_length=1, description="IANA time zone of the recipient for quiet hours (default: from the number or country)",
                                 examples=["Europe/Paris"])


class Fallback(BaseModel):
    """The email sent, once, if the SMS ends lost, provider_error or delivery_failed; its body is the SMS's."""

    model_config = ConfigDict(extra="forbid")
    channel: Literal["email"]
    to: str = Field(json_schema_extra={"format": "email"})
    subject: str = Field(min_length=1, max_length=LIMITS["subject"])


class SmsIn(_Message):
    """An SMS; the body is counted in segments as carriers count them (at most `max_segments`)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"to": "+6281234567890", "body": "Your appointment is at 10:00", "priority": "HIGH"}]})
    to: str = Field(description="Phone number, E.164, or national with `country`")
    body: str = Field(min_length=1, description="At most `max_segments` segments (6 unless the providers file says otherwise): GSM-7 "
                                                "160 characters in one, 153 each when split; UCS-2 70, 67")
    capability: str = Field("TEXT", description="A capability the providers file lists for sms", **_CAPABILITY)
    fallback: Fallback | None = None


class EmailIn(_Message):
    model_config = ConfigDict(json_schema_extra={"examples": [{"to": "patient@example.com", "subject": "Your results", "body": "They are ready."}]})
    to: str = Field(description="Email address", json_schema_extra={"format": "email"})
    subject: str = Field(min_length=1, max_length=LIMITS["subject"], description="One line (no CR or LF)")
    body: str = Field(min_length=1, max_length=LIMITS["email_body"], description="Plain text")
    html: str | None = Field(None, min_length=1, max_length=LIMITS["html"])
    capability: str = Field("TRANSACTIONAL", description="A capability the providers file lists for email", **_CAPABILITY)


class PushIn(_Message):
    model_config = ConfigDict(json_schema_extra={"examples": [{"to": "device-token-0001", "title": "Reminder", "body": "Tomorrow 10:00"}]})
    to: str = Field(pattern=f"^{TOKEN_PATTERN}$", min_length=TOKEN_MIN, max_length=column_limit("recipient"),
                    description="Device token (FCM) or external id (OneSignal): letters and digits, which _ : - . may separate")
    title: str = Field(min_length=1, max_length=LIMITS["title"])
    body: str = Field(min_length=1, max_length=LIMITS["push_body"])
    data: dict[str, str] | None = Field(None, description=f"String values, at most {LIMITS['data']} bytes as JSON")
    capability: str = Field("ALERT", description="A capability the providers file lists for push", **_CAPABILITY)


class MessageSent(BaseModel):
    """A HIGH message, sent within the request."""

    id: str
    status: str = Field(description="sent; lost when a provider's answer did not come (never sent twice); provider_error when a "
                                    "provider refused it for good; retry_scheduled when every provider failed within the deadline "
                                    "(the dispatch runs retry it); expired past its expires_at; suppressed for a recipient opted out "
                                    "of every message; queued, provider null, when no provider covers it yet (the autopilot alerts)")
    provider: str | None


class MessageQueued(BaseModel):
    """A NORMAL or LOW message, queued for the dispatch runs."""

    id: str
    status: str


REQUESTS: dict[str, type[_Message]] = {"sms": SmsIn, "email": EmailIn, "push": PushIn}


def openapi_extra(channel: str) -> dict[str, Any]:
    """The request body of `POST /v1/messages/<channel>` for the OpenAPI document, and the header
    that may carry its idempotency key."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": REQUESTS[channel].model_json_schema()}}},
            "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False, "schema": {
                "type": "string", "minLength": 1, "maxLength": column_limit("idempotency_key")},
                "description": "The body's `idempotency_key`, as a header (the same value if both are given)"}]}


RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"model": MessageSent, "description": "HIGH: sent within the request, or why not (its status)"},
    202: {"model": MessageQueued, "description": "NORMAL/LOW: queued"},
    409: {"description": "The idempotency key was used for a different message"},
}
