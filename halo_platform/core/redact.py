"""Masking of personal data and secrets in text, and the one logging filter that applies it.

Phone numbers (E.164, also written with spaces, dots, dashes or brackets after its `+`, and the
bare digits Vonage sends as `msisdn`/`to`; a national number without its `+`, such as 06 12 34 56 78,
is not told from other figures and stays as it is, unless its field says it is one: an HL7
message's phone fields, PID-13 and the like, a FHIR `telecom` of a phone, a value under a key naming
a phone, `"phone": "415-555-2671"`), email addresses,
the query strings of callback and inbound URLs (a Vonage receipt or inbound SMS by GET carries the
number there, and an inbound SMS the text the person wrote) and
credential-like query parameters and API keys are masked before a record reaches any handler.

`install_redaction()` is called where a process starts (the `halo` CLI root, the HTTP app,
the Dagster code location). It applies `RedactingFilter` through the log record factory
rather than to chosen loggers: a logger's filters only see records logged on that very
logger (not its children), and uvicorn and Dagster create their loggers and handlers after
we start, so the factory is the one place every record of every logger passes through.
"""

from __future__ import annotations

import logging
import numbers
import re
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

from halo_platform.core.text import cut

# \w: letters of any script (Éva@bücher.de). The local part is at most 64 characters (RFC 5321):
# unbounded, every start in a long run without spaces was tried to the run's end, and masking 50 kB
# took 10-20 s; bounded, linear (a longer local part keeps its first characters, masks the rest)
# A letter may also come as a JSON escape (`zo\u00eb@b\u00fccher.de`: JSON as Python, PHP or Java write
# it by default, in a provider's error body or our own log lines); the address rule stopped at the
# backslash and kept all but the last letters of the name, or missed an address with such a domain
# (that rule, a group of alternatives, is three times slower than the character class: a text
# without such an escape is read by the plain rule, the same addresses)
_ESCAPE = r"\\u[0-9a-fA-F]{4}"
EMAIL = re.compile(r"[\w.%+*\-]{1,64}(?:@|%40)[\w\-]+(?:\.[\w\-]+)+")
ESCAPED_EMAIL = re.compile(rf"(?:[\w.%+*\-]|{_ESCAPE}){{1,64}}(?:@|%40)(?:[\w\-]|{_ESCAPE})+(?:\.(?:[\w\-]|{_ESCAPE})+)+")
# `+` or its URL encoding, then an E.164 number (at most 15 digits, not part of a longer run)
PHONE = re.compile(r"(?<![\w%])(?:\+|%2B)\d{7,15}(?!\d)", re.IGNORECASE)
# the start of a number written with spaces, dots, dashes or brackets after its `+` (+33 6 12 34 56 78,
# +1 (555) 010-0199, (+33) 6...): such text goes to libphonenumber's matcher, which tells a number
# from a date or a figure (~0.1 ms a line; other text does not pay it)
SPACED_PHONE_START = re.compile(r"(?:\+|%2B)\(?\d{1,4}\)?[\s.\-(/]|\(\+\d", re.IGNORECASE)
# a number in a query string or form body: its `+` as `%2B`, spaces as `+` or `%20`, brackets as `%28`
# `%29` (a browser sends `+33 6 12 34 56 78` typed into a GET form as `%2B33+6+12+34+56+78`), maybe
# after another escape (`tel%3A%2B33...`); `*`, a digit masked already
ENCODED_PHONE = re.compile(r"(?:(?<![\w%])|(?<=%[0-9A-Fa-f]{2}))%2B(?:%2[089]|[+.\-*]|\d)+", re.IGNORECASE)
_ENCODED_PIECE = re.compile(r"%2[089]|[+.\-*]|\d", re.IGNORECASE)
# bare digits where a key says they are a number: `msisdn=4915...`, `"to": "4915..."`
KEYED_PHONE = re.compile(r"""(\b(?:msisdn|to|from|recipient|phone)["']?\s*[:=]\s*["']?)(\d{7,15})(?!\d)""", re.IGNORECASE)
# an HL7 v2 segment that holds phone numbers (a quarantined SIU message's raw text, a message in an
# error): its id at a segment's start (a text's, a line's, after a `\r` a repr shows as two characters)
# and its field separator (MSH-1: `|` or the message's own), to the segment's end
HL7_SEGMENT = re.compile(r"(?:^|(?<=[\r\n])|(?<=\\[rn]))(PID|NK1|GT1|SCH)([^\w\s\\])((?:[^\r\n\\]|\\(?![rn]))*)")
# the fields of each of those segments that are phone numbers (XTN): the patient's home and work
# (PID-13, PID-14, PID-40), the next of kin's (NK1-5, NK1-6, NK1-31, NK1-40, NK1-41), the guarantor's
# (GT1-6, GT1-7, GT1-18), the appointment's contacts (SCH-13, SCH-17). A national number there
# (0812-3456-7890, 06 12 34 56 78) is a number by its field, whatever its form
HL7_PHONE_FIELDS = {"PID": {13, 14, 40}, "NK1": {5, 6, 31, 40, 41}, "GT1": {6, 7, 18}, "SCH": {13, 17}}
# MSH-1 and MSH-2: a message's field separator and its component and repetition separators
HL7_HEADER = re.compile(r"MSH([^\w\s\\])([^\w\s\\])([^\w\s\\])")
# a FHIR ContactPoint (`telecom`) of a phone (`{"system": "phone", "value": "0812 3456 7890"}`, in JSON, in a
# repr, in JSON quoted in JSON): from its `{` to the next brace, or from the `}` that closes its
# `extension` (which FHIR writes first), which holds its value (a number in any form);
# only a brace starts one (from every position, the run to the next brace was read again and again)
CONTACT_POINT = re.compile(r"""[{}][^{}]*?(\\?["'])system\1\s*:\s*\1(?:phone|fax|sms|pager)\1[^{}]*""")
CONTACT_VALUE = re.compile(r"""((\\?["'])value\2\s*:\s*\2)((?:(?!\2)(?:[^\\]|\\.))*)""")
# a value under any key (a JSON or Python field, a query or form parameter), which `_mask_phone_field`
# masks where the key names a phone number (PHONE_KEY): an acme record's `"phone": "415-555-2671"`, a
# warehouse row's `'patient_phone': '0812 3456 7890'` in a task's error. The key is taken whole, never
# given back (a key holding `phone` many times was searched again from each)
KEYED_VALUE = re.compile(r"""((?<![\w-])([^\W\d][\w-]*+)(?:\\?["'])?\s*[:=]\s*(?:\\?["'])?)(\(?\d(?:[ ().\-/]{0,3}\d){6,19})(?!\d)""")
PHONE_KEY = re.compile(r"(?:[\w-]*(?:phone|mobile|fax|msisdn)|tel|cell)(?:[_-]?(?:number|no|nr|num))?", re.IGNORECASE)
_PHONE_WORDS = ("phone", "mobile", "fax", "msisdn", "tel", "cell")  # what every PHONE_KEY holds
# a provider's callback URL's query string (a receipt, an inbound SMS by GET) can hold anything the
# provider sends: numbers, addresses, the text a person wrote
CALLBACK_QUERY = re.compile(r"(/(?:callbacks|inbound)/[^\s?#\"']*)\?[^\s#\"']*")
# an API key wherever it is quoted, ours (`halo_<prefix>_<secret>`) or Google's (`AIza` and 35 more: a Google
# Chat webhook's `?key=`, which httpx logs with the URL it posts to): its prefix names it, the rest is gone
API_KEY = re.compile(r"\b(halo_[0-9a-f]{12}_|AIza)[A-Za-z0-9_-]{20,}")
# the password of a URL (`scheme://user:password@host`), up to the last `@` before the path: the
# email rule would half-hide `password@host.with.dots` and miss `password@db`
# (a scheme is at most 32 characters: unbounded, every start in a long run of letters and dots
# was tried to its end, as for addresses). A password may hold a `/` (base64: SQLAlchemy reads
# `postgresql://u:Xy7/kP2q@db/x` so): the rule stopped there and the address rule masked what
# followed it as an address's name (`Xy7/k***@db`); what is up to a `/` after the colon is a
# password unless it is a port (digits) before a path, `host:8080/users/jane@example.com` keeps its host
# and path (a port is digits before a path of two segments or more before the `@`); digits, a slash
# and one segment, or digits and slashes alone, up to the `@` are a password (`u:12/3a@db`, `u:1/2/3@db`)
# (bounded: each `://` in a long text without an `@` was tried to the text's end, 1 s for 50 kB)
URL_PASSWORD = re.compile(
    r"(\b[A-Za-z][A-Za-z0-9+.\-]{0,31}://[^\s/:@]*:)(?:[^\s/]*|(?!\d*/(?![\d/]{0,255}@)[^\s/@]{0,255}/)[^\s/@]{0,255}/[^\s@]{0,255})@")
