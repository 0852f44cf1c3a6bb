"""Input validation of a message request, pure: the same rules for HTTP, Python and CLI.
Every problem is a `HaloError` (HTTP 422) naming the field; nothing is stored.

What passes here must go through every later step without an error of its own: text is
valid Unicode (no lone surrogates) without NUL, an email subject is one line (CR/LF would
inject headers), each value fits its column in `delivery.tables` (PostgreSQL and MariaDB
enforce the sizes SQLite ignores), `expires_at` converts to UTC, and an SMS body fits the
channel's `max_segments` as carriers count them (`sms_segments`). `priority` is one of
HIGH, NORMAL, LOW in any letter case (absent: NORMAL)."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

import idna
import phonenumbers

from halo_platform.core.errors import HaloError
from halo_platform.core.text import cut, echo, lone_surrogate
from halo_platform.core.timezones import iana_zone
from halo_platform.delivery.config import CHANNELS, DEFAULT_MAX_SEGMENTS, PRIORITIES, DeliveryConfig, country_code
from halo_platform.delivery.tables import Message

LIMITS = {"email_body": 200_000, "html": 500_000, "subject": 998, "push_body": 2000, "title": 200, "data": 3000}
#: FCM and APNs refuse a notification whose title, body and data (keys and values) pass 4,096 bytes
PUSH_BYTES = 4096
# a push recipient (an FCM registration token, a OneSignal external_id): letters and digits that
# `_ : - .` may separate, never separators alone (`--------` names no device nor user)
TOKEN_PATTERN, TOKEN_MIN = r"[_:\-.]*[A-Za-z0-9][A-Za-z0-9_:\-.]*", 8
# matched in full: `$` also matches before a final newline, which made `token\n` a recipient of its own
_TOKEN = re.compile(TOKEN_PATTERN)
_CAPABILITY = re.compile(r"^[A-Z][A-Z0-9_]*\Z")
_ANY = {"country", "capability", "priority", "expires_at", "idempotency_key", "callback_url", "timezone"}
FIELDS = {
    "sms": {"to", "body", "fallback"} | _ANY,
    "email": {"to", "subject", "body", "html"} | _ANY,
    "push": {"to", "title", "body", "data"} | _ANY,
}
#: what `fallback` on an SMS may hold: the email sent instead if the SMS fails (its body is the SMS's)
FALLBACK_FIELDS = {"channel", "to", "subject"}
DEFAULT_CAPABILITY = {"sms": "TEXT", "email": "TRANSACTIONAL", "push": "ALERT"}
# the GSM 03.38 default alphabet; a character of its extension table is sent as ESC + char
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
# characters per segment: alone, and when split (the rest carries the concatenation header)
SEGMENT_SIZES = {"GSM-7": (160, 153), "UCS-2": (70, 67)}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAK = re.compile(r"[\r\n\x85\u2028\u2029]")
# what shows nothing: white space, and the zero-width and format characters (U+200B, U+2060, a BOM)
_INVISIBLE = re.compile(r"[\s\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]*\Z")


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
    segments: int | None = None  # SMS only
    callback_url: str | None = None
    timezone: str | None = None
    fallback: dict[str, str] | None = None  # SMS only: {channel: email, to, subject}


def column_limit(column: str) -> int:
    """The size of a `messages` column: what PostgreSQL and MariaDB will store."""
    return Message.__table__.c[column].type.length


def sms_segments(body: str) -> tuple[str, int]:
    """(encoding, segments) of an SMS body the way carriers count it: GSM-7 when every
    character is in the GSM 03.38 alphabet (extension characters take 2 septets), else UCS-2
    (UTF-16 code units: an emoji takes 2); 160/70 fit in one segment, 153/67 per segment
    when split, and an escape sequence or surrogate pair is never split across two."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in body):
        encoding, sizes = "GSM-7", [2 if c in GSM7_EXTENSION else 1 for c in body]
    else:
        encoding, sizes = "UCS-2", [2 if ord(c) > 0xFFFF else 1 for c in body]
    single, split = SEGMENT_SIZES[encoding]
    if sum(sizes) <= single:
        return encoding, 1
    segments, used = 1, 0
    for size in sizes:
        if used + size > split:
            segments, used = segments + 1, 0
        used += size
    return encoding, segments


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _check_strings(field: str, value: Any) -> None:
    """Every string in `value` (keys too) is valid Unicode without NUL: the store, JSON
    and every provider API can carry it."""
    if isinstance(value, str):
        if (at := lone_surrogate(value)) is not None:
            raise HaloError(f"{field}: not valid Unicode (a lone surrogate at character {at})")
        if "\x00" in value:
            raise HaloError(f"{field}: control character U+0000 is not allowed")
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _check_strings(field, k)
            _check_strings(field, v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _check_strings(field, v)


def _given(payload: Mapping[str, Any], name: str) -> Any:
    """`payload[name]` of an optional field, None when it is absent or null. An empty string is
    refused: it is a value left blank, not the field left out, as `halo delivery send --country ''`
    refuses it (`GIVEN`); HTTP and Python read `country: ""` as no country but refused
    `capability: ""`, one blank with two meanings."""
    value = payload.get(name)
    if value == "":
        raise HaloError(f"{name}: must not be empty (leave the field out instead)")
    return value


def _text(payload: Mapping[str, Any], name: str, limit: int | None, required: bool = True, one_line: bool = False) -> str | None:
    value = payload.get(name) if required else _given(payload, name)
    if value is None and not required:
        return None
    if value is None or (isinstance(value, str) and _INVISIBLE.match(value)):  # a zero-width space is no message
        # an optional field of blanks was read as left out, where "" is refused (`_given`)
        raise HaloError(f"{name}: must not be empty" + ("" if required else " (leave the field out instead)"))
    if not isinstance(value, str):
        raise HaloError(f"{name}: must be a string")
    if limit is not None and len(value) > limit:
        raise HaloError(f"{name}: too long ({len(value)} characters, at most {limit})")
    if one_line and _LINE_BREAK.search(value):
        raise HaloError(f"{name}: must be one line (no CR or LF)")
    control = _CONTROL.search(value)
    if control:
        raise HaloError(f"{name}: control character U+{ord(control.group()):04X} is not allowed")
    return value


def _choice(payload: Mapping[str, Any], name: str, default: str) -> str:
    """An optional word field: absent or null means `default`; anything else must be a string."""
    value = _given(payload, name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise HaloError(f"{name}: must be a string, not {type(value).__name__}")
    return value.strip()


def recipient_of(channel: str, value: Any, country: str | None = None) -> tuple[str, str | None]:
    """(the normalized recipient, the phone number's country) of `value` for `channel`:
    E.164 for SMS, the normalized address for email, the device token for push."""
    if channel == "sms":
        return _phone(value, country)
    if channel == "email":
        return _email(value), None
    if not isinstance(value, str) or len(value) < TOKEN_MIN or not _TOKEN.fullmatch(value):
        raise HaloError(f"to: must be a device token ({TOKEN_MIN} or more letters, digits, _ : - ., not separators alone)")
    if len(value) > column_limit("recipient"):
        raise HaloError(f"to: too long ({len(value)} characters, at most {column_limit('recipient')})")
    return value, None


_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)\Z")


def _split_url(url: str) -> SplitResult:
    """`url` in parts, its port read: a host or port that cannot be read raises `HaloError`
    (never repeating the URL, which may hold a secret)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # brackets that hold no IPv6 address, or are not closed
        raise HaloError("callback_url: not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HaloError("callback_url: must be an http(s) URL with a host")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise HaloError("callback_url: the port must be a number from 1 to 65535")
    return parts


def _web_host(parts: SplitResult) -> str:
    """The URL's host as the ASCII name or address a request goes to: an internationalized name
    becomes its IDNA (UTS 46) A-label; what cannot be a host name is refused."""
    host = parts.hostname or ""
    if parts.netloc.rpartition("@")[2].startswith("["):  # urlsplit read the brackets as an IPv6 address, or IPvFuture
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise HaloError("callback_url: not a valid URL (an IPv6 address in brackets)") from None
        return host
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            raise HaloError("callback_url: the host is not a valid internationalized host name") from None
    name = host.removesuffix(".")
    labels = name.split(".")
    if len(name) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise HaloError("callback_url: the host is not a valid host name (labels of 1 to 63 letters, digits, _ or -, "
                        "253 characters in all) or IP address")
    if labels[-1].isdigit():  # what resolvers would read as an IPv4 address, however short
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            raise HaloError("callback_url: the host is not a valid IPv4 address") from None
    return host


def webhook_url(url: str) -> str:
    """`url`, a message's `callback_url`, as status webhooks are sent to it: its host and port
    read, an internationalized host name in its ASCII form, and any user name and password left
    out (a request never carries them). Raises `HaloError` naming callback_url when it cannot be
    called (a URL stored before they were checked in full, for the webhook worker)."""
    parts = _split_url(url)
    host = _web_host(parts)
    netloc = parts.netloc.rpartition("@")[2]
    if host != parts.hostname:  # a name in other letters (never one in brackets): its A-label, then the port as written
        _, colon, port = netloc.partition(":")
        netloc = host + colon + port
    return parts._replace(netloc=netloc).geturl() if netloc != parts.netloc else url


def _callback_url(value: Any) -> str | None:
    """A URL the webhook worker can call (`webhook_url`), stored so: refused is one whose host or
    port cannot be read, a port outside 1-65535, what cannot be a host name, and a user name or
    password (never sent, and the URL is shown to whoever may read the message)."""
    if value is None:
        return None
    limit = column_limit("callback_url")
    if not isinstance(value, str) or len(value) > limit or _CONTROL.search(value) or any(c.isspace() for c in value):
        raise HaloError(f"callback_url: must be an http(s) URL of at most {limit} characters")
    if "@" in _split_url(value).netloc:
        raise HaloError("callback_url: must not hold a user name or password; a token of the receiver's may go in the path or query")
    url = webhook_url(value)
    if len(url) > limit:
        raise HaloError(f"callback_url: must be an http(s) URL of at most {limit} characters (its host in ASCII)")
    return url


def _timezone(value: Any) -> str | None:
    if value is None:
        return None
    if iana_zone(value) is None:
        raise HaloError(f"timezone: {echo(value)} is not an IANA time zone such as Europe/Paris")
    return value


def _fallback(value: Any, body: str, priority: str, config: DeliveryConfig) -> dict[str, str] | None:
    """The email to send if this SMS fails, checked now as its own submission will be."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or value.get("channel") != "email":
        raise HaloError("fallback: must be an object {channel: email, to, subject}")
    unknown = sorted(_printable(str(k)) for k in set(value) - FALLBACK_FIELDS)
    if unknown:
        raise HaloError(f"fallback: unknown field(s) {cut(', '.join(unknown))}")
    try:
        email = validate("email", {"to": value.get("to"), "subject": value.get("subject"), "body": body, "priority": priority}, config)
    except HaloError as exc:
        raise HaloError(f"fallback.{exc}") from None
    return {"channel": "email", "to": email.recipient, "subject": email.content["subject"]}


def _phone(value: Any, country: str | None) -> tuple[str, str | None]:
    if not isinstance(value, str) or not value.strip():
        raise HaloError("to: must be a phone number")
    try:
        number = phonenumbers.parse(value, country)
    except phonenumbers.NumberParseException:
        raise HaloError("to: not a phone number") from None
    # phonenumbers reads `ext. 12`, `x12`, `;ext=12`, `#12` apart from the number, and E.164 has no
    # extension: the SMS went to the base number, a switchboard's perhaps, not the person's
    if number.extension:
        raise HaloError("to: an SMS cannot reach an extension; give the number without it")
    if ";isub=" in value.lower():  # an RFC 3966 subaddress, which phonenumbers drops without a word
        raise HaloError("to: an SMS cannot reach a subaddress (;isub=); give the number without it")
    if not phonenumbers.is_valid_number(number):
        raise HaloError("to: not a valid phone number" + (f" for {country}" if country else ""))
    region = phonenumbers.region_code_for_number(number)
    # the number's country, not the one its calling code is named after: `country` routes the
    # message and sets its quiet hours, so a Toronto number (+1 416) said to be in the US went
    # through a US-only provider; +1, +44, +7... are shared by several countries. A number of
    # several countries at once (a NANP toll-free 800 or 888 line: US, CA and the Caribbean) is
    # named after the calling code's main one, and is any of them's that it is valid for
    if country and region and region != country and not phonenumbers.is_valid_number_for_region(number, country):
        raise HaloError(f"to: the number belongs to {region}, not {country}")
    # a non-geographic number (international freephone +800, satellite +870...) is of region
    # "001", which is no ISO 3166-1 country (nor fits the 2-character `country` column)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), region if region in phonenumbers.SUPPORTED_REGIONS else None


def _email(value: Any) -> str:
    from email_validator import EmailNotValidError, validate_email

    if not isinstance(value, str) or not value.strip():
        raise HaloError("to: must be an email address")
    try:
        # strict: a local part of at most 64 characters (RFC 5321), which relays refuse past and
        # which email_validator checks only when asked; the masks of logs and details read that far
        return validate_email(value, check_deliverability=False, strict=True).normalized
    except EmailNotValidError as exc:
        raise HaloError(f"to: not a valid email address ({exc})") from None


def wire_address(address: str) -> str:
    """An email address as it goes to a provider: an internationalized domain in its ASCII
    (IDNA) form, which every relay and API takes (the Unicode form needs SMTPUTF8, which many
    relays do not offer); a local part with other letters stays as it is (only SMTPUTF8 carries
    it). Stored and shown in Unicode, as validation normalizes it."""
    if address.isascii():
        return address
    local, at, domain = address.rpartition("@")
    if not at or not local.isascii():
        return address
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except (idna.IDNAError, UnicodeError):  # a row that got in unchecked: as it is, for `unsendable` to judge
        return address


# a push's data keys FCM refuses (a device's own: the sender, the message type, Google's and GCM's)
_RESERVED_DATA_KEY = re.compile(r"(?:from|message_type|google.*|gcm.*)\Z", re.DOTALL)
_UTC_MARK = re.compile(r"[zZ]\Z")  # RFC 3339 writes UTC `Z` or `z`


def _expires(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(_UTC_MARK.sub("+00:00", value))
        except ValueError:
            raise HaloError("expires_at: not an ISO 8601 timestamp") from None
    if not isinstance(value, dt.datetime):
        raise HaloError("expires_at: not a timestamp")
    if value.tzinfo is None:
        raise HaloError("expires_at: needs a time zone (e.g. ...Z)")
    try:
        utc = value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EXPIRES_RANGE[0] <= utc <= EXPIRES_RANGE[1]:
        raise HaloError(f"expires_at: out of range ({EXPIRES_RANGE[0]:%Y} to {EXPIRES_RANGE[1]:%Y})")
    return utc


# what every store's timestamp column holds (MariaDB's DATETIME starts at 1000)
EXPIRES_RANGE = (dt.datetime(1970, 1, 1, tzinfo=dt.UTC), dt.datetime(9998, 12, 31, tzinfo=dt.UTC))


def validate(channel: str, payload: Mapping[str, Any], config: DeliveryConfig) -> NewMessage:
    """Check and normalize one request for `channel`."""
    if channel not in CHANNELS:
        raise HaloError(f"channel: must be one of {', '.join(CHANNELS)}")
    for name, value in payload.items():
        _check_strings(_printable(str(name)), value)
    unknown = sorted(_printable(str(k)) for k in set(payload) - FIELDS[channel])
    if unknown:
        raise HaloError(f"unknown field(s) for {channel}: {cut(', '.join(unknown))}")
    country = country_code(_given(payload, "country"))
    capability = _choice(payload, "capability", DEFAULT_CAPABILITY[channel])
    if len(capability) > column_limit("capability"):
        raise HaloError(f"capability: too long (at most {column_limit('capability')} characters)")
    if not _CAPABILITY.match(capability):
        raise HaloError("capability: must be an upper-case word such as TEXT")
    if capability not in config.capabilities[channel]:
        raise HaloError(f"capability: {capability} is not known for {channel} (known: {', '.join(config.capabilities[channel])})")
    priority = _choice(payload, "priority", "NORMAL")
    priority = priority.upper() if priority.isascii() else priority  # `hıgh` (dotless i) upper-cases to HIGH
    if priority not in PRIORITIES:
        raise HaloError("priority: must be HIGH, NORMAL or LOW (any letter case)")
    content: dict[str, Any]
    segments = fallback = None
    recipient, region = recipient_of(channel, payload.get("to"), country)
    if channel == "sms":
        country = country or region
        body = _text(payload, "body", None)  # its limit is in segments (`max_segments`), not characters
        encoding, segments = sms_segments(body)
        most = config.max_segments.get("sms", DEFAULT_MAX_SEGMENTS)
        if segments > most:
            single, split = SEGMENT_SIZES[encoding]
            raise HaloError(f"body: too long ({segments} segments, at most {most}); {encoding} carries {single} characters "
                            f"in one segment, {split} per segment when split")
        content = {"body": body}
        fallback = _fallback(payload.get("fallback"), body, priority, config)
    elif channel == "email":
        content = {"subject": _text(payload, "subject", LIMITS["subject"], one_line=True), "body": _text(payload, "body", LIMITS["email_body"])}
        html = _text(payload, "html", LIMITS["html"], required=False)
        if html:
            content["html"] = html
    else:
        content = {"title": _text(payload, "title", LIMITS["title"]), "body": _text(payload, "body", LIMITS["push_body"])}
        data = payload.get("data")
        if data is not None:
            if not isinstance(data, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
                # FCM and OneSignal take string values: `str(v)` had sent Python reprs ("{'b': 1}", "None", "True")
                raise HaloError("data: must be an object whose keys and values are strings")
            data = dict(data)
            if reserved := next((key for key in data if _RESERVED_DATA_KEY.match(key)), None):
                raise HaloError(f"data: key {echo(reserved)} is reserved (FCM refuses from, message_type and keys starting with google or gcm)")
            if len(json.dumps(data)) > LIMITS["data"]:
                raise HaloError(f"data: too large (at most {LIMITS['data']} bytes as JSON)")
            if data:  # empty data is no data: the providers send none, and a repeat without it is the same message
                content["data"] = data
        size = sum(len(text.encode("utf-8", "surrogatepass")) for text in (content["title"], content["body"], *(data or {}).keys(), *(data or {}).values()))
        if size > PUSH_BYTES:
            raise HaloError(f"title, body and data: {size:,} bytes together; a push carries at most {PUSH_BYTES:,} (FCM and APNs refuse more)")
    key = payload.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not key.strip() or len(key) > column_limit("idempotency_key")
                            or _CONTROL.search(key) or _LINE_BREAK.search(key)):
        raise HaloError(f"idempotency_key: must be a non-empty line of at most {column_limit('idempotency_key')} characters")
    expires_at = _expires(_given(payload, "expires_at"))
    callback_url, timezone = _callback_url(_given(payload, "callback_url")), _timezone(_given(payload, "timezone"))
    canonical = json.dumps(
        [channel, recipient, country, capability, priority, content, expires_at.isoformat() if expires_at else None]
        + ([callback_url, timezone, fallback] if callback_url or timezone or fallback else []),
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
        segments=segments,
        callback_url=callback_url,
        timezone=timezone,
        fallback=fallback,
    )
