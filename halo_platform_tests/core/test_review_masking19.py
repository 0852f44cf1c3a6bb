"""A short number was masked by four rules that disagreed (review 19): `mask_recipient`, the `+`
number in text, the number written with separators and the URL-encoded one kept its first three and
last three digits whatever its length, so a 7-digit number (Niue's +683 4002) kept 6 of its 7
digits; a number by its field (`"phone": ...`, HL7, FHIR telecom) kept only its last two. One rule
now: the first three and last three digits from ten digits on, only the last two below."""

from __future__ import annotations

import re

import pytest

from halo_platform.core.redact import mask_recipient, mask_text


def shown_digits(text: str) -> str:
    return "".join(re.findall(r"\d", re.sub("%2B", "+", text, flags=re.IGNORECASE)))


@pytest.mark.parametrize(("text", "shown"), [
    ("sent to +6834002", "02"),                    # 7 digits, E.164 in text
    ("sent to +68340021", "21"),                   # 8 digits
    ("sent to +683 4002", "02"),                   # written with a separator
    ("to=%2B6834002&x=y", "02"),                   # URL-encoded
    ('{"phone": "683 4002"}', "02"),               # by its field (was already so)
    ("sent to +33612345678", "336678"),            # 11 digits: first three, last three
    ("sent to +33 6 12 34 56 78", "336678"),
    ("to=%2B33612345678", "336678"),
    ("sent to +4915112345", "491345"),             # 10 digits
    ("sent to +491511234", "34"),                  # 9 digits
])
def test_every_rule_keeps_the_same_digits(text: str, shown: str) -> None:
    masked = mask_text(text)
    assert shown_digits(masked) == shown, masked
    assert mask_text(masked) == masked  # idempotent


@pytest.mark.parametrize(("recipient", "shown"), [
    ("+6834002", "+*****02"),
    ("+491511234", "+*******34"),
    ("+33612345678", "+336*****678"),
    ("+12345", "+***45"),
    ("12345678901", "123*****901"),
])
def test_a_recipient_is_masked_by_the_same_rule(recipient: str, shown: str) -> None:
    assert mask_recipient(recipient) == shown
    if recipient.startswith("+") and len(recipient) >= 8:  # a number the text rules see (7 digits or more)
        assert mask_text(f"to {recipient}") == f"to {shown}"