# a secret named by its key, wherever it is written: a query or form parameter (`api_secret=...`, also
# first in a form body), a JSON or Python field (`"password": "..."`, whole up to its closing quote,
# escaped quotes included; to the end of a text cut before it),
# a DSN's `password=...`, an `Authorization:` header. A provider answering an error may echo the
# request it got, credentials and all
# After a colon only a quoted value or a credential scheme counts: `password: at least 12
# characters` is the platform's own error about a field, not a secret. The schemes are those the
# providers use: Bearer, Basic, Token, OneSignal's `Key` and FCM's legacy `key=`. An `Authorization:`
# header is a credential whatever its form: after its colon, any value is one.
_SCHEME = r"(?:(?:bearer|basic|token|key)\s+|key=)"  # FCM's legacy header: `Authorization: key=AAAA...`
SECRET_VALUE = re.compile(
    r"""((?<![\w-])(?:(?:[\w-]*(?:secret|password|passwd|token|api[_-]?key|access[_-]?key|private[_-]?key)(?:_?key)?|sig|signature|authorization)"""
    rf"""["']?(?:\s*=\s*{_SCHEME}?|\s*:\s*(?:{_SCHEME}|(?=["'])))|authorization["']?\s*:\s*))"""
    r"""("(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|[^\s&#"',;}]+)""",
    re.IGNORECASE,
)

