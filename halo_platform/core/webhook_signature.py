"""How every webhook the platform sends is signed (delivery's status webhooks, the reports'
webhook sink): `X-Halo-Signature: sha256=<hex HMAC-SHA256 of the exact body under the secret>`,
so a receiver verifies both kinds with the same few lines."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Halo-Signature"


def sign(secret: str, body: bytes) -> str:
    """The `X-Halo-Signature` value of `body` under `secret`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
