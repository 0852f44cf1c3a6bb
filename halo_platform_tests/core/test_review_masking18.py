"""Secrets the masking let through (review 18): an Authorization header is a credential whatever
its form (no scheme, FCM's legacy `key=`), and a URL password of digits, a slash and more
(`u:12/3a@db`) is a password, not a port and a path."""

from __future__ import annotations

import pytest

from halo_platform.core.redact import mask_text


@pytest.mark.parametrize(("text", "secret"), [
    ("Authorization: abc123secretvalue", "abc123secretvalue"),
    ("Authorization: key=AAAAxyzsecret123", "AAAAxyzsecret123"),
    ("authorization : token-without-scheme", "token-without-scheme"),
    ("postgresql://u:12/3a@host/db", "12/3a"),
    ("mysql://halo:2024/x7Q@db:3306/halo", "2024/x7Q"),
    ("postgresql://u:12/34@db/x", "12/34"),
])
def test_the_secret_is_gone(text: str, secret: str) -> None:
    masked = mask_text(text)
    assert secret not in masked, masked
    assert mask_text(masked) == masked  # idempotent


@pytest.mark.parametrize("text", [
    "http://host:8080/users/jane/profile",
    "password: at least 12 characters",
    "Authorization: Bearer ***",
])
def test_what_holds_no_secret_is_kept(text: str) -> None:
    assert mask_text(text) == text


def test_a_port_and_a_path_holding_an_address_keep_the_host() -> None:
    masked = mask_text("GET http://host:8080/users/jane@example.com/x failed")
    assert "host:8080/users/" in masked and "jane@" not in masked