# a URL's scheme, user info (up to the last `@` before the path), host and port, and path
URL_PARTS = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]{0,31}://)(?:[^/?#]*@)?([^/?#]*)([^?#]*)")


#: the longest recipient any column holds; a longer one (refused, yet logged) is cut first
RECIPIENT_LIMIT = 512


def mask_recipient(recipient: str | None) -> str:
    """A recipient fit for logs: +336*****678, j***@example.com, abcd…(token)."""
    if not recipient:
        return ""
    recipient = cut(recipient, RECIPIENT_LIMIT)
    if "@" in recipient:
        local, _, domain = recipient.partition("@")
        return f"{local[:1]}***@{domain}"
    if recipient.startswith("+") or recipient.isdigit():
        return _hidden_digits(recipient)
    return recipient[:4] + "…"


def mask_url_path(url: str) -> str:
    """`url` fit to show when its path may be its secret, as an incoming webhook's is
    (`https://hooks.slack.com/services/T000/B000/XXXX` -> `https://hooks.slack.com/services/***`):
    its scheme, host and port, and its first path segment when more follows; the rest of the path
    is `***`, its user info, query and fragment are left out. Never raises: a URL no client can
    post to is shown as far as it reads (`***` without a scheme)."""
    match = URL_PARTS.match(url)
    if not match:
        return "***"
    scheme, host, path = match.groups()
    first, _, rest = path.lstrip("/").partition("/")
    return f"{scheme}{host}{(f'/{first}/***' if rest else '/***') if first else path}"


