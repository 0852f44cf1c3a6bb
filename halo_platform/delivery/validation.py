"""Input validation of a message request, pure: the same rules for HTTP, Python and CLI.
Every problem is a `HaloError` (HTTP 422) naming the field; nothing is stored."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import phonenumbers

from halo_platform.core.errors import HaloError
from halo_platform.delivery.config import CHANNELS, PRIORITIES, DeliveryConfig

LIMITS = {"sms_body": 1600, "email_body": 200_000, "html": 500_000, "subject": 998, "push_body": 2000, "title": 200, "data": 3000}
_TOKEN = re.compile(r"^[A-Za-z0-9_:\-.]{8,4096}$")
_CAPABILITY = re.compile(r"^[A-Z][A-Z0-9_]*$")
FIELDS = {
    "sms": {"to", "body", "country", "capability", "priority", "expires_at", "idempotency_key"},
    "email": {"to", "subject", "body", "html", "country", "capability", "priority", "expires_at", "idempotency_key"},
    "push": {"to", "title", "body", "data", "country", "capability", "priority", "expires_at", "idempotency_key"},
}
DEFAULT_CAPABILITY = {"sms": "TEXT", "email": "TRANSACTIONAL", "push": "ALERT"}


@dataclass(frozen=True)
class NewMessage:
    channel: str
    recipient: str
    country: str | None
    capability: str
    priority: str
    content: dict[str, Any]
    idempotency_key: str | None
    expires_at: dt.datetime | None
    payload_hash: str


def _text(payload: Mapping[str, Any], name: str, limit: int, required: bool = True) -> str | None:
    value = payload.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise HaloError(f"{name}: must not be empty")
        return None
    if not isinstance(value, str):
        raise HaloError(f"{name}: must be a string")
    if len(value) > limit:
        raise HaloError(f"{name}: too long ({len(value)} characters, at most {limit})")
    return value


def _country(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise HaloError(f"country: {value!r} is not an ISO 3166-1 alpha-2 country code")
    return value.upper()


def _phone(value: Any, country: str | None) -> tuple[str, str | None]:
    if not isinstance(value, str) or not value.strip():
        raise HaloError("to: must be a phone number")
    try:
        number = phonenumbers.parse(value, country)
    except phonenumbers.NumberParseException:
        raise HaloError("to: not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise HaloError("to: not a valid phone number" + (f" for {country}" if country else ""))
    region = phonenumbers.region_code_for_number(number)
    if country and region and region != country and phonenumbers.region_code_for_country_code(number.country_code) != country:
        raise HaloError(f"to: the number belongs to {region}, not {country}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), region


def _email(value: Any) -> str:
    from email_validator import EmailNotValidError, validate_email

    if not isinstance(value, str) or not value.strip():
        raise HaloError("to: must be an email address")
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise HaloError(f"to: not a valid email address ({exc})") from None


def _expires(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise HaloError("expires_at: not an ISO 8601 timestamp") from None
    if not isinstance(value, dt.datetime):
        raise HaloError("expires_at: not a timestamp")
    if value.tzinfo is None:
        raise HaloError("expires_at: needs a time zone (e.g. ...Z)")
    return value.astimezone(dt.UTC)


def validate(channel: str, payload: Mapping[str, Any], config: DeliveryConfig) -> NewMessage:
    """Check and normalize one request for `channel`."""
    if channel not in CHANNELS:
        raise HaloError(f"channel: must be one of {', '.join(CHANNELS)}")
    unknown = sorted(set(payload) - FIELDS[channel])
    if unknown:
        raise HaloError(f"unknown field(s) for {channel}: {', '.join(unknown)}")
    country = _country(payload.get("country"))
    capability = str(payload.get("capability") or DEFAULT_CAPABILITY[channel]).strip()
    if not _CAPABILITY.match(capability):
        raise HaloError("capability: must be an upper-case word such as TEXT")
    if capability not in config.capabilities[channel]:
        raise HaloError(f"capability: {capability} is not known for {channel} (known: {', '.join(config.capabilities[channel])})")
    priority = str(payload.get("priority") or "NORMAL").upper()
    if priority not in PRIORITIES:
        raise HaloError("priority: must be HIGH, NORMAL or LOW")
    content: dict[str, Any]
    if channel == "sms":
        recipient, region = _phone(payload.get("to"), country)
        country = country or region
        content = {"body": _text(payload, "body", LIMITS["sms_body"])}
    elif channel == "email":
        recipient = _email(payload.get("to"))
        content = {"subject": _text(payload, "subject", LIMITS["subject"]), "body": _text(payload, "body", LIMITS["email_body"])}
        html = _text(payload, "html", LIMITS["html"], required=False)
        if html:
            content["html"] = html
    else:
        recipient = payload.get("to")
        if not isinstance(recipient, str) or not _TOKEN.match(recipient):
            raise HaloError("to: must be a device token (8-4096 letters, digits, _ : - .)")
        content = {"title": _text(payload, "title", LIMITS["title"]), "body": _text(payload, "body", LIMITS["push_body"])}
        data = payload.get("data")
        if data is not None:
            if not isinstance(data, Mapping) or not all(isinstance(k, str) for k in data):
                raise HaloError("data: must be an object of strings")
            data = {k: str(v) for k, v in data.items()}
            if len(json.dumps(data)) > LIMITS["data"]:
                raise HaloError(f"data: too large (at most {LIMITS['data']} bytes as JSON)")
            content["data"] = data
    key = payload.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not key.strip() or len(key) > 255):
        raise HaloError("idempotency_key: must be a non-empty string of at most 255 characters")
    expires_at = _expires(payload.get("expires_at"))
    canonical = json.dumps(
        [channel, recipient, country, capability, priority, content, expires_at.isoformat() if expires_at else None],
        sort_keys=True,
        separators=(",", ":"),
    )
    return NewMessage(
        channel=channel,
        recipient=recipient,
        country=country,
        capability=capability,
        priority=priority,
        content=content,
        idempotency_key=key,
        expires_at=expires_at,
        payload_hash=hashlib.sha256(canonical.encode()).hexdigest(),
    )