def _mask_secret(match: re.Match) -> str:
    value = match.group(2)
    quote = value[0] if value[0] in "'\"" else ""
    return f"{match.group(1)}{quote}***{quote}"


_LAST_AT = re.compile(r"(.*)(@|%40)(.*)", re.DOTALL)


def _mask_email(match: re.Match) -> str:
    # at the last `@` or `%40`: the local part may hold an escaped one (`%4033612345678@...`), the domain not
    local, at, domain = _LAST_AT.fullmatch(match.group(0)).groups()
    if "*" in local:  # masked already (here or by a sink's own masking)
        return match.group(0)
    first = local[:6] if re.match(_ESCAPE, local) else local[:1]  # a first letter escaped is kept whole
    return f"{first}***{at}{domain}"


def _mask_phone(match: re.Match) -> str:
    text = match.group(0)
    prefix = "%2B" if text[:3].upper() == "%2B" else "+"
    return prefix + mask_recipient("+" + text[len(prefix):])[1:]


def _mask_encoded_phone(match: re.Match) -> str:
    """An encoded number masked as `mask_recipient` masks it (`_hidden_places`)."""
    text = match.group(0)
    pieces = _ENCODED_PIECE.findall(text[3:])
    digits = [i for i, piece in enumerate(pieces) if piece.isdigit() or piece == "*"]
    if not 7 <= len(digits) <= 15:
        return text
    hidden = _hidden_places(digits)
    return text[:3] + "".join("*" if i in hidden else piece for i, piece in enumerate(pieces))


def _mask_spaced_phones(text: str) -> str:
    """Numbers written with separators masked as `mask_recipient` masks them (`_hidden_places`),
    the separators kept."""
    if not SPACED_PHONE_START.search(text):
        return text
    import phonenumbers

    pieces, last = [], 0
    for found in phonenumbers.PhoneNumberMatcher(text, None, leniency=phonenumbers.Leniency.POSSIBLE):
        hidden = _hidden_places([i for i, c in enumerate(found.raw_string) if c.isdigit() or c == "*"])
        pieces += [text[last:found.start], "".join("*" if i in hidden else c for i, c in enumerate(found.raw_string))]
        last = found.end
    return "".join(pieces) + text[last:]


def _hidden_places(places: list[int]) -> set[int]:
    """Which of a number's digit places (positions in its text) are masked: all but the first
    three and last three from ten digits on, all but the last two below (a 7-digit number keeping
    six would be all but shown). The one rule of every number masked, however it is written."""
    return set(places[3:-3] if len(places) >= 10 else places[:-2])


def _hidden_digits(text: str) -> str:
    """`text`, one number whatever its separators, with its digits masked as `mask_recipient`
    masks a number (`_hidden_places`).
    A masked digit (`*`) counts as one: masking it again changes nothing."""
    hidden = _hidden_places([i for i, c in enumerate(text) if c.isdigit() or c == "*"])
    return "".join("*" if i in hidden and c.isdigit() else c for i, c in enumerate(text))


def _mask_hl7_phone(field: str, component: str, repetition: str) -> str:
    """An HL7 XTN field with its numbers masked, each repetition's: the number written whole
    (XTN-1, XTN-12) and the one in parts (country, area, local number, extension: XTN-5 to 8, as
    one number); the use and equipment codes (XTN-2, 3) kept, the address (XTN-4) left to `EMAIL`."""
    shown = []
    for one in field.split(repetition):
        parts = one.split(component)
        for i in (0, 11):
            if i < len(parts):
                parts[i] = _hidden_digits(parts[i])
        if len(parts) > 4:
            parts[4:8] = _hidden_digits(component.join(parts[4:8])).split(component)
        shown.append(component.join(parts))
    return repetition.join(shown)


def _mask_hl7_phones(text: str) -> str:
    """The phone fields (`HL7_PHONE_FIELDS`) of the HL7 segments in `text` masked."""
    header = HL7_HEADER.search(text)
    component, repetition = (header.group(2), header.group(3)) if header else ("^", "~")

    def fields(match: re.Match) -> str:
        name, separator, rest = match.groups()
        values = rest.split(separator)
        for number in HL7_PHONE_FIELDS[name]:
            if number <= len(values):
                values[number - 1] = _mask_hl7_phone(values[number - 1], component, repetition)
        return name + separator + separator.join(values)

    return HL7_SEGMENT.sub(fields, text)


def _mask_contact_point(match: re.Match) -> str:
    return CONTACT_VALUE.sub(lambda value: value.group(1) + _hidden_digits(value.group(3)), match.group(0))


def _mask_phone_field(match: re.Match) -> str:
    if not PHONE_KEY.fullmatch(match.group(2)):
        return match.group(0)
    return match.group(1) + _hidden_digits(match.group(3))


# what `re.IGNORECASE` reads as these letters where `str.lower` does not: İ and ı as i, ſ as s
_IGNORECASE_FOLDS = str.maketrans({"İ": "i", "ı": "i", "ſ": "s"})
_SECRET_WORDS = ("secret", "passw", "token", "key", "sig", "authorization")  # one of them is in every SECRET_VALUE match
_SEVEN_DIGITS = re.compile(r"\d{7}")  # in every KEYED_PHONE match


def _folded(text: str) -> str:
    """`text` in lower case as `re.IGNORECASE` matches it, to look for a word a rule ignoring case needs."""
    return text.lower() if text.isascii() else text.translate(_IGNORECASE_FOLDS).lower()


def _names_any(text: str, words: tuple[str, ...]) -> bool:
    folded = _folded(text)
    return any(word in folded for word in words)


# The rules in the order `mask_text` applies them, each after a test of what every match of it holds:
# a rule is not searched for in a text that cannot hold a match. Most of a provider's error text went to
# rules that could not match it (best of 7: `no answer: timeout` 10.2 -> 2.6 us, a 503's JSON 22.8 -> 3.5,
# a Twilio 400 quoting the number 36.6 -> 13.0, nginx's 502 page 49.9 -> 6.5; a text every rule matches
# as before). Numbers by their fields come last: what the rules before mask there counts as a digit masked.
_RULES: tuple[tuple[Callable[[str], bool], Callable[[str], str]], ...] = (
    (lambda t: "://" in t and "@" in t, lambda t: URL_PASSWORD.sub(r"\1***@", t)),
    (lambda t: "/callbacks/" in t or "/inbound/" in t, lambda t: CALLBACK_QUERY.sub(r"\1?[redacted]", t)),
    (lambda t: _names_any(t, _SECRET_WORDS), lambda t: SECRET_VALUE.sub(_mask_secret, t)),
    (lambda t: "halo_" in t or "AIza" in t, lambda t: API_KEY.sub(r"\1***", t)),
    (lambda t: "@" in t or "%40" in t, lambda t: (ESCAPED_EMAIL if "\\u" in t else EMAIL).sub(_mask_email, t)),
    (lambda t: "+" in t or "%2" in t, lambda t: PHONE.sub(_mask_phone, t)),
    (lambda t: "%2" in t, lambda t: ENCODED_PHONE.sub(_mask_encoded_phone, t)),
    (lambda t: "+" in t or "%2" in t, _mask_spaced_phones),
    (lambda t: _SEVEN_DIGITS.search(t) is not None, lambda t: KEYED_PHONE.sub(lambda m: m.group(1) + mask_recipient(m.group(2)), t)),
    (lambda t: any(segment in t for segment in HL7_PHONE_FIELDS), _mask_hl7_phones),
    (lambda t: "system" in t, lambda t: CONTACT_POINT.sub(_mask_contact_point, t)),
    (lambda t: _names_any(t, _PHONE_WORDS), lambda t: KEYED_VALUE.sub(_mask_phone_field, t)),
)


def mask_text(text: str) -> str:
    """`text` with phone numbers, email addresses, callback query strings, secret query
    parameters and URL passwords masked; idempotent (masking masked text changes nothing)."""
    if not text:
        return text
    for may_match, mask in _RULES:
        if may_match(text):
            text = mask(text)
    return text


def error_line(error: str | None, limit: int = 500) -> tuple[str, int]:
    """The masked first non-blank line of an error (at most `limit` characters) and how many
    other non-blank lines it had (a database error's next lines carry the SQL and its values).
    Masked before it is cut: a cut address or URL would escape the masks."""
    lines = [line.strip() for line in mask_text(error or "").splitlines() if line.strip()]
    if not lines:
        return "", 0
    return lines[0][:limit], len(lines) - 1


def _text(value: Any, text: Callable[[Any], str]) -> str:
    """`text(value)` (`str` or `repr`) masked, or `<Type str() failed>` where it raises, as `traceback`
    shows such an exception: this runs in the log call, which must not raise (a run failed on a log
    line), and logging's own report of a record it cannot format goes to stderr unmasked."""
    try:
        return mask_text(text(value))
    except Exception:
        return f"<{type(value).__name__} {text.__name__}() failed>"


class _Masked:
    """An argument whose text is masked however the format string shows it (%s or %r)."""

    __slots__ = ("_repr", "_str")

    def __init__(self, value: Any) -> None:
        self._str = _text(value, str)
        self._repr = _text(value, repr)

    def __str__(self) -> str:
        return self._str

    def __repr__(self) -> str:
        return self._repr


class _MaskedMapping(dict):
    """A mapping argument, which logging takes whole when it is the only one (`log.info("%s", counts)`,
    `log.info("%(who)s", {...})`): its values masked for `%(name)s`, its text, keys too, for `%s` and for
    logging's own report of a format it does not fit (`Arguments: {...}` on stderr)."""

    __slots__ = ("_shown",)

    def __init__(self, mapping: Mapping) -> None:
        super().__init__((key, _mask_arg(value)) for key, value in mapping.items())
        self._shown = _Masked(mapping)

    def __str__(self) -> str:
        return str(self._shown)

    def __repr__(self) -> str:
        return repr(self._shown)


def _mask_arg(value: Any) -> Any:
    httpx = sys.modules.get("httpx")
    if httpx is not None and isinstance(value, httpx.URL):
        # httpx logs each request's URL whole at INFO, and a webhook's (Slack's, a webhook sink's) path is its secret
        return mask_url_path(str(value))
    if value is None or isinstance(value, (bool, numbers.Number)):
        return value  # %d / %f need the number itself
    if isinstance(value, str):
        return mask_text(value)
    return _Masked(value)


class RedactingFilter(logging.Filter):
    """Masks a record's message, arguments and traceback in place; never drops a record.

    Arguments are masked one by one, keeping their number and types where formats need
    them: uvicorn's access formatter unpacks its five arguments itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "halo_redacted", False):
            return True
        record.msg = mask_text(record.msg) if isinstance(record.msg, str) else _mask_arg(record.msg)
        if isinstance(record.args, Mapping):
            record.args = _MaskedMapping(record.args)
        elif isinstance(record.args, tuple):
            record.args = tuple(_mask_arg(a) for a in record.args)
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        record.halo_redacted = True
        return True


FILTER = RedactingFilter()
_lock = threading.Lock()


def install_redaction() -> None:
    """Make every log record of this process pass `FILTER` when it is created (idempotent)."""
    with _lock:
        current = logging.getLogRecordFactory()
        if getattr(current, "halo_redacting", False):
            return

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = current(*args, **kwargs)
            FILTER.filter(record)
            return record

        factory.halo_redacting = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(factory)
